"""``alphabook scheduler run`` (the embedded scheduler service) and ``alphabook jobs …`` (jobs and runs, as the API).

The jobs commands act for a named person (``--user``), straight on the database, for operators on the machine;
people use the API, the dashboards' Runs page or JupyterLab.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core import migrations
from alphabook.core.config import Settings, get_settings
from alphabook.core.db import Database
from alphabook.core.errors import NotFound

scheduler_app = typer.Typer(help="The scheduler of notebook runs.", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled notebook jobs and their runs.", no_args_is_help=True)
console = Console(soft_wrap=True)
User_ = Annotated[str, typer.Option("--user", "-u", help="Whose jobs.")]


@contextmanager
def _database() -> Iterator[tuple[Settings, Database]]:
    settings = get_settings()
    migrations.upgrade(settings.effective_database_url)
    database = Database(settings.effective_database_url)
    try:
        yield settings, database
    finally:
        database.dispose()


def _user(session: Session, name: str) -> User:
    from sqlalchemy import select

    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"There is no user {name!r}.")
    return user


@scheduler_app.command("run")
def run(once: Annotated[bool, typer.Option(help="One tick and at most one run, then exit.")] = False) -> None:
    """Create due runs and execute them until stopped (Ctrl+C, SIGTERM); several may run side by side.

    In distributed mode (ALPHABOOK_SCHEDULER_BACKEND=celery) this is Celery beat, and workers execute the runs."""
    from alphabook.scheduler.worker import Scheduler

    if get_settings().scheduler_backend == "celery" and not once:
        settings = get_settings()
        migrations.upgrade(settings.effective_database_url)
        _celery("beat", f"--schedule={settings.home / 'celerybeat-schedule'}")
    with _database() as (settings, database):
        scheduler = Scheduler(settings, database)
        if once:
            created = scheduler.tick()
            ran = scheduler.work_once()
            console.print(f"{created} runs created; " + (f"run {ran} executed" if ran else "nothing to run"))
            return
        stop = threading.Event()

        def finish(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, finish)
        signal.signal(signal.SIGINT, finish)
        console.print(f"scheduling notebook runs ({settings.scheduler_workers} at once); stop with Ctrl+C",
                      highlight=False)
        scheduler.serve(stop)


@scheduler_app.command("worker")
def worker() -> None:
    """A Celery worker executing runs (distributed mode, ALPHABOOK_SCHEDULER_BACKEND=celery); start any number."""
    settings = get_settings()
    migrations.upgrade(settings.effective_database_url)
    _celery("worker", f"--concurrency={settings.scheduler_workers}", f"--queues={settings.celery_queue}",
            "--loglevel=INFO")


def _celery(*args: str) -> None:
    """Become the Celery program (same venv) with the alphabook app; it handles its own signals."""
    program = Path(sys.executable).parent / "celery"
    os.execv(program, [str(program), "--app=alphabook.scheduler.celery_app", *args])


@jobs_app.command("list")
def list_jobs(user: User_) -> None:
    """A person's jobs, their schedules and next times."""
    from alphabook.scheduler import jobs
    from alphabook.scheduler.schemas import JobOut

    with _database() as (_, database), database.session() as session:
        table = Table("id", "name", "runs", "schedule", "next run (UTC)", "enabled")
        for job in jobs.jobs_of(session, _user(session, user)):
            shown = JobOut.of(job)
            upcoming = f"{job.next_run_at:%Y-%m-%d %H:%M}" if job.next_run_at else "-"
            table.add_row(str(job.id), job.name, job.notebook_path, shown.schedule, upcoming,
                          "yes" if job.enabled else "no")
        console.print(table)


@jobs_app.command("create")
def create(user: User_, name: Annotated[str, typer.Option()],
           notebook: Annotated[str | None, typer.Option(help="A notebook in the user's home.")] = None,
           platform: Annotated[str | None, typer.Option(help="A notebook of notebooks/jobs/ (admins).")] = None,
           cron: Annotated[str | None, typer.Option(help="e.g. '0 9 * * 1-5'")] = None,
           timezone: Annotated[str, typer.Option("--tz")] = "UTC",
           param: Annotated[list[str], typer.Option("-p", help="name=value (JSON values: -p length=14)")] = [],  # noqa: B006
           retries: Annotated[int, typer.Option()] = 0, timeout: Annotated[int | None, typer.Option()] = None) -> None:
    """Schedule a notebook."""
    from alphabook.scheduler import jobs

    parameters = {}
    for item in param:
        key, _, value = item.partition("=")
        try:
            parameters[key] = json.loads(value)
        except json.JSONDecodeError:
            parameters[key] = value
    with _database() as (settings, database), database.session() as session:
        job = jobs.create_job(session, _user(session, user), {
            "name": name, "notebook": notebook, "platform": platform, "cron": cron, "timezone": timezone,
            "parameters": parameters, "max_retries": retries, "timeout_seconds": timeout}, settings)
        console.print(f"job {job.id} created; next run {job.next_run_at}", highlight=False)


@jobs_app.command("run")
def run_now(user: User_, job_id: int) -> None:
    """Queue a run now (the scheduler executes it)."""
    from alphabook.scheduler import jobs

    with _database() as (_, database), database.session() as session:
        owner = _user(session, user)
        console.print(f"run {jobs.run_now(session, owner, jobs.get_job(session, owner, job_id)).id} queued")


@jobs_app.command("runs")
def runs(user: User_, limit: int = 20) -> None:
    """A person's latest runs."""
    from alphabook.scheduler import jobs

    with _database() as (_, database), database.session() as session:
        table = Table("run", "job", "status", "attempt", "scheduled (UTC)", "seconds", "error")
        for each in jobs.runs_of(session, _user(session, user), None, limit):
            table.add_row(str(each.id), each.job.name, each.status, str(each.attempt),
                          f"{each.scheduled_for:%Y-%m-%d %H:%M}", f"{each.duration_seconds or 0:.1f}",
                          (each.error or "").splitlines()[0][:60] if each.error else "")
        console.print(table)


@jobs_app.command("cancel")
def cancel(user: User_, run_id: int) -> None:
    from alphabook.scheduler import jobs, queue

    with _database() as (_, database), database.session() as session:
        run = queue.cancel(session, jobs.get_run(session, _user(session, user), run_id))
        console.print(f"run {run.id}: {run.status}" + (" (stopping)" if run.status == "running" else ""))


@jobs_app.command("output")
def output(user: User_, run_id: int, format: Annotated[str, typer.Option(help="html or ipynb")] = "html") -> None:
    """Print a run's executed notebook (HTML or the .ipynb JSON) to standard output."""
    from alphabook.scheduler import jobs, outputs

    with _database() as (settings, database), database.session() as session:
        run = jobs.get_run(session, _user(session, user), run_id)
        sys.stdout.write(outputs.as_html(run, settings) if format == "html"
                         else outputs.notebook_path(run, settings).read_text())
