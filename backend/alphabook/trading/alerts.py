"""Receiving alerts: authenticate, parse, place each one exactly once, and keep a record of every decision.

:func:`receive` takes one delivery to ``POST /api/hooks/{id}`` and answers with a decision, in this order:

1. **Source address.** With an allow-list on the hook, the sender's address must be in it. The address is the
   TCP peer's, unless the peer is one of ``trusted_proxies``: then ``X-Forwarded-For`` is read from the right,
   skipping trusted proxies, and the first other address is the sender (anything further left was written by the
   client and proves nothing).
2. **Authentication**, by the hook's format, against its secret and, during a rotation's overlap, the previous
   one, with constant-time comparisons; the timestamp must be within ``trading_alert_window_seconds`` of now.
3. **Parsing**: TradingView's fields (``ticker``, ``action``, ``contracts``, ``price``, ``order_type``) or the
   generic ones (``symbol``, ``side``, ``quantity``, ``type``), plus ours (``limit_price``, ``stop_price``,
   ``tif``, ``client_id``, ``alert_id``). Numbers are read as exact decimals, never floats.
4. **Exactly once.** The alert's key (``alert_id``; else the ``webhook-id``; else the client id; else the SHA-256
   of the canonical body, which includes its timestamp) goes on the accepted Alert row, whose ``(hook_id,
   dedupe_key)`` is unique. Of several simultaneous deliveries one inserts it and writes the order; the others'
   ``INSERT … ON CONFLICT DO NOTHING`` inserts nothing (on PostgreSQL after waiting for the first to commit), and
   they are recorded as duplicates of it.
5. **Risk checks and the order**, by :func:`alphabook.trading.orders.submit`, in the same transaction.

Every delivery to an existing hook leaves an Alert row (the body without its secret) and, unless accepted (the
order's own audit entry records that), an audit entry; refusals are returned, not raised, so that the caller
commits them. An unknown hook is the only case that raises (NotFound) and stores nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alphabook.core import audit, webhook_signatures
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import AlphabookError, Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from alphabook.notifications import announce
from alphabook.trading import orders
from alphabook.trading.brokers.base import OrderType, Side, TimeInForce
from alphabook.trading.credentials import cipher_for
from alphabook.trading.models import Alert, AlertDecision, Hook, HookFormat, Order, OrderSource, TradingAccount
from alphabook.trading.risk import RiskRefused

__all__ = ["MAX_BODY_BYTES", "AlertOrder", "Delivery", "Outcome", "client_address", "receive", "symbol_of"]

MAX_BODY_BYTES = 16_384
QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "JPY", "BTC", "ETH", "BNB")
#: The alerts table, for the two statements every alert makes (claim its key, link its order): Core statements on
#: the session's transaction, without the ORM's bulk machinery, which added work for an id in and an id out.
ALERTS = cast(Table, Alert.__table__)
ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP,
               "stop_limit": OrderType.STOP_LIMIT, "stop-limit": OrderType.STOP_LIMIT,
               "stoplimit": OrderType.STOP_LIMIT}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request as it arrived: the raw body (what signatures cover), its headers and the TCP peer."""

    body: bytes
    headers: Mapping[str, str]  # case-insensitive (Starlette's Headers), or lower-case keys
    peer: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: AlertDecision
    alert_id: int
    order: Order | None = None  # the order written (accepted) or written before (duplicate)
    refusal: AlphabookError | None = None  # why it was refused: becomes the problem document
    duplicate_of: int | None = None  # the accepted alert a duplicate repeats


class AlertOrder(BaseModel):
    """An alert's order fields: TradingView's names and the generic ones, both accepted."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    symbol: str = Field(min_length=1, max_length=60, validation_alias=AliasChoices("symbol", "ticker"))
    side: Side = Field(validation_alias=AliasChoices("side", "action"))
    quantity: Decimal = Field(validation_alias=AliasChoices("quantity", "qty", "contracts"))
    type: OrderType = Field(default=OrderType.MARKET, validation_alias=AliasChoices("type", "order_type"))
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    price: Decimal | None = Field(default=None, description="The price the sender saw ({{close}}).")
    time_in_force: TimeInForce = Field(default=TimeInForce.GTC, validation_alias=AliasChoices("time_in_force", "tif"))
    client_id: str | None = Field(default=None, min_length=1, max_length=36,
                                  validation_alias=AliasChoices("client_id", "client_order_id"))
    alert_id: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("side", "type", "time_in_force", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            return ORDER_TYPES.get(text, text)
        return value

    @field_validator("alert_id", "client_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) else value


def symbol_of(ticker: str) -> str:
    """TradingView's ticker as the broker's symbol: ``BINANCE:BTCUSDT`` becomes ``BTC/USDT``; ``AAPL`` stays."""
    text = ticker.strip().upper().rpartition(":")[2]
    if "/" in text:
        return text
    for quote in QUOTES:
        if text.endswith(quote) and len(text) - len(quote) >= 2:
            return f"{text[:-len(quote)]}/{quote}"
    return text


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[str]) -> str | None:
    """The sender's address: the peer, or when the peer is a trusted proxy, the nearest untrusted hop it reports."""
    networks = [ipaddress.ip_network(item.strip(), strict=False) for item in trusted if item.strip()]

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if peer is None or not forwarded_for or not is_trusted(peer):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer


def receive(session: Session, settings: Settings, hook_id: str, delivery: Delivery) -> Outcome:
    """Decide one delivery to hook ``hook_id`` in ``session``'s transaction (see the module's docstring)."""
    found = session.execute(select(Hook, TradingAccount).join(TradingAccount, TradingAccount.id == Hook.account_id)
                            .where(Hook.id == hook_id)).first()
    if found is None:
        raise NotFound(f"There is no hook {hook_id}; check the URL TradingView or your sender posts to.")
    hook, account = found
    now = utcnow()
    address = client_address(delivery.peer, delivery.headers.get("x-forwarded-for"),
                             settings.trusted_proxies.split(","))
    candidates = _secrets(settings, hook, now)
    body, shown = _parse(delivery.body, candidates)
    try:
        _check_address(hook, address)
        moment, webhook_id = _authenticate(hook, delivery, body, candidates)
        if abs(now - moment) > timedelta(seconds=settings.trading_alert_window_seconds):
            raise Unauthenticated(f"The alert's timestamp {moment.isoformat()} is more than "
                                  f"{settings.trading_alert_window_seconds} s from the server's time "
                                  f"{now.isoformat()}: refused as stale or replayed. Send the current time "
                                  "(TradingView: \"timestamp\": \"{{timenow}}\").")
        fields = _fields(body)
    except AlphabookError as refusal:
        return _refuse(session, hook, now, address, shown, refusal)
    key = _dedupe_key(fields, webhook_id, body)
    alert_id = _claim(session, hook, key, now, address, shown)
    if alert_id is None:  # an accepted alert holds the key: an earlier delivery, or a simultaneous one that committed
        earlier = _accepted(session, hook.id, key)
        if earlier is None:  # it was refused meanwhile and gave its key back: decide this one afresh
            return receive(session, settings, hook_id, delivery)
        return _duplicate(session, hook, now, address, shown, earlier)
    intent = orders.OrderIntent(symbol=symbol_of(fields.symbol), side=fields.side, type=fields.type,
                                quantity=fields.quantity, limit_price=_limit_price(fields),
                                stop_price=fields.stop_price, time_in_force=fields.time_in_force,
                                client_order_id=fields.client_id, reference_price=fields.price)
    try:
        order = orders.submit(session, account, intent, source=OrderSource.HOOK, hook_id=hook.id)
    except (RiskRefused, InvalidInput, Conflict, Forbidden) as refusal:
        alert = session.get_one(Alert, alert_id)
        alert.decision, alert.dedupe_key, alert.reason = AlertDecision.REFUSED.value, None, refusal.detail
        _audit_refusal(session, hook, alert, refusal)
        announce.alert_refused(session, account, hook, alert, intent, refusal)
        return Outcome(AlertDecision.REFUSED, alert.id, refusal=refusal)
    session.connection().execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(order_id=order.id))
    return Outcome(AlertDecision.ACCEPTED, alert_id, order=order)


# --- authentication ----------------------------------------------------------------------------------------


def _secrets(settings: Settings, hook: Hook, now: datetime) -> list[str]:
    cipher = cipher_for(settings)
    found = [cipher.decrypt(hook.secret_ciphertext)]
    if hook.previous_secret_ciphertext and hook.previous_secret_until and hook.previous_secret_until > now:
        found.append(cipher.decrypt(hook.previous_secret_ciphertext))
    return found


def _check_address(hook: Hook, address: str | None) -> None:
    if not hook.allowed_ips:
        return
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        ip = None
    if ip is None or not any(ip in ipaddress.ip_network(network) for network in hook.allowed_ips):
        raise Forbidden(f"Alerts for this hook are only accepted from {', '.join(hook.allowed_ips)}; this one came "
                        f"from {address or 'an unknown address'}.")


def _authenticate(hook: Hook, delivery: Delivery, body: Mapping[str, Any] | None,
                  candidates: list[str]) -> tuple[datetime, str | None]:
    """The alert's own time, and its webhook-id when signed; Unauthenticated when it is not the owner's."""
    if hook.format == HookFormat.SIGNED:
        headers = delivery.headers
        webhook_id, stamp, signatures = (headers.get("webhook-id"), headers.get("webhook-timestamp"),
                                         headers.get("webhook-signature"))
        if not webhook_id or not stamp or not signatures:
            raise Unauthenticated("A signed hook needs the webhook-id, webhook-timestamp and webhook-signature "
                                  "headers (Standard Webhooks).")
        if not stamp.isdigit():
            raise Unauthenticated("webhook-timestamp must be whole seconds since 1970 (UTC).")
        offered = [part.partition(",")[2].encode() for part in signatures.split() if part.startswith("v1,")]
        matched = False
        for secret in candidates:
            expected = webhook_signatures.signature(secret, webhook_id, stamp, delivery.body)
            for signature in offered:
                matched |= hmac.compare_digest(expected, signature)
        if not matched:
            raise Unauthenticated("The webhook-signature does not match this hook's secret: it must be v1,<base64 "
                                  "HMAC-SHA256 of 'id.timestamp.body'> keyed by the secret's base64 part.")
        return datetime.fromtimestamp(int(stamp), UTC), webhook_id[:100]
    if body is None:
        raise InvalidInput("The body is not a JSON object; TradingView alerts must send JSON with the secret, a "
                           "timestamp and the order's fields.")
    offered_secret = body.get("secret")
    if not isinstance(offered_secret, str) or not offered_secret:
        raise Unauthenticated("The alert has no \"secret\": TradingView alerts carry the hook's secret in the body.")
    matched = False
    for secret in candidates:
        matched |= hmac.compare_digest(secret.encode(), offered_secret.encode())
    if not matched:
        raise Unauthenticated("The alert's secret is not this hook's (or the previous one expired after a "
                              "rotation).")
    return _timestamp(body.get("timestamp")), None


def _timestamp(value: Any) -> datetime:
    """``{{timenow}}`` (ISO 8601), or seconds / milliseconds since 1970."""
    try:
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            seconds = Decimal(value)
            return datetime.fromtimestamp(float(seconds / 1000 if seconds > 10**11 else seconds), UTC)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if text.isdigit():
                return _timestamp(int(text))
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise InvalidInput("The alert's timestamp has no time zone; send UTC, e.g. 2026-03-02T14:30:00Z.")
            return moment.astimezone(UTC)
    except (ValueError, OverflowError, InvalidOperation) as error:
        raise Unauthenticated(f"The alert's timestamp {value!r} is not a time: send \"{{{{timenow}}}}\".") from error
    raise Unauthenticated("The alert has no \"timestamp\": add \"timestamp\": \"{{timenow}}\" so that old alerts "
                          "cannot be replayed.")


# --- parsing and keys --------------------------------------------------------------------------------------


def _parse(raw: bytes, candidates: list[str]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The JSON object (exact decimals) and what is stored of it: the same without ``secret``."""
    if len(raw) > MAX_BODY_BYTES:
        return None, {"unparsed": f"{len(raw)} bytes, more than {MAX_BODY_BYTES}"}
    try:
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        text = raw.decode("utf-8", "replace")[:2000]
        for secret in candidates:
            text = text.replace(secret, "[secret]")
        return None, {"unparsed": text}
    if not isinstance(body, dict):
        return None, {"unparsed": _storable(body)}
    return body, {name: _storable(value) for name, value in body.items() if name != "secret"}


def _storable(value: Any) -> Any:
    """JSON for the alert log: exact decimals as strings (no float anywhere near a price)."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, dict):
        return {str(name): _storable(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def _fields(body: Mapping[str, Any] | None) -> AlertOrder:
    if body is None:
        raise InvalidInput("The body is not a JSON object with the order's fields (symbol or ticker, side or "
                           "action, quantity or contracts).")
    try:
        return AlertOrder.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
                             for item in error.errors())
        raise InvalidInput(f"The alert's order is not valid: {problems}.") from error


def _limit_price(fields: AlertOrder) -> Decimal | None:
    """A limit order's price: ``limit_price``, or ``price`` when that is all it sent."""
    if fields.limit_price is None and fields.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return fields.price
    return fields.limit_price


def _dedupe_key(fields: AlertOrder, webhook_id: str | None, body: Mapping[str, Any] | None) -> str:
    if fields.alert_id is not None:
        key = f"alert:{fields.alert_id}"
    elif webhook_id is not None:
        key = f"webhook:{webhook_id}"
    elif fields.client_id is not None:
        key = f"client:{fields.client_id}"
    else:
        canonical = json.dumps(_storable({k: v for k, v in (body or {}).items() if k != "secret"}), sort_keys=True,
                               separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    return key if len(key) <= 128 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


# --- decisions ---------------------------------------------------------------------------------------------


def _claim(session: Session, hook: Hook, key: str, now: datetime, address: str | None,
           shown: dict[str, Any]) -> int | None:
    """Record the delivery as the accepted alert holding ``key``; its id, or None when an accepted alert holds the
    key already. ``INSERT … ON CONFLICT DO NOTHING`` needs no savepoint: on PostgreSQL an insert meeting a
    simultaneous delivery's uncommitted key waits for that transaction, then finds the key taken or free."""
    connection = session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = (insert(ALERTS).values(hook_id=hook.id, dedupe_key=key, received_at=now, source_ip=address, body=shown,
                                      decision=AlertDecision.ACCEPTED.value, reason=None, order_id=None)
                 .on_conflict_do_nothing(index_elements=["hook_id", "dedupe_key"]).returning(ALERTS.c.id))
    alert_id: int | None = connection.scalar(statement)
    return alert_id


def _accepted(session: Session, hook_id: str, key: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.hook_id == hook_id, Alert.dedupe_key == key))


def _duplicate(session: Session, hook: Hook, now: datetime, address: str | None, shown: dict[str, Any],
               earlier: Alert) -> Outcome:
    alert = Alert(hook_id=hook.id, dedupe_key=None, received_at=now, source_ip=address, body=shown,
                  decision=AlertDecision.DUPLICATE.value, reason=f"a repeat of alert {earlier.id}",
                  order_id=earlier.order_id)
    session.add(alert)
    session.flush()
    audit.record(session, actor=f"hook:{hook.id}", action="alert.duplicate", subject=f"alert:{alert.id}",
                 account_id=hook.account_id, duplicate_of=earlier.id, order_id=earlier.order_id)
    order = session.get(Order, earlier.order_id) if earlier.order_id is not None else None
    return Outcome(AlertDecision.DUPLICATE, alert.id, order=order, duplicate_of=earlier.id)


def _refuse(session: Session, hook: Hook, now: datetime, address: str | None, shown: dict[str, Any],
            refusal: AlphabookError) -> Outcome:
    alert = Alert(hook_id=hook.id, dedupe_key=None, received_at=now, source_ip=address, body=shown,
                  decision=AlertDecision.REFUSED.value, reason=refusal.detail, order_id=None)
    session.add(alert)
    session.flush()
    _audit_refusal(session, hook, alert, refusal)
    return Outcome(AlertDecision.REFUSED, alert.id, refusal=refusal)


def _audit_refusal(session: Session, hook: Hook, alert: Alert, refusal: AlphabookError) -> None:
    audit.record(session, actor=f"hook:{hook.id}", action="alert.refused", subject=f"alert:{alert.id}",
                 account_id=hook.account_id, kind=refusal.slug, reason=refusal.detail,
                 **{name: value for name, value in refusal.extra.items() if name in ("scope", "limit")})
