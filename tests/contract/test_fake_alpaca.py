"""The Alpaca fake answers as Alpaca does where the broker contract suite cannot see it.

The contract suite reads the fake through AlpacaBroker, which hides the wire: these tests check the raw
protocol the adapter was written against (key headers, JSON shapes, status codes and error bodies, the
asynchronous answer to a placement, 204 cancels, and paging FILL activities with ``page_token``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.fakes.fake_alpaca import FakeAlpaca


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca({"AAPL": Decimal(200)}, Decimal(1_000)) as running:
        yield running
    assert running.errors == []


@pytest.fixture
def api(fake: FakeAlpaca) -> Iterator[httpx.Client]:
    headers = {"APCA-API-KEY-ID": fake.key_id, "APCA-API-SECRET-KEY": fake.secret_key}
    with httpx.Client(base_url=fake.url, headers=headers) as client:
        yield client


def market(**extra: Any) -> dict[str, Any]:
    return {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day", **extra}


@pytest.mark.parametrize("headers", [{}, {"APCA-API-KEY-ID": "PKFAKEALPACA", "APCA-API-SECRET-KEY": "wrong"}],
                         ids=["no keys", "wrong secret"])
def test_requests_without_the_right_keys_are_401(fake: FakeAlpaca, headers: dict[str, str]) -> None:
    response = httpx.get(f"{fake.url}/v2/account", headers=headers)
    assert (response.status_code, response.json()) == (401, {"code": 40110000, "message": "request is not authorized"})


def test_a_placement_answers_the_accepted_order_and_fills_after(api: httpx.Client) -> None:
    accepted = api.post("/v2/orders", json=market(client_order_id="async")).json()
    assert (accepted["status"], accepted["filled_qty"], accepted["filled_avg_price"]) == ("pending_new", "0", None)
    assert accepted["client_order_id"] == "async" and accepted["created_at"].endswith("Z")
    now = api.get(f"/v2/orders/{accepted['id']}").json()
    assert (now["status"], now["filled_qty"], now["filled_avg_price"]) == ("filled", "1", "200")
    assert api.get("/v2/orders:by_client_order_id", params={"client_order_id": "async"}).json()["id"] == now["id"]


@pytest.mark.parametrize(("body", "status", "expected"), [
    (market(qty="10"), 403, {"code": 40310000, "message": "insufficient buying power"}),
    (market(side="sell"), 403, {"code": 40310000,
                                "message": "insufficient qty available for order (requested: 1, available: 0)"}),
    (market(symbol="NOPE"), 422, {"code": 40010001, "message": 'asset "NOPE" not found'}),
    (market(qty="0.5", time_in_force="gtc"), 422, {"code": 42210000,
                                                    "message": "fractional orders must be DAY orders"}),
    (market(type="limit"), 422, {"code": 40010001, "message": "limit_price is required"}),
], ids=["buying power", "nothing to sell", "unknown symbol", "fractional gtc", "limit without price"])
def test_refusals_carry_alpacas_status_and_body(api: httpx.Client, fake: FakeAlpaca, body: dict[str, Any],
                                               status: int, expected: dict[str, Any]) -> None:
    response = api.post("/v2/orders", json=body)
    assert (response.status_code, response.json()) == (status, expected)
    assert fake.orders == {}


def test_a_client_order_id_is_never_accepted_twice(api: httpx.Client) -> None:
    first = api.post("/v2/orders", json=market(client_order_id="once")).json()
    assert api.get(f"/v2/orders/{first['id']}").json()["status"] == "filled"  # final, and still taken
    again = api.post("/v2/orders", json=market(client_order_id="once"))
    assert (again.status_code, again.json()) == (422, {"code": 40010001, "message": "client_order_id must be unique"})


def test_cancel_is_204_then_422_once_final(api: httpx.Client) -> None:
    resting = api.post("/v2/orders", json=market(type="limit", limit_price="150", time_in_force="gtc")).json()
    cancelled = api.delete(f"/v2/orders/{resting['id']}")
    assert (cancelled.status_code, cancelled.content) == (204, b"")
    assert api.get(f"/v2/orders/{resting['id']}").json()["status"] == "canceled"
    again = api.delete(f"/v2/orders/{resting['id']}")
    assert (again.status_code, again.json()) == (422, {"code": 42210000, "message": 'order is already in "canceled" '
                                                                                    'state'})
    missing = api.get("/v2/orders/6f1c8c1e-2b8f-4a57-9d5e-0c6a3c1b2d4e")
    assert (missing.status_code, missing.json()) == (404, {"code": 40410000, "message": "order not found"})


def test_a_patch_replaces_the_order_with_a_new_one(api: httpx.Client) -> None:
    old = api.post("/v2/orders", json=market(type="limit", limit_price="150", time_in_force="gtc")).json()
    new = api.patch(f"/v2/orders/{old['id']}", json={"limit_price": "160", "client_order_id": "amended"}).json()
    assert (new["replaces"], new["limit_price"], new["client_order_id"]) == (old["id"], "160", "amended")
    old_now = api.get(f"/v2/orders/{old['id']}").json()
    assert (old_now["status"], old_now["replaced_by"]) == ("replaced", new["id"])


def test_fill_activities_filter_by_order_and_page_with_a_token(api: httpx.Client, fake: FakeAlpaca) -> None:
    orders = [api.post("/v2/orders", json=market(client_order_id=f"fill-{n}")).json()["id"] for n in range(3)]
    seen: list[str] = []
    params: dict[str, str] = {"direction": "asc", "page_size": "1"}
    while page := api.get("/v2/account/activities/FILL", params=params).json():
        seen.append(page[0]["order_id"])
        params["page_token"] = page[0]["id"]
    assert seen == orders
    (only,) = api.get("/v2/account/activities/FILL", params={"order_id": orders[1]}).json()
    assert (only["activity_type"], only["qty"], only["price"], only["side"]) == ("FILL", "1", "200", "buy")
    assert only["id"].split("::")[1] and len(only["id"].split("::")[0]) == 17  # Alpaca's id form
    positions = api.get("/v2/positions").json()
    assert [(p["symbol"], p["qty"], p["avg_entry_price"]) for p in positions] == [("AAPL", "3", "200")]
    account = api.get("/v2/account").json()
    assert (account["cash"], account["buying_power"], account["currency"]) == ("400", "400", "USD")
