"""The run queue in the database: exactly one run per scheduled time, and one executor per run at a time.

No broker is needed for correctness: the database decides. A job that comes due is advanced with a
compare-and-set on its ``next_run_at`` (the scheduler that wins creates the run, and the unique
``(job_id, scheduled_for)`` stops a second one regardless); a queued run is claimed with a conditional UPDATE
that only one executor can win, and carries a lease the executor renews while it works. A lease that lapses means
the executor died: the run is retried (same row, next attempt, after a backoff) or failed, and never runs twice at
once. Retries reuse the run's row, so "one run per scheduled time" holds through them; the log keeps each attempt.
Celery (distributed mode) only carries the wake-ups: claiming still happens here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Update, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.core.clock import utcnow
from alphabook.core.errors import Conflict
from alphabook.scheduler.cron import next_after
from alphabook.scheduler.models import FINISHED, Job, Run, RunStatus

__all__ = ["Lease", "cancel", "claim", "enqueue_due", "finish", "new_run", "recover_expired", "renew", "requeue"]


@dataclass(frozen=True, slots=True)
class Lease:
    """Who may work on a run, and for how long without renewing."""

    owner: str
    seconds: int


def new_run(job: Job, scheduled_for: datetime, trigger: str) -> Run:
    now = utcnow()
    return Run(job_id=job.id, owner_id=job.owner_id, scheduled_for=scheduled_for, trigger=trigger,
               status=RunStatus.QUEUED, attempt=1, not_before=scheduled_for, parameters=dict(job.parameters),
               cancel_requested=False, log="", created_at=now)


def following(job: Job, after: datetime) -> datetime | None:
    """The job's next time after ``after``: from its cron schedule, or none for a one-off."""
    return next_after(job.cron, job.timezone, after) if job.cron else None


def enqueue_due(session: Session, now: datetime | None = None) -> list[Run]:
    """Create the runs of every job that has come due; safe with any number of schedulers at once.

    A schedule that was missed while nothing was running (the machine was off) runs once, now, not once per
    missed time: a daily report wants today's run, not a burst of last week's.
    """
    now = now or utcnow()
    created: list[Run] = []
    due = session.scalars(select(Job).where(Job.enabled.is_(True), Job.next_run_at <= now).order_by(Job.next_run_at))
    for job in list(due):
        scheduled_for = job.next_run_at
        assert scheduled_for is not None
        upcoming = following(job, max(scheduled_for, now))
        won = _changed(session, update(Job).where(Job.id == job.id, Job.next_run_at == scheduled_for).values(
            next_run_at=upcoming, enabled=upcoming is not None, updated_at=now))
        if won != 1:
            continue  # another scheduler took this time
        run = new_run(job, scheduled_for, "schedule")
        try:
            with session.begin_nested():
                session.add(run)
        except IntegrityError:
            continue
        created.append(run)
    session.flush()
    return created


def claim(session: Session, lease: Lease, *, per_owner: int, now: datetime | None = None) -> Run | None:
    """Take the oldest runnable run whose owner is under their concurrency limit; None if there is none."""
    now = now or utcnow()
    busy = dict(session.execute(select(Run.owner_id, func.count()).where(
        Run.status == RunStatus.RUNNING).group_by(Run.owner_id)).all())
    candidates = session.scalars(select(Run).where(Run.status == RunStatus.QUEUED, Run.not_before <= now)
                                 .order_by(Run.not_before, Run.id).limit(50))
    for run in candidates:
        if busy.get(run.owner_id, 0) >= per_owner:
            continue
        won = _changed(session, update(Run).where(Run.id == run.id, Run.status == RunStatus.QUEUED).values(
            status=RunStatus.RUNNING, lease_owner=lease.owner, lease_expires_at=now + timedelta(seconds=lease.seconds),
            started_at=now, finished_at=None))
        if won == 1:
            session.refresh(run)
            return run
    return None


def renew(session: Session, run_id: int, lease: Lease, now: datetime | None = None) -> tuple[bool, bool]:
    """(still ours, cancel requested): extend the lease of a run this executor holds."""
    now = now or utcnow()
    held = _changed(session, update(Run).where(Run.id == run_id, Run.lease_owner == lease.owner,
                                             Run.status == RunStatus.RUNNING).values(
        lease_expires_at=now + timedelta(seconds=lease.seconds))) == 1
    cancel_requested = bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))
    return held, cancel_requested


def finish(session: Session, run_id: int, lease: Lease, status: RunStatus, *, output_path: str | None,
           failed_cell: int | None, error: str | None, log: str, now: datetime | None = None) -> bool:
    """Record how a run ended, if this executor still holds it (a lapsed lease means someone else decides)."""
    now = now or utcnow()
    run = session.get(Run, run_id)
    if run is None or run.lease_owner != lease.owner or run.status != RunStatus.RUNNING:
        return False
    run.status, run.finished_at, run.lease_owner, run.lease_expires_at = status, now, None, None
    run.output_path, run.failed_cell, run.error = output_path, failed_cell, error
    run.log = _append(run.log, f"attempt {run.attempt}: {status}", log)
    session.flush()
    return True


def requeue(session: Session, run: Run, reason: str, now: datetime | None = None) -> bool:
    """Queue a failed run's next attempt after its backoff, if its job allows one more; False if not."""
    now = now or utcnow()
    job = run.job
    if run.attempt > job.max_retries:
        return False
    backoff = job.retry_backoff_seconds * 2 ** (run.attempt - 1)
    run.log = _append(run.log, f"attempt {run.attempt} failed; retrying in {backoff} s", reason)
    run.status, run.attempt, run.trigger = RunStatus.QUEUED, run.attempt + 1, "retry"
    run.not_before = now + timedelta(seconds=backoff)
    run.started_at = run.finished_at = run.lease_owner = run.lease_expires_at = None
    session.flush()
    return True


def recover_expired(session: Session, now: datetime | None = None) -> list[Run]:
    """Runs whose executor stopped renewing: retried if their job allows, failed otherwise."""
    now = now or utcnow()
    lapsed = list(session.scalars(select(Run).where(Run.status == RunStatus.RUNNING, Run.lease_expires_at < now)))
    for run in lapsed:
        reason = f"the executor {run.lease_owner} stopped renewing its lease (it crashed or was killed)"
        won = _changed(session, update(Run).where(Run.id == run.id, Run.status == RunStatus.RUNNING,
                                                Run.lease_expires_at < now).values(
            status=RunStatus.FAILED, finished_at=now, lease_owner=None, lease_expires_at=None, error=reason)
            )
        if won == 1:
            session.refresh(run)
            requeue(session, run, reason, now)
    return lapsed


def cancel(session: Session, run: Run, now: datetime | None = None) -> Run:
    """Cancel a queued run at once; ask the executor of a running one to stop it."""
    now = now or utcnow()
    if run.status in FINISHED:
        raise Conflict(f"Run {run.id} has already {run.status.replace('_', ' ')}.")
    if run.status == RunStatus.QUEUED:
        run.status, run.finished_at = RunStatus.CANCELLED, now
    run.cancel_requested = True
    session.flush()
    return run


def _changed(session: Session, statement: Update) -> int:
    """How many rows a conditional UPDATE changed: 1 means this caller won the race."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(cast(CursorResult[Any], result).rowcount)


def _append(log: str, heading: str, text: str) -> str:
    entry = f"--- {heading}\n{text.rstrip()}\n" if text.strip() else f"--- {heading}\n"
    return (log + entry)[-200_000:]
