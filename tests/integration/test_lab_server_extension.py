"""The JupyterLab extension's server side in a real Jupyter server, calling the real API as the person.

The server is started the way a user server starts (the extension enabled by the venv's config, the API's
address and the person's credentials in its environment); the requests are the ones the Publish dialog and
the Marketplace sidebar send.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alphabook.core.config import PROJECT_ROOT, Settings
from alphabook.core.db import Database
from tests.integration.jupyter_server import jupyter_server
from tests.integration.live_api import live_api
from tests.integration.market import API, Market, key_for

EXAMPLE = PROJECT_ROOT / "notebooks" / "examples" / "smoothed-rsi.ipynb"


@dataclass
class Lab:
    http: httpx.Client
    creator: str
    api: httpx.Client
    database: Database



@pytest.fixture
def lab(database: Database, tmp_path: Path) -> Iterator[Lab]:
    suffix = tmp_path.name[-6:].replace("_", "")
    creator = f"labmaker{suffix}"
    key = key_for(database, creator, ["user", "creator"])
    root = tmp_path / "home"
    root.mkdir()
    shutil.copy(EXAMPLE, root / "smoothed-rsi.ipynb")
    with live_api(Settings(home=tmp_path, database_url=database.url, payment_provider="local")) as api:
        env = {**os.environ, "ALPHABOOK_API_URL": api.url, "ALPHABOOK_API_KEY": key["Authorization"].split()[1],
               "ALPHABOOK_PUBLIC_URL": "http://hub.example"}
        with jupyter_server(root, env, tmp_path / "server.log") as server, \
                httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as http, \
                httpx.Client(base_url=api.url, headers=key, timeout=60) as api_http:
            yield Lab(http, creator, api_http, database)


def test_the_publish_dialog_drafts_validates_and_publishes_the_notebook(lab: Lab) -> None:
    draft = lab.http.get("/alphabook/draft", params={"path": "smoothed-rsi.ipynb"}).json()
    assert draft["kind"] == "indicator" and draft["name"] == "smoothed-rsi" and draft["title"] == "Smoothed RSI"
    assert draft["listing"] is None and draft["next_version"] == "1.0.0" and draft["problems"] == []
    assert [param["name"] for param in draft["parameters"]] == ["length", "smooth"]
    assert draft["parameters"][0]["maximum"] == 100 and "momentum" in draft["categories"]

    form = {"path": "smoothed-rsi.ipynb", "name": "smoothed-rsi", "title": "Smoothed RSI", "category": "momentum",
            "tags": ["rsi"], "price_minor": 1250, "currency": "USD", "licence": "protected", "version": "1.0.0",
            "changelog": "First release", "submit": True}
    published = lab.http.post("/alphabook/publish", json=form).json()
    slug = f"{lab.creator}/smoothed-rsi"
    assert published["published"] and published["slug"] == slug and published["status"] == "pending"
    assert published["report"]["ok"] and published["listing_url"] == (
        f"http://hub.example/services/dashboards/listing?slug={slug}")
    listing = lab.api.get(f"/listings/{slug}").json()
    assert listing["price"]["display"] == "12.50 USD" and listing["versions"][0]["changelog"] == "First release"

    again = lab.http.get("/alphabook/draft", params={"path": "smoothed-rsi.ipynb"}).json()
    assert again["listing"]["slug"] == slug and again["listing"]["latest_version"] == "1.0.0"
    assert again["next_version"] == "1.0.1" and again["price"]["amount_minor"] == 1250

    refused = lab.http.post("/alphabook/publish", json={**form, "version": "0.9.0"})
    assert refused.status_code == 409 and "greater than 1.0.0" in refused.json()["detail"]
    invalid = lab.http.post("/alphabook/publish", json={**form, "price_minor": -1})
    assert invalid.status_code == 422 and "price_minor" in invalid.json()["detail"]
    missing = lab.http.get("/alphabook/draft", params={"path": "nowhere.ipynb"})
    assert missing.status_code == 404 and "nowhere.ipynb" in missing.json()["detail"]


def test_a_rejected_notebook_comes_back_with_its_cell_and_line(lab: Lab, tmp_path: Path) -> None:
    book = EXAMPLE.read_text().replace('change = df[\\"close\\"].diff()', 'change = df[\\"close\\"].dif()')
    assert "dif()" in book
    lab.http.put("/api/contents/typo.ipynb", json={"type": "notebook", "format": "json",
                                                    "content": __import__("json").loads(book)})
    form = {"path": "typo.ipynb", "name": "typo", "title": "Typo RSI", "category": "momentum", "submit": True}
    answer = lab.http.post("/alphabook/publish", json=form).json()
    assert not answer["published"] and answer["slug"] is None
    [failed] = [step for step in answer["report"]["steps"] if not step["ok"]]
    assert "indicator cell (cell 4), line 2" in failed["detail"] and "dif" in failed["detail"], failed
    assert lab.api.get(f"/listings/{lab.creator}/typo").status_code == 404


def test_the_sidebar_searches_and_lists_purchases(lab: Lab) -> None:
    """Someone else's free indicator is found by the sidebar's search and, once installed, under My purchases."""
    other = f"{lab.creator}x"
    root = httpx.Client(base_url=str(lab.api.base_url).removesuffix(API + "/"), timeout=120)
    market = Market(root, lab.database, creator=key_for(lab.database, other, ["user", "creator"]),  # type: ignore[arg-type]
                    admin=key_for(lab.database, f"{lab.creator}boss", ["user", "admin"]))
    word = f"keltner{lab.creator[-4:]}"
    slug = market.publish(word, price_minor=0, tags=["bands"])
    found = lab.http.get("/alphabook/marketplace", params={"q": word, "kind": "indicator"}).json()["items"]
    assert [item["slug"] for item in found] == [slug] and found[0]["free"] and found[0]["creator"] == other
    assert lab.http.get("/alphabook/marketplace", params={"q": word, "kind": "strategy"}).json() == {
        "items": []}
    assert lab.http.get("/alphabook/library").json() == {"items": []}
    assert lab.api.post(f"/listings/{slug}/install").status_code == 201
    [owned] = lab.http.get("/alphabook/library").json()["items"]
    assert owned["slug"] == slug and owned["title"] == f"{word.title()} indicator"

    with httpx.Client(base_url=str(lab.http.base_url)) as stranger:  # no token, no cookie
        assert stranger.get("/alphabook/library").status_code == 403


def _jupyter(*args: str) -> str:
    """A jupyter command's output without its colours."""
    shown = subprocess.run([str(Path(sys.executable).parent / "jupyter"), *args], capture_output=True, text=True,
                           timeout=120)
    return re.sub(r"\x1b\[[0-9;]*m", "", shown.stdout + shown.stderr)


def test_jupyterlab_lists_the_extension_enabled() -> None:
    """What the Makefile installs into the venv that every user server runs from."""
    assert re.search(r"alphabook-jupyterlab v0\.1\.0 enabled\s+OK", _jupyter("labextension", "list"))
    assert re.search(r"alphabook_jupyterlab enabled", _jupyter("server", "extension", "list"))
