"""Trading accounts: demo accounts in one click, renewal, upgrade, and a signed-in trader's accounts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["trading"])
