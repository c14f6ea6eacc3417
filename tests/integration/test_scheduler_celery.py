"""Distributed mode end to end: Celery beat and a Celery worker, real processes on the CI machine's Redis, run a
scheduled notebook that came due, on each database backend. Celery only carries wake-ups; the database decides."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import select, update

from alphabook.accounts import service
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.scheduler import jobs
from alphabook.scheduler.models import Job, Run, RunStatus
from tests.integration.test_scheduler import clear_jobs

ALPHABOOK = Path(sys.executable).parent / "alphabook"
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def celery_env(database: Database, tmp_path: Path) -> Iterator[dict[str, str]]:
    clear_jobs(database)  # the worker would take any runnable run in the database
    env = {**{key: value for key, value in os.environ.items() if not key.startswith("ALPHABOOK_")},
           "ALPHABOOK_HOME": str(tmp_path), "ALPHABOOK_DATABASE_URL": database.url, "ALPHABOOK_ISOLATION": "none",
           "ALPHABOOK_SCHEDULER_BACKEND": "celery", "ALPHABOOK_CELERY_BROKER_URL": REDIS,
           "ALPHABOOK_CELERY_QUEUE": f"test-runs-{secrets.token_hex(4)}", "ALPHABOOK_SCHEDULER_POLL_SECONDS": "1",
           "ALPHABOOK_SCHEDULER_WORKERS": "1"}
    processes: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "celery.log").open("wb")
    for command in (["scheduler", "worker"], ["scheduler", "run"]):  # a worker, and beat
        processes.append(subprocess.Popen([str(ALPHABOOK), *command], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
    try:
        yield env
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def test_beat_and_a_worker_run_a_due_job(database: Database, tmp_path: Path, celery_env: dict[str, str]) -> None:
    settings = Settings(home=tmp_path, database_url=database.url, isolation="none")
    name = f"celeryquant{secrets.token_hex(3)}"
    book = new_notebook(cells=[new_code_cell("greeting = 'hi'", metadata={"tags": ["parameters"]}),
                               new_code_cell("import os\nprint(greeting, os.getpid())")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "users" / name).mkdir(parents=True)
    nbformat.write(book, tmp_path / "users" / name / "hello.ipynb")
    with database.session() as session:
        owner = service.ensure_user(session, name, roles=["user"], email=f"{name}@example.org")
        job = jobs.create_job(session, owner, {"name": "hello", "notebook": "hello.ipynb", "cron": "*/5 * * * *",
                                               "parameters": {"greeting": "from celery"}}, settings)
        session.execute(update(Job).where(Job.id == job.id).values(
            kernel="python3", next_run_at=utcnow() - timedelta(seconds=1)))
        job_id = job.id
    deadline = time.monotonic() + 180
    run: Run | None = None
    while time.monotonic() < deadline:
        with database.session() as session:
            run = session.scalar(select(Run).where(Run.job_id == job_id))
            if run is not None and run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
                session.expunge(run)
                break
        time.sleep(1)
    log = (tmp_path / "celery.log").read_text(errors="replace")[-4000:]
    assert run is not None and run.status == RunStatus.SUCCEEDED, log
    assert run.trigger == "schedule" and run.lease_owner is None and "from celery" in run.log
    assert "alphabook.scheduler.work" in log and "beat" in log.lower()
