"""FakeStripe against the real ``stripe`` library: proof that the fake speaks Stripe's protocol.

Every API test goes through ``stripe.StripeClient`` pointed at the fake, so the library's own form encoding,
idempotency keys, error mapping and webhook verification decide whether the fake is right. If a test here
fails after a ``stripe`` upgrade, the fake (not the code using it) needs to follow.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from tests.fakes.fake_stripe import FakeStripe, decode_form

API_KEY = "sk_test_alphabook_contract_0123456789"
WEBHOOK_SECRET = "whsec_contract_secret"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.url})


def checkout_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": "https://alphabook.test/purchases/7/done?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://alphabook.test/purchases/7/cancelled",
        "client_reference_id": "user-42",
        "customer_email": "buyer@example.com",
        "metadata": {"purchase_id": "7"},
        "line_items": [
            {"price_data": {"currency": "usd", "unit_amount": 1999, "product_data": {"name": "Momentum strategy"}},
             "quantity": 2},
            {"price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "Data add-on"}},
             "quantity": 1},
        ],
    }
    return params | overrides


def paid_session(fake: FakeStripe, client: stripe.StripeClient) -> tuple[str, str]:
    """A paid session (4498 cents) and its payment intent id."""
    session = client.v1.checkout.sessions.create(checkout_params())
    event = fake.pay(session.id)
    return session.id, event["data"]["object"]["payment_intent"]


def onboarded_account(fake: FakeStripe, client: stripe.StripeClient) -> str:
    account = client.v1.accounts.create(
        {"type": "express", "email": "seller@example.com", "capabilities": {"transfers": {"requested": True}}}
    )
    fake.onboard(account.id)
    return account.id


# --- encoding ----------------------------------------------------------------------------------------------


def test_bracket_encoding_decodes_into_nested_dicts_and_lists() -> None:
    body = ("line_items[0][price_data][currency]=usd&line_items[0][quantity]=2&line_items[1][quantity]=1"
            "&metadata[purchase_id]=7&metadata[0]=zero&expand[]=line_items&expand[]=payment_intent&mode=payment")
    assert decode_form(body) == {
        "line_items": [{"price_data": {"currency": "usd"}, "quantity": "2"}, {"quantity": "1"}],
        "metadata": {"purchase_id": "7", "0": "zero"},  # metadata is a hash even when a key looks like an index
        "expand": ["line_items", "payment_intent"],
        "mode": "payment",
    }


def test_the_library_encoding_reaches_the_fake_as_the_nested_parameters_it_was_given(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    client.v1.checkout.sessions.create(checkout_params())
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/checkout/sessions")
    assert request.params["line_items"][0] == {
        "price_data": {"currency": "usd", "unit_amount": "1999", "product_data": {"name": "Momentum strategy"}},
        "quantity": "2",
    }
    assert request.params["metadata"] == {"purchase_id": "7"}
    assert request.idempotency_key  # the library sends a random key on every POST


# --- checkout sessions -------------------------------------------------------------------------------------


def test_a_created_session_is_shaped_like_stripes_and_can_be_retrieved(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(checkout_params())
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.livemode is False
    assert (session.status, session.payment_status, session.payment_intent) == ("open", "unpaid", None)
    assert (session.amount_total, session.currency) == (2 * 1999 + 500, "usd")
    assert session.url.startswith(fake.url)
    assert (session.client_reference_id, session.customer_email) == ("user-42", "buyer@example.com")
    assert session.metadata["purchase_id"] == "7"
    assert session.created <= int(time.time()) < session.expires_at

    retrieved = client.v1.checkout.sessions.retrieve(session.id)
    assert retrieved.to_dict() == session.to_dict()


def test_line_items_are_stored_and_expandable(fake: FakeStripe, client: stripe.StripeClient) -> None:
    session = client.v1.checkout.sessions.create(checkout_params())
    expanded = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["line_items"]})
    items = expanded.line_items.data
    assert [(item.description, item.quantity, item.amount_total) for item in items] == [
        ("Momentum strategy", 2, 3998), ("Data add-on", 1, 500)]
    assert items[0].price.unit_amount == 1999
    assert [item["description"] for item in fake.line_items[session.id]] == ["Momentum strategy", "Data add-on"]


def test_missing_parameters_are_refused_as_stripe_refuses_them(client: stripe.StripeClient) -> None:
    params = checkout_params()
    del params["success_url"]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(params)
    assert (missing.value.http_status, missing.value.code, missing.value.param) == (
        400, "parameter_missing", "success_url")
    with pytest.raises(stripe.InvalidRequestError) as bad_quantity:
        client.v1.checkout.sessions.create(checkout_params(line_items=[{"price_data": {
            "currency": "usd", "unit_amount": 100, "product_data": {"name": "x"}}, "quantity": "two"}]))
    assert bad_quantity.value.param == "line_items[0][quantity]"


def test_an_open_session_can_be_expired_once(fake: FakeStripe, client: stripe.StripeClient) -> None:
    session = client.v1.checkout.sessions.create(checkout_params())
    expired = client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)
    with pytest.raises(ValueError, match="expired"):
        fake.pay(session.id)


def test_paying_completes_the_session_and_returns_the_completed_event(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(checkout_params())
    event = fake.pay(session.id)
    assert event["type"] == "checkout.session.completed"
    assert event["id"].startswith("evt_") and event["object"] == "event" and event["livemode"] is False
    paid = event["data"]["object"]
    assert (paid["id"], paid["status"], paid["payment_status"]) == (session.id, "complete", "paid")
    assert paid["payment_intent"].startswith("pi_")
    assert client.v1.checkout.sessions.retrieve(session.id).payment_intent == paid["payment_intent"]
    assert client.v1.payment_intents.retrieve(paid["payment_intent"]).amount_received == 4498
    assert client.v1.events.retrieve(event["id"]).type == "checkout.session.completed"
    assert fake.charges == 1
    with pytest.raises(ValueError, match="complete"):
        fake.pay(session.id)
    assert fake.charges == 1


def test_an_asynchronous_payment_completes_unpaid_until_it_clears_or_fails(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    cleared = client.v1.checkout.sessions.create(checkout_params())
    bounced = client.v1.checkout.sessions.create(checkout_params())
    assert fake.pay(cleared.id, async_payment=True)["data"]["object"]["payment_status"] == "unpaid"
    fake.pay(bounced.id, async_payment=True)
    assert fake.charges == 0

    succeeded = fake.async_payment_succeeded(cleared.id)
    failed = fake.async_payment_failed(bounced.id)
    assert succeeded["type"] == "checkout.session.async_payment_succeeded"
    assert succeeded["data"]["object"]["payment_status"] == "paid"
    assert failed["type"] == "checkout.session.async_payment_failed"
    assert failed["data"]["object"]["payment_status"] == "unpaid"
    assert fake.charges == 1
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create({"payment_intent": failed["data"]["object"]["payment_intent"]})
    assert refused.value.code == "charge_not_refundable"


def test_live_keys_make_live_objects() -> None:
    with FakeStripe(api_key="sk_live_alphabook_0123456789") as live:
        session = live.client().v1.checkout.sessions.create(checkout_params())
    assert live.test_mode is False
    assert session.livemode is True and session.id.startswith("cs_live_")


# --- authentication and errors -----------------------------------------------------------------------------


def test_a_wrong_key_is_refused_with_401_and_creates_nothing(fake: FakeStripe) -> None:
    intruder = stripe.StripeClient("sk_test_someone_else_987654321", base_addresses={"api": fake.url})
    with pytest.raises(stripe.AuthenticationError) as refused:
        intruder.v1.checkout.sessions.create(checkout_params())
    assert refused.value.http_status == 401
    assert "987654321"[-4:] in str(refused.value) and "someone_else" not in str(refused.value)
    assert fake.sessions == {}
    assert fake.test_mode is True


def test_unknown_ids_raise_invalid_request_with_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.retrieve("cs_test_does_not_exist")
    assert (unknown.value.http_status, unknown.value.code) == (404, "resource_missing")
    assert "No such checkout.session: 'cs_test_does_not_exist'" in str(unknown.value)
    body = unknown.value.json_body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    with pytest.raises(stripe.InvalidRequestError) as unknown_refund:
        client.v1.refunds.retrieve("re_nope")
    assert unknown_refund.value.http_status == 404


# --- idempotency -------------------------------------------------------------------------------------------


def test_the_same_key_and_parameters_replay_the_first_answer(fake: FakeStripe, client: stripe.StripeClient) -> None:
    first = client.v1.checkout.sessions.create(checkout_params(), options={"idempotency_key": "purchase-7"})
    again = client.v1.checkout.sessions.create(checkout_params(), options={"idempotency_key": "purchase-7"})
    assert again.id == first.id
    assert len(fake.sessions) == 1
    assert first.last_response is not None and again.last_response is not None
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.idempotency_key == "purchase-7"
    assert [request.idempotency_key for request in fake.requests] == ["purchase-7", "purchase-7"]


def test_the_same_key_with_other_parameters_is_an_idempotency_error(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    client.v1.checkout.sessions.create(checkout_params(), options={"idempotency_key": "purchase-7"})
    with pytest.raises(stripe.IdempotencyError) as conflict:
        client.v1.checkout.sessions.create(checkout_params(metadata={"purchase_id": "8"}),
                                           options={"idempotency_key": "purchase-7"})
    assert conflict.value.http_status == 400
    assert "purchase-7" in str(conflict.value)
    with pytest.raises(stripe.IdempotencyError):
        client.v1.accounts.create({"type": "express"}, options={"idempotency_key": "purchase-7"})
    assert len(fake.sessions) == 1 and fake.accounts == {}


def test_a_refused_validation_saves_nothing_but_a_business_refusal_is_replayed(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    params = checkout_params()
    del params["mode"]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(params, options={"idempotency_key": "k"})
    assert client.v1.checkout.sessions.create(checkout_params(), options={"idempotency_key": "k"}).id

    _, intent = paid_session(fake, client)
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as too_much:
            client.v1.refunds.create({"payment_intent": intent, "amount": 10_000}, options={"idempotency_key": "r"})
    assert too_much.value.headers["Idempotent-Replayed"] == "true"


def test_the_librarys_retry_after_a_server_error_reuses_its_key_and_creates_once(fake: FakeStripe) -> None:
    retrying = stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=1)
    fake.fail_next(1)
    session = retrying.v1.checkout.sessions.create(checkout_params())
    first, retry = fake.requests
    assert first.idempotency_key == retry.idempotency_key
    assert list(fake.sessions) == [session.id]


def test_the_client_does_not_retry_unless_told_to(fake: FakeStripe, client: stripe.StripeClient) -> None:
    fake.fail_next(1)
    with pytest.raises(stripe.APIError):
        client.v1.checkout.sessions.create(checkout_params())
    assert len(fake.requests) == 1 and fake.sessions == {}


# --- refunds -----------------------------------------------------------------------------------------------


def test_refunds_by_payment_intent_up_to_what_was_paid(fake: FakeStripe, client: stripe.StripeClient) -> None:
    _, intent = paid_session(fake, client)
    partial = client.v1.refunds.create({"payment_intent": intent, "amount": 1000, "metadata": {"purchase_id": "7"}})
    assert partial.id.startswith("re_") and partial.object == "refund"
    assert (partial.status, partial.amount, partial.payment_intent) == ("succeeded", 1000, intent)
    assert partial.metadata["purchase_id"] == "7"
    assert client.v1.refunds.retrieve(partial.id).amount == 1000

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create({"payment_intent": intent, "amount": 3499})
    error = too_much.value
    assert (error.http_status, error.code, error.param) == (400, "amount_too_large", "amount")
    assert "($34.98)" in str(too_much.value)

    rest = client.v1.refunds.create({"payment_intent": intent})
    assert rest.amount == 3498
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create({"payment_intent": intent, "amount": 1})
    assert again.value.code == "charge_already_refunded"
    assert len(fake.refunds) == 2
    assert client.v1.charges.retrieve(rest.charge).refunded is True


def test_refunding_an_unknown_payment_intent_names_the_parameter(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.refunds.create({"payment_intent": "pi_unknown"})
    assert (unknown.value.code, unknown.value.param) == ("resource_missing", "payment_intent")


def test_charge_refunded_events_describe_the_charge_after_its_refunds(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    session_id, intent = paid_session(fake, client)
    with pytest.raises(ValueError, match="no refunds"):
        fake.charge_refunded(session_id)
    client.v1.refunds.create({"payment_intent": intent, "amount": 498})
    charge = fake.charge_refunded(session_id)["data"]["object"]
    assert (charge["object"], charge["amount_refunded"], charge["refunded"]) == ("charge", 498, False)
    from_dashboard = fake.charge_refunded(session_id, amount=4000)
    assert from_dashboard["type"] == "charge.refunded"
    assert from_dashboard["data"]["object"]["refunded"] is True
    assert len(fake.refunds) == 2


def test_disputes_open_and_close_and_block_refunds(fake: FakeStripe, client: stripe.StripeClient) -> None:
    session_id, intent = paid_session(fake, client)
    opened = fake.dispute_created(session_id)
    dispute = opened["data"]["object"]
    assert (opened["type"], dispute["object"], dispute["status"]) == ("charge.dispute.created", "dispute",
                                                                       "needs_response")
    assert dispute["payment_intent"] == intent and dispute["amount"] == 4498
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create({"payment_intent": intent})
    assert refused.value.code == "charge_disputed"
    closed = fake.dispute_closed(session_id, "lost")
    assert (closed["type"], closed["data"]["object"]["status"]) == ("charge.dispute.closed", "lost")
    assert closed["data"]["object"]["id"] == dispute["id"]
    assert client.v1.disputes.retrieve(dispute["id"]).status == "lost"


def test_an_expired_event_marks_the_open_session_expired(fake: FakeStripe, client: stripe.StripeClient) -> None:
    session = client.v1.checkout.sessions.create(checkout_params())
    event = fake.session_expired(session.id)
    assert (event["type"], event["data"]["object"]["status"]) == ("checkout.session.expired", "expired")
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"


# --- Connect -----------------------------------------------------------------------------------------------


def test_express_accounts_get_onboarding_links(fake: FakeStripe, client: stripe.StripeClient) -> None:
    account = client.v1.accounts.create({"type": "express", "capabilities": {"transfers": {"requested": True}},
                                         "metadata": {"user_id": "42"}})
    assert account.id.startswith("acct_") and account.object == "account" and account.type == "express"
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (False, False, False)
    link = client.v1.account_links.create({"account": account.id, "type": "account_onboarding",
                                           "refresh_url": "https://alphabook.test/connect/refresh",
                                           "return_url": "https://alphabook.test/connect/return"})
    assert link.object == "account_link" and link.url.startswith(fake.url)
    updated = fake.onboard(account.id)
    assert updated["type"] == "account.updated"
    assert client.v1.accounts.retrieve(account.id).capabilities.transfers == "active"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.account_links.create({"account": "acct_unknown", "type": "account_onboarding",
                                        "refresh_url": "https://a.test/r", "return_url": "https://a.test/d"})
    assert unknown.value.param == "account"


def test_transfers_go_to_onboarded_known_accounts(fake: FakeStripe, client: stripe.StripeClient) -> None:
    account_id = onboarded_account(fake, client)
    transfer = client.v1.transfers.create({"amount": 3149, "currency": "usd", "destination": account_id,
                                           "metadata": {"payout_id": "3"}})
    assert transfer.id.startswith("tr_") and transfer.object == "transfer"
    assert (transfer.amount, transfer.currency, transfer.destination) == (3149, "usd", account_id)
    assert transfer.metadata["payout_id"] == "3"
    assert client.v1.transfers.retrieve(transfer.id).amount == 3149
    assert list(fake.transfers) == [transfer.id]

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.transfers.create({"amount": 100, "currency": "usd", "destination": "acct_0000000000000000"})
    assert (unknown.value.code, unknown.value.param) == ("resource_missing", "destination")


def test_onboarding_an_account_created_without_capabilities_enables_transfers(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    account = client.v1.accounts.create({"type": "express", "metadata": {"alphabook_user_id": "42"}})
    assert account.capabilities.to_dict() == {}
    fake.onboard(account.id)
    assert client.v1.transfers.create({"amount": 100, "currency": "usd", "destination": account.id}).amount == 100


def test_transfers_to_accounts_without_the_transfers_capability_are_refused(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    account = client.v1.accounts.create({"type": "express", "capabilities": {"transfers": {"requested": True}}})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.transfers.create({"amount": 100, "currency": "usd", "destination": account.id})
    assert refused.value.code == "insufficient_capabilities_for_transfer"
    assert fake.transfers == {}


# --- webhooks ----------------------------------------------------------------------------------------------


def completed_event_payload(fake: FakeStripe, client: stripe.StripeClient) -> bytes:
    session = client.v1.checkout.sessions.create(checkout_params())
    return FakeStripe.payload(fake.pay(session.id))


def test_signed_events_are_accepted_by_the_library(fake: FakeStripe, client: stripe.StripeClient) -> None:
    payload = completed_event_payload(fake, client)
    event = stripe.Webhook.construct_event(payload, fake.sign(payload, WEBHOOK_SECRET), WEBHOOK_SECRET,
                                           tolerance=300)
    assert event.type == "checkout.session.completed"
    assert event.data.object.payment_status == "paid"


def test_the_signature_is_stripes_own_scheme(fake: FakeStripe) -> None:
    payload = FakeStripe.payload(fake.event("charge.refunded", {"id": "ch_1", "object": "charge"}))
    ours = fake.sign(payload, WEBHOOK_SECRET, timestamp=1_700_000_000)
    theirs = stripe.WebhookSignature.generate_signature_header(payload.decode(), WEBHOOK_SECRET, 1_700_000_000)
    assert ours == theirs


@pytest.mark.parametrize("forgery", ["tampered payload", "wrong secret", "stale timestamp"])
def test_forged_or_stale_events_are_rejected(fake: FakeStripe, client: stripe.StripeClient, forgery: str) -> None:
    payload = completed_event_payload(fake, client)
    header = fake.sign(payload, WEBHOOK_SECRET)
    if forgery == "tampered payload":
        payload = payload.replace(b'"paid"', b'"unpaid"')
    elif forgery == "wrong secret":
        header = fake.sign(payload, "whsec_someone_else")
    else:
        header = fake.sign(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, WEBHOOK_SECRET, tolerance=300)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A webhook endpoint on a free port that records (headers, raw body) and answers 200."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Endpoint(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe", received
    finally:
        server.shutdown()
        server.server_close()


def test_delivered_events_verify_at_the_receiving_end(
    fake: FakeStripe, client: stripe.StripeClient, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    session = client.v1.checkout.sessions.create(checkout_params())
    sent = fake.pay(session.id)
    response = fake.deliver(sent, url, WEBHOOK_SECRET)
    assert response.status_code == 200
    [(headers, body)] = received
    assert headers["Content-Type"].startswith("application/json")
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET, tolerance=300)
    assert event.id == sent["id"]
    assert json.loads(body) == sent
