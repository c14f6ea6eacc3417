"""Positions, P&L, cash and equity history, the order journal (CSV too) and statistics of an account."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["portfolio"])
