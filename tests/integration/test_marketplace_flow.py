"""The marketplace end to end over HTTP with the Local provider, on every database backend.

A creator publishes an indicator (checked in the real sandbox), an admin approves it, a buyer pays through
Local's checkout (whose signed event goes through the same webhook code as Stripe's), runs it on their own
bars without ever seeing protected source, rates it, and gets a refund; the ledger and the audit log follow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alphabook.api.main import create_app
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.payments import ledger
from tests.integration.market import API, CROSS, CROSS_SCHEMA, SMA, SMA_SCHEMA, Market, ok, problem


@pytest.fixture
def market(database: Database, tmp_path: Path) -> Iterator[Market]:
    settings = Settings(home=tmp_path, database_url=database.url, payment_provider="local")
    with TestClient(create_app(settings, prefix="/services/api/")) as client:
        market = Market(client, database)
        market.creator = market.user(f"maker{tmp_path.name[-6:]}", ["user", "creator"])
        market.admin = market.user(f"boss{tmp_path.name[-6:]}", ["user", "admin"])
        yield market


def _bars(client: TestClient) -> dict[str, list[object]]:
    from alphabook.research.data import load

    frame = load("NASDAQ:GOOG", "1d").iloc[-300:]
    return {"time": [stamp.isoformat() for stamp in frame.index],
            **{column: frame[column].tolist() for column in ("open", "high", "low", "close", "volume")}}


def test_publish_buy_run_rate_refund(market: Market, tmp_path: Path) -> None:
    client = market.client
    slug = market.publish(f"sma{tmp_path.name[-6:]}", price_minor=1001)
    page = ok(client.get(f"{API}/listings/{slug}"))
    assert page["status"] == "approved" and page["price"]["display"] == "10.01 USD"
    assert "<h1>" in page["description_html"] and page["preview"]["outputs"]
    assert page["active_version"]["report"]["ok"]

    buyer = market.user(f"buyer{tmp_path.name[-6:]}")
    problem(client.post(f"{API}/listings/{slug}/run", headers=buyer, json={"bars": _bars(client)}), 403, "buy it")
    problem(client.get(f"{API}/listings/{slug}/source", headers=buyer), 403, "protected")
    purchase = market.buy(slug, buyer)
    assert purchase["status"] == "pending" and purchase["checkout_url"].endswith(purchase["checkout_url"][-27:])
    assert purchase["creator_share"]["amount_minor"] == 701 and purchase["platform_share"]["amount_minor"] == 300
    again = market.buy(slug, buyer)  # a double click: the same purchase, one checkout
    assert again["id"] == purchase["id"]
    problem(client.post(f"{API}/listings/{slug}/run", headers=buyer, json={"bars": _bars(client)}), 403)

    ref = purchase["checkout_url"].rsplit("/", 1)[1]
    page_html = client.get(f"{API}/payments/local/checkout/{ref}", headers=buyer)
    assert page_html.status_code == 200 and "10.01 USD" in page_html.text
    paid = ok(client.post(f"{API}/payments/local/checkout/{ref}/pay", headers=buyer))
    assert paid == {"received": "processed", "status": "completed"}
    problem(client.post(f"{API}/payments/local/checkout/{ref}/pay", headers=buyer), 409, "completed")

    result = ok(client.post(f"{API}/listings/{slug}/run", headers=buyer,
                            json={"bars": _bars(client), "params": {"length": 5}}))
    closes = _bars(client)["close"]
    [values] = result["outputs"].values()
    assert result["version"] == "1.0.0" and len(values) == 300 and values[3] is None
    assert values[4] == pytest.approx(sum(closes[:5]) / 5)  # type: ignore[arg-type]
    problem(client.post(f"{API}/listings/{slug}/run", headers=buyer,
                        json={"bars": _bars(client), "params": {"lenght": 5}}), 422, "did you mean 'length'")
    problem(client.get(f"{API}/listings/{slug}/source", headers=buyer), 403, "protected")
    assert "rolling(length)" in client.get(f"{API}/listings/{slug}/source", headers=market.creator).text
    problem(market.client.post(f"{API}/listings/{slug}/purchase", headers=buyer), 409, "already own")

    ok(client.post(f"{API}/listings/{slug}/rate", headers=buyer, json={"stars": 4, "comment": "solid"}))
    ok(client.post(f"{API}/listings/{slug}/rate", headers=buyer, json={"stars": 5, "comment": "better"}))
    problem(client.post(f"{API}/listings/{slug}/rate", headers=market.creator, json={"stars": 5}), 403)
    listed = ok(client.get(f"{API}/listings/{slug}"))
    assert (listed["rating_avg"], listed["rating_count"], listed["purchases"]) == (5.0, 1, 1)
    assert [each["slug"] for each in ok(client.get(f"{API}/library", headers=buyer))] == [slug]

    with market.database.session() as session:
        creator_id = listed_creator_id(session, slug)
        assert ledger.balance(session, ledger.creator_account(creator_id), "USD").amount_minor == 701
        assert ledger.balance(session, ledger.PLATFORM, "USD").amount_minor >= 300

    refunded = ok(client.post(f"{API}/purchases/{purchase['id']}/refund", headers=buyer, json={"reason": "no"}))
    assert refunded["status"] == "refunded"
    problem(client.post(f"{API}/listings/{slug}/run", headers=buyer, json={"bars": _bars(client)}), 403)
    assert ok(client.get(f"{API}/listings/{slug}"))["purchases"] == 0
    with market.database.session() as session:
        assert ledger.balance(session, ledger.creator_account(creator_id), "USD").amount_minor == 0
    actions = [entry["action"] for entry in ok(client.get(f"{API}/audit", headers=market.admin,
                                                          params={"subject": f"purchase:{purchase['id']}"}))]
    assert actions == ["purchase.started", "purchase.completed", "purchase.refunded"]


def listed_creator_id(session: object, slug: str) -> int:
    from alphabook.marketplace.listings import get_listing

    return get_listing(session, slug).creator_id  # type: ignore[arg-type]


def test_versions_checks_and_moderation(market: Market, tmp_path: Path) -> None:
    client, creator, admin = market.client, market.creator, market.admin
    name = f"x{tmp_path.name[-6:]}"
    listing = ok(client.post(f"{API}/listings", headers=creator, json={
        "name": name, "kind": "strategy", "title": "Crossing averages", "category": "trend",
        "price": {"amount_minor": 500, "currency": "USD"}}), 201)
    slug = listing["slug"]
    bad = ok(client.post(f"{API}/listings/{slug}/versions", headers=creator, json={
        "version": "1.0.0", "code": "import os\ndef indicator(df):\n    return df['close']\n"}), 201)
    assert bad["status"] == "failed" and "os" in bad["report"]["steps"][0]["detail"]
    problem(client.post(f"{API}/listings/{slug}/submit", headers=creator), 422, "failed its checks")
    problem(client.post(f"{API}/listings/{slug}/versions", headers=creator, json={
        "version": "1.0.0", "code": CROSS}), 409, "greater than")
    wrong_shape = ok(client.post(f"{API}/listings/{slug}/versions", headers=creator, json={
        "version": "1.0.1", "code": SMA, "parameter_schema": [{"name": "length", "type": "int", "default": 20}]}), 201)
    assert "entries" in wrong_shape["report"]["steps"][-1]["detail"]
    good = ok(client.post(f"{API}/listings/{slug}/versions", headers=creator, json={
        "version": "1.1.0", "code": CROSS, "parameter_schema": CROSS_SCHEMA, "trials": 40}), 201)
    assert good["status"] == "checked", good["report"]
    backtest = good["report"]["backtest"]
    assert backtest["trials"] == 40 and backtest["deflated_sharpe"]["trials"] == 40
    assert 0 <= backtest["deflated_sharpe"]["probability"] <= 1

    buyer = market.user(f"b{tmp_path.name[-6:]}")
    problem(client.get(f"{API}/listings/{slug}", headers=buyer), 404)  # drafts are private
    ok(client.post(f"{API}/listings/{slug}/submit", headers=creator))
    assert slug in [item["slug"] for item in ok(client.get(f"{API}/admin/queue", headers=admin))]
    problem(client.get(f"{API}/admin/queue", headers=creator), 403)
    problem(client.post(f"{API}/admin/listings/{slug}/reject", headers=admin, json={"reason": ""}), 422, "why")
    ok(client.post(f"{API}/admin/listings/{slug}/reject", headers=admin, json={"reason": "needs a description"}))
    mine = ok(client.get(f"{API}/listings/{slug}", headers=creator))
    assert mine["status"] == "rejected" and mine["status_reason"] == "needs a description"

    ok(client.patch(f"{API}/listings/{slug}", headers=creator, json={"description": "Buys golden crosses."}))
    ok(client.post(f"{API}/listings/{slug}/versions", headers=creator, json={
        "version": "1.2.0", "code": CROSS, "parameter_schema": CROSS_SCHEMA}), 201)
    ok(client.post(f"{API}/listings/{slug}/submit", headers=creator))
    ok(client.post(f"{API}/admin/listings/{slug}/approve", headers=admin, json={}))
    assert ok(client.get(f"{API}/listings/{slug}", headers=buyer))["active_version"]["version"] == "1.2.0"

    ok(client.post(f"{API}/listings/{slug}/flag", headers=buyer, json={"reason": "copies someone else"}), 201)
    problem(client.post(f"{API}/listings/{slug}/flag", headers=creator, json={"reason": "x"}), 422, "own")
    assert slug in [item["slug"] for item in ok(client.get(f"{API}/admin/queue", headers=admin))]
    ok(client.post(f"{API}/admin/listings/{slug}/suspend", headers=admin, json={"reason": "checking the flag"}))
    problem(client.get(f"{API}/listings/{slug}", headers=buyer), 404)
    ok(client.post(f"{API}/admin/listings/{slug}/reinstate", headers=admin, json={}))
    ok(client.post(f"{API}/admin/listings/{slug}/resolve-flags", headers=admin, json={"reason": "original work"}))
    assert slug not in [item["slug"] for item in ok(client.get(f"{API}/admin/queue", headers=admin))]
    actions = {entry["action"] for entry in ok(client.get(f"{API}/audit", headers=admin,
                                                          params={"subject": f"listing:{slug}"}))}
    assert {"listing.created", "listing.submitted", "listing.rejected", "listing.approved", "listing.flagged",
            "listing.suspended", "listing.reinstated", "listing.flags_resolved"} <= actions


def test_free_open_listings_install_and_show_source(market: Market, tmp_path: Path) -> None:
    client = market.client
    slug = market.publish(f"free{tmp_path.name[-6:]}", price_minor=0, licence="open")
    user = market.user(f"u{tmp_path.name[-6:]}")
    problem(client.post(f"{API}/listings/{slug}/purchase", headers=user), 409, "free")
    problem(client.get(f"{API}/listings/{slug}/source", headers=user), 403, "install")
    problem(client.post(f"{API}/listings/{slug}/rate", headers=user, json={"stars": 3}), 403, "installed")
    assert ok(client.post(f"{API}/listings/{slug}/install", headers=user), 201)["version"] == "1.0.0"
    assert "rolling" in client.get(f"{API}/listings/{slug}/source", headers=user).text
    ok(client.post(f"{API}/listings/{slug}/rate", headers=user, json={"stars": 3}))
    assert ok(client.get(f"{API}/listings/{slug}"))["installs"] == 1


def test_buying_your_own_listing_is_refused(market: Market, tmp_path: Path) -> None:
    slug = market.publish(f"own{tmp_path.name[-6:]}")
    problem(market.client.post(f"{API}/listings/{slug}/purchase", headers=market.creator), 403, "your own")


SECRET_LINE = "weights_7f3a9c = [0.11, 0.29, 0.6]"
PROTECTED = (f"def indicator(df, length=20):\n    {SECRET_LINE}\n"
             "    return df['close'].rolling(length).mean() * sum(weights_7f3a9c)\n")


def test_protected_source_reaches_nobody_but_its_creator_and_admins(market: Market, tmp_path: Path) -> None:
    client = market.client
    slug = market.publish(f"secret{tmp_path.name[-6:]}", code=PROTECTED, price_minor=0)
    buyer, stranger = market.user(f"own{tmp_path.name[-6:]}"), market.user(f"str{tmp_path.name[-6:]}")
    ok(client.post(f"{API}/listings/{slug}/install", headers=buyer), 201)
    ok(client.post(f"{API}/listings/{slug}/rate", headers=buyer, json={"stars": 5}))
    bodies = [
        client.get(f"{API}/listings", params={"q": "secret"}), client.get(f"{API}/listings/{slug}"),
        client.get(f"{API}/listings/{slug}", headers=buyer), client.get(f"{API}/listings/{slug}/ratings"),
        client.get(f"{API}/library", headers=buyer), client.get(f"{API}/purchases", headers=buyer),
        client.get(f"{API}/me/export", headers=buyer),
        client.post(f"{API}/listings/{slug}/run", headers=buyer, json={"bars": _bars(client)}),
        client.get(f"{API}/listings/{slug}/source", headers=buyer),
        client.get(f"{API}/listings/{slug}/source", headers=buyer, params={"version": "1.0.0"}),
        client.get(f"{API}/listings/{slug}/source", headers=stranger),
        client.get(f"{API}/openapi.json"),
    ]
    assert bodies[7].status_code == 200  # the buyer does run it
    for reply in bodies:
        assert "weights_7f3a9c" not in reply.text, reply.request.url
    assert bodies[8].status_code == bodies[9].status_code == bodies[10].status_code == 403
    for allowed in (market.creator, market.admin):
        assert SECRET_LINE in client.get(f"{API}/listings/{slug}/source", headers=allowed).text


def test_creator_stats_come_from_the_ledger(market: Market, tmp_path: Path) -> None:
    client = market.client
    slug = market.publish(f"st{tmp_path.name[-6:]}", price_minor=333)
    for index in range(3):
        buyer = market.user(f"sb{index}{tmp_path.name[-6:]}")
        ref = market.buy(slug, buyer)["checkout_url"].rsplit("/", 1)[1]
        ok(client.post(f"{API}/payments/local/checkout/{ref}/pay", headers=buyer))
    figures = ok(client.get(f"{API}/creator/stats", headers=market.creator))
    [row] = [item for item in figures["listings"] if item["slug"] == slug]
    assert row["purchases"] == 3 and row["revenue_minor"] == 3 * 233  # 70% of 3.33 is 2.331 -> 233 (exact split)
    assert figures["available_minor"] == 3 * 233 and figures["paid_out_minor"] == 0


def test_the_api_documents_every_marketplace_endpoint(market: Market) -> None:
    paths = set(ok(market.client.get(f"{API}/openapi.json"))["paths"])
    listing = f"{API}/listings/{{creator}}/{{name}}"
    admin = f"{API}/admin/listings/{{creator}}/{{name}}"
    expected = {f"{API}/listings", listing, f"{listing}/versions", f"{listing}/submit", f"{listing}/purchase",
                f"{listing}/rate", f"{listing}/flag", f"{listing}/run", f"{listing}/source", f"{listing}/install",
                f"{API}/payments/webhook/{{provider_name}}", f"{API}/purchases", f"{API}/library",
                f"{API}/creator/stats", f"{API}/payouts", f"{API}/payouts/account", f"{API}/admin/queue",
                f"{admin}/approve", f"{admin}/reject", f"{admin}/{{action}}",
                f"{API}/purchases/{{purchase_id}}/refund",
                f"{API}/audit", f"{API}/me/export", f"{API}/me/erase"}
    assert expected <= paths, expected - paths
    assert f"{API}/admin/purchases/{{purchase_id}}/refund" not in paths  # admins refund through /purchases too


def _release(market: Market, slug: str, version: str, code: str, **extra: object) -> dict[str, object]:
    released = ok(market.client.post(f"{API}/listings/{slug}/versions", headers=market.creator, json={
        "version": version, "code": code, "parameter_schema": SMA_SCHEMA, **extra}), 201)
    ok(market.client.post(f"{API}/listings/{slug}/submit", headers=market.creator))
    ok(market.client.post(f"{API}/admin/listings/{slug}/approve", headers=market.admin, json={}))
    return dict(released)


def test_buyers_stay_on_their_version_until_they_move(market: Market, tmp_path: Path) -> None:
    client = market.client
    slug = market.publish(f"ver{tmp_path.name[-6:]}", price_minor=0)
    buyer = market.user(f"v{tmp_path.name[-6:]}")
    ok(client.post(f"{API}/listings/{slug}/install", headers=buyer), 201)
    doubled = SMA.replace(".mean()", ".mean() * 2")
    _release(market, slug, "1.1.0", doubled, changelog="twice as loud")
    problem(client.post(f"{API}/listings/{slug}/versions", headers=market.creator, json={
        "version": "1.2.0", "code": SMA, "parameter_schema": SMA_SCHEMA, "breaking": True}), 422, "2.0.0")
    major = _release(market, slug, "2.0.0", SMA.replace(".mean()", ".mean() * 3"))
    assert major["breaking"] is True  # a new major version is a breaking change, said or not

    def last_value() -> float:
        result = ok(client.post(f"{API}/listings/{slug}/run", headers=buyer, json={"bars": _bars(client)}))
        [values] = result["outputs"].values()
        return float(values[-1])

    plain = last_value()
    assert ok(client.post(f"{API}/listings/{slug}/run", headers=buyer, json={"bars": _bars(client)}))[
        "version"] == "1.0.0"
    problem(client.post(f"{API}/listings/{slug}/upgrade", headers=buyer, params={"version": "2.0.0"}), 422,
            "not compatible")
    assert ok(client.post(f"{API}/listings/{slug}/upgrade", headers=buyer, params={"version": "1.1.0"}))[
        "version"] == "1.1.0"
    assert last_value() == pytest.approx(2 * plain)
    assert ok(client.get(f"{API}/listings/{slug}"))["active_version"]["version"] == "2.0.0"
    ok(client.post(f"{API}/listings/{slug}/rollback", headers=market.creator, params={"version": "1.1.0"}))
    assert ok(client.get(f"{API}/listings/{slug}"))["active_version"]["version"] == "1.1.0"
    problem(client.post(f"{API}/listings/{slug}/rollback", headers=buyer, params={"version": "1.0.0"}), 403)


SPIN = ("def indicator(df, spin=0):\n"
        "    work = sum(range(spin))  # seconds of work in the sandbox when asked for, none in the checks\n"
        "    return df['close'] + (work - work)\n")
SPIN_SCHEMA = [{"name": "spin", "type": "int", "default": 0, "minimum": 0, "maximum": 200_000_000}]


def test_a_run_in_the_sandbox_keeps_no_transaction_open(market: Market, tmp_path: Path) -> None:
    """While a buyer's run works in the sandbox, the installation's other writers go on: on SQLite a transaction
    held across the run would keep the one write lock, and a rating (or a webhook alert) would wait for it."""
    client = market.client
    slug = market.publish(f"spin{tmp_path.name[-6:]}", price_minor=0, code=SPIN, schema=SPIN_SCHEMA)
    buyer = market.user(f"s{tmp_path.name[-6:]}")
    ok(client.post(f"{API}/listings/{slug}/install", headers=buyer), 201)
    with ThreadPoolExecutor(1) as background:
        running = background.submit(client.post, f"{API}/listings/{slug}/run", headers=buyer,
                                     json={"bars": _bars(client), "params": {"spin": 60_000_000}})
        deadline = time.monotonic() + 60
        while not running.done() and time.monotonic() < deadline:
            pool = ok(client.get(f"{API}/health"))["sandbox"]["pool"]
            if pool is not None and pool["in_flight"] > 0:
                break
            time.sleep(0.01)
        assert not running.done(), "the run ended before it was seen in the sandbox: make it spin longer"
        ok(client.post(f"{API}/listings/{slug}/rate", headers=buyer, json={"stars": 5, "comment": "meanwhile"}))
        rated_while_running = not running.done()
        result = ok(running.result())
    assert rated_while_running, "the rating waited for the sandbox run to end"
    [values] = result["outputs"].values()
    assert len(values) == 300
    assert ok(client.get(f"{API}/listings/{slug}"))["rating_count"] == 1


def test_the_same_version_added_twice_at_once_is_stored_once(market: Market, tmp_path: Path) -> None:
    """Both requests run their checks outside a transaction; the second to store its version is refused."""
    client = market.client
    slug = market.publish(f"twice{tmp_path.name[-6:]}", price_minor=0)
    body = {"version": "1.1.0", "code": SMA, "parameter_schema": SMA_SCHEMA}
    with ThreadPoolExecutor(2) as both:
        replies = list(both.map(lambda _: client.post(f"{API}/listings/{slug}/versions", headers=market.creator,
                                                      json=body), range(2)))
    assert sorted(reply.status_code for reply in replies) == [201, 409], [reply.text for reply in replies]
    refused = next(reply for reply in replies if reply.status_code == 409)
    problem(refused, 409, "1.1.0")
    listed = ok(client.get(f"{API}/listings/{slug}", headers=market.creator))
    versions = [each["version"] for each in listed["versions"]]
    assert versions.count("1.1.0") == 1
