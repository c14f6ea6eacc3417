"""Webhook order routing: TradingView and signed alerts in, hooks and their secrets, limits and kill switches."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["hooks"])
