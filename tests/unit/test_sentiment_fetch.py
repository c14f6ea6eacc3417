"""Feeds on this machine: a path or a file:// URL is read from disk (the bundled sample is one), and an address
that cannot be read is reported in words rather than raised, so the other feeds of a refresh still load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alphabook.research.sentiment import SAMPLE_FEED
from alphabook.sentiment.fetch import fetch_feed


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=1) as opened:  # never used for these addresses: the unit tests have no network
        yield opened


@pytest.mark.parametrize("address", [str(SAMPLE_FEED), SAMPLE_FEED.as_uri()])
def test_a_local_feed_is_read_from_disk(address: str, client: httpx.Client) -> None:
    fetched = fetch_feed(address, client)
    assert (fetched.content, fetched.status, fetched.error) == (SAMPLE_FEED.read_bytes(), "file", False)


def test_a_missing_file_is_reported(tmp_path: Path, client: httpx.Client) -> None:
    fetched = fetch_feed(str(tmp_path / "gone.xml"), client)
    assert fetched.error and fetched.content is None
    assert fetched.status == f"cannot read {tmp_path / 'gone.xml'}: No such file or directory"


def test_an_address_of_another_kind_is_reported(client: httpx.Client) -> None:
    fetched = fetch_feed("ftp://news.example/feed.xml", client)
    assert fetched.error and fetched.status == "not an http(s) URL, file:// URL or path (scheme 'ftp')"
