"""The scheduler: turns due jobs into runs, claims runs and executes them, one code path for both modes.

Embedded mode (the default, ``alphabook scheduler run``, a hub-managed service) calls :meth:`Scheduler.tick` and
:meth:`Scheduler.work_once` in its own loop, with up to ``scheduler_workers`` runs at once. Distributed mode
calls the same two methods from Celery's beat and workers (:mod:`alphabook.scheduler.celery_app`). Every
decision that must happen once (a run per scheduled time, one executor per run) is taken in the database by
:mod:`alphabook.scheduler.queue`, so any number of schedulers and workers may run side by side.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core.config import PROJECT_ROOT, Settings
from alphabook.core.db import Database
from alphabook.marketplace.models import ListingVersion
from alphabook.notifications import announce
from alphabook.scheduler import notify, queue
from alphabook.scheduler.execution import Beat, Outcome, Prepared, run_notebook
from alphabook.scheduler.homes import account_of
from alphabook.scheduler.models import JobSource, Run, RunStatus

__all__ = ["PLATFORM_NOTEBOOKS", "Scheduler"]

log = logging.getLogger(__name__)
PLATFORM_NOTEBOOKS = PROJECT_ROOT / "notebooks" / "jobs"
RETRYABLE = (RunStatus.FAILED, RunStatus.TIMED_OUT)


class Scheduler:
    def __init__(self, settings: Settings, database: Database, *, name: str | None = None) -> None:
        self.settings = settings
        self.database = database
        owner = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = queue.Lease(owner=owner, seconds=settings.scheduler_lease_seconds)

    # --- the two steps ------------------------------------------------------------------------------------
    def tick(self) -> int:
        """Recover crashed runs and create the runs of jobs that came due; how many were created."""
        with self.database.session() as session:
            queue.recover_expired(session)
            return len(queue.enqueue_due(session))

    def work_once(self) -> int | None:
        """Claim one runnable run and execute it to its end; its id, or None when nothing was runnable."""
        claimed = self.claim_next()
        if claimed is None:
            return None
        self.execute(*claimed)
        return claimed[0]

    def claim_next(self) -> tuple[int, Prepared] | None:
        with self.database.session() as session:
            run = queue.claim(session, self.lease, per_owner=self.settings.scheduler_runs_per_user)
            if run is None:
                return None
            try:
                return run.id, self._prepare(session, run)
            except Exception as error:  # a job that cannot even start is a failed run, not a stuck one
                queue.finish(session, run.id, self.lease, RunStatus.FAILED, output_path=None, failed_cell=None,
                             error=f"The run could not start: {error}", log="")
                return None

    def execute(self, run_id: int, prepared: Prepared) -> None:
        outcome = run_notebook(prepared, lambda: self._heartbeat(run_id))
        self._record(run_id, prepared, outcome)

    # --- pieces -------------------------------------------------------------------------------------------
    def _prepare(self, session: Session, run: Run) -> Prepared:
        job = run.job
        owner = session.get(User, job.owner_id)
        assert owner is not None
        output = self.settings.run_store / owner.name / str(job.id) / f"{run.id}-{run.attempt}.ipynb"
        timeout = job.timeout_seconds
        if job.source == JobSource.PLATFORM:
            notebook = PLATFORM_NOTEBOOKS / job.notebook_path
            return Prepared(notebook, output, job.kernel, PLATFORM_NOTEBOOKS, run.parameters, None, timeout)
        account = account_of(owner.name, self.settings)
        if job.source == JobSource.LISTING:
            version = session.get(ListingVersion, job.listing_version_id) if job.listing_version_id else None
            if version is None:
                raise LookupError(f"job {job.id}: its listing version is gone")
            return Prepared(None, output, job.kernel, Path(tempfile.gettempdir()), run.parameters, account, timeout,
                            input_text=version.code)
        notebook = account.home / job.notebook_path
        if not notebook.is_file():
            raise FileNotFoundError(f"there is no notebook {job.notebook_path} in {owner.name}'s home (moved or "
                                    "renamed?); change the job or put the notebook back")
        return Prepared(notebook, output, job.kernel, notebook.parent, run.parameters, account, timeout,
                        environment=self._sdk_environment())

    def _sdk_environment(self) -> dict[str, str]:
        """Where a scheduled notebook finds the API, as a kernel in the person's server does."""
        return {"ALPHABOOK_API_URL": f"http://127.0.0.1:{self.settings.api_port}/services/api/api",
                "ALPHABOOK_PUBLIC_URL": self.settings.base_url}

    def _heartbeat(self, run_id: int) -> Beat:
        with self.database.session() as session:
            held, cancel = queue.renew(session, run_id, self.lease)
        return Beat.LOST if not held else Beat.CANCEL if cancel else Beat.GO_ON

    def _record(self, run_id: int, prepared: Prepared, outcome: Outcome) -> None:
        if outcome.status is None:
            log.warning("run %s: lease lost while running; another executor decides it", run_id)
            return
        stored = str(prepared.output_path.relative_to(self.settings.run_store)) \
            if prepared.output_path.is_file() else None
        with self.database.session() as session:
            recorded = queue.finish(session, run_id, self.lease, outcome.status, output_path=stored,
                                    failed_cell=outcome.failed_cell, error=outcome.error, log=outcome.log)
            run = session.get(Run, run_id)
            if not recorded or run is None:
                return
            if outcome.status in RETRYABLE and queue.requeue(session, run, outcome.error or str(outcome.status)):
                return  # not the end yet: the owner hears about the last attempt
            announce.run_ended(session, run.job, run, self.settings)
            job = run.job
        # After the commit: an SMTP server or a webhook may take seconds, and a transaction held meanwhile would keep
        # (on SQLite) every other writer of the installation waiting.
        said = "".join(f"--- notification: {line}\n" for line in notify.send(job, run, self.settings))
        if said:
            with self.database.session() as session:
                session.execute(update(Run).where(Run.id == run_id).values(log=Run.log + said))

    # --- embedded mode --------------------------------------------------------------------------------------
    def serve(self, stop: threading.Event) -> None:
        """Tick and execute until ``stop`` is set, with up to ``scheduler_workers`` runs at once."""
        slots = self.settings.scheduler_workers
        with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="run") as pool:
            busy: set[Future[None]] = set()
            while not stop.is_set():
                try:
                    self.tick()
                    busy = {future for future in busy if not future.done()}
                    while len(busy) < slots and (claimed := self.claim_next()) is not None:
                        busy.add(pool.submit(self.execute, *claimed))
                except Exception:  # a database hiccup must not stop the scheduler; the next turn retries
                    log.exception("scheduler turn failed")
                stop.wait(self.settings.scheduler_poll_seconds)
