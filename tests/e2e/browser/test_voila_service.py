"""Voila behind the hub: notebook pages only for signed-in people, run in the sandbox kernel with their code
hidden, a directory listing (no kernel) at the root for the hub's health check, and a cap of kernels per person."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import nbformat
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from alphabook.accounts import service as accounts
from alphabook.core.db import Database
from tests.e2e.browser.conftest import Shot, log_in
from tests.e2e.conftest import NewPerson, RunningHub
from tests.integration.market import make_listing

pytestmark = pytest.mark.e2e
SECRET_LOOKING_CODE = "hidden_marker = 40 + 2"


def notebook(folder: Path, name: str) -> str:
    """A preview notebook as a listing would publish it; returns its Voila page path."""
    book = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    book.cells = [nbformat.v4.new_markdown_cell("# Preview of a momentum indicator"),
                  nbformat.v4.new_code_cell(f"{SECRET_LOOKING_CODE}\nprint('answer', hidden_marker)"),
                  nbformat.v4.new_code_cell("import os, socket\n"
                                            "print('token' if os.environ.get('JUPYTERHUB_API_TOKEN') else 'no token')\n"
                                            "try:\n    socket.create_connection(('127.0.0.1', 80), timeout=1)\n"
                                            "    print('network')\nexcept OSError:\n    print('no network')")]
    path = folder / f"{name}.ipynb"
    nbformat.write(book, path)
    path.chmod(0o644)
    return f"/services/voila/voila/render/listings/{name}.ipynb"


def approved_notebook_listing(hub: RunningHub) -> str:
    """The slug of a new approved notebook listing whose notebook is the preview above."""
    scratch = hub.home / "scratch"
    scratch.mkdir(exist_ok=True)
    notebook(scratch, "study")
    database = Database(f"sqlite:///{hub.home / 'alphabook.db'}")
    try:
        with database.session() as session:
            creator = accounts.ensure_user(session, f"studies{secrets.token_hex(3)}", roles=["user", "creator"])
            listing = make_listing(session, creator, "momentum-study", 0, kind="notebook")
            listing.versions[0].code = (scratch / "study.ipynb").read_text()
            return listing.slug
    finally:
        database.dispose()


def sandbox_kernels() -> int:
    """Sandboxed kernels running on this machine: bwrap around ipykernel with every namespace unshared and the
    network not given back (research kernels get ``--share-net``), counted by connection file (bwrap's own init
    process repeats the command line)."""
    files = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if (argv and argv[0].endswith(b"bwrap") and b"--unshare-all" in argv and b"--share-net" not in argv
                and b"ipykernel_launcher" in argv):
            files.add(argv[argv.index(b"-f") + 1])
    return len(files)


def wait_for_kernels(count: int) -> int:
    """The number of sandbox kernels once it reaches ``count`` (a warm one starts in the background)."""
    for _ in range(120):
        found = sandbox_kernels()
        if found >= count:
            return found
        time.sleep(0.5)
    return sandbox_kernels()


def sign_in_and_open(page: Page, hub: RunningHub, name: str, password: str, target: str) -> None:
    page.goto(f"{hub.url}/hub/login?next={quote(target, safe='')}")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{hub.url}{target}*")


def test_notebook_pages_run_in_the_sandbox_for_signed_in_people_only(hub: RunningHub, new_person: NewPerson,
                                                                     context: BrowserContext, page: Page,
                                                                     shot: Shot) -> None:
    target = notebook(hub.home / "voila" / "listings", "momentum-preview")
    with httpx.Client(timeout=60) as http:
        stranger = http.get(f"{hub.url}{target}")
        assert stranger.status_code == 302  # to the hub's OAuth: no page, no kernel for strangers
        assert "oauth2/authorize" in stranger.headers["location"]
    before = wait_for_kernels(1)
    assert before >= 1  # the warm one, started with the service for the first page
    person, password = new_person()
    sign_in_and_open(page, hub, person.name, password, "/services/voila/")
    expect(page.get_by_text("listings")).to_be_visible()  # the root lists the folder
    assert sandbox_kernels() == before  # and starts no kernel
    page.goto(f"{hub.url}{target}")
    expect(page.get_by_text("answer 42")).to_be_visible(timeout=60_000)
    assert wait_for_kernels(before + 1) == before + 1  # the page took the warm kernel; another warms up
    expect(page.get_by_text("no token")).to_be_visible()
    expect(page.get_by_text("no network")).to_be_visible()
    assert SECRET_LOOKING_CODE not in page.content()  # outputs only: the code stays on the server
    shot("voila-preview")
    contents = "/services/voila/voila/api/contents/listings"
    folder = page.request.get(f"{hub.url}{contents}?content=1")
    assert folder.ok and "momentum-preview.ipynb" in {item["name"] for item in folder.json()["content"]}
    model = page.request.get(f"{hub.url}{contents}/momentum-preview.ipynb?content=1")
    assert model.status == 404
    assert SECRET_LOOKING_CODE not in model.text()


def test_a_notebook_listing_is_previewed_live_from_its_listing_page(hub: RunningHub, new_person: NewPerson,
                                                                      page: Page, shot: Shot) -> None:
    slug = approved_notebook_listing(hub)
    person, password = new_person()
    log_in(page, hub, person.name, password, then=f"listing?slug={slug}")
    shot("notebook-listing")
    page.get_by_role("link", name="Open the live preview").click()
    page.wait_for_url(f"{hub.url}/services/voila/voila/render/listings/{slug}/1.0.0.ipynb*")
    expect(page.get_by_text("answer 42")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("no network")).to_be_visible()
    assert SECRET_LOOKING_CODE not in page.content()
    shot("notebook-live-preview")


def test_one_person_holds_at_most_two_notebook_kernels(hub: RunningHub, new_person: NewPerson,
                                                      context: BrowserContext, page: Page, shot: Shot) -> None:
    target = notebook(hub.home / "voila" / "listings", "capped-preview")
    person, password = new_person()
    sign_in_and_open(page, hub, person.name, password, target)
    expect(page.get_by_text("answer 42")).to_be_visible(timeout=60_000)
    second = context.new_page()
    second.goto(f"{hub.url}{target}")
    expect(second.get_by_text("answer 42")).to_be_visible(timeout=60_000)
    third = context.new_page()
    reply = third.goto(f"{hub.url}{target}")
    assert reply is not None and reply.status == 429
    expect(third.get_by_text("You already have 2 notebook pages running")).to_be_visible()
    third.screenshot(path=str(shot("first-page").parent / "voila-cap-refused.png"), full_page=True)
    second.close(run_before_unload=True)  # closing a page stops its kernel, so the next one fits
    fourth = context.new_page()
    for _ in range(20):
        reply = fourth.goto(f"{hub.url}{target}")
        if reply is not None and reply.status == 200:
            break
        fourth.wait_for_timeout(500)
    expect(fourth.get_by_text("answer 42")).to_be_visible(timeout=60_000)
