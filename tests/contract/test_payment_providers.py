"""One contract for every PaymentProvider: Local, and Stripe against the fake Stripe server in test and live mode.

Each provider is described by a :class:`Case`: the provider (its webhooks signed with ``WEBHOOK_SECRET``)
and the counterparty's side of it (the buyer paying a checkout, a creator finishing onboarding, and, where the
counterparty can do it, refusing a transfer or being down). The same tests run over all of them, as
freqtrade runs one table-driven suite over its exchanges, and check what the rest of alphabook relies on:
:mod:`alphabook.payments.purchases` (checkouts, refunds), :mod:`alphabook.payments.webhooks` (verified events
read into :class:`PaymentEventData`) and :mod:`alphabook.payments.payouts` (accounts, transfers, and which
error means "try again" and which "give up"). Local never fails and refuses nothing, so refusals and outages
are checked on the providers that have a counterparty (the ``remote`` fixture).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from starlette.datastructures import Headers

from alphabook.core.errors import InvalidInput, RejectedError, TemporaryError
from alphabook.core.money import Money, normalize_currency
from alphabook.payments.providers import Checkout, CheckoutRequest, PaymentEventData, PaymentProvider
from alphabook.payments.providers.local import LocalProvider
from alphabook.payments.providers.stripe import StripeProvider
from tests.fakes.fake_stripe import FakeStripe

WEBHOOK_SECRET = "whsec_contract_payments"
PRICE = Money(2500, "USD")
TOLERANCE_S = 300  # how old a signature may be: Stripe's recommendation, which the providers promise

Signed = tuple[bytes, Mapping[str, str]]


@dataclass(frozen=True)
class Case:
    provider: PaymentProvider
    pay: Callable[[Checkout, CheckoutRequest], Signed]  # the buyer pays: the completion event, as delivered
    onboard: Callable[[str], None]  # the creator finishes onboarding the payout account
    unpayable_account: Callable[[], str] | None = None  # an account the counterparty refuses to pay, if any
    outage: Callable[[], None] | None = None  # the counterparty fails every request until the provider gives up
    key_refused: Callable[[], None] | None = None  # the counterparty refuses our API key on the next request


def delivered(raw: bytes, signature: str | None) -> Signed:
    """A webhook as the API hands it to the provider: the raw body and the request's case-insensitive headers."""
    return raw, Headers({"Stripe-Signature": signature} if signature is not None else {})


def local_case() -> Case:
    local = LocalProvider(WEBHOOK_SECRET, "https://alphabook.test/services/api/api/payments/local/checkout")

    def pay(checkout: Checkout, request: CheckoutRequest) -> Signed:
        return local.completed_event(checkout.ref, request.purchase_id, request.amount)  # what its Pay button does

    return Case(local, pay, onboard=lambda account: None)  # Local accounts need no onboarding


def stripe_case(fake: FakeStripe) -> Case:
    def pay(checkout: Checkout, request: CheckoutRequest) -> Signed:
        raw = FakeStripe.payload(fake.pay(checkout.ref))
        return delivered(raw, FakeStripe.sign(raw, WEBHOOK_SECRET))

    def onboard(account: str) -> None:
        fake.onboard(account)

    def unpayable_account() -> str:
        return str(fake.client().v1.accounts.create({"type": "express"}).id)  # never onboarded

    def outage() -> None:
        fake.fail_next(3)  # the first try and the provider's two retries

    def key_refused() -> None:
        fake.fail_next(1, status=401)  # a revoked or mistyped secret key

    return Case(StripeProvider(fake.api_key, WEBHOOK_SECRET, fake.url), pay, onboard,
                unpayable_account=unpayable_account, outage=outage, key_refused=key_refused)


REMOTE = ["stripe-test", "stripe-live"]  # providers with a counterparty that can refuse or be down


@contextmanager
def open_case(name: str) -> Iterator[Case]:
    if name == "local":
        yield local_case()
        return
    key = "sk_test_alphabook_contract" if name == "stripe-test" else "sk_live_alphabook_contract"
    with FakeStripe(key) as fake:
        yield stripe_case(fake)


@pytest.fixture(params=["local", *REMOTE])
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    with open_case(request.param) as opened:
        yield opened


@pytest.fixture(params=REMOTE)
def remote(request: pytest.FixtureRequest) -> Iterator[Case]:
    """Local refuses nothing and cannot be down, so what only a counterparty does is checked on the others."""
    with open_case(request.param) as opened:
        yield opened


def checkout_request(purchase_id: int = 7, amount: Money = PRICE, key: str = "checkout-p7") -> CheckoutRequest:
    return CheckoutRequest(purchase_id=purchase_id, idempotency_key=key, amount=amount, title="Momentum strategy",
                           success_url="https://alphabook.test/purchases/7/done",
                           cancel_url="https://alphabook.test/purchases/7/cancelled", buyer_email="buyer@example.com")


def paid(case: Case, request: CheckoutRequest | None = None) -> tuple[Checkout, PaymentEventData, Signed]:
    """A checkout the buyer paid, and its completion event as the provider verified it."""
    request = request or checkout_request()
    checkout = case.provider.create_checkout(request)
    raw, headers = case.pay(checkout, request)
    return checkout, case.provider.verify_event(raw, headers), (raw, headers)


def sign(raw: bytes, secret: str = WEBHOOK_SECRET, *, age_s: int = 0) -> str:
    return FakeStripe.sign(raw, secret, timestamp=int(time.time()) - age_s)


# --- checkouts ---------------------------------------------------------------------------------------------


def test_a_checkout_has_the_providers_ref_and_a_page_to_pay_at(case: Case) -> None:
    checkout = case.provider.create_checkout(checkout_request())
    assert checkout.ref
    page = urlparse(checkout.url)
    assert page.scheme in ("http", "https") and page.netloc, checkout.url


def test_retrying_with_the_same_key_returns_the_same_checkout_and_a_new_key_a_new_one(case: Case) -> None:
    first = case.provider.create_checkout(checkout_request())
    assert case.provider.create_checkout(checkout_request()) == first
    other = case.provider.create_checkout(checkout_request(purchase_id=8, key="checkout-p8"))
    assert other.ref != first.ref and other.url != first.url


@pytest.mark.parametrize("amount", [Money(2500, "USD"), Money(999, "EUR"), Money(500, "JPY")], ids=str)
def test_the_paid_checkouts_event_carries_its_ref_purchase_and_amount(case: Case, amount: Money) -> None:
    request = checkout_request(purchase_id=41, amount=amount)
    checkout, event, _ = paid(case, request)
    assert event.type == "checkout.session.completed"
    assert event.checkout_ref == checkout.ref
    assert event.purchase_id == 41
    assert event.payment_ref  # what a refund is made against
    assert event.object["payment_status"] == "paid"
    assert event.object["amount_total"] == amount.amount_minor  # minor units: 500 JPY is 500, not 50000
    assert normalize_currency(event.object["currency"]) == amount.currency


# --- webhook events ----------------------------------------------------------------------------------------


def test_a_signed_event_verifies_and_reads_as_the_event_sent(case: Case) -> None:
    _, event, (raw, _) = paid(case)
    sent = json.loads(raw)
    assert (event.id, event.type, event.livemode) == (sent["id"], sent["type"], sent["livemode"])
    assert event.id.startswith("evt_")
    assert event.livemode is case.provider.livemode  # test and live events never mix
    assert dict(event.object) == sent["data"]["object"]
    assert dict(event.payload) == sent


def test_an_event_signed_just_within_the_tolerance_verifies(case: Case) -> None:
    _, _, (raw, _) = paid(case)
    event = case.provider.verify_event(*delivered(raw, sign(raw, age_s=TOLERANCE_S - 30)))
    assert event.id == json.loads(raw)["id"]


def _forge(raw: bytes, forgery: str) -> Signed:
    if forgery == "tampered body":
        forged = raw.replace(b'"amount_total": 2500', b'"amount_total": 1')
        assert forged != raw
        return forged, delivered(raw, sign(raw))[1]
    if forgery == "re-encoded body":  # the same JSON, other bytes: the signature covers the raw body
        forged = json.dumps(json.loads(raw), separators=(",", ":")).encode()
        assert forged != raw
        return forged, delivered(raw, sign(raw))[1]
    if forgery == "wrong secret":
        return delivered(raw, sign(raw, "whsec_someone_else"))
    if forgery == "stale":
        return delivered(raw, sign(raw, age_s=TOLERANCE_S + 1))
    if forgery == "unsigned":
        return delivered(raw, None)
    if forgery == "bogus signature":
        return delivered(raw, f"t={int(time.time())},v1={'0' * 64}")
    assert forgery == "malformed header"
    return delivered(raw, "v1=" + sign(raw).partition("v1=")[2])  # no timestamp


@pytest.mark.parametrize("forgery", ["tampered body", "re-encoded body", "wrong secret", "stale", "unsigned",
                                     "bogus signature", "malformed header"])
def test_forged_or_stale_events_are_refused_as_invalid_input(case: Case, forgery: str) -> None:
    _, _, (raw, _) = paid(case)
    with pytest.raises(InvalidInput, match="signature does not verify"):
        case.provider.verify_event(*_forge(raw, forgery))


@pytest.mark.parametrize("body", [b"not json", b'{"id": "evt_1", "type": "checkout.session.completed"}',
                                  b'{"id": "evt_1", "type": "t", "livemode": false, "data": {"object": []}}'],
                         ids=["not json", "no data", "data.object not an object"])
def test_a_signed_body_that_is_not_an_event_is_refused_as_invalid_input(case: Case, body: bytes) -> None:
    with pytest.raises(InvalidInput, match="not an event"):
        case.provider.verify_event(*delivered(body, sign(body)))


# --- refunds -----------------------------------------------------------------------------------------------


def test_a_refund_returns_the_providers_id_and_a_retry_with_its_key_refunds_nothing_more(case: Case) -> None:
    _, event, _ = paid(case)
    assert event.payment_ref is not None
    refund = case.provider.refund(event.payment_ref, PRICE, "refund-p7")
    assert isinstance(refund, str) and refund
    assert case.provider.refund(event.payment_ref, PRICE, "refund-p7") == refund  # a second full refund would fail


def test_partial_refunds_under_their_own_keys_are_separate_refunds(case: Case) -> None:
    _, event, _ = paid(case)
    assert event.payment_ref is not None
    half = Money(PRICE.amount_minor // 2, PRICE.currency)
    first = case.provider.refund(event.payment_ref, half, "refund-p7-a")
    second = case.provider.refund(event.payment_ref, half, "refund-p7-b")
    assert first and second and first != second


# --- payout accounts and transfers -------------------------------------------------------------------------


def test_a_payout_account_per_creator_with_an_onboarding_link_or_none(case: Case) -> None:
    ref, onboarding = case.provider.create_payout_account(42, "seller@example.com")
    assert isinstance(ref, str) and ref
    assert onboarding is None or urlparse(onboarding).scheme in ("http", "https"), onboarding
    assert case.provider.create_payout_account(42, "seller@example.com")[0] == ref  # a retry opens no second one
    assert case.provider.create_payout_account(43, None)[0] != ref


def test_a_payout_returns_the_transfer_id_and_a_retry_with_its_key_pays_nothing_more(case: Case) -> None:
    account, _ = case.provider.create_payout_account(42, "seller@example.com")
    case.onboard(account)
    transfer = case.provider.payout(account, Money(3149, "USD"), "payout-1", 1)
    assert isinstance(transfer, str) and transfer
    assert case.provider.payout(account, Money(3149, "USD"), "payout-1", 1) == transfer
    another = case.provider.payout(account, Money(700, "USD"), "payout-2", 2)
    assert another and another != transfer


def test_a_refused_payout_raises_rejected_error(remote: Case) -> None:
    assert remote.unpayable_account is not None
    with pytest.raises(RejectedError) as refused:
        remote.provider.payout(remote.unpayable_account(), Money(700, "USD"), "payout-3", 3)
    assert refused.value.detail  # kept on the failed payout for the creator to read


Operation = Callable[[PaymentProvider, str], object]
OPERATIONS: dict[str, Operation] = {
    "checkout": lambda provider, _: provider.create_checkout(checkout_request(purchase_id=9, key="checkout-p9")),
    "refund": lambda provider, payment_ref: provider.refund(payment_ref, PRICE, "refund-p7"),
    "payout account": lambda provider, _: provider.create_payout_account(42, "seller@example.com"),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_counterparty_outage_is_a_temporary_error_and_the_same_call_later_succeeds(remote: Case,
                                                                                   operation: str) -> None:
    assert remote.outage is not None
    _, event, _ = paid(remote)
    assert event.payment_ref is not None
    remote.outage()
    with pytest.raises(TemporaryError):
        OPERATIONS[operation](remote.provider, event.payment_ref)
    OPERATIONS[operation](remote.provider, event.payment_ref)  # the outage is over: the same call goes through


def test_a_checkout_whose_key_is_still_in_flight_at_stripe_is_asked_again_later() -> None:
    """A double click while Stripe is still making the first checkout: Stripe answers 409 for the key in progress,
    the library retries, and if that outlasts its retries the click is to be tried again, not a refusal (a refusal
    fails the purchase)."""
    with FakeStripe("sk_test_alphabook_contract") as fake:
        provider = StripeProvider(fake.api_key, WEBHOOK_SECRET, fake.url)
        fake.fail_next(3, status=409, kind="idempotency_error")  # the first try and the library's two retries
        with pytest.raises(TemporaryError, match="in-progress"):
            provider.create_checkout(checkout_request())
        assert [request.path for request in fake.requests] == ["/v1/checkout/sessions"] * 3
        checkout = provider.create_checkout(checkout_request())
        assert checkout.ref in fake.sessions
        fake.fail_next(1, status=409, kind="idempotency_error")  # once: the library's retry gets the answer
        assert provider.create_checkout(checkout_request()) == checkout and len(fake.sessions) == 1


def test_a_payout_during_an_outage_is_a_temporary_error_and_pays_once_when_retried(remote: Case) -> None:
    assert remote.outage is not None
    account, _ = remote.provider.create_payout_account(42, "seller@example.com")
    remote.onboard(account)
    remote.outage()
    with pytest.raises(TemporaryError):
        remote.provider.payout(account, Money(700, "USD"), "payout-4", 4)
    transfer = remote.provider.payout(account, Money(700, "USD"), "payout-4", 4)
    assert transfer and remote.provider.payout(account, Money(700, "USD"), "payout-4", 4) == transfer


def test_a_refused_api_key_is_the_operators_to_fix_so_a_payout_stays_queued(remote: Case) -> None:
    """A refused key is not the creator's account refusing money: the payout must wait, not fail and reverse."""
    assert remote.key_refused is not None
    account, _ = remote.provider.create_payout_account(42, "seller@example.com")
    remote.onboard(account)
    remote.key_refused()
    with pytest.raises(TemporaryError, match="API key"):
        remote.provider.payout(account, Money(700, "USD"), "payout-5", 5)
    assert remote.provider.payout(account, Money(700, "USD"), "payout-5", 5)  # the key is fixed: it pays
