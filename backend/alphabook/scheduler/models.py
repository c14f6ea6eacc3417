"""Scheduled notebook jobs and their runs.

A job belongs to its owner and names what it runs: a notebook in the owner's home (run in their
``alphabook-research`` kernel, as them) or a published listing version (anything the owner did not write runs
in ``alphabook-sandbox``), or one of the platform's own job notebooks (``notebooks/jobs/``, run by the platform).
A run is one execution. ``(job_id, scheduled_for)`` is unique, so however many schedulers see a job come due,
one run exists for that time; a run is executed by whoever holds its lease (``lease_owner`` until
``lease_expires_at``), which the executor renews while it works, so a crashed executor's run is noticed when its
lease lapses and is retried or failed, never run twice at once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alphabook.core.db import Base

__all__ = ["Job", "JobSource", "Run", "RunStatus"]

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class JobSource(StrEnum):
    NOTEBOOK = "notebook"  # a notebook in the owner's home, by path
    LISTING = "listing"  # a published listing version (a notebook listing), run in the sandbox kernel
    PLATFORM = "platform"  # one of alphabook's own job notebooks (notebooks/jobs/)


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_jobs_owner_id_name"),
                      Index("ix_jobs_due", "enabled", "next_run_at"))

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(10))
    notebook_path: Mapped[str] = mapped_column(String(500))  # in the owner's home, or under notebooks/jobs/
    listing_version_id: Mapped[int | None] = mapped_column(ForeignKey("listing_versions.id", ondelete="SET NULL"))
    parameters: Mapped[dict[str, Any]]
    kernel: Mapped[str] = mapped_column(String(40))
    cron: Mapped[str | None] = mapped_column(String(120))  # None: a one-off job
    timezone: Mapped[str] = mapped_column(String(64))
    run_at: Mapped[datetime | None]  # a one-off job's time
    timeout_seconds: Mapped[int]
    max_retries: Mapped[int]
    retry_backoff_seconds: Mapped[int]
    notify: Mapped[dict[str, Any]]  # {"on": ["failure"], "email": "…", "webhook": "https://…"}
    enabled: Mapped[bool]
    next_run_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    runs: Mapped[list[Run]] = relationship(back_populates="job", order_by="Run.id", passive_deletes=True,
                                           cascade="all, delete-orphan")


class Run(Base):
    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "scheduled_for", name="uq_job_runs_job_id_scheduled_for"),
                      Index("ix_job_runs_claimable", "status", "not_before"))

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(index=True)  # the job's, kept for the per-person limit
    scheduled_for: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(10))  # schedule | manual | retry
    status: Mapped[str] = mapped_column(String(10))
    attempt: Mapped[int]
    not_before: Mapped[datetime]  # a retry waits for its backoff
    parameters: Mapped[dict[str, Any]]
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_expires_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    output_path: Mapped[str | None] = mapped_column(String(500))  # relative to the run store
    failed_cell: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    job: Mapped[Job] = relationship(back_populates="runs")

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
