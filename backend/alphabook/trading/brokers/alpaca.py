"""US equities at Alpaca through its Trading API v2, behind the :class:`~.base.Broker` contract.

The adapter speaks the REST API with ``httpx`` (already a dependency) rather than ``alpaca-py``: the handful of
endpoints used here are plain JSON, and owning the requests keeps what the contract depends on in view:
quantities and prices travel as decimal strings both ways (alpaca-py's models turn them into floats), the
base URL is one constructor argument (tests point it at a local fake), and retries follow our
:class:`~alphabook.research.data.ccxt_source.RetryPolicy` instead of the SDK's own fixed retry loop.

``paper=True`` (the default) trades at ``https://paper-api.alpaca.markets``, Alpaca's own sandbox, and
``paper=False`` at ``https://api.alpaca.markets`` with real money: that flag alone sets ``capabilities.live``,
and a ``base_url`` naming the other endpoint is refused, so a paper hook can never reach a live account.

* **Exactly once.** Alpaca refuses a ``client_order_id`` it has seen before, for good (422 "client_order_id must
  be unique"), so a repeated :meth:`AlpacaBroker.place` answers with the first order found by that id. When
  a placement or replacement fails with its outcome unknown (timeout, 5xx, 429) the adapter looks the id up
  (``GET /v2/orders:by_client_order_id``) and resends under the same id only if Alpaca has no such order.
* **Errors.** 429 and 5xx answers and transport failures are retried with exponential backoff, at least as
  long as ``Retry-After`` asks, and become ``TemporaryError``; a 403 about insufficient buying power or
  quantity is :class:`InsufficientFunds`; every other 4xx (401 bad keys, 403, 404, 422) is a
  ``RejectedError`` carrying Alpaca's ``message``.
* **Replace** is native (``PATCH /v2/orders/{id}``) when the replacement keeps the symbol, side and type, as
  Alpaca requires; the old order then reads as CANCELED with reason "replaced by <new id>". Otherwise it is the
  contract's cancel-then-place.
* **Fills.** An order carries only ``filled_qty`` and ``filled_avg_price``; its executions are the account's
  FILL activities (``GET /v2/account/activities/FILL?order_id=…``), read page by page until they add up to
  ``filled_qty``. Each has Alpaca's activity id; fees are zero in the account currency (equity trades carry no
  commission; regulatory fees are separate FEE activities, not part of a fill).
* **Asynchrony.** Alpaca answers a placement before routing it (usually ``accepted``/``pending_new``, nothing
  filled yet) and cancels asynchronously; :meth:`AlpacaBroker.cancel` waits up to ``settle_s`` for the final
  state.

Positions are ``GET /v2/positions`` (negative quantities for shorts). Balances are the account's cash in its
currency, with ``available`` the cash not already promised to open buy orders
(``min(cash, non_marginable_buying_power)``); shares are positions, not balances.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from alphabook.core.errors import ConfigurationError, RejectedError, TemporaryError
from alphabook.research.data.ccxt_source import RetryPolicy
from alphabook.trading.brokers.base import (
    Balance,
    Broker,
    BrokerCapabilities,
    BrokerOrder,
    Fill,
    InsufficientFunds,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    TimeInForce,
)

__all__ = ["LIVE_URL", "PAPER_URL", "AlpacaBroker"]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
ACTIVITY_PAGE = 100  # Alpaca's largest page_size for account activities
_NANOSECONDS = re.compile(r"(\.\d{6})\d+")  # Python reads at most microseconds
_STATUSES = {"filled": OrderStatus.FILLED, "canceled": OrderStatus.CANCELED, "replaced": OrderStatus.CANCELED,
             "expired": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED}


class _Missing(RejectedError):
    """Alpaca's 404: the order (or asset) does not exist. Internal, so that lookups can answer None."""


class AlpacaBroker(Broker):
    """One Alpaca account (paper or live), authenticated by its API key id and secret."""

    name: ClassVar[str] = "alpaca"

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        *,
        paper: bool = True,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        settle_s: float = 2.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not key_id or not secret_key:
            raise ConfigurationError("Alpaca needs an API key id and secret key (from the Alpaca dashboard).")
        url = (base_url or (PAPER_URL if paper else LIVE_URL)).rstrip("/")
        if url == (LIVE_URL if paper else PAPER_URL):
            raise ConfigurationError(f"{url} is Alpaca's {'live' if paper else 'paper'} endpoint, but the broker is "
                                     f"configured for {'paper' if paper else 'live'} trading.")
        self.base_url = url
        self.settle_s = settle_s
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(base_url=url, timeout=timeout_s,
                                  headers={"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret_key})
        self.capabilities = BrokerCapabilities(
            live=not paper,
            order_types=frozenset(OrderType),
            time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC}),
            fractional=True,
            short_selling=True,
            native_replace=True,
            testnet=paper,
            notes=("fractional quantities only in DAY market and limit orders",
                   "short selling needs a margin account with at least $2,000 of equity",
                   "fills are the account's FILL activities; equity trades carry no commission"),
        )

    def __repr__(self) -> str:
        return f"AlpacaBroker({self.base_url!r}, live={self.capabilities.live})"

    def close(self) -> None:
        self._http.close()

    # --- orders -----------------------------------------------------------------------------------------------

    def place(self, order: OrderRequest) -> BrokerOrder:
        body: dict[str, Any] = {
            "symbol": order.symbol, "qty": _text(order.quantity), "side": order.side.value, "type": order.type.value,
            "time_in_force": order.time_in_force.value, "client_order_id": order.client_order_id,
        }
        if order.limit_price is not None:
            body["limit_price"] = _text(order.limit_price)
        if order.stop_price is not None:
            body["stop_price"] = _text(order.stop_price)
        what = f"order {order.client_order_id} ({order.side} {order.quantity} {order.symbol} {order.type})"
        return self._send_once("POST", "/v2/orders", body, order.client_order_id, what)

    def replace(self, broker_order_id: str, symbol: str, replacement: OrderRequest) -> BrokerOrder:
        old = self._get(f"/v2/orders/{broker_order_id}", f"looking up order {broker_order_id}")
        same_kind = (old.get("symbol"), old.get("side"), old.get("type")) == (
            replacement.symbol, replacement.side.value, replacement.type.value)
        if not same_kind:  # Alpaca amends quantity, prices and time in force only
            return super().replace(broker_order_id, symbol, replacement)
        if _status(old) is OrderStatus.FILLED:
            raise RejectedError(f"Order {broker_order_id} filled before it could be replaced.")
        body: dict[str, Any] = {"qty": _text(replacement.quantity), "time_in_force": replacement.time_in_force.value,
                                "client_order_id": replacement.client_order_id}
        if replacement.limit_price is not None:
            body["limit_price"] = _text(replacement.limit_price)
        if replacement.stop_price is not None:
            body["stop_price"] = _text(replacement.stop_price)
        what = f"replacing order {broker_order_id} with {replacement.client_order_id}"
        try:
            return self._send_once("PATCH", f"/v2/orders/{broker_order_id}", body, replacement.client_order_id, what)
        except RejectedError:
            if self.fetch_order(broker_order_id, symbol).status is OrderStatus.FILLED:
                raise RejectedError(f"Order {broker_order_id} filled before it could be replaced.") from None
            raise

    def cancel(self, broker_order_id: str, symbol: str) -> BrokerOrder:
        try:
            self._request("DELETE", f"/v2/orders/{broker_order_id}", f"cancelling order {broker_order_id}")
        except _Missing:
            raise
        except RejectedError:  # 422: no longer cancelable, most often because it is already final
            current = self.fetch_order(broker_order_id, symbol)
            if current.status.is_final:
                return current
            raise
        deadline = time.monotonic() + self.settle_s
        while True:  # Alpaca cancels asynchronously (pending_cancel first)
            current = self.fetch_order(broker_order_id, symbol)
            if current.status.is_final or time.monotonic() >= deadline:
                return current
            time.sleep(0.05)

    def fetch_order(self, broker_order_id: str, symbol: str) -> BrokerOrder:
        return self._view(self._get(f"/v2/orders/{broker_order_id}", f"looking up order {broker_order_id}"))

    def find_order(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        try:
            raw = self._get("/v2/orders:by_client_order_id", f"looking up client order id {client_order_id}",
                            params={"client_order_id": client_order_id})
        except _Missing:
            return None
        return self._view(raw)

    # --- account ----------------------------------------------------------------------------------------------

    def positions(self) -> list[Position]:
        found = []
        for entry in self._get("/v2/positions", "fetching positions"):
            quantity = Decimal(str(entry["qty"]))
            if entry.get("side") == "short" and quantity > 0:
                quantity = -quantity
            if quantity:
                found.append(Position(str(entry["symbol"]), quantity, Decimal(str(entry["avg_entry_price"]))))
        return sorted(found, key=lambda position: position.symbol)

    def balances(self) -> list[Balance]:
        account = self._get("/v2/account", "fetching the account")
        cash = Decimal(str(account["cash"]))
        spendable = Decimal(str(account.get("non_marginable_buying_power") or account["buying_power"]))
        return [Balance(str(account.get("currency") or "USD"), cash, max(Decimal(0), min(cash, spendable)))]

    # --- helpers ----------------------------------------------------------------------------------------------

    def _send_once(self, method: str, path: str, body: Mapping[str, Any], client_order_id: str,
                   what: str) -> BrokerOrder:
        """Send a request that creates an order under ``client_order_id``; never create it twice."""
        attempt = 1
        while True:
            try:
                return self._view(self._request(method, path, what, json=body, retry=False))
            except TemporaryError as error:  # it may or may not have arrived: only Alpaca knows
                found = self.find_order(client_order_id, str(body.get("symbol", "")))
                if found is not None:
                    return found
                if attempt >= self.retry.attempts:
                    raise TemporaryError(f"{error.detail} ({attempt} attempts); Alpaca shows no order "
                                         f"{client_order_id}", attempts=attempt) from error
                time.sleep(self.retry.delay_s(attempt, error.extra.get("retry_after_s")))
                attempt += 1
            except RejectedError as error:
                if "client_order_id must be unique" in error.detail:
                    found = self.find_order(client_order_id, str(body.get("symbol", "")))
                    if found is not None:
                        return found
                raise

    def _get(self, path: str, what: str, params: Mapping[str, str] | None = None) -> Any:
        return self._request("GET", path, what, params=params)

    def _request(self, method: str, path: str, what: str, *, params: Mapping[str, str] | None = None,
                 json: Mapping[str, Any] | None = None, retry: bool = True) -> Any:
        """One API call, its JSON answer (None for 204); retried with backoff when ``retry`` and temporary."""
        attempt = 1
        while True:
            try:
                response = self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as error:  # timeouts, refused and dropped connections
                failure = TemporaryError(f"Alpaca did not answer {what}: {error!r}")
            else:
                if response.status_code < 400:
                    return response.json() if response.content else None
                if response.status_code != 429 and response.status_code < 500:
                    raise _refusal(response, what)
                failure = TemporaryError(f"Alpaca could not serve {what} ({response.status_code}): "
                                         f"{_message(response)}", retry_after_s=_retry_after_s(response))
            if not retry:
                raise failure
            if attempt >= self.retry.attempts:
                raise TemporaryError(f"{failure.detail} ({attempt} attempts)", attempts=attempt)
            time.sleep(self.retry.delay_s(attempt, failure.extra.get("retry_after_s")))
            attempt += 1

    def _view(self, raw: Mapping[str, Any]) -> BrokerOrder:
        filled = Decimal(str(raw.get("filled_qty") or 0))
        status = _status(raw)
        reason = f"replaced by {raw.get('replaced_by')}" if raw.get("status") == "replaced" else None
        return BrokerOrder(
            broker_order_id=str(raw["id"]),
            client_order_id=str(raw["client_order_id"]),
            symbol=str(raw["symbol"]),
            status=status,
            filled_quantity=filled,
            average_price=Decimal(str(raw["filled_avg_price"])) if filled and raw.get("filled_avg_price") else None,
            fills=self._fills(raw, filled),
            reason=reason,
        )

    def _fills(self, raw: Mapping[str, Any], filled: Decimal) -> tuple[Fill, ...]:
        """The order's FILL activities, oldest first, read until they account for ``filled``."""
        if not filled:
            return ()
        order_id, currency = str(raw["id"]), "USD"
        fills: list[Fill] = []
        params = {"order_id": order_id, "direction": "asc", "page_size": str(ACTIVITY_PAGE)}
        submitted = raw.get("submitted_at") or raw.get("created_at")
        if submitted:  # a server without the order_id filter still searches only from the order on
            params["after"] = (_time(str(submitted)) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
        while sum((fill.quantity for fill in fills), Decimal(0)) < filled:
            page = self._get("/v2/account/activities/FILL", f"fetching the fills of order {order_id}", params)
            for activity in page:
                if activity.get("order_id") == order_id:
                    fills.append(Fill(
                        fill_id=str(activity["id"]), quantity=Decimal(str(activity["qty"])),
                        price=Decimal(str(activity["price"])), fee=Decimal(0), fee_currency=currency,
                        at=_time(str(activity["transaction_time"]))))
            if len(page) < ACTIVITY_PAGE:
                break
            params["page_token"] = str(page[-1]["id"])
        return tuple(fills)


def _status(raw: Mapping[str, Any]) -> OrderStatus:
    """Alpaca's status in our words: its many working states (accepted, pending_new, held, done_for_day...) are
    NEW or PARTIALLY_FILLED by what has filled; ``replaced`` is CANCELED (the view says by what)."""
    known = _STATUSES.get(str(raw.get("status")))
    if known is not None:
        return known
    return OrderStatus.PARTIALLY_FILLED if Decimal(str(raw.get("filled_qty") or 0)) else OrderStatus.NEW


def _refusal(response: httpx.Response, what: str) -> RejectedError:
    message = _message(response)
    if response.status_code == 403 and "insufficient" in message.lower():
        return InsufficientFunds(f"Alpaca cannot pay for {what}: {message}")
    if response.status_code == 401:
        return RejectedError(f"Alpaca refused the API key for {what}: {message}; check the key id and secret.")
    if response.status_code == 404:
        return _Missing(f"Alpaca found nothing for {what}: {message}")
    return RejectedError(f"Alpaca rejected {what}: {message}")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    return str(body.get("message") or body) if isinstance(body, dict) else str(body)


def _retry_after_s(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _time(text: str) -> datetime:
    """Alpaca's RFC 3339 timestamps (nanosecond precision, ``Z``) as aware UTC datetimes."""
    return datetime.fromisoformat(_NANOSECONDS.sub(r"\1", text)).astimezone(UTC)


def _text(value: Decimal) -> str:
    """A Decimal as Alpaca reads it: plain notation, never exponent form."""
    return format(value, "f")
