"""Distributed mode: Celery carries the scheduler's two steps to any number of workers (Redis as the broker).

Celery does no deciding here. Beat sends ``tick`` every ``scheduler_poll_seconds``; a tick creates the runs that
came due and sends one ``work`` message per runnable run; a ``work`` task claims whatever run is runnable in the
database and executes it (:class:`alphabook.scheduler.worker.Scheduler`, the same code as embedded mode). So a
lost, duplicated or early message is harmless: claiming is the database's conditional UPDATE with a lease, and a
run is executed once. Start a worker with ``alphabook scheduler worker`` and beat with ``alphabook scheduler run``
when ``ALPHABOOK_SCHEDULER_BACKEND=celery``.
"""

from __future__ import annotations

from functools import cache

from celery import Celery
from sqlalchemy import func, select

from alphabook.core.config import get_settings
from alphabook.core.db import Database
from alphabook.scheduler.models import Run, RunStatus
from alphabook.scheduler.worker import Scheduler

__all__ = ["app", "scheduler"]

settings = get_settings()
app = Celery("alphabook", broker=settings.celery_broker_url)
app.conf.update(
    task_default_queue=settings.celery_queue,
    task_acks_late=True,  # a worker that dies mid-run leaves the message for another; the lease decides the run
    worker_prefetch_multiplier=1,
    worker_concurrency=settings.scheduler_workers,
    broker_connection_retry_on_startup=True,
    beat_schedule={"tick": {"task": "alphabook.scheduler.tick", "schedule": settings.scheduler_poll_seconds}},
)


@cache
def scheduler() -> Scheduler:
    return Scheduler(settings, Database(settings.effective_database_url))


@app.task(name="alphabook.scheduler.tick", ignore_result=True)
def tick() -> int:
    """Create due runs, then ask the workers to execute every runnable one."""
    current = scheduler()
    created = current.tick()
    with current.database.session() as session:
        runnable = session.scalar(select(func.count()).select_from(Run).where(Run.status == RunStatus.QUEUED))
    for _ in range(min(int(runnable or 0), 100)):
        work.delay()
    return created


@app.task(name="alphabook.scheduler.work", ignore_result=True)
def work() -> int | None:
    return scheduler().work_once()
