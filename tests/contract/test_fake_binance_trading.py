"""The Binance trading fake refuses what Binance refuses, which the broker contract suite never provokes.

The contract suite drives the fake only through ccxt, which always signs correctly and, behind CcxtBroker,
looks a client id up before sending it. These tests send raw HTTP requests to check the protocol itself:
HMAC-SHA256 signatures over query string plus body, the API key header and the ``recvWindow``, Binance's
duplicate-id rule (unique among *open* orders only), its parameter rules and error bodies, and that the
market-data endpoints of the parent fake still answer.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pandas as pd
import pytest

from alphabook.core.errors import RejectedError
from alphabook.trading.brokers.base import OrderRequest, OrderType, Side
from alphabook.trading.brokers.ccxt import CcxtBroker
from tests.fakes.fake_binance_trading import FakeBinanceTrading


@pytest.fixture
def fake(btc_5m_sample: pd.DataFrame) -> Iterator[FakeBinanceTrading]:
    prices = {"BTC/USDT": Decimal(30_000)}
    with FakeBinanceTrading(prices, {"USDT": Decimal(1_000)}, bars={("BTC/USDT", "5m"): btc_5m_sample}) as running:
        yield running
    assert running.errors == []


def signed(fake: FakeBinanceTrading, method: str, path: str, params: dict[str, Any], *, secret: str | None = None,
           api_key: str | None = None, timestamp_ms: int | None = None, tamper: str = "") -> httpx.Response:
    """A request signed as Binance's docs say; POST parameters go in the body, others in the query string."""
    payload = urlencode({**params, "timestamp": timestamp_ms or int(time.time() * 1000), "recvWindow": 5000})
    signature = hmac.new((secret or fake.secret).encode(), payload.encode(), hashlib.sha256).hexdigest()
    signed_payload = f"{payload}{tamper}&signature={signature}"
    headers = {"X-MBX-APIKEY": api_key or fake.api_key}
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return httpx.request(method, f"{fake.url}{path}", content=signed_payload, headers=headers)
    return httpx.request(method, f"{fake.url}{path}?{signed_payload}", headers=headers)


def new_order(**extra: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
            "price": "20000", **extra}


def error(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body["code"], body["msg"]


def test_a_correctly_signed_request_is_served(fake: FakeBinanceTrading) -> None:
    response = signed(fake, "GET", "/api/v3/account", {})
    assert response.status_code == 200
    assert {"asset": "USDT", "free": "1000.00000000", "locked": "0.00000000"} in response.json()["balances"]


@pytest.mark.parametrize(("change", "expected"), [
    ({"secret": "someone-elses-secret"}, (400, -1022, "Signature for this request is not valid.")),
    ({"tamper": "&quantity=100"}, (400, -1022, "Signature for this request is not valid.")),
    ({"api_key": "unknown-key"}, (401, -2015, "Invalid API-key, IP, or permissions for action.")),
    ({"timestamp_ms": int(time.time() * 1000) - 60_000},
     (400, -1021, "Timestamp for this request is outside of the recvWindow.")),
], ids=["wrong secret", "tampered", "unknown key", "stale"])
def test_badly_signed_requests_are_refused_and_change_nothing(fake: FakeBinanceTrading, change: dict[str, Any],
                                                              expected: tuple[int, int, str]) -> None:
    response = signed(fake, "POST", "/api/v3/order", new_order(), **change)
    assert error(response) == expected
    assert fake.orders_placed() == 0


def test_an_unsigned_request_is_refused(fake: FakeBinanceTrading) -> None:
    response = httpx.get(f"{fake.url}/api/v3/account?timestamp={int(time.time() * 1000)}",
                         headers={"X-MBX-APIKEY": fake.api_key})
    assert error(response) == (400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or "
                                           "malformed.")


def test_ccxt_with_a_wrong_secret_is_rejected_not_retried(fake: FakeBinanceTrading) -> None:
    broker = CcxtBroker("binance", fake.api_key, "wrong-secret", sandbox=True, urls=fake.urls(),
                        config=fake.ccxt_config())
    with pytest.raises(RejectedError, match="Signature for this request is not valid"):
        broker.balances()
    assert len([r for r in fake.trading_requests if r.path == "/api/v3/account"]) == 1


def test_a_client_id_is_unique_among_open_orders_only(fake: FakeBinanceTrading) -> None:
    first = signed(fake, "POST", "/api/v3/order", new_order(newClientOrderId="reused"))
    assert first.status_code == 200 and first.json()["status"] == "NEW"
    duplicate = signed(fake, "POST", "/api/v3/order", new_order(newClientOrderId="reused"))
    assert error(duplicate) == (400, -2010, "Duplicate order sent.")
    signed(fake, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "reused"})
    again = signed(fake, "POST", "/api/v3/order", new_order(newClientOrderId="reused"))
    assert again.status_code == 200  # Binance accepts the id again once the first order is final
    assert fake.orders_placed() == 2


@pytest.mark.parametrize(("params", "expected"), [
    (new_order(type="MARKET", price=None, timeInForce="GTC"), (400, -1106, "Parameter 'timeInForce' sent when not "
                                                                            "required.")),
    (new_order(price=None), (400, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")),
    (new_order(quantity="0.000001"), (400, -1013, "Filter failure: LOT_SIZE")),
    (new_order(symbol="XRPUSDT"), (400, -1121, "Invalid symbol.")),
    (new_order(quantity="1"), (400, -2010, "Account has insufficient balance for requested action.")),
    (new_order(type="STOP_LOSS", price=None, timeInForce=None, stopPrice="29000", side="BUY"),
     (400, -2010, "Stop price would trigger immediately.")),
], ids=["tif on market", "no price", "lot size", "symbol", "balance", "stop triggers at once"])
def test_orders_binance_would_refuse_are_refused_with_its_errors(fake: FakeBinanceTrading, params: dict[str, Any],
                                                                 expected: tuple[int, int, str]) -> None:
    response = signed(fake, "POST", "/api/v3/order", {k: v for k, v in params.items() if v is not None})
    assert error(response) == expected
    assert fake.orders_placed() == 0


def test_resting_orders_lock_what_they_may_spend_and_fills_move_balances(fake: FakeBinanceTrading) -> None:
    placed = signed(fake, "POST", "/api/v3/order", new_order(price="29000", newClientOrderId="lock"))
    assert placed.json()["fills"] == []
    balances = {b["asset"]: b for b in signed(fake, "GET", "/api/v3/account", {}).json()["balances"]}
    assert (balances["USDT"]["free"], balances["USDT"]["locked"]) == ("710.00000000", "290.00000000")
    fake.set_price("BTC/USDT", Decimal("28500"))
    balances = {b["asset"]: b for b in signed(fake, "GET", "/api/v3/account", {}).json()["balances"]}
    assert (balances["USDT"]["free"], balances["USDT"]["locked"]) == ("710.00000000", "0.00000000")
    assert balances["BTC"]["free"] == "0.00999000"  # 0.01 less the 0.1% commission, taken in BTC
    (trade,) = signed(fake, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"}).json()
    assert (trade["price"], trade["qty"], trade["commissionAsset"]) == ("29000.00000000", "0.01000000", "BTC")


def test_the_market_data_endpoints_still_answer(fake: FakeBinanceTrading, btc_5m_sample: pd.DataFrame) -> None:
    info = httpx.get(f"{fake.url}/api/v3/exchangeInfo").json()
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT"]
    assert "STOP_LOSS_LIMIT" in info["symbols"][0]["orderTypes"]
    klines = httpx.get(f"{fake.url}/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "5m", "limit": 3}).json()
    assert len(klines) == 3
    assert [r.path for r in fake.requests] == ["/api/v3/exchangeInfo", "/api/v3/klines"]


def test_stray_requests_to_other_binance_apis_stay_here(fake: FakeBinanceTrading) -> None:
    broker = CcxtBroker("binance", fake.api_key, fake.secret, urls=fake.urls(), config=fake.ccxt_config())
    assert all(url.startswith(fake.url) for url in broker.exchange.urls["api"].values())
    broker.place(OrderRequest("stray-check", "BTC/USDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    assert fake.orders_placed() == 1
