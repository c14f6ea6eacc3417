"""Liveness and readiness: the API answers and its database does too."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from alphabook import __version__
from alphabook.api.deps import SessionDep
from alphabook.core.clock import utcnow
from alphabook.core.errors import TemporaryError

router = APIRouter(tags=["health"])


@router.get("/health")
def health(session: SessionDep) -> dict[str, str]:
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"; say which
        raise TemporaryError(f"The database is not reachable: {exc.__class__.__name__}: {exc}") from exc
    return {"status": "ok", "database": session.get_bind().dialect.name, "version": __version__,
            "time": utcnow().isoformat()}
