"""API shapes of notification preferences and deliveries (pydantic at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from alphabook.core.errors import InvalidInput
from alphabook.notifications.events import Event
from alphabook.notifications.models import Channel, NotificationDelivery
from alphabook.notifications.service import Choices
from alphabook.trading.accounts import check_email

__all__ = ["DeliveryOut", "EventOut", "PreferencesIn", "PreferencesOut", "SecretOut", "TestIn", "TestOut"]


def _email(value: str) -> str:
    if not value.strip():
        return ""
    try:
        return check_email(value)
    except InvalidInput as exc:  # pydantic reports ValueErrors as a field error (a 422 naming the field)
        raise ValueError(exc.detail) from exc


def _choosable(event: Event) -> Event:
    if event is Event.TEST:
        raise ValueError("'test' is not an event to subscribe to; POST /api/notifications/test sends one.")
    return event


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
Choosable = Annotated[Event, AfterValidator(_choosable)]


class PreferencesIn(BaseModel):
    """Only the fields sent are changed; an empty string clears ``email`` or ``webhook_url``."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = Field(default=None, description=(
        "Where e-mails go; empty: the address of your account."))
    email_events: list[Choosable] | None = Field(default=None, max_length=20, description="Events sent by e-mail.")
    webhook_events: list[Choosable] | None = Field(default=None, max_length=20, description=(
        "Events POSTed to webhook_url, signed with Standard Webhooks headers."))
    webhook_url: str | None = Field(default=None, max_length=2000, description=(
        "An http(s) URL on a public address; the signing secret is shown once when it is first set."))


class EventOut(BaseModel):
    name: str
    title: str


class PreferencesOut(BaseModel):
    email: str | None = Field(description="Where e-mails go now (your chosen address, else your account's).")
    own_email: str | None = Field(description="The address chosen here; null: your account's.")
    email_events: list[str]
    webhook_events: list[str]
    webhook_url: str | None
    has_webhook_secret: bool
    defaults: bool = Field(description="True until you choose: these are the defaults.")
    events: list[EventOut] = Field(description="Every event you can choose, with what it is called.")
    webhook_secret: str | None = Field(default=None, description=(
        "The webhook's signing secret, only in the answer that created it: keep it to verify signatures."))

    @classmethod
    def of(cls, choices: Choices, secret: str | None = None) -> PreferencesOut:
        return cls(email=choices.email, own_email=choices.own_email,
                   email_events=sorted(choices.email_events), webhook_events=sorted(choices.webhook_events),
                   webhook_url=choices.webhook_url, has_webhook_secret=choices.has_webhook_secret,
                   defaults=not choices.chosen, webhook_secret=secret,
                   events=[EventOut(name=event.value, title=event.label) for event in Event.choices()])


class SecretOut(BaseModel):
    webhook_secret: str = Field(description="Shown once: sign-checking key for webhook-signature (whsec_…).")


class TestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=2, description=(
        "Which channels to try; default: every channel you have set up."))


class DeliveryOut(BaseModel):
    id: int
    event: str
    title: str
    channel: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: NotificationDelivery) -> DeliveryOut:
        event = Event(row.event)
        return cls(id=row.id, event=row.event, title=event.label, channel=row.channel, recipient=row.recipient,
                   status=row.status, attempts=row.attempts, last_error=row.last_error, created_at=row.created_at,
                   sent_at=row.sent_at, next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
                   payload=row.payload)


class TestOut(BaseModel):
    deliveries: list[DeliveryOut] = Field(description="The test messages, queued; they are sent within seconds.")
