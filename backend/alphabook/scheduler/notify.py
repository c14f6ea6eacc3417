"""Tell a job's owner how a run ended: an e-mail (:mod:`alphabook.core.mail`, through the configured SMTP
server) and/or a POST signed the Standard Webhooks way (:mod:`alphabook.core.webhook_signatures`, with the job's
own secret, shown to its owner), as the job's ``notify`` asks (``on``: failure and/or success).

A notification that cannot be delivered is written to the run's log; it never changes how the run is recorded.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from alphabook.core.config import Settings
from alphabook.core.mail import send_email
from alphabook.core.webhook_signatures import headers
from alphabook.scheduler.models import Job, Run, RunStatus

__all__ = ["payload", "send"]

SUCCESS = (RunStatus.SUCCEEDED,)


def wanted(job: Job, run: Run) -> bool:
    on = set(job.notify.get("on", ["failure"]))
    return ("success" if run.status in SUCCESS else "failure") in on and bool(
        job.notify.get("email") or job.notify.get("webhook"))


def payload(job: Job, run: Run, settings: Settings) -> dict[str, Any]:
    return {"type": f"run.{run.status}", "job": {"id": job.id, "name": job.name}, "run": {
        "id": run.id, "status": run.status, "attempt": run.attempt, "scheduled_for": run.scheduled_for.isoformat(),
        "duration_seconds": run.duration_seconds, "failed_cell": run.failed_cell,
        "error": (run.error or "").splitlines()[0][:500] if run.error else None,
        "output": f"{settings.base_url}/services/api/api/runs/{run.id}/output"}}


def send(job: Job, run: Run, settings: Settings) -> list[str]:
    """Deliver what the job asks for; one line per attempt, for the run's log."""
    if not wanted(job, run):
        return []
    body = payload(job, run, settings)
    said: list[str] = []
    if job.notify.get("email"):
        said.append(_email(job.notify["email"], body, settings))
    if job.notify.get("webhook"):
        said.append(_webhook(job.notify["webhook"], job.notify.get("secret", ""), body))
    return said


def _email(to: str, body: dict[str, Any], settings: Settings) -> str:
    run, job = body["run"], body["job"]
    lines = [f"Job {job['name']}, run {run['id']} (attempt {run['attempt']}): {run['status']}."]
    if run["error"]:
        lines.append(f"Cell {run['failed_cell']}: {run['error']}" if run["failed_cell"] else run["error"])
    lines.append(f"Output: {run['output']}")
    subject = f"[alphabook] {job['name']}: run {run['id']} {run['status'].replace('_', ' ')}"
    return send_email(to, subject, "\n".join(lines), settings)


def _webhook(url: str, secret: str, body: dict[str, Any]) -> str:
    content = json.dumps(body, separators=(",", ":")).encode()
    try:
        reply = httpx.post(url, content=content, timeout=10, headers={
            "content-type": "application/json", **headers(secret, content)})
    except httpx.HTTPError as error:
        return f"webhook {url} failed: {error}"
    return f"webhook {url} answered {reply.status_code}"
