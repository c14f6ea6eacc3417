"""Jobs, as their owners (and admins) see them: create, change, pause, delete, run now, list runs, cancel.

Which kernel a job gets is not the owner's choice: a notebook from their own home runs in ``alphabook-research``
(their code, their files, the network), a published notebook listing runs in ``alphabook-sandbox`` (someone else's
code: no network, no home), and the platform's own job notebooks run in the plain ``python3`` kernel of the
platform. Listing jobs need the owner's access to the listing and run the version they own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import Role, User
from alphabook.core import webhook_signatures
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from alphabook.marketplace.entitlements import require_access
from alphabook.marketplace.listings import get_listing
from alphabook.sandbox.kernelspecs import RESEARCH_KERNEL, SANDBOX_KERNEL
from alphabook.scheduler import queue
from alphabook.scheduler.cron import next_after, zone
from alphabook.scheduler.homes import notebook_in_home
from alphabook.scheduler.models import Job, JobSource, Run

__all__ = ["JobSpec", "create_job", "delete_job", "get_job", "get_run", "jobs_of", "run_now", "runs_of",
           "update_job"]

PLATFORM_KERNEL = "python3"
JobSpec = Mapping[str, Any]
EDITABLE = ("parameters", "cron", "timezone", "run_at", "timeout_seconds", "max_retries", "retry_backoff_seconds",
            "notify", "enabled")
CLEARABLE = ("cron", "run_at")  # a job may drop its schedule for a single time, or the other way round


def _in_utc(run_at: datetime | None) -> datetime | None:
    if run_at is not None and run_at.tzinfo is None:
        raise InvalidInput("run_at needs a time zone, e.g. 2026-12-24T09:00:00+01:00.")
    return run_at.astimezone(UTC) if run_at else None


def _next_time(cron: str | None, timezone: str, run_at: datetime | None, now: datetime) -> datetime | None:
    zone(timezone)
    if cron:
        return next_after(cron, timezone, now)
    if run_at is None:
        raise InvalidInput("Give the job a cron schedule, or a time to run once (run_at).")
    return run_at


def create_job(session: Session, owner: User, spec: JobSpec, settings: Settings) -> Job:
    """A job from ``spec`` (the API's fields); its first run time is computed now."""
    now = utcnow()
    source, path, version_id, kernel = _what_it_runs(session, owner, spec)
    timezone = spec.get("timezone") or "UTC"
    job = Job(owner_id=owner.id, name=spec["name"], source=source, notebook_path=path, listing_version_id=version_id,
              parameters=dict(spec.get("parameters") or {}), kernel=kernel, cron=spec.get("cron"), timezone=timezone,
              run_at=_in_utc(spec.get("run_at")),
              timeout_seconds=spec.get("timeout_seconds") or settings.scheduler_default_timeout_seconds,
              max_retries=spec.get("max_retries", 0), retry_backoff_seconds=spec.get("retry_backoff_seconds", 60),
              notify=_with_secret(spec.get("notify") or {}, {}), enabled=spec.get("enabled", True), created_at=now,
              updated_at=now)
    job.next_run_at = _next_time(job.cron, timezone, job.run_at, now) if job.enabled else None
    session.add(job)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"You already have a job called {spec['name']!r}.") from None
    return job


def _what_it_runs(session: Session, owner: User, spec: JobSpec) -> tuple[str, str, int | None, str]:
    """(source, notebook path, listing version, kernel) from exactly one of notebook, listing or platform."""
    given = [key for key in ("notebook", "listing", "platform") if spec.get(key)]
    if len(given) != 1:
        raise InvalidInput("A job runs exactly one thing: 'notebook' (a path in your home), 'listing' (a notebook "
                           "listing you own, 'creator/name') or, for administrators, 'platform' (a job notebook).")
    if given == ["notebook"]:
        return JobSource.NOTEBOOK, notebook_in_home(spec["notebook"]), None, RESEARCH_KERNEL
    if given == ["platform"]:
        if not owner.has_role(Role.ADMIN.value):
            raise Forbidden("Only administrators schedule the platform's own job notebooks.")
        from alphabook.scheduler.worker import PLATFORM_NOTEBOOKS

        name = notebook_in_home(spec["platform"])
        if not (PLATFORM_NOTEBOOKS / name).is_file():
            raise NotFound(f"There is no platform job notebook {name}; see notebooks/jobs/.")
        return JobSource.PLATFORM, name, None, PLATFORM_KERNEL
    listing = get_listing(session, spec["listing"])
    if listing.kind != "notebook":
        raise InvalidInput(f"{listing.slug} is an {listing.kind}; only notebook listings can be scheduled "
                           "(use ab.use() inside your own notebook for indicators).")
    version = require_access(session, owner, listing, spec.get("version"))
    return JobSource.LISTING, f"{listing.slug}@{version.version}", version.id, SANDBOX_KERNEL


def _with_secret(notify: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """The notification settings, with the secret that signs webhook POSTs (kept across changes, made once)."""
    settings = dict(notify)
    if settings.get("webhook"):
        settings["secret"] = before.get("secret") or webhook_signatures.new_secret()
    return settings


def _visible(user: User, job: Job) -> bool:
    return job.owner_id == user.id or user.has_role(Role.ADMIN.value)


def get_job(session: Session, user: User, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or not _visible(user, job):
        raise NotFound(f"There is no job {job_id} of yours.")
    return job


def jobs_of(session: Session, owner: User) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.owner_id == owner.id).order_by(Job.name)))


def update_job(session: Session, user: User, job: Job, changes: JobSpec) -> Job:
    """Change a job's schedule, parameters or limits; its next run time follows the new schedule."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"These cannot be changed: {', '.join(sorted(unknown))}; make a new job instead.")
    emptied = sorted(key for key, value in changes.items() if value is None and key not in CLEARABLE)
    if emptied:
        raise InvalidInput(f"{', '.join(emptied)} cannot be empty; leave it out to keep its value.")
    for key, value in changes.items():
        setattr(job, key, _with_secret(value, job.notify) if key == "notify" else _in_utc(value) if key == "run_at"
                else value)
    now = utcnow()
    job.updated_at = now
    job.next_run_at = _next_time(job.cron, job.timezone, job.run_at, now) if job.enabled else None
    session.flush()
    return job


def delete_job(session: Session, user: User, job: Job) -> None:
    session.delete(job)
    session.flush()


def run_now(session: Session, user: User, job: Job) -> Run:
    """Queue a run at once, outside the schedule (it counts against the owner's concurrency limit)."""
    now = utcnow()
    run = queue.new_run(job, now, "manual")
    session.add(run)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the same microsecond twice: one click is enough
        run = queue.new_run(job, now + timedelta(microseconds=1), "manual")
        session.add(run)
        session.flush()
    return run


def runs_of(session: Session, user: User, job: Job | None = None, limit: int = 50) -> list[Run]:
    query = select(Run).order_by(Run.id.desc()).limit(limit)
    query = query.where(Run.job_id == job.id) if job else query.where(Run.owner_id == user.id)
    return list(session.scalars(query))


def get_run(session: Session, user: User, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None or not _visible(user, run.job):
        raise NotFound(f"There is no run {run_id} of yours.")
    return run
