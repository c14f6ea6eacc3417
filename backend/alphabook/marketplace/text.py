"""Listing text: slugs, semantic versions and Markdown descriptions made safe to show.

markdown-it-py renders CommonMark with raw HTML switched off, and nh3 (the Rust ``ammonia`` sanitiser)
cleans the result, so a description can never carry a script, an event handler or a ``javascript:`` link
into the listing page.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

from alphabook.core.errors import InvalidInput

__all__ = ["parse_version", "render_markdown", "slugify"]

_SEMVER = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    if not slug:
        raise InvalidInput("A listing name needs at least one letter or digit.")
    return slug


def parse_version(text: str) -> tuple[int, int, int]:
    match = _SEMVER.match(text.strip())
    if match is None:
        raise InvalidInput(f"{text!r} is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.2.0.")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def render_markdown(text: str) -> str:
    html = _markdown.render(text)
    return nh3.clean(html, url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")
