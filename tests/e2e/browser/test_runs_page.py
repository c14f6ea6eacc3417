"""Scheduled notebooks on the Runs page, in the browser, through the real hub and its scheduler service: a person
sees their job with its schedule in words, clicks Run now, watches the run succeed and opens the executed
notebook with its printed text; a notebook that raises shows as failed with the cell that raised and the error.
Only the setup (two notebooks in the person's home, two jobs) uses the user server's and the API's HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser.conftest import Shot, dashboards, log_in
from tests.e2e.browser.test_creator_admin_journey import API, ok, seen
from tests.e2e.conftest import NewPerson, RunningHub
from tests.e2e.hub_client import HubUserSession

pytestmark = pytest.mark.e2e

RUN_TIMEOUT = 150_000  # the scheduler polls every 2 s; a first kernel start on a busy machine takes a while
KERNELSPEC = {"name": "alphabook-research", "display_name": "Python 3 (alphabook research)", "language": "python"}


def notebook(*sources: str) -> dict[str, Any]:
    """A notebook whose first cell is tagged ``parameters`` (papermill injects the job's after it)."""
    cells = [{"cell_type": "code", "source": source, "metadata": {"tags": ["parameters"]} if number == 0 else {},
              "outputs": [], "execution_count": None} for number, source in enumerate(sources)]
    return {"cells": cells, "metadata": {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def put(person: HubUserSession, name: str, content: dict[str, Any]) -> None:
    saved = person.api("PUT", f"/user/{person.name}/api/contents/{name}",
                       json={"type": "notebook", "format": "json", "content": content})
    assert saved.status_code in (200, 201), saved.text


def test_a_person_runs_a_scheduled_notebook_now_and_reads_its_output(
        hub: RunningHub, new_person: NewPerson, browser: Browser, page: Page, shot: Shot) -> None:
    person, password = new_person()
    person.request_token()

    log_in(page, hub, person.name, password, then="runs")
    seen(page.get_by_text("You have no scheduled notebooks yet"))
    expect(page.get_by_text("alphabook jobs create").first).to_be_visible()
    shot("runs-empty")

    person.start_server()
    put(person, "hello.ipynb", notebook('greeting = "hello"', 'print(f"{greeting} from a scheduled run")'))
    put(person, "broken.ipynb", notebook("divisor = 1", "print('before the error')",
                                         "raise ValueError('the data feed is empty')"))
    ok(person.api("POST", f"{API}/jobs", json={"name": "morning hello", "notebook": "hello.ipynb",
                                               "cron": "0 9 * * 1-5", "timezone": "Europe/London",
                                               "parameters": {"greeting": "good morning"}}), 201)
    ok(person.api("POST", f"{API}/jobs", json={"name": "broken feed", "notebook": "broken.ipynb",
                                               "cron": "30 6 * * *", "timezone": "UTC"}), 201)

    page.goto(dashboards(hub, "runs"))
    seen(page.get_by_text("morning hello", exact=True))
    expect(page.get_by_text("Runs hello.ipynb in alphabook-research")).to_be_visible()
    expect(page.get_by_text("At 09:00 on Monday through Friday (Europe/London)", exact=False)).to_be_visible()
    expect(page.get_by_text("No runs yet")).to_be_visible()
    shot("runs-jobs")

    page.get_by_role("button", name="Run now").first.click()  # jobs are listed by name: "broken feed" first
    seen(page.get_by_text("of broken feed is queued"))
    page.get_by_role("button", name="Run now").nth(1).click()
    seen(page.get_by_text("of morning hello is queued"))
    shot("runs-queued")

    hello = page.locator("tr.ab-run", has_text="morning hello").first
    broken = page.locator("tr.ab-run", has_text="broken feed").first
    expect(hello.locator(".ab-status-succeeded")).to_be_visible(timeout=RUN_TIMEOUT)  # the page follows by itself
    expect(broken.locator(".ab-status-failed")).to_be_visible(timeout=RUN_TIMEOUT)
    expect(broken).to_contain_text("cell 3")  # parameters, print, raise (no parameters given: none injected)
    expect(broken).to_contain_text("ValueError: the data feed is empty")
    expect(hello).to_contain_text("manual")
    folder = shot("runs-finished").parent

    with page.context.expect_page() as opened:
        hello.get_by_role("link", name="Output").click()
    output = opened.value
    output.wait_for_load_state()
    assert "/services/dashboards/runs/output?run=" in output.url
    expect(output.get_by_text("good morning from a scheduled run")).to_be_visible()
    output.screenshot(path=str(folder / "05-output-succeeded.png"), full_page=True)

    with page.context.expect_page() as opened:
        broken.get_by_role("link", name="Output").click()
    failed = opened.value
    failed.wait_for_load_state()
    expect(failed.get_by_text("the data feed is empty").first).to_be_visible()
    failed.screenshot(path=str(folder / "06-output-failed.png"), full_page=True)

    # A run's output is its owner's: a visitor is sent to log in, another person gets a 404.
    stranger = browser.new_context()
    try:
        visitor = stranger.new_page()
        visitor.goto(output.url)
        assert "/hub/login" in visitor.url, visitor.url
        other, other_password = new_person()
        log_in(visitor, hub, other.name, other_password, then="runs")
        seen(visitor.get_by_text("You have no scheduled notebooks yet"))
        reply = visitor.goto(output.url)
        assert reply is not None and reply.status == 404
        expect(visitor.get_by_text("There is no run")).to_be_visible()
    finally:
        stranger.close()
