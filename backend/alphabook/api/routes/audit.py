"""The audit log, for administrators: who did what to which thing, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from alphabook.accounts.models import Role
from alphabook.api.deps import SessionDep, require_role
from alphabook.core import audit
from alphabook.core.schemas import AuditEntryOut

router = APIRouter(tags=["audit"], dependencies=[Depends(require_role(Role.ADMIN))])


@router.get("/audit", response_model=list[AuditEntryOut])
def list_audit_entries(
    session: SessionDep,
    subject: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    after_id: Annotated[int, Query(ge=0, description="Return entries after this id (for paging).")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    rows = audit.entries(session, subject=subject, action=action, actor=actor, after_id=after_id, limit=limit)
    return [AuditEntryOut.model_validate(row) for row in rows]
