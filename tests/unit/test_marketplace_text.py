"""Listing text and parameter schemas: what creators type is made safe, and what buyers pass is checked."""

from __future__ import annotations

import pytest

from alphabook.core.errors import InvalidInput
from alphabook.marketplace.params import parse_schema, resolve
from alphabook.marketplace.text import parse_version, render_markdown, slugify

SCHEMA = [{"name": "length", "type": "int", "default": 14, "minimum": 2, "maximum": 200},
          {"name": "factor", "type": "float", "default": 2.0, "minimum": 0.5},
          {"name": "source", "type": "choice", "default": "close", "choices": ["close", "hl2"]},
          {"name": "smooth", "type": "bool", "default": False}]


@pytest.mark.parametrize("hostile", [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
    "<iframe src='https://evil.example'></iframe>", "<a href='data:text/html,<script>x</script>'>x</a>",
])
def test_descriptions_cannot_carry_scripts(hostile: str) -> None:
    html = render_markdown(f"# Title\n\n{hostile}\n")  # tags become text; links keep only safe schemes
    for tag in ("<script", "<img", "<iframe", "<a href='data", 'href="data', 'href="javascript', "<a href='java"):
        assert tag not in html, html
    assert "<h1>Title</h1>" in html


def test_markdown_keeps_formatting_and_safe_links() -> None:
    html = render_markdown("**bold** and [docs](https://alphabook.dev) and `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<strong>bold</strong>" in html and 'href="https://alphabook.dev"' in html and "<code>code</code>" in html
    assert "<table>" in html and 'rel="noopener noreferrer nofollow"' in html


@pytest.mark.parametrize(("text", "numbers"), [("1.0.0", (1, 0, 0)), (" 2.10.3 ", (2, 10, 3)), ("0.0.1", (0, 0, 1))])
def test_semantic_versions(text: str, numbers: tuple[int, int, int]) -> None:
    assert parse_version(text) == numbers


@pytest.mark.parametrize("text", ["1.0", "v1.0.0", "01.0.0", "1.0.0-beta", "", "1.0.0.0", "1e3.0.0"])
def test_what_is_not_a_semantic_version(text: str) -> None:
    with pytest.raises(InvalidInput, match="semantic version"):
        parse_version(text)


def test_slugs() -> None:
    assert slugify("My  RSI (v2)!") == "my-rsi-v2"
    with pytest.raises(InvalidInput):
        slugify("!!!")


def test_parameters_are_overlaid_on_defaults_and_checked() -> None:
    assert resolve(SCHEMA, {}) == {"length": 14, "factor": 2.0, "source": "close", "smooth": False}
    assert resolve(SCHEMA, {"length": 30.0, "factor": 1, "smooth": True}) == {
        "length": 30, "factor": 1.0, "source": "close", "smooth": True}


@pytest.mark.parametrize(("given", "message"), [
    ({"lenght": 3}, "did you mean 'length'"), ({"length": 1}, "at least 2"), ({"length": 2.5}, "whole number"),
    ({"length": "3"}, "must be a number"), ({"length": True}, "must be a number"), ({"factor": 0.1}, "at least 0.5"),
    ({"source": "open"}, "one of close, hl2"), ({"smooth": 1}, "true or false"),
])
def test_bad_parameters_say_what_is_valid(given: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        resolve(SCHEMA, given)


@pytest.mark.parametrize(("schema", "message"), [
    ([{"name": "x", "type": "int", "default": 500, "maximum": 100}], "at most 100"),
    ([{"name": "x", "type": "int", "default": 1, "minimum": 5, "maximum": 2}], "above maximum"),
    ([{"name": "_x", "type": "int", "default": 1}], "name"),
    ([{"name": "x", "type": "choice", "default": "a"}], "needs its choices"),
    ([{"name": "x", "type": "int", "default": 1}, {"name": "x", "type": "int", "default": 2}], "own name"),
    ([{"name": "x", "type": "complex", "default": 1}], "type"),
])
def test_bad_schemas_are_refused(schema: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_schema(schema)
