"""Scheduled notebook jobs and their runs: create, change, run now, cancel, read outputs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from alphabook.api.deps import CurrentUser, SessionDep, SettingsDep
from alphabook.scheduler import jobs, outputs, queue
from alphabook.scheduler.schemas import JobIn, JobOut, JobPatch, RunOut

router = APIRouter(tags=["jobs"])


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(user: CurrentUser, session: SessionDep) -> list[JobOut]:
    return [JobOut.of(job) for job in jobs.jobs_of(session, user)]


@router.post("/jobs", response_model=JobOut, status_code=status.HTTP_201_CREATED)
def create_job(body: JobIn, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> JobOut:
    return JobOut.of(jobs.create_job(session, user, body.model_dump(exclude_none=True, mode="json") | {
        "run_at": body.run_at}, settings))


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: int, user: CurrentUser, session: SessionDep) -> JobOut:
    return JobOut.of(jobs.get_job(session, user, job_id))


@router.patch("/jobs/{job_id}", response_model=JobOut)
def update_job(job_id: int, body: JobPatch, user: CurrentUser, session: SessionDep) -> JobOut:
    changes = body.model_dump(exclude_unset=True, mode="json") | (
        {"run_at": body.run_at} if "run_at" in body.model_fields_set else {})
    return JobOut.of(jobs.update_job(session, user, jobs.get_job(session, user, job_id), changes))


@router.delete("/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_job(job_id: int, user: CurrentUser, session: SessionDep) -> None:
    jobs.delete_job(session, user, jobs.get_job(session, user, job_id))


@router.post("/jobs/{job_id}/run", response_model=RunOut, status_code=status.HTTP_201_CREATED)
def run_now(job_id: int, user: CurrentUser, session: SessionDep) -> RunOut:
    """Queue a run now, outside the schedule."""
    return RunOut.of(jobs.run_now(session, user, jobs.get_job(session, user, job_id)))


@router.get("/jobs/{job_id}/runs", response_model=list[RunOut])
def job_runs(job_id: int, user: CurrentUser, session: SessionDep,
             limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[RunOut]:
    return [RunOut.of(run) for run in jobs.runs_of(session, user, jobs.get_job(session, user, job_id), limit)]


@router.get("/runs", response_model=list[RunOut])
def my_runs(user: CurrentUser, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[RunOut]:
    return [RunOut.of(run) for run in jobs.runs_of(session, user, None, limit)]


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: int, user: CurrentUser, session: SessionDep) -> RunOut:
    return RunOut.of(jobs.get_run(session, user, run_id))


@router.post("/runs/{run_id}/cancel", response_model=RunOut)
def cancel_run(run_id: int, user: CurrentUser, session: SessionDep) -> RunOut:
    """Cancel a queued run at once; a running one is stopped by its executor within seconds."""
    return RunOut.of(queue.cancel(session, jobs.get_run(session, user, run_id)))


@router.get("/runs/{run_id}/log", response_class=PlainTextResponse)
def run_log(run_id: int, user: CurrentUser, session: SessionDep) -> str:
    return jobs.get_run(session, user, run_id).log


@router.get("/runs/{run_id}/output", response_model=None)
async def run_output(run_id: int, user: CurrentUser, session: SessionDep, settings: SettingsDep,
                     format: Literal["html", "ipynb"] = "html") -> HTMLResponse | FileResponse:
    """The executed notebook: rendered as HTML, or the .ipynb file papermill wrote."""
    run = await run_in_threadpool(jobs.get_run, session, user, run_id)
    if format == "ipynb":
        return FileResponse(outputs.notebook_path(run, settings), media_type="application/x-ipynb+json",
                            filename=f"run-{run.id}.ipynb")
    return HTMLResponse(await run_in_threadpool(outputs.as_html, run, settings),
                        headers={"Content-Security-Policy": outputs.SANDBOXED})
