"""API shapes of jobs and runs (pydantic at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl

from alphabook.scheduler.cron import describe
from alphabook.scheduler.models import Job, Run

__all__ = ["JobIn", "JobOut", "JobPatch", "Notify", "RunOut"]


class Notify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: list[Literal["failure", "success"]] = Field(default=["failure"])
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    webhook: HttpUrl | None = Field(default=None, description=(
        "Receives a POST signed with Standard Webhooks headers; the job shows the secret (notify.secret) to check "
        "them with."))


class JobPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] | None = Field(default=None, description="papermill parameters.")
    cron: str | None = Field(default=None, max_length=120, description="Five cron fields, e.g. '0 9 * * 1-5'.")
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone the schedule is read in.")
    run_at: AwareDatetime | None = Field(default=None, description=(
        "Run once at this time (no cron), with its offset: 2026-12-24T09:00:00+01:00."))
    timeout_seconds: int | None = Field(default=None, ge=10, le=7 * 86_400)
    max_retries: int | None = Field(default=None, ge=0, le=10)
    retry_backoff_seconds: int | None = Field(default=None, ge=1, le=86_400)
    notify: Notify | None = None
    enabled: bool | None = None


class JobIn(JobPatch):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[\w .-]+$")
    notebook: str | None = Field(default=None, max_length=500, description="A notebook in your home.")
    listing: str | None = Field(default=None, max_length=130, description="A notebook listing you own.")
    version: str | None = Field(default=None, max_length=40)
    platform: str | None = Field(default=None, max_length=120, description="A job notebook of notebooks/jobs/.")


class JobOut(BaseModel):
    id: int
    name: str
    source: str
    notebook: str
    kernel: str
    parameters: dict[str, Any]
    cron: str | None
    schedule: str
    timezone: str
    run_at: datetime | None
    next_run_at: datetime | None
    timeout_seconds: int
    max_retries: int
    retry_backoff_seconds: int
    notify: dict[str, Any]
    enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, job: Job) -> JobOut:
        schedule = describe(job.cron) + f" ({job.timezone})" if job.cron else (
            f"Once, at {job.run_at.isoformat()}" if job.run_at else "Only when run by hand")
        return cls(id=job.id, name=job.name, source=job.source, notebook=job.notebook_path, kernel=job.kernel,
                   parameters=job.parameters, cron=job.cron, schedule=schedule, timezone=job.timezone,
                   run_at=job.run_at, next_run_at=job.next_run_at, timeout_seconds=job.timeout_seconds,
                   max_retries=job.max_retries, retry_backoff_seconds=job.retry_backoff_seconds, notify=job.notify,
                   enabled=job.enabled, created_at=job.created_at)


class RunOut(BaseModel):
    id: int
    job_id: int
    job: str
    status: str
    trigger: str
    attempt: int
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    parameters: dict[str, Any]
    failed_cell: int | None
    error: str | None
    has_output: bool

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(id=run.id, job_id=run.job_id, job=run.job.name, status=run.status, trigger=run.trigger,
                   attempt=run.attempt, scheduled_for=run.scheduled_for, started_at=run.started_at,
                   finished_at=run.finished_at, duration_seconds=run.duration_seconds, parameters=run.parameters,
                   failed_cell=run.failed_cell, error=run.error, has_output=run.output_path is not None)
