"""Scheduled notebook runs on every database backend: on schedule with parameters, failures with their cell and
traceback and retries, timeouts that kill the kernel, cancels, crashed executors, and two schedulers that never
run the same time twice. Notebooks really run (papermill, real kernels); only the clock is moved by hand.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import nbformat
import psutil
import pytest
from fastapi.testclient import TestClient
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import delete, func, select, update

from alphabook.accounts import service
from alphabook.accounts.models import User
from alphabook.api.main import create_app
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.webhook_signatures import signature
from alphabook.marketplace import entitlements
from alphabook.scheduler import jobs, outputs, queue
from alphabook.scheduler.models import Job, Run, RunStatus
from alphabook.scheduler.worker import Scheduler
from tests.fakes.mailbox import SmtpInbox, WebhookReceiver
from tests.integration.market import API, key_for, make_listing, ok, problem


def _notebook(path: Path, *cells: str, kernel: str = "python3") -> None:
    book = new_notebook(cells=[new_code_cell(cells[0], metadata={"tags": ["parameters"]}),
                               *(new_code_cell(each) for each in cells[1:])])
    book.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, path)


@pytest.fixture(autouse=True)
def no_other_jobs(database: Database) -> Iterator[None]:
    """The scheduler takes any runnable run in the database: each test starts and ends with none."""
    clear_jobs(database)
    yield
    clear_jobs(database)


def clear_jobs(database: Database) -> None:
    with database.session() as session:
        session.execute(delete(Job))


@pytest.fixture
def world(database: Database, tmp_path: Path) -> tuple[Settings, User]:
    settings = Settings(home=tmp_path, database_url=database.url, isolation="none", scheduler_lease_seconds=5)
    name = f"quant{secrets.token_hex(3)}"
    with database.session() as session:
        user = service.ensure_user(session, name, roles=["user"], email=f"{name}@example.org")
        session.expunge(user)
    return settings, user


def _job(database: Database, settings: Settings, owner: User, **spec: object) -> int:
    with database.session() as session:
        user = session.get(User, owner.id)
        assert user is not None
        return jobs.create_job(session, user, {"name": f"job{secrets.token_hex(3)}", **spec}, settings).id


def _due_now(database: Database, job_id: int) -> None:
    with database.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(next_run_at=utcnow() - timedelta(seconds=1)))


def _run(database: Database, run_id: int) -> Run:
    with database.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        session.expunge(run)
        return run


def test_a_job_runs_on_its_schedule_with_its_parameters(database: Database, world: tuple[Settings, User]) -> None:
    settings, owner = world
    home = settings.home / "users" / owner.name
    _notebook(home / "reports" / "daily.ipynb", "symbol = 'AAPL'\nlength = 5",
              "import os, pathlib\nprint(f'report for {symbol} over {length} days')\n"
              "pathlib.Path('written-by-run.txt').write_text(symbol)", kernel="alphabook-research")
    job_id = _job(database, settings, owner, notebook="reports/daily.ipynb", cron="0 9 * * 1-5",
                  timezone="America/New_York", parameters={"symbol": "MSFT"})
    scheduler = Scheduler(settings, database)
    assert scheduler.tick() == 0  # not due yet: 09:00 New York is in the future
    _due_now(database, job_id)
    assert scheduler.tick() == 1
    assert scheduler.tick() == 0  # the time is taken; the job moved on to its next time
    run_id = scheduler.work_once()
    assert run_id is not None
    run = _run(database, run_id)
    assert run.status == RunStatus.SUCCEEDED, run.log[-3000:]
    assert run.trigger == "schedule" and run.parameters == {"symbol": "MSFT"} and run.duration_seconds
    assert (home / "reports" / "written-by-run.txt").read_text() == "MSFT"  # ran in the notebook's folder, in home
    executed = nbformat.read(settings.run_store / str(run.output_path), as_version=4)
    assert "report for MSFT over 5 days" in json.dumps(executed.cells[2].outputs)
    assert "injected-parameters" in executed.cells[1].metadata["tags"]
    assert "report for MSFT over 5 days" in outputs.as_html(run, settings)
    with database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.next_run_at is not None and job.next_run_at > utcnow()


def test_a_failing_cell_is_recorded_and_retried_with_backoff(database: Database,
                                                           world: tuple[Settings, User]) -> None:
    settings, owner = world
    _notebook(settings.home / "users" / owner.name / "fragile.ipynb", "divisor = 0", "x = 1", "print(10 / divisor)")
    job_id = _job(database, settings, owner, notebook="fragile.ipynb", cron="0 0 1 1 *", max_retries=1,
                  retry_backoff_seconds=1)
    with database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.execute(update(Job).where(Job.id == job_id).values(kernel="python3"))
        run_id = jobs.run_now(session, session.get(User, owner.id), job).id  # type: ignore[arg-type]
    scheduler = Scheduler(settings, database)
    assert scheduler.work_once() == run_id
    first = _run(database, run_id)
    assert first.status == RunStatus.QUEUED and first.attempt == 2 and first.trigger == "retry"
    assert first.not_before > utcnow() - timedelta(seconds=1)
    assert scheduler.work_once() is None  # waiting out its backoff
    time.sleep(1.2)
    assert scheduler.work_once() == run_id
    final = _run(database, run_id)
    assert final.status == RunStatus.FAILED and final.attempt == 2
    assert final.failed_cell == 3  # In [3]: no parameters given, so none injected
    assert final.error is not None and final.error.startswith("ZeroDivisionError: division by zero")
    assert "print(10 / divisor)" in final.error
    assert final.log.count("ZeroDivisionError") >= 2 and "attempt 1 failed; retrying in 1 s" in final.log


def test_a_timeout_kills_the_kernel(database: Database, world: tuple[Settings, User]) -> None:
    settings, owner = world
    pid_file = settings.home / "kernel.pid"
    _notebook(settings.home / "users" / owner.name / "slow.ipynb", "seconds = 120",
              f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))", "time.sleep(seconds)")
    job_id = _job(database, settings, owner, notebook="slow.ipynb", cron="0 0 1 1 *")
    with database.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(kernel="python3", timeout_seconds=8))
        job = session.get(Job, job_id)
        run_id = jobs.run_now(session, session.get(User, owner.id), job).id  # type: ignore[arg-type]
    started = time.monotonic()
    Scheduler(settings, database).work_once()
    assert time.monotonic() - started < 60
    run = _run(database, run_id)
    assert run.status == RunStatus.TIMED_OUT and run.failed_cell == 3, run.log[-2000:]
    assert "timeout of 8 s while cell 3 was running" in str(run.error)
    kernel = int(pid_file.read_text())
    assert not psutil.pid_exists(kernel) or psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE


def test_cancel_stops_a_running_notebook_and_a_queued_one_never_starts(database: Database,
                                                                       world: tuple[Settings, User]) -> None:
    settings, owner = world
    _notebook(settings.home / "users" / owner.name / "long.ipynb", "seconds = 120", "import time",
              "time.sleep(seconds)")
    job_id = _job(database, settings, owner, notebook="long.ipynb", cron="0 0 1 1 *")
    with database.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(kernel="python3"))
        job = session.get(Job, job_id)
        user = session.get(User, owner.id)
        running_id = jobs.run_now(session, user, job).id  # type: ignore[arg-type]
        queued = jobs.run_now(session, user, job)  # type: ignore[arg-type]
        assert queue.cancel(session, queued).status == RunStatus.CANCELLED
    scheduler = Scheduler(settings, database)
    worker = threading.Thread(target=scheduler.work_once)
    worker.start()
    deadline = time.monotonic() + 60
    while _run(database, running_id).status != RunStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)
    with database.session() as session:
        run = session.get(Run, running_id)
        assert run is not None
        queue.cancel(session, run)
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert _run(database, running_id).status == RunStatus.CANCELLED
    assert scheduler.work_once() is None  # the cancelled queued run is not picked up


def test_two_schedulers_create_one_run_per_time_and_one_executor_per_run(database: Database,
                                                                          world: tuple[Settings, User]) -> None:
    settings, owner = world
    job_id = _job(database, settings, owner, notebook="never-run.ipynb", cron="* * * * *")
    _due_now(database, job_id)
    schedulers = [Scheduler(settings, database, name=f"scheduler-{n}") for n in range(4)]
    barrier = threading.Barrier(len(schedulers))
    created: list[int] = []

    def tick(scheduler: Scheduler) -> None:
        barrier.wait()
        created.append(scheduler.tick())

    threads = [threading.Thread(target=tick, args=(each,)) for each in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created) == [0, 0, 0, 1]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Run).where(Run.job_id == job_id)) == 1

    claims: list[Run | None] = []

    def claim(scheduler: Scheduler) -> None:
        barrier.wait()
        with database.session() as session:
            claims.append(queue.claim(session, scheduler.lease, per_owner=5))

    threads = [threading.Thread(target=claim, args=(each,)) for each in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [won] = [each for each in claims if each is not None]
    assert won.lease_owner in {each.lease.owner for each in schedulers}


def test_a_crashed_executor_is_noticed_and_its_run_retried_not_run_twice(database: Database,
                                                                         world: tuple[Settings, User]) -> None:
    settings, owner = world
    job_id = _job(database, settings, owner, notebook="n.ipynb", cron="0 0 1 1 *", max_retries=1,
                  retry_backoff_seconds=1)
    crashed, rescuer = Scheduler(settings, database, name="crashed"), Scheduler(settings, database, name="rescuer")
    with database.session() as session:
        job = session.get(Job, job_id)
        run_id = jobs.run_now(session, session.get(User, owner.id), job).id  # type: ignore[arg-type]
    with database.session() as session:
        claimed = queue.claim(session, crashed.lease, per_owner=2)
        assert claimed is not None and claimed.id == run_id
    with database.session() as session:  # still leased: nobody else may take it, and nothing is recovered
        assert queue.claim(session, rescuer.lease, per_owner=2) is None
        assert queue.recover_expired(session) == []
    with database.session() as session:  # the executor died: its lease lapses
        session.execute(update(Run).where(Run.id == run_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert rescuer.tick() == 0
    run = _run(database, run_id)
    assert run.status == RunStatus.QUEUED and run.attempt == 2 and "stopped renewing its lease" in run.log
    with database.session() as session:  # the crashed one comes back: it may no longer record anything
        assert not queue.finish(session, run_id, crashed.lease, RunStatus.SUCCEEDED, output_path=None,
                                failed_cell=None, error=None, log="")
        assert queue.renew(session, run_id, crashed.lease) == (False, False)


@pytest.fixture
def unix_person() -> Iterator[str]:
    assert os.geteuid() == 0, "running a job as its owner needs root to switch to the owner's account"
    name = f"sched{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["pkill", "--signal", "KILL", "-u", name], check=False)
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def test_a_persons_run_executes_as_their_own_unix_account(database: Database, tmp_path: Path,
                                                          unix_person: str) -> None:
    settings = Settings(home=tmp_path, database_url=database.url, isolation="system-users")
    entry = pwd.getpwnam(unix_person)
    home = Path(entry.pw_dir)
    _notebook(home / "whoami.ipynb", "note = ''", "import os\nopen('uid.txt', 'w').write(str(os.getuid()))",
              kernel="alphabook-research")
    subprocess.run(["chown", "-R", f"{unix_person}:{unix_person}", str(home)], check=True)
    with database.session() as session:
        user = service.ensure_user(session, unix_person, roles=["user"], email=f"{unix_person}@example.org")
        job = jobs.create_job(session, user, {"name": "whoami", "notebook": "whoami.ipynb", "cron": "0 0 1 1 *"},
                              settings)
        run_id = jobs.run_now(session, user, job).id
    Scheduler(settings, database).work_once()
    run = _run(database, run_id)
    assert run.status == RunStatus.SUCCEEDED, run.log[-3000:]
    assert (home / "uid.txt").read_text() == str(entry.pw_uid)
    assert (home / "uid.txt").stat().st_uid == entry.pw_uid


def test_jobs_through_the_api(database: Database, tmp_path: Path) -> None:
    """What a person does over HTTP: schedule a notebook, see when it runs next, run it now, read its output."""
    settings = Settings(home=tmp_path, database_url=database.url, isolation="none")
    name = f"apiquant{secrets.token_hex(3)}"
    me = key_for(database, name)
    _notebook(tmp_path / "users" / name / "hello.ipynb", "who = 'world'", "print(f'hello {who}')")
    with TestClient(create_app(settings, prefix="/services/api/")) as client:
        problem(client.post(f"{API}/jobs", headers=me, json={"name": "bad", "notebook": "hello.ipynb",
                                                             "cron": "0 25 * * *"}), 422, "not a cron schedule")
        problem(client.post(f"{API}/jobs", headers=me, json={"name": "escape", "notebook": "../etc/x.ipynb",
                                                             "cron": "0 9 * * *"}), 422, "not a notebook in your home")
        problem(client.post(f"{API}/jobs", headers=me, json={"name": "both", "notebook": "hello.ipynb",
                                                             "platform": "payouts.ipynb", "cron": "0 9 * * *"}),
                422, "exactly one thing")
        job = ok(client.post(f"{API}/jobs", headers=me, json={
            "name": "hello", "notebook": "hello.ipynb", "cron": "0 9 * * 1-5", "timezone": "Europe/London",
            "parameters": {"who": "alphabook"}, "notify": {"on": ["failure"], "email": "me@example.org"}}), 201)
        assert job["schedule"] == "At 09:00 on Monday through Friday (Europe/London)"
        assert job["kernel"] == "alphabook-research" and job["next_run_at"] is not None
        problem(client.post(f"{API}/jobs", headers=me, json={"name": "hello", "notebook": "hello.ipynb",
                                                             "cron": "0 9 * * *"}), 409, "already have a job")
        paused = ok(client.patch(f"{API}/jobs/{job['id']}", headers=me, json={"enabled": False}))
        assert paused["next_run_at"] is None
        problem(client.patch(f"{API}/jobs/{job['id']}", headers=me, json={"timeout_seconds": None}), 422,
                "timeout_seconds cannot be empty")
        problem(client.post(f"{API}/jobs", headers=me, json={"name": "naive", "notebook": "hello.ipynb",
                                                             "run_at": "2030-01-02T09:00:00"}), 422, "run_at")
        gone = ok(client.post(f"{API}/jobs", headers=me, json={"name": "gone", "notebook": "moved.ipynb",
                                                               "run_at": "2030-01-02T09:00:00+01:00"}), 201)
        assert gone["next_run_at"].startswith("2030-01-02T08:00:00")  # kept in UTC
        lost = ok(client.post(f"{API}/jobs/{gone['id']}/run", headers=me), 201)
        assert Scheduler(settings, database).work_once() is None  # it could not start
        failed = ok(client.get(f"{API}/runs/{lost['id']}", headers=me))
        assert failed["status"] == "failed" and "no notebook moved.ipynb" in failed["error"]
        assert client.delete(f"{API}/jobs/{gone['id']}", headers=me).status_code == 204
        with database.session() as session:
            session.execute(update(Job).where(Job.id == job["id"]).values(kernel="python3"))
        run = ok(client.post(f"{API}/jobs/{job['id']}/run", headers=me), 201)
        assert run["status"] == "queued" and run["trigger"] == "manual"
        assert Scheduler(settings, database).work_once() == run["id"]
        done = ok(client.get(f"{API}/runs/{run['id']}", headers=me))
        assert done["status"] == "succeeded" and done["has_output"] and done["duration_seconds"] > 0
        rendered = client.get(f"{API}/runs/{run['id']}/output", headers=me)
        assert "hello alphabook" in rendered.text
        assert rendered.headers["content-security-policy"].startswith("sandbox")  # outputs may carry scripts
        executed = client.get(f"{API}/runs/{run['id']}/output", params={"format": "ipynb"}, headers=me)
        assert executed.headers["content-type"].startswith("application/x-ipynb+json")
        assert "hello alphabook" in executed.text and "attempt 1: succeeded" in client.get(
            f"{API}/runs/{run['id']}/log", headers=me).text
        assert [each["id"] for each in ok(client.get(f"{API}/jobs/{job['id']}/runs", headers=me))] == [run["id"]]
        problem(client.post(f"{API}/runs/{run['id']}/cancel", headers=me), 409, "already succeeded")
        stranger = key_for(database, f"other{secrets.token_hex(3)}")
        problem(client.get(f"{API}/runs/{run['id']}", headers=stranger), 404)
        problem(client.get(f"{API}/jobs/{job['id']}", headers=stranger), 404)
        assert client.delete(f"{API}/jobs/{job['id']}", headers=me).status_code == 204


def test_the_owner_hears_how_a_run_ended_by_email_and_signed_webhook(database: Database,
                                                                     world: tuple[Settings, User]) -> None:
    """A real SMTP server (aiosmtpd) and a real HTTP endpoint receive the notification of a failed run."""
    settings, owner = world
    with SmtpInbox() as inbox, WebhookReceiver() as web:
        settings = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": inbox.port,
                                               "smtp_starttls": False})
        _notebook(settings.home / "users" / owner.name / "broken.ipynb", "x = 0", "1 / x")
        job_id = _job(database, settings, owner, notebook="broken.ipynb", cron="0 0 1 1 *", notify={
            "on": ["failure"], "email": "quant@example.org", "webhook": f"{web.url}/hook"})
        with database.session() as session:
            session.execute(update(Job).where(Job.id == job_id).values(kernel="python3"))
            job = session.get(Job, job_id)
            assert job is not None and job.notify["secret"].startswith("whsec_")
            secret = job.notify["secret"]
            run_id = jobs.run_now(session, session.get(User, owner.id), job).id  # type: ignore[arg-type]
        Scheduler(settings, database).work_once()
        mails, posts = inbox.to("quant@example.org"), web.at("/hook")
    run = _run(database, run_id)
    assert run.status == RunStatus.FAILED
    [mail] = mails
    assert "run " + str(run_id) + " failed" in mail["Subject"] and mail["To"] == "quant@example.org"
    assert "Cell 2: ZeroDivisionError" in mail.get_payload()
    [post] = posts
    headers, body = post.headers, post.body
    expected = signature(secret, headers["webhook-id"], headers["webhook-timestamp"], body)
    assert headers["webhook-signature"] == "v1," + expected.decode() and base64.b64decode(expected)
    sent = json.loads(body)
    assert sent["type"] == "run.failed" and sent["run"]["failed_cell"] == 2 and sent["job"]["id"] == job_id
    assert "notification: e-mail sent to quant@example.org" in run.log and "answered 204" in run.log


def test_a_slow_webhook_target_holds_up_no_other_writer(database: Database, world: tuple[Settings, User]) -> None:
    """The run is recorded before its owner is told, so while their webhook takes its time the installation's
    other writes go through (on SQLite a transaction held meanwhile would keep the one write lock)."""
    settings, owner = world
    with WebhookReceiver() as web:
        _notebook(settings.home / "users" / owner.name / "broken.ipynb", "x = 0", "1 / x")
        job_id = _job(database, settings, owner, notebook="broken.ipynb", cron="0 0 1 1 *",
                      notify={"on": ["failure"], "webhook": f"{web.url}/slow"})
        with database.session() as session:
            session.execute(update(Job).where(Job.id == job_id).values(kernel="python3"))
            run_id = jobs.run_now(session, session.get(User, owner.id), session.get_one(Job, job_id)).id  # type: ignore[arg-type]
        web.answering.clear()
        try:
            with ThreadPoolExecutor(1) as background:
                working = background.submit(Scheduler(settings, database).work_once)
                deadline = time.monotonic() + 120
                while not web.at("/slow") and not working.done() and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert web.at("/slow") and not working.done(), "the notification never reached the webhook"
                with database.session() as session:
                    session.execute(update(Job).where(Job.id == job_id).values(name="renamed while it waits"))
                written_while_waiting = not working.done()
                web.answering.set()
                working.result()
        finally:
            web.answering.set()
    run = _run(database, run_id)
    assert written_while_waiting and run.status == RunStatus.FAILED
    assert run.log.endswith(f"--- notification: webhook {web.url}/slow answered 204\n")


def test_a_bought_notebook_listing_runs_in_the_sandbox_kernel(database: Database, world: tuple[Settings, User],
                                                             tmp_path: Path) -> None:
    """Someone else's notebook runs in alphabook-sandbox: its code gets neither the network nor any home."""
    settings, owner = world
    book = new_notebook(cells=[
        new_code_cell("rows = 3", metadata={"tags": ["parameters"]}),
        new_code_cell("import os, socket\nprint('rows', rows, 'home', os.environ.get('HOME'))\n"
                      "try:\n    socket.create_connection(('127.0.0.1', 5432), timeout=2)\n    print('network: yes')\n"
                      "except OSError:\n    print('network: no')\nprint('homes:', os.path.exists('/home'), "
                      f"os.path.exists({str(tmp_path)!r}))")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with database.session() as session:
        creator = service.ensure_user(session, f"nbmaker{secrets.token_hex(3)}", roles=["user", "creator"])
        listing = make_listing(session, creator, f"report{secrets.token_hex(3)}", 0, kind="notebook")
        listing.versions[0].code = nbformat.writes(book)
        buyer = session.get(User, owner.id)
        assert buyer is not None
        entitlements.install(session, buyer, listing)
        job = jobs.create_job(session, buyer, {"name": "bought-report", "listing": listing.slug,
                                               "cron": "0 7 * * *", "parameters": {"rows": 7}}, settings)
        assert job.kernel == "alphabook-sandbox" and job.notebook_path == f"{listing.slug}@1.0.0"
        run_id = jobs.run_now(session, buyer, job).id
    Scheduler(settings, database).work_once()
    run = _run(database, run_id)
    assert run.status == RunStatus.SUCCEEDED, f"{run.error}\n{run.log[-3000:]}"
    printed = json.dumps(nbformat.read(settings.run_store / str(run.output_path), as_version=4).cells[2].outputs)
    assert "rows 7 home /tmp" in printed and "network: no" in printed and "homes: False False" in printed


def test_a_persons_runs_wait_for_their_concurrency_limit_and_a_one_off_runs_once(
        database: Database, world: tuple[Settings, User]) -> None:
    settings, owner = world
    job_id = _job(database, settings, owner, notebook="n.ipynb", cron="0 0 1 1 *")
    once = _job(database, settings, owner, notebook="n.ipynb", run_at=utcnow() - timedelta(seconds=1))
    first, second = Scheduler(settings, database, name="first"), Scheduler(settings, database, name="second")
    with database.session() as session:
        user, job = session.get(User, owner.id), session.get(Job, job_id)
        jobs.run_now(session, user, job)  # type: ignore[arg-type]
        jobs.run_now(session, user, job)  # type: ignore[arg-type]
    with database.session() as session:
        assert queue.claim(session, first.lease, per_owner=1) is not None
        assert queue.claim(session, second.lease, per_owner=1) is None  # their one slot is taken
        assert queue.claim(session, second.lease, per_owner=2) is not None  # a second slot lets the next one in
    assert first.tick() == 1  # the one-off came due: one run, and the job is done scheduling
    assert first.tick() == 0
    with database.session() as session:
        done = session.get(Job, once)
        assert done is not None and done.next_run_at is None and not done.enabled
        assert session.scalar(select(func.count()).select_from(Run).where(Run.job_id == once)) == 1
