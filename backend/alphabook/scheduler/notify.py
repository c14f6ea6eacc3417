"""Tell a job's owner how a run ended: an e-mail (:mod:`alphabook.core.mail`, through the configured SMTP
server) and/or a POST signed the Standard Webhooks way (:mod:`alphabook.core.webhook_signatures`, with the job's
own secret, shown to its owner), as the job's ``notify`` asks (``on``: failure and/or success).

A notification that cannot be delivered is written to the run's log; it never changes how the run is recorded.
Webhooks go out through :mod:`alphabook.notifications.outgoing`, which refuses private addresses as it does for
people's webhooks. A job without targets of its own reaches its owner through their notification preferences
instead (:func:`alphabook.notifications.announce.run_ended`).
"""

from __future__ import annotations

from typing import Any

import httpx

from alphabook.core.config import Settings
from alphabook.core.errors import AlphabookError
from alphabook.core.mail import send_email
from alphabook.notifications import outgoing
from alphabook.notifications.events import Event, message
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
        said.append(_webhook(job.notify["webhook"], job.notify.get("secret", ""), body, settings))
    return said


def _email(to: str, body: dict[str, Any], settings: Settings) -> str:
    subject, text = message(Event.RUN_SUCCEEDED if body["run"]["status"] in SUCCESS else Event.RUN_FAILED, body)
    return send_email(to, subject, text, settings)


def _webhook(url: str, secret: str, body: dict[str, Any], settings: Settings) -> str:
    try:  # refuses private addresses unless allowed (notifications_private_targets), as people's webhooks
        reply = outgoing.post(url, secret, body, settings)
    except AlphabookError as refused:
        return f"webhook {url} refused: {refused.detail}"
    except httpx.HTTPError as error:
        return f"webhook {url} failed: {error}"
    return f"webhook {url} answered {reply.status_code}"
