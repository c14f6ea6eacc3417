"""Liveness and readiness: the API answers, its database does too, and whether creators' code can run
isolated (a weaker sandbox mode is announced here, not only in the logs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from alphabook import __version__
from alphabook.api.deps import SessionDep
from alphabook.api.marketplace_deps import AppSandbox
from alphabook.core.clock import utcnow
from alphabook.core.errors import TemporaryError
from alphabook.sandbox.service import sandbox_status

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request, session: SessionDep) -> dict[str, Any]:
    sandbox: AppSandbox = request.app.state.sandbox
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"; say which
        raise TemporaryError(f"The database is not reachable: {exc.__class__.__name__}: {exc}") from exc
    return {"status": "ok", "database": session.get_bind().dialect.name, "version": __version__,
            "time": utcnow().isoformat(), "sandbox": sandbox_status(sandbox.config, sandbox.pool)}
