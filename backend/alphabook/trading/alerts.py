"""Receiving alerts: authenticate, parse, place each one exactly once, and keep a record of every decision.

:func:`receive_many` takes deliveries to ``POST /api/hooks/{id}`` (a batch: :mod:`alphabook.trading.intake` batches
a process's alerts) and decides each as it would be decided alone, in this order:

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
5. **Risk checks and the order**, by :func:`alphabook.trading.orders.submit_many`, in the same transaction.

Every delivery to an existing hook leaves an Alert row (the body without its secret) and, unless accepted (the
order's own audit entry records that), an audit entry; refusals are returned, not raised, so that the caller
commits them. An unknown hook's delivery stores nothing; its outcome is a NotFound (which the intake raises).
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
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alphabook.core import audit, webhook_signatures
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import AlphabookError, Forbidden, InvalidInput, NotFound, Unauthenticated
from alphabook.notifications import announce
from alphabook.trading import orders
from alphabook.trading.brokers.base import OrderType, Side, TimeInForce
from alphabook.trading.credentials import cipher_for
from alphabook.trading.models import Alert, AlertDecision, Hook, HookFormat, Order, OrderSource, TradingAccount

__all__ = ["MAX_BODY_BYTES", "AlertOrder", "Delivery", "Outcome", "client_address", "receive_many", "symbol_of"]

MAX_BODY_BYTES = 16_384
QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "JPY", "BTC", "ETH", "BNB")
#: The alerts table, for the two statements a batch of alerts makes (claim their keys, link their orders): Core
#: statements on the session's transaction, one for the whole batch.
ALERTS = cast(Table, Alert.__table__)
_CLAIM = {name: insert(ALERTS).on_conflict_do_nothing(index_elements=["hook_id", "dedupe_key"])
          .returning(ALERTS.c.id, ALERTS.c.hook_id, ALERTS.c.dedupe_key)
          for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))}
_LINK = update(ALERTS).where(ALERTS.c.id == bindparam("alert_id")).values(order_id=bindparam("order_id"))
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


def receive_many(session: Session, settings: Settings,
                 deliveries: Sequence[tuple[str, Delivery]]) -> list[Outcome | NotFound]:
    """Decide several deliveries in ``session``'s transaction, each as it would be decided alone (an unknown hook's
    is a NotFound), with a handful of statements for all of them: one read of their hooks and accounts, one claim of
    their keys, one insert of their orders (:func:`alphabook.trading.orders.submit_many`), one link of alerts to
    orders. Keys are claimed in a fixed order, so two processes' batches that share keys wait for each other
    without deadlocking. A delivery whose key is taken (by an earlier alert, or by another in the same batch) is
    decided after the batch's accepted ones hold their keys."""
    found = {hook.id: (hook, account) for hook, account in session.execute(
        select(Hook, TradingAccount).join(TradingAccount, TradingAccount.id == Hook.account_id)
        .where(Hook.id.in_({hook_id for hook_id, _ in deliveries})))}
    now = utcnow()
    outcomes: list[Outcome | NotFound | None] = [None] * len(deliveries)
    candidates: list[_Candidate] = []
    for index, (hook_id, delivery) in enumerate(deliveries):
        if hook_id not in found:
            outcomes[index] = NotFound(f"There is no hook {hook_id}; check the URL TradingView or your sender posts "
                                       "to.")
            continue
        decided = _authenticated(settings, *found[hook_id], delivery, now, index)
        if isinstance(decided, _Candidate):
            candidates.append(decided)
        else:
            outcomes[index] = _refuse(session, found[hook_id][0], now, decided)
    claimed = _claim(session, candidates, now)
    accepted: list[tuple[_Candidate, int]] = []
    taken: list[_Candidate] = []
    for candidate in candidates:  # the first of a batch's deliveries with one key holds it; the rest are taken
        alert_id = claimed.pop((candidate.hook.id, candidate.key), None)
        if alert_id is None:
            taken.append(candidate)
        else:
            accepted.append((candidate, alert_id))
    placed = orders.submit_many(session, [orders.Wanted(candidate.account, candidate.intent, candidate.hook)
                                          for candidate, _ in accepted], source=OrderSource.HOOK)
    links = []
    for (candidate, alert_id), result in zip(accepted, placed, strict=True):
        if isinstance(result, Order):
            links.append({"alert_id": alert_id, "order_id": result.id})
            outcomes[candidate.index] = Outcome(AlertDecision.ACCEPTED, alert_id, order=result)
        else:
            outcomes[candidate.index] = _refused_order(session, candidate, alert_id, result)
    if links:
        session.connection().execute(_LINK, links)
    for candidate in taken:  # an accepted alert holds the key: an earlier delivery, or one that committed meanwhile
        earlier = _accepted(session, candidate.hook.id, candidate.key)
        if earlier is None:  # it was refused meanwhile and gave its key back: decide this one afresh
            outcomes[candidate.index] = receive_many(session, settings, [deliveries[candidate.index]])[0]
        else:
            outcomes[candidate.index] = _duplicate(session, candidate, now, earlier)
    return cast(list[Outcome | NotFound], outcomes)


@dataclass(frozen=True, slots=True)
class _Candidate:
    """An authenticated delivery with a well-formed order: what is left is its key and the risk checks."""

    index: int
    hook: Hook
    account: TradingAccount
    key: str
    intent: orders.OrderIntent
    address: str | None
    shown: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Unauthorised:
    """A delivery refused before its key is claimed: who sent it, what is stored of it, and why."""

    address: str | None
    shown: dict[str, Any]
    refusal: AlphabookError


def _authenticated(settings: Settings, hook: Hook, account: TradingAccount, delivery: Delivery, now: datetime,
                   index: int) -> _Candidate | _Unauthorised:
    """Steps 1 to 3 of the module's docstring: the candidate, or why the delivery is refused."""
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
        return _Unauthorised(address, shown, refusal)
    intent = orders.OrderIntent(symbol=symbol_of(fields.symbol), side=fields.side, type=fields.type,
                                quantity=fields.quantity, limit_price=_limit_price(fields),
                                stop_price=fields.stop_price, time_in_force=fields.time_in_force,
                                client_order_id=fields.client_id, reference_price=fields.price)
    return _Candidate(index, hook, account, _dedupe_key(fields, webhook_id, body), intent, address, shown)


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
        body = json.loads(raw, parse_float=Decimal, parse_constant=Decimal)  # NaN too: stored, then refused as a number
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


def _claim(session: Session, candidates: Sequence[_Candidate], now: datetime) -> dict[tuple[str, str], int]:
    """Record each candidate as the accepted alert holding its key, in one statement; the ids by (hook, key) of those
    inserted. A key an accepted alert holds already, or a candidate before it in the batch, inserts nothing:
    ``INSERT … ON CONFLICT DO NOTHING`` needs no savepoint, and on PostgreSQL an insert meeting a simultaneous
    transaction's uncommitted key waits for it, then finds the key taken or free. Rows go in (hook, key) order."""
    if not candidates:
        return {}
    rows = [{"hook_id": candidate.hook.id, "dedupe_key": candidate.key, "received_at": now,
             "source_ip": candidate.address, "body": candidate.shown, "decision": AlertDecision.ACCEPTED.value,
             "reason": None, "order_id": None}
            for candidate in sorted(candidates, key=lambda candidate: (candidate.hook.id, candidate.key))]
    connection = session.connection()
    return {(hook_id, key): alert_id
            for alert_id, hook_id, key in connection.execute(_CLAIM[connection.dialect.name], rows)}


def _accepted(session: Session, hook_id: str, key: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.hook_id == hook_id, Alert.dedupe_key == key))


def _duplicate(session: Session, candidate: _Candidate, now: datetime, earlier: Alert) -> Outcome:
    hook = candidate.hook
    alert = Alert(hook_id=hook.id, dedupe_key=None, received_at=now, source_ip=candidate.address,
                  body=candidate.shown, decision=AlertDecision.DUPLICATE.value,
                  reason=f"a repeat of alert {earlier.id}", order_id=earlier.order_id)
    session.add(alert)
    session.flush()
    audit.record(session, actor=f"hook:{hook.id}", action="alert.duplicate", subject=f"alert:{alert.id}",
                 account_id=hook.account_id, duplicate_of=earlier.id, order_id=earlier.order_id)
    order = session.get(Order, earlier.order_id) if earlier.order_id is not None else None
    return Outcome(AlertDecision.DUPLICATE, alert.id, order=order, duplicate_of=earlier.id)


def _refuse(session: Session, hook: Hook, now: datetime, refused: _Unauthorised) -> Outcome:
    alert = Alert(hook_id=hook.id, dedupe_key=None, received_at=now, source_ip=refused.address, body=refused.shown,
                  decision=AlertDecision.REFUSED.value, reason=refused.refusal.detail, order_id=None)
    session.add(alert)
    session.flush()
    _audit_refusal(session, hook, alert, refused.refusal)
    return Outcome(AlertDecision.REFUSED, alert.id, refusal=refused.refusal)


def _refused_order(session: Session, candidate: _Candidate, alert_id: int, refusal: orders.Refusal) -> Outcome:
    """The risk checks (or the order itself) said no: the claimed alert is refused and gives its key back."""
    alert = session.get_one(Alert, alert_id)
    alert.decision, alert.dedupe_key, alert.reason = AlertDecision.REFUSED.value, None, refusal.detail
    _audit_refusal(session, candidate.hook, alert, refusal)
    announce.alert_refused(session, candidate.account, candidate.hook, alert, candidate.intent, refusal)
    return Outcome(AlertDecision.REFUSED, alert.id, refusal=refusal)


def _audit_refusal(session: Session, hook: Hook, alert: Alert, refusal: AlphabookError) -> None:
    audit.record(session, actor=f"hook:{hook.id}", action="alert.refused", subject=f"alert:{alert.id}",
                 account_id=hook.account_id, kind=refusal.slug, reason=refusal.detail,
                 **{name: value for name, value in refusal.extra.items() if name in ("scope", "limit")})
