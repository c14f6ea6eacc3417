"""Notifications: your preferences (which events, by e-mail and/or signed webhook), a test message, your recent
deliveries, and the webhook's signing secret."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from alphabook.api.deps import CurrentUser, SessionDep, SettingsDep
from alphabook.notifications import service
from alphabook.notifications.schemas import DeliveryOut, PreferencesIn, PreferencesOut, SecretOut, TestIn, TestOut

router = APIRouter(tags=["notifications"])


@router.get("/notifications/preferences", response_model=PreferencesOut)
def get_preferences(user: CurrentUser, session: SessionDep) -> PreferencesOut:
    return PreferencesOut.of(service.choices_of(session, user))


@router.put("/notifications/preferences", response_model=PreferencesOut)
def put_preferences(body: PreferencesIn, user: CurrentUser, session: SessionDep,
                    settings: SettingsDep) -> PreferencesOut:
    """Change what you hear about; the answer that first sets a webhook URL carries its signing secret, once."""
    choices, secret = service.update_choices(session, settings, user, body.model_dump(exclude_unset=True))
    return PreferencesOut.of(choices, secret)


@router.post("/notifications/webhook-secret", response_model=SecretOut, status_code=status.HTTP_201_CREATED)
def rotate_secret(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> SecretOut:
    """A new signing secret for your webhook, shown this once; the old one stops signing at once."""
    return SecretOut(webhook_secret=service.rotate_webhook_secret(session, settings, user))


@router.post("/notifications/test", response_model=TestOut, status_code=status.HTTP_202_ACCEPTED)
def send_test(user: CurrentUser, session: SessionDep, body: TestIn | None = None) -> TestOut:
    """Queue a test message on your channels (or those named); follow it in GET /api/notifications."""
    rows = service.send_test(session, user, body.channels if body else None)
    return TestOut(deliveries=[DeliveryOut.of(row) for row in rows])


@router.get("/notifications", response_model=list[DeliveryOut])
def my_deliveries(user: CurrentUser, session: SessionDep,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[DeliveryOut]:
    """Your latest notifications, newest first, with whether each was sent."""
    return [DeliveryOut.of(row) for row in service.recent_deliveries(session, user, limit)]
