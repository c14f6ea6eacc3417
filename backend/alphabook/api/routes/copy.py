"""Copy trading: signal providers, followers' subscriptions, metrics, verification, ratings and payouts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["copy"])
