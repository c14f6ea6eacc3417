"""A local stand-in for Alpaca's Trading API v2 (the order, position, account and FILL-activity endpoints).

It answers with Alpaca's JSON shapes (quantities and prices as decimal strings, RFC 3339 times with
nanoseconds, order ids as UUIDs) and its error bodies ``{"code": 40310000, "message": "..."}`` with the HTTP
status Alpaca uses, so a client under test parses exactly what it would in production:

* ``APCA-API-KEY-ID`` and ``APCA-API-SECRET-KEY`` must match the fake's keys, else 401 (40110000).
* ``POST /v2/orders`` (market, limit, stop, stop_limit; day, gtc, ioc, fok): a missing price is 422, a known
  ``client_order_id`` is 422 "client_order_id must be unique" (for good: Alpaca never frees an id), an unknown
  symbol is 422, fractional quantities need DAY market/limit orders (422), prices of $1 and more take at most
  two decimals (422), a buy beyond the buying power is 403 "insufficient buying power" and a sell beyond the
  shares held and not already offered is 403 "insufficient qty available for order" (no short selling here).
  As at Alpaca, the answer is the order as accepted (``pending_new``, nothing filled); it is routed and
  matched right after, so the next GET shows the outcome.
* ``GET /v2/orders/{id}``, ``GET /v2/orders:by_client_order_id?client_order_id=`` (404 40410000 when absent),
  ``DELETE /v2/orders/{id}`` (204; 422 once the order is final), ``PATCH /v2/orders/{id}`` (qty, limit_price,
  stop_price, time_in_force, client_order_id: a new order that ``replaces`` the old one, which becomes
  ``replaced``), ``GET /v2/positions``, ``GET /v2/account`` and ``GET /v2/account/activities/FILL``
  (``order_id``, ``after``, ``direction``, ``page_size``, ``page_token``).

Matching is the same price-driven model as the Binance fake: :meth:`FakeAlpaca.set_price` moves a symbol's
price; market orders fill in full at it, limits fill at once when marketable (at the price) or later at their
limit, stops trigger when the price reaches them (buy stops rising, sell stops falling) and then act as market
or limit orders, and IOC/FOK remainders are cancelled. No commission is charged.

Failure knobs, matched by method and path prefix and used up in order: ``fail(path, failure)``,
``fail(..., after_processing=True)`` (served, then the answer is lost), ``stall(path, seconds)`` (served,
answered late) and ``hold(path)`` (served, answered once the event it returns is set). ``requests`` logs method,
path, query and JSON body; ``errors`` keeps the fake's own crashes.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.fakes.fake_exchange import Failure, FaultInjection

_LIMIT_KINDS = {"limit", "stop_limit"}
_STOP_KINDS = {"stop", "stop_limit"}
_OPEN = {"pending_new", "accepted", "new", "partially_filled"}


def too_many_requests(retry_after_s: int = 0) -> Failure:
    return Failure(429, {"code": 42910000, "message": "rate limit exceeded"}, {"Retry-After": str(retry_after_s)})


def server_error(status: int = 500) -> Failure:
    return Failure(status, {"code": 50010000, "message": "internal server error occurred"})


class AlpacaError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def unprocessable(message: str, code: int = 40010001) -> AlpacaError:
    return AlpacaError(422, code, message)



@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Order:
    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    created_at: str
    status: str = "pending_new"
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    filled_at: str | None = None
    canceled_at: str | None = None
    expired_at: str | None = None
    replaced_at: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    updated_at: str = ""
    triggered: bool = False
    fills: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id, "client_order_id": self.client_order_id, "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at, "submitted_at": self.created_at,
            "filled_at": self.filled_at, "expired_at": self.expired_at, "canceled_at": self.canceled_at,
            "failed_at": None, "replaced_at": self.replaced_at, "replaced_by": self.replaced_by,
            "replaces": self.replaces, "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.symbol)),
            "symbol": self.symbol, "asset_class": "us_equity", "notional": None, "qty": _s(self.qty),
            "filled_qty": _s(self.filled_qty), "filled_avg_price": _s(self.filled_avg_price),
            "order_class": "", "order_type": self.type, "type": self.type, "side": self.side,
            "position_intent": f"{self.side}_to_{'open' if self.side == 'buy' else 'close'}",
            "time_in_force": self.time_in_force, "limit_price": _s(self.limit_price), "stop_price": _s(self.stop_price),
            "status": self.status, "extended_hours": False, "legs": None, "trail_percent": None, "trail_price": None,
            "hwm": None, "subtag": None, "source": None, "expires_at": None,
        }


class FakeAlpaca(FaultInjection):
    """One Alpaca account holding ``cash`` USD, trading the symbols in ``prices``."""

    def __init__(self, prices: Mapping[str, Decimal], cash: Decimal, *, key_id: str = "PKFAKEALPACA",
                 secret_key: str = "fake-alpaca-secret") -> None:
        self.prices = dict(prices)
        self.cash = cash
        self.key_id, self.secret_key = key_id, secret_key
        self.orders: dict[str, Order] = {}
        self.holdings: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (qty, avg entry price)
        self.activities: list[dict[str, Any]] = []
        self.requests: list[LoggedRequest] = []
        FaultInjection.__init__(self)
        self.errors: list[Exception] = []
        self._state = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeAlpaca:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- knobs ------------------------------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the last trade price of ``symbol``; working orders it reaches trigger and fill."""
        with self._state:
            self.prices[symbol] = price
            for order in list(self.orders.values()):
                if order.symbol == symbol and order.status in _OPEN:
                    self._match(order, arriving=False)

    # --- protocol -----------------------------------------------------------------------------------------

    def serve(self, method: str, path: str, query: dict[str, str], body: Any,
              headers: Mapping[str, str]) -> tuple[int, Any, dict[str, str]]:
        self.requests.append(LoggedRequest(method, path, query, body))
        fault = self._take_fault(method, path)
        if fault is not None and not fault.after_processing:
            assert fault.failure is not None
            return fault.failure.status, fault.failure.body, fault.failure.headers
        try:
            if headers.get("APCA-API-KEY-ID") != self.key_id or headers.get("APCA-API-SECRET-KEY") != self.secret_key:
                raise AlpacaError(401, 40110000, "request is not authorized")
            with self._state:
                status, answer = self._route(method, path, query, body)
        except AlpacaError as error:
            status, answer = error.status, {"code": error.code, "message": error.message}
        except Exception as error:  # a bug in the fake: answer, and keep it for the test to fail on
            self.errors.append(error)
            status, answer = 500, {"code": 50010000, "message": f"fake error: {error!r}"}
        if fault is not None:
            fault.stall()
            if fault.failure is not None:
                return fault.failure.status, fault.failure.body, fault.failure.headers
        return status, answer, {}

    def _route(self, method: str, path: str, query: Mapping[str, str], body: Any) -> tuple[int, Any]:
        if path == "/v2/orders" and method == "POST":
            return 200, self._new_order(body)
        if path == "/v2/orders:by_client_order_id" and method == "GET":
            wanted = query.get("client_order_id")
            for order in self.orders.values():
                if order.client_order_id == wanted:
                    return 200, order.json()
            raise AlpacaError(404, 40410000, "order not found")
        if path.startswith("/v2/orders/"):
            order = self._order(path.removeprefix("/v2/orders/"))
            if method == "GET":
                return 200, order.json()
            if method == "DELETE":
                if order.status not in _OPEN:
                    raise unprocessable(f'order is already in "{order.status}" state', 42210000)
                self._close(order, "canceled")
                return 204, None
            if method == "PATCH":
                return 200, self._replace(order, body)
        if path == "/v2/positions" and method == "GET":
            return 200, [self._position(symbol) for symbol in sorted(self.holdings)]
        if path == "/v2/account" and method == "GET":
            return 200, self._account()
        if path == "/v2/account/activities/FILL" and method == "GET":
            return 200, self._fill_activities(query)
        raise AlpacaError(404, 40410000, f"endpoint not found: {method} {path}")

    # --- orders -------------------------------------------------------------------------------------------

    def _new_order(self, body: Any, *, replaces: Order | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise unprocessable("request body format is invalid")
        symbol = str(body.get("symbol") or "")
        if symbol not in self.prices:
            raise unprocessable(f'asset "{symbol}" not found')
        side, kind, tif = body.get("side"), body.get("type"), body.get("time_in_force")
        if side not in ("buy", "sell"):
            raise unprocessable("invalid side")
        if kind not in ("market", "limit", "stop", "stop_limit"):
            raise unprocessable("invalid order type")
        if tif not in ("day", "gtc", "ioc", "fok", "opg", "cls"):
            raise unprocessable("invalid time_in_force")
        qty = _decimal(body, "qty", required=True)
        limit = _decimal(body, "limit_price", required=kind in _LIMIT_KINDS)
        stop = _decimal(body, "stop_price", required=kind in _STOP_KINDS)
        assert qty is not None
        if qty <= 0:
            raise unprocessable("qty must be > 0")
        if qty != qty.to_integral_value() and (tif != "day" or kind not in ("market", "limit")):
            raise unprocessable("fractional orders must be DAY orders", 42210000)
        for name, value in (("limit_price", limit), ("stop_price", stop)):
            if value is not None and value >= 1 and value != value.quantize(Decimal("0.01")):
                raise unprocessable(f"invalid {name} {value}. sub-penny increment does not fulfill minimum pricing "
                                    "criteria", 42210000)
        client_id = str(body.get("client_order_id") or uuid.uuid4())
        if len(client_id) > 128:
            raise unprocessable("client_order_id must be no more than 128 characters")
        if any(order.client_order_id == client_id for order in self.orders.values()):
            raise unprocessable("client_order_id must be unique")
        price_now = self.prices[symbol]
        if side == "buy":
            needed = qty * (limit or stop or price_now)
            freed = _reserve(replaces, price_now) if replaces is not None else Decimal(0)
            if needed > self._buying_power() + freed:
                raise AlpacaError(403, 40310000, "insufficient buying power")
        else:
            held = self.holdings.get(symbol, (Decimal(0), Decimal(0)))[0]
            offered = sum((o.qty - o.filled_qty for o in self.orders.values()
                           if o.symbol == symbol and o.side == "sell" and o.status in _OPEN and o is not replaces),
                          Decimal(0))
            if qty > held - offered:
                raise AlpacaError(403, 40310000, f"insufficient qty available for order (requested: {_s(qty)}, "
                                                 f"available: {_s(held - offered)})")
        now = _now()
        order = Order(str(uuid.uuid4()), client_id, symbol, side, kind, tif, qty, limit, stop, now, updated_at=now)
        if replaces is not None:
            order.replaces = replaces.id
            replaces.status, replaces.replaced_by, replaces.replaced_at, replaces.updated_at = (
                "replaced", order.id, now, now)
        self.orders[order.id] = order
        accepted = order.json()  # what Alpaca answers: routing and matching happen after
        order.status = "new"
        self._match(order, arriving=True)
        return accepted

    def _replace(self, order: Order, body: Any) -> dict[str, Any]:
        if order.status not in _OPEN:
            raise unprocessable(f'order is already in "{order.status}" state', 42210000)
        if not isinstance(body, dict):
            raise unprocessable("request body format is invalid")
        merged = {"symbol": order.symbol, "side": order.side, "type": order.type,
                  "time_in_force": body.get("time_in_force") or order.time_in_force,
                  "qty": body.get("qty") or _s(order.qty),
                  "limit_price": body.get("limit_price") or _s(order.limit_price),
                  "stop_price": body.get("stop_price") or _s(order.stop_price),
                  "client_order_id": body.get("client_order_id")}
        return self._new_order(merged, replaces=order)

    def _match(self, order: Order, *, arriving: bool) -> None:
        price_now = self.prices[order.symbol]
        just_triggered = False
        if order.type in _STOP_KINDS and not order.triggered:
            assert order.stop_price is not None
            if not (price_now >= order.stop_price if order.side == "buy" else price_now <= order.stop_price):
                return
            order.triggered = just_triggered = True
        taker = arriving or just_triggered
        if order.type in ("market", "stop"):
            self._fill(order, price_now)
            return
        assert order.limit_price is not None
        if (price_now <= order.limit_price) if order.side == "buy" else (price_now >= order.limit_price):
            self._fill(order, price_now if taker else order.limit_price)
        elif taker and order.time_in_force in ("ioc", "fok"):
            self._close(order, "canceled")

    def _fill(self, order: Order, price: Decimal) -> None:
        qty = order.qty - order.filled_qty
        held, average = self.holdings.get(order.symbol, (Decimal(0), Decimal(0)))
        if order.side == "buy":
            if qty * price > self.cash:
                self._close(order, "canceled")
                return
            self.cash -= qty * price
            self.holdings[order.symbol] = (held + qty, (held * average + qty * price) / (held + qty))
        else:
            self.cash += qty * price
            if held - qty:
                self.holdings[order.symbol] = (held - qty, average)
            else:
                del self.holdings[order.symbol]
        now = _now()
        moment = datetime.now(UTC)
        activity_id = f"{moment:%Y%m%d%H%M%S}{moment.microsecond // 1000:03d}::{uuid.uuid4()}"  # Alpaca's form
        order.filled_avg_price = price if not order.filled_qty else (
            (order.filled_qty * (order.filled_avg_price or price) + qty * price) / (order.filled_qty + qty))
        order.filled_qty += qty
        order.status, order.filled_at, order.updated_at = "filled", now, now
        order.fills.append(activity_id)
        self.activities.append({
            "id": activity_id, "activity_type": "FILL", "transaction_time": now, "type": "fill",
            "price": _s(price), "qty": _s(qty), "side": order.side, "symbol": order.symbol, "leaves_qty": "0",
            "order_id": order.id, "cum_qty": _s(order.filled_qty), "order_status": "filled",
        })

    def _close(self, order: Order, status: str) -> None:
        now = _now()
        order.status, order.updated_at = status, now
        if status == "canceled":
            order.canceled_at = now
        else:
            order.expired_at = now

    def _order(self, order_id: str) -> Order:
        try:
            uuid.UUID(order_id)
        except ValueError:
            raise unprocessable("order_id is missing") from None
        if order_id not in self.orders:
            raise AlpacaError(404, 40410000, "order not found")
        return self.orders[order_id]

    # --- account ------------------------------------------------------------------------------------------

    def _buying_power(self) -> Decimal:
        reserved = sum((_reserve(o, self.prices[o.symbol]) for o in self.orders.values()
                        if o.side == "buy" and o.status in _OPEN), Decimal(0))
        return self.cash - reserved

    def _position(self, symbol: str) -> dict[str, Any]:
        qty, average = self.holdings[symbol]
        price = self.prices[symbol]
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "symbol": symbol, "exchange": "NASDAQ",
            "asset_class": "us_equity", "asset_marginable": True, "qty": _s(qty), "qty_available": _s(qty),
            "avg_entry_price": _s(average), "side": "long", "market_value": _s(qty * price),
            "cost_basis": _s(qty * average), "unrealized_pl": _s(qty * (price - average)),
            "unrealized_plpc": _s((price - average) / average if average else Decimal(0)),
            "unrealized_intraday_pl": "0", "unrealized_intraday_plpc": "0", "current_price": _s(price),
            "lastday_price": _s(price), "change_today": "0",
        }

    def _account(self) -> dict[str, Any]:
        market_value = sum((qty * self.prices[s] for s, (qty, _) in self.holdings.items()), Decimal(0))
        power, equity = self._buying_power(), self.cash + market_value
        return {
            "id": "5a3e7b9c-2f4d-4e8a-9b1c-0d2e3f4a5b6c", "account_number": "PA3FAKEALPACA", "status": "ACTIVE",
            "crypto_status": "INACTIVE", "currency": "USD", "cash": _s(self.cash), "buying_power": _s(power),
            "regt_buying_power": _s(power), "daytrading_buying_power": "0", "effective_buying_power": _s(power),
            "non_marginable_buying_power": _s(power), "options_buying_power": _s(power), "bod_dtbp": "0",
            "accrued_fees": "0", "portfolio_value": _s(equity), "equity": _s(equity), "last_equity": _s(equity),
            "long_market_value": _s(market_value),
            "short_market_value": "0", "position_market_value": _s(market_value), "initial_margin": "0",
            "maintenance_margin": "0", "last_maintenance_margin": "0", "sma": "0", "multiplier": "1",
            "pattern_day_trader": False, "trading_blocked": False, "transfers_blocked": False,
            "account_blocked": False, "trade_suspended_by_user": False, "shorting_enabled": False,
            "daytrade_count": 0, "created_at": "2024-01-02T15:04:05.123456Z",
        }

    def _fill_activities(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        chosen = [a for a in self.activities if query.get("order_id") in (None, a["order_id"])
                  and ("after" not in query or _parse(a["transaction_time"]) > _parse(query["after"]))]
        if query.get("direction", "desc") == "desc":
            chosen.reverse()
        if "page_token" in query:
            ids = [a["id"] for a in chosen]
            chosen = chosen[ids.index(query["page_token"]) + 1:] if query["page_token"] in ids else []
        return chosen[: min(int(query.get("page_size", 100)), 100)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                status, answer, headers = fake.serve(self.command, url.path, dict(parse_qsl(url.query)), body,
                                                     self.headers)
                payload = b"" if status == 204 else json.dumps(answer).encode()
                self.send_response(status)
                if payload:
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

            def do_PATCH(self) -> None:
                self._serve()

        return Handler


def _reserve(order: Order, price_now: Decimal) -> Decimal:
    """What a working buy order may still spend."""
    return (order.qty - order.filled_qty) * (order.limit_price or order.stop_price or price_now)


def _decimal(body: Mapping[str, Any], name: str, *, required: bool) -> Decimal | None:
    value = body.get(name)
    if value in (None, ""):
        if required:
            raise unprocessable(f"{name} is required")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise unprocessable(f"invalid {name}") from None
    if not number.is_finite():
        raise unprocessable(f"invalid {name}")
    return number


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # Alpaca sends nanoseconds


def _parse(text: str) -> datetime:
    head = text.rstrip("Z")
    if "." in head:
        whole, fraction = head.split(".", 1)
        head = f"{whole}.{fraction[:6]}"
    return datetime.fromisoformat(head).replace(tzinfo=UTC)
