"""A local stand-in for the parts of Stripe's HTTP API v1 that alphabook uses (Checkout, refunds, Connect).

It speaks the real protocol, so the code under test runs the real ``stripe`` library end to end
(``stripe.StripeClient(key, base_addresses={"api": fake.url})``): requests are form-encoded with Stripe's
bracket encoding (``line_items[0][price_data][currency]=usd``, ``metadata[purchase_id]=7``), answers are
JSON objects shaped like Stripe's (``id``, ``object``, ``livemode``, ``created``...), and errors carry
Stripe's body ``{"error": {"type", "code", "message", "param"}}`` with the HTTP status Stripe uses, so the
library raises the same exception classes it raises in production.

Served: ``POST /v1/checkout/sessions`` (mode=payment, ``price_data`` line items only), ``GET
/v1/checkout/sessions/{id}`` (and ``/line_items``, or ``expand[]=line_items``), ``POST
/v1/checkout/sessions/{id}/expire``, ``POST /v1/refunds`` (by ``payment_intent`` or ``charge``),
``POST /v1/accounts``, ``POST /v1/account_links``, ``POST /v1/transfers``, and ``GET`` of every object it
holds (sessions, payment intents, charges, refunds, disputes, accounts, transfers, events). The hosted
checkout page (the session's ``url``) answers a small HTML page.

Behaviour copied from Stripe because code under test depends on it:

* Authentication: only ``Authorization: Bearer <the key the fake was built with>`` (or Basic) is accepted,
  anything else is a 401. A ``sk_test_``/``rk_test_`` key makes every object ``livemode: false`` and
  session ids ``cs_test_…``; any other key is treated as live.
* Idempotency: a POST's ``Idempotency-Key`` (the library sends a random one on every POST) with the same
  endpoint and parameters replays the saved answer with ``Idempotent-Replayed: true`` and creates nothing;
  the same key on another endpoint or with other parameters is a 400 ``idempotency_error``. As at Stripe,
  a request that failed authentication or parameter validation saves nothing (the endpoint never began
  executing), while a request refused by business rules (refund larger than the charge) is saved and
  replayed.
* Refunds cannot exceed what is left on the charge (``amount_too_large`` / ``charge_already_refunded``)
  and a disputed charge cannot be refunded (``charge_disputed``). Transfers need a known connected account
  whose ``transfers`` capability is active, which only :meth:`FakeStripe.onboard` makes it (as completing
  Express onboarding does; an account created without ``capabilities`` is given ``transfers``). The fake
  keeps no balance, so transfers never fail for lack of funds.
* Ids referenced by a parameter (``payment_intent``, ``destination``) answer 400 ``resource_missing``
  naming the param; ids in the URL answer 404. The library raises ``InvalidRequestError`` for both.

Tests steer it through plain methods, which stand in for the customer and for Stripe's own side:
``pay(session_id)`` (the customer pays; returns the ``checkout.session.completed`` event),
``onboard(account_id)``, and event builders for ``charge.refunded``, ``charge.dispute.created``/``closed``,
``checkout.session.expired`` and ``checkout.session.async_payment_succeeded``/``failed``. These helpers
refuse transitions Stripe would never make (paying an expired session); build anything else, such as an
out-of-order event, with ``event(type, obj)``. ``sign`` and ``deliver`` sign and POST an event exactly as
Stripe's webhooks do (``Stripe-Signature: t=…,v1=…``, pretty-printed JSON body). ``fail_next(n)``
answers the next n API requests with a 500 that saves nothing, so a client's retries can be proved. Clearing
``answering`` holds every API answer (the request is executed, its answer waits) until it is set again, as a
slow network would; ``held`` counts the answers that waited.
Logs to assert on: ``requests`` (method, path, decoded params, idempotency key), ``sessions``,
``line_items``, ``payment_intents``, ``charge_objects``, ``refunds``, ``disputes``, ``accounts``, ``account_links``,
``transfers``, ``events``, and ``charges`` (how many distinct sessions were paid).

Every request is served under one lock, so concurrent requests are serialised; Stripe's 409 for two
in-flight requests sharing an idempotency key therefore never happens here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlparse

import httpx
import stripe

Json = dict[str, Any]
Endpoint = Callable[..., Json]

DAY_S = 86_400
ALPHANUMERIC = string.ascii_letters + string.digits
TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
ACCOUNT_TYPES = ("express", "standard", "custom")
ACCOUNT_LINK_TYPES = ("account_onboarding", "account_update")
DEFAULT_CAPABILITIES = ("transfers",)
WEBHOOK_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
_BRACKETED = re.compile(r"\[([^\[\]]*)\]")


class StripeApiError(Exception):
    """An answer Stripe gives as an error; raised inside an endpoint and sent as Stripe's error body.

    ``validation`` errors happen before the endpoint starts executing, so Stripe's idempotency layer does
    not save them; the others (business-rule refusals) are saved and replayed like successes.
    """

    def __init__(
        self, status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None,
        param: str | None = None, validation: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.validation = validation

    def body(self) -> Json:
        error: Json = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


@dataclass(frozen=True)
class Request:
    """One request as the fake received it: ``params`` is the decoded form body (POST) or query (GET)."""

    method: str
    path: str
    params: Json
    idempotency_key: str | None


@dataclass(frozen=True)
class Answer:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Saved:
    """What the idempotency layer remembers about the first request made with a key."""

    endpoint: str
    params: Json
    answer: Answer
    request_id: str


# --- Stripe's form encoding --------------------------------------------------------------------------------


def decode_form(text: str) -> Json:
    """Decode Stripe's bracket form encoding into nested dicts and lists (values stay strings, as sent).

    ``a[0][b]=1`` becomes ``{"a": [{"b": "1"}]}``; ``a[]=x`` appends. ``metadata`` hashes stay dicts even
    when their keys look like indexes, because Stripe treats metadata as a free-form hash.
    """
    root: Json = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        _assign(root, _key_path(key), value, key)
    return _listify(root)


def _key_path(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    return [head, *_BRACKETED.findall(bracket + rest)]


def _assign(node: Json, path: list[str], value: str, key: str) -> None:
    for segment in path[:-1]:
        child = node.setdefault(segment or str(len(node)), {})
        if not isinstance(child, dict):
            raise StripeApiError(400, f"Invalid hash: {key} mixes a value and nested keys.", param=key)
        node = child
    last = path[-1] or str(len(node))
    if isinstance(node.get(last), dict):
        raise StripeApiError(400, f"Invalid hash: {key} mixes a value and nested keys.", param=key)
    node[last] = value


def _listify(value: Any, key: str = "") -> Any:
    if not isinstance(value, dict):
        return value
    if key == "metadata":
        return value
    converted = {name: _listify(child, name) for name, child in value.items()}
    if converted and sorted(converted) == sorted(str(i) for i in range(len(converted))):
        return [converted[str(i)] for i in range(len(converted))]
    return converted


# --- parameter helpers (Stripe's validation messages) -------------------------------------------------------


def _required(params: Mapping[str, Any], name: str, param: str | None = None) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise StripeApiError(400, f"Missing required param: {param or name}.", code="parameter_missing",
                             param=param or name)
    return value


def _integer(value: Any, param: str, *, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise StripeApiError(400, f"Invalid integer: {value}", code="parameter_invalid_integer",
                             param=param) from None
    if number < minimum:
        word = "positive integer" if minimum > 0 else "non-negative integer"
        raise StripeApiError(400, f"Invalid {word}", code="parameter_invalid_integer", param=param)
    return number


def _object(value: Any, param: str) -> Json:
    if not isinstance(value, dict):
        raise StripeApiError(400, "Invalid object", param=param)
    return value


def _one_of(value: Any, choices: tuple[str, ...], param: str) -> str:
    if value not in choices:
        raise StripeApiError(400, f"Invalid {param}: must be one of {', '.join(choices)}", param=param)
    return str(value)


def _metadata(params: Mapping[str, Any]) -> dict[str, str]:
    metadata = params.get("metadata", {})
    if metadata == "":
        return {}
    if not isinstance(metadata, dict):
        raise StripeApiError(400, "Invalid object", param="metadata")
    return {str(key): str(value) for key, value in metadata.items() if value != ""}


def _missing(kind: str, object_id: str, param: str, status: int) -> StripeApiError:
    return StripeApiError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def _expanded(params: Mapping[str, Any]) -> list[str]:
    expand = params.get("expand", [])
    return [expand] if isinstance(expand, str) else list(expand)


def _new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def _money(amount: int, currency: str) -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency, currency.upper() + " ")
    return f"{symbol}{amount / 100:.2f}"


def _now() -> int:
    return int(time.time())


def _redacted(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else "*" * len(key)


def _bearer_key(header: str | None) -> str | None:
    """The API key from ``Authorization``: Stripe takes Bearer, or Basic with the key as the user name."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


# --- the fake ---------------------------------------------------------------------------------------------


class FakeStripe:
    """Stripe's API v1 for one account whose secret key is ``api_key``; ``url`` is the API base to use."""

    def __init__(self, api_key: str = "sk_test_fake_alphabook_0000", *, api_version: str | None = None) -> None:
        self.api_key = api_key
        self.api_version = api_version or stripe.api_version
        self.livemode = not api_key.startswith(TEST_KEY_PREFIXES)
        self.requests: list[Request] = []
        self.sessions: dict[str, Json] = {}
        self.line_items: dict[str, list[Json]] = {}
        self.payment_intents: dict[str, Json] = {}
        self.charge_objects: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        self.disputes: dict[str, Json] = {}
        self.accounts: dict[str, Json] = {}
        self.account_links: list[Json] = []
        self.transfers: dict[str, Json] = {}
        self.events: dict[str, Json] = {}
        self._idempotency: dict[str, _Saved] = {}
        self._failures_left = 0
        self._failure_status = 500
        self._failure_kind = "api_error"
        self.answering = threading.Event()
        self.answering.set()
        self.held = 0
        self._lock = threading.RLock()
        self._routes = self._route_table()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def test_mode(self) -> bool:
        """True when the fake was built with a test key (``sk_test_``), as Stripe's test mode."""
        return not self.livemode

    @property
    def charges(self) -> int:
        """How many distinct Checkout Sessions were paid (a refund does not undo a charge)."""
        with self._lock:
            return sum(1 for session in self.sessions.values() if session["payment_status"] == "paid")

    def client(self, **options: Any) -> stripe.StripeClient:
        """A real ``stripe.StripeClient`` pointed at this fake, with this fake's key unless overridden."""
        api_key = options.pop("api_key", self.api_key)
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, **options)

    def fail_next(self, count: int = 1, *, status: int = 500, kind: str = "api_error") -> None:
        """Answer the next ``count`` API requests with Stripe's error ``kind`` (nothing executes or is saved):
        ``api_error``, or ``idempotency_error`` with status 409, Stripe's answer while a request with the same key
        is still in progress."""
        with self._lock:
            self._failures_left, self._failure_status, self._failure_kind = count, status, kind

    # --- HTTP dispatch -------------------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Endpoint]]:
        def retrieve(store: dict[str, Json], kind: str) -> Endpoint:
            return lambda params, object_id: self._get(store, kind, object_id)

        routes: list[tuple[str, str, Endpoint]] = [
            ("POST", r"/v1/checkout/sessions", self._create_session),
            ("GET", r"/v1/checkout/sessions/([^/]+)", self._retrieve_session),
            ("GET", r"/v1/checkout/sessions/([^/]+)/line_items", self._list_line_items),
            ("POST", r"/v1/checkout/sessions/([^/]+)/expire", self._expire_session),
            ("POST", r"/v1/refunds", self._create_refund),
            ("POST", r"/v1/accounts", self._create_account),
            ("POST", r"/v1/account_links", self._create_account_link),
            ("POST", r"/v1/transfers", self._create_transfer),
            ("GET", r"/v1/payment_intents/([^/]+)", retrieve(self.payment_intents, "payment_intent")),
            ("GET", r"/v1/charges/([^/]+)", retrieve(self.charge_objects, "charge")),
            ("GET", r"/v1/refunds/([^/]+)", retrieve(self.refunds, "refund")),
            ("GET", r"/v1/disputes/([^/]+)", retrieve(self.disputes, "dispute")),
            ("GET", r"/v1/accounts/([^/]+)", retrieve(self.accounts, "account")),
            ("GET", r"/v1/transfers/([^/]+)", retrieve(self.transfers, "transfer")),
            ("GET", r"/v1/events/([^/]+)", retrieve(self.events, "event")),
        ]
        return [(method, re.compile(pattern + "/?"), handler) for method, pattern, handler in routes]

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: str) -> Answer:
        """Answer one API request as Stripe would: log, authenticate, apply idempotency, execute."""
        url = urlparse(target)
        key = headers.get("Idempotency-Key") if method == "POST" else None
        with self._lock:
            try:
                params = decode_form(body if method == "POST" else url.query)
            except StripeApiError as error:
                return Answer(error.status, error.body())
            self.requests.append(Request(method, url.path, params, key))
            if self._failures_left > 0:
                self._failures_left -= 1
                body_ = {"error": {"type": self._failure_kind, "message": "An unknown error occurred" if
                                   self._failure_kind == "api_error" else "There is currently another in-progress "
                                   "request using this Idempotent Key (that probably means you submitted twice, and "
                                   "the other request is still going through): Idempotency-Key. Please try again "
                                   "later."}}
                return Answer(self._failure_status, body_)
            try:
                self._authenticate(headers.get("Authorization"))
                if key:
                    return self._idempotent(key, f"{method} {url.path}", params)
                return self._execute(method, url.path, params)
            except StripeApiError as error:
                return Answer(error.status, error.body())

    def _authenticate(self, header: str | None) -> None:
        key = _bearer_key(header)
        if key is None:
            raise StripeApiError(401, "You did not provide an API key. You need to provide your API key in the "
                                      "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                                      "YOUR_SECRET_KEY').")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise StripeApiError(401, f"Invalid API Key provided: {_redacted(key)}")

    def _idempotent(self, key: str, endpoint: str, params: Json) -> Answer:
        saved = self._idempotency.get(key)
        if saved is None:
            answer = self._execute(*endpoint.split(" ", 1), params, saving=True)
            self._idempotency[key] = _Saved(endpoint, params, answer, answer.headers["Request-Id"])
            return answer
        if saved.endpoint != endpoint:
            raise StripeApiError(400, f"Keys for idempotent requests can only be used for the same endpoint they "
                                      f"were first used for ('{saved.endpoint}' vs '{endpoint}'). Try using a key "
                                      f"other than '{key}' if you meant to execute a different request.",
                                 type_="idempotency_error")
        if saved.params != params:
            raise StripeApiError(400, f"Keys for idempotent requests can only be used with the same parameters they "
                                      f"were first used with. Try using a key other than '{key}' if you meant to "
                                      f"execute a different request.", type_="idempotency_error")
        replay_headers = {"Idempotent-Replayed": "true", "Original-Request": saved.request_id}
        return Answer(saved.answer.status, saved.answer.body, replay_headers)

    def _execute(self, method: str, path: str, params: Json, *, saving: bool = False) -> Answer:
        """Run the endpoint; only errors raised after it began executing are answers worth saving."""
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                try:
                    body = handler(params, *match.groups())
                except StripeApiError as error:
                    if saving and error.validation:
                        raise
                    return Answer(error.status, error.body(), {"Request-Id": _new_id("req_", 14)})
                # JSON round trip: the saved answer must not change when the stored object later does.
                return Answer(200, json.loads(json.dumps(body)), {"Request-Id": _new_id("req_", 14)})
        raise StripeApiError(404, f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                                  "or we can help at https://support.stripe.com/.")

    def _get(self, store: Mapping[str, Json], kind: str, object_id: str) -> Json:
        if object_id not in store:
            raise _missing(kind, object_id, "id", 404)
        return store[object_id]

    def _base(self, prefix: str, kind: str, *, length: int = 24) -> Json:
        return {"id": _new_id(prefix, length), "object": kind, "created": _now(), "livemode": self.livemode}

    # --- Checkout Sessions ---------------------------------------------------------------------------------

    def _create_session(self, params: Json) -> Json:
        mode = _required(params, "mode")
        if mode != "payment":
            raise StripeApiError(400, f"This fake implements mode=payment only, not '{mode}'.", param="mode")
        success_url = _required(params, "success_url")
        raw_items = _required(params, "line_items")
        if not isinstance(raw_items, list):
            raise StripeApiError(400, "Invalid array", param="line_items")
        items = [self._line_item(raw, index) for index, raw in enumerate(raw_items)]
        if len({item["currency"] for item in items}) > 1:
            raise StripeApiError(400, "All line items must use the same currency.", param="line_items")
        total = sum(item["amount_total"] for item in items)
        prefix = "cs_live_" if self.livemode else "cs_test_"
        session = self._base(prefix, "checkout.session", length=58) | {
            "mode": "payment", "status": "open", "payment_status": "unpaid", "ui_mode": "hosted",
            "amount_subtotal": total, "amount_total": total, "currency": items[0]["currency"],
            "client_reference_id": params.get("client_reference_id"), "customer": None,
            "customer_email": params.get("customer_email"), "customer_details": None,
            "metadata": _metadata(params), "payment_intent": None, "payment_method_types": ["card"],
            "success_url": success_url, "cancel_url": params.get("cancel_url"), "expires_at": _now() + DAY_S,
        }
        session["url"] = f"{self.url}/c/pay/{session['id']}"
        self.sessions[session["id"]] = session
        self.line_items[session["id"]] = items
        return self._session_view(session["id"], _expanded(params))

    def _line_item(self, raw: Any, index: int) -> Json:
        param = f"line_items[{index}]"
        _object(raw, param)
        if "price" in raw:
            raise _missing("price", str(raw["price"]), f"{param}[price]", 400)
        price_data = _object(_required(raw, "price_data", f"{param}[price_data]"), f"{param}[price_data]")
        currency = str(_required(price_data, "currency", f"{param}[price_data][currency]")).lower()
        unit_amount = _integer(_required(price_data, "unit_amount", f"{param}[price_data][unit_amount]"),
                               f"{param}[price_data][unit_amount]")
        product = _object(_required(price_data, "product_data", f"{param}[price_data][product_data]"),
                          f"{param}[price_data][product_data]")
        name = _required(product, "name", f"{param}[price_data][product_data][name]")
        quantity = _integer(_required(raw, "quantity", f"{param}[quantity]"), f"{param}[quantity]", minimum=1)
        price = self._base("price_", "price") | {
            "active": False, "currency": currency, "unit_amount": unit_amount, "type": "one_time",
            "product": _new_id("prod_", 14), "metadata": {},
        }
        return {
            "id": _new_id("li_"), "object": "item", "description": name, "currency": currency, "quantity": quantity,
            "amount_subtotal": unit_amount * quantity, "amount_discount": 0, "amount_tax": 0,
            "amount_total": unit_amount * quantity, "price": price,
        }

    def _session(self, session_id: str) -> Json:
        if session_id not in self.sessions:
            raise _missing("checkout.session", session_id, "session", 404)
        return self.sessions[session_id]

    def _session_view(self, session_id: str, expand: list[str]) -> Json:
        session = dict(self._session(session_id))
        if "line_items" in expand:
            session["line_items"] = self._list_line_items({}, session_id)
        return session

    def _retrieve_session(self, params: Json, session_id: str) -> Json:
        return self._session_view(session_id, _expanded(params))

    def _list_line_items(self, params: Json, session_id: str) -> Json:
        self._session(session_id)
        return {"object": "list", "data": self.line_items[session_id], "has_more": False,
                "url": f"/v1/checkout/sessions/{session_id}/line_items"}

    def _expire_session(self, params: Json, session_id: str) -> Json:
        session = self._session(session_id)
        if session["status"] != "open":
            raise StripeApiError(400, f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                                      f'Checkout Session has a status of "{session["status"]}".', validation=False)
        session.update(status="expired", url=None)
        return self._session_view(session_id, _expanded(params))

    # --- refunds -------------------------------------------------------------------------------------------

    def _create_refund(self, params: Json) -> Json:
        charge = self._charge_to_refund(params)
        amount = _integer(params["amount"], "amount", minimum=1) if "amount" in params else None
        reason = _one_of(params["reason"], REFUND_REASONS, "reason") if "reason" in params else None
        return self._refund(charge, amount, _metadata(params), reason)

    def _charge_to_refund(self, params: Json) -> Json:
        if params.get("payment_intent"):
            intent = self.payment_intents.get(params["payment_intent"])
            if intent is None:
                raise _missing("payment_intent", params["payment_intent"], "payment_intent", 400)
            if intent["latest_charge"] is None or intent["status"] != "succeeded":
                raise StripeApiError(400, f"This PaymentIntent ({intent['id']}) does not have a successful charge to "
                                          "refund.", code="charge_not_refundable", param="payment_intent")
            return self.charge_objects[intent["latest_charge"]]
        if params.get("charge"):
            if params["charge"] not in self.charge_objects:
                raise _missing("charge", params["charge"], "charge", 400)
            return self.charge_objects[params["charge"]]
        raise StripeApiError(400, "One of the following params should be provided for this request: payment_intent "
                                  "or charge.", code="parameter_missing")

    def _refund(self, charge: Json, amount: int | None, metadata: dict[str, str], reason: str | None) -> Json:
        """Refund ``amount`` (default: all that is left) of a paid charge, refusing what Stripe refuses."""
        if not charge["paid"]:
            raise StripeApiError(400, f"Charge {charge['id']} has not succeeded; it cannot be refunded.",
                                 code="charge_not_refundable", param="charge", validation=False)
        if charge["disputed"]:
            raise StripeApiError(400, f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                                 code="charge_disputed", validation=False)
        left = charge["amount"] - charge["amount_refunded"]
        if left == 0:
            raise StripeApiError(400, f"Charge {charge['id']} has already been refunded.",
                                 code="charge_already_refunded", validation=False)
        amount = left if amount is None else amount
        if amount > left:
            raise StripeApiError(400, f"Refund amount ({_money(amount, charge['currency'])}) is greater than "
                                      f"unrefunded amount on charge ({_money(left, charge['currency'])})",
                                 code="amount_too_large", param="amount", validation=False)
        refund = self._base("re_", "refund") | {
            "amount": amount, "charge": charge["id"], "currency": charge["currency"], "metadata": metadata,
            "payment_intent": charge["payment_intent"], "reason": reason, "status": "succeeded",
            "balance_transaction": _new_id("txn_"), "receipt_number": None, "transfer_reversal": None,
            "source_transfer_reversal": None,
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return refund

    # --- Connect: accounts, account links, transfers --------------------------------------------------------

    def _create_account(self, params: Json) -> Json:
        account_type = _one_of(_required(params, "type"), ACCOUNT_TYPES, "type")
        requested = params.get("capabilities", {})
        capabilities = {name: "inactive" for name, wish in _object(requested, "capabilities").items()
                        if isinstance(wish, dict) and wish.get("requested") == "true"}
        account = {
            "id": _new_id("acct_", 16), "object": "account", "type": account_type, "created": _now(),
            "country": params.get("country", "US"), "default_currency": "usd", "email": params.get("email"),
            "business_type": params.get("business_type"), "capabilities": capabilities,
            "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
            "metadata": _metadata(params),
            "requirements": {"currently_due": ["external_account", "tos_acceptance.date"],
                             "disabled_reason": "requirements.past_due"},
        }
        self.accounts[account["id"]] = account
        return account

    def _account(self, account_id: Any, param: str) -> Json:
        if account_id not in self.accounts:
            raise _missing("account" if param == "account" else param, str(account_id), param, 400)
        return self.accounts[account_id]

    def _create_account_link(self, params: Json) -> Json:
        account = self._account(_required(params, "account"), "account")
        link_type = _one_of(_required(params, "type"), ACCOUNT_LINK_TYPES, "type")
        _required(params, "refresh_url")
        _required(params, "return_url")
        link = {
            "object": "account_link", "created": _now(), "expires_at": _now() + 300, "type": link_type,
            "account": account["id"], "url": f"{self.url}/setup/e/{account['id']}/{_new_id('', 12)}",
        }
        self.account_links.append(link)
        return link

    def _create_transfer(self, params: Json) -> Json:
        amount = _integer(_required(params, "amount"), "amount", minimum=1)
        currency = str(_required(params, "currency")).lower()
        account = self._account(_required(params, "destination"), "destination")
        source = params.get("source_transaction")
        if source is not None and source not in self.charge_objects:
            raise _missing("charge", source, "source_transaction", 400)
        if account["capabilities"].get("transfers") != "active":
            raise StripeApiError(400, "Your destination account needs to have at least one of the following "
                                      "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                                 code="insufficient_capabilities_for_transfer", param="destination")
        transfer = self._base("tr_", "transfer") | {
            "amount": amount, "amount_reversed": 0, "currency": currency, "destination": account["id"],
            "destination_payment": _new_id("py_"), "balance_transaction": _new_id("txn_"),
            "description": params.get("description"), "metadata": _metadata(params), "reversed": False,
            "source_transaction": source, "source_type": "card", "transfer_group": params.get("transfer_group"),
        }
        transfer["reversals"] = {"object": "list", "data": [], "has_more": False, "total_count": 0,
                                 "url": f"/v1/transfers/{transfer['id']}/reversals"}
        self.transfers[transfer["id"]] = transfer
        return transfer

    # --- test controls: the customer's and Stripe's side ----------------------------------------------------

    def event(self, type: str, obj: Mapping[str, Any]) -> Json:
        """A Stripe event carrying a snapshot of ``obj``; kept so ``GET /v1/events/{id}`` can answer it."""
        with self._lock:
            event = self._base("evt_", "event") | {
                "type": type, "api_version": self.api_version, "pending_webhooks": 1,
                "data": {"object": json.loads(json.dumps(obj))},
                "request": {"id": None, "idempotency_key": None},
            }
            self.events[event["id"]] = event
            return copy.deepcopy(event)

    def pay(self, session_id: str, *, async_payment: bool = False) -> Json:
        """The customer completes the hosted page; returns ``checkout.session.completed``.

        With ``async_payment`` (a bank debit) the session completes ``unpaid`` and the charge stays pending
        until :meth:`async_payment_succeeded` or :meth:`async_payment_failed`, as Stripe does.
        """
        with self._lock:
            session = self._session_in(session_id, "open")
            intent = self._base("pi_", "payment_intent") | {
                "amount": session["amount_total"], "currency": session["currency"], "metadata": {},
                "status": "processing" if async_payment else "succeeded",
                "amount_received": 0 if async_payment else session["amount_total"],
            }
            charge = self._base("ch_", "charge") | {
                "amount": session["amount_total"], "amount_captured": session["amount_total"],
                "amount_refunded": 0, "captured": True, "currency": session["currency"], "disputed": False,
                "paid": not async_payment, "refunded": False, "payment_intent": intent["id"], "metadata": {},
                "status": "pending" if async_payment else "succeeded", "balance_transaction": _new_id("txn_"),
            }
            intent["latest_charge"] = charge["id"]
            self.payment_intents[intent["id"]] = intent
            self.charge_objects[charge["id"]] = charge
            email = session["customer_email"] or "customer@example.com"
            session.update(status="complete", payment_status="unpaid" if async_payment else "paid", url=None,
                           payment_intent=intent["id"], customer_details={"email": email, "name": None})
            return self.event("checkout.session.completed", session)

    def async_payment_succeeded(self, session_id: str) -> Json:
        """A pending bank debit cleared: the session becomes paid."""
        with self._lock:
            session, intent, charge = self._pending_payment(session_id)
            intent.update(status="succeeded", amount_received=intent["amount"])
            charge.update(status="succeeded", paid=True)
            session["payment_status"] = "paid"
            return self.event("checkout.session.async_payment_succeeded", session)

    def async_payment_failed(self, session_id: str) -> Json:
        """A pending bank debit bounced: the session stays unpaid and nothing can be refunded."""
        with self._lock:
            session, intent, charge = self._pending_payment(session_id)
            intent.update(status="requires_payment_method")
            charge.update(status="failed")
            return self.event("checkout.session.async_payment_failed", session)

    def session_expired(self, session_id: str) -> Json:
        """The open session timed out (or was expired): ``checkout.session.expired``."""
        with self._lock:
            session = self._session_in(session_id, "open")
            session.update(status="expired", url=None)
            return self.event("checkout.session.expired", session)

    def charge_refunded(self, session_id: str, *, amount: int | None = None) -> Json:
        """``charge.refunded`` for the session's charge as it now stands.

        Leave ``amount`` None to describe refunds already made through the API; pass it to first refund that
        much outside the API (from the Dashboard), as a seller or Stripe support might.
        """
        with self._lock:
            charge = self._paid_charge(session_id)
            if amount is not None:
                self._refund(charge, amount, {}, "requested_by_customer")
            if charge["amount_refunded"] == 0:
                raise ValueError(f"charge {charge['id']} has no refunds; Stripe sends charge.refunded after one")
            return self.event("charge.refunded", charge)

    def dispute_created(self, session_id: str, *, reason: str = "fraudulent") -> Json:
        """The buyer's bank opened a chargeback on the session's charge: ``charge.dispute.created``."""
        with self._lock:
            charge = self._paid_charge(session_id)
            dispute = self._base("dp_", "dispute") | {
                "amount": charge["amount"], "charge": charge["id"], "currency": charge["currency"],
                "payment_intent": charge["payment_intent"], "reason": reason, "status": "needs_response",
                "is_charge_refundable": False, "metadata": {}, "balance_transactions": [], "evidence": {},
                "evidence_details": {"due_by": _now() + 7 * DAY_S, "has_evidence": False, "past_due": False,
                                     "submission_count": 0},
            }
            charge["disputed"] = True
            self.disputes[dispute["id"]] = dispute
            return self.event("charge.dispute.created", dispute)

    def dispute_closed(self, session_id: str, status: Literal["won", "lost"]) -> Json:
        """The bank decided the session's latest dispute: ``charge.dispute.closed`` with ``won`` or ``lost``."""
        with self._lock:
            charge = self._paid_charge(session_id)
            disputes = [d for d in self.disputes.values() if d["charge"] == charge["id"]]
            if not disputes:
                raise ValueError(f"charge {charge['id']} has no dispute; call dispute_created first")
            disputes[-1]["status"] = status
            return self.event("charge.dispute.closed", disputes[-1])

    def onboard(self, account_id: str) -> Json:
        """The seller finished Express onboarding: requested capabilities turn active; ``account.updated``.

        An account created without ``capabilities`` gets ``transfers``, standing in for the default
        capabilities a platform configures for the accounts it creates.
        """
        with self._lock:
            account = self._get(self.accounts, "account", account_id)
            account["capabilities"] = dict.fromkeys(account["capabilities"] or DEFAULT_CAPABILITIES, "active")
            account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True,
                           requirements={"currently_due": [], "disabled_reason": None})
            return self.event("account.updated", account)

    def _session_in(self, session_id: str, status: str) -> Json:
        if session_id not in self.sessions:
            raise ValueError(f"no such checkout session {session_id}")
        session = self.sessions[session_id]
        if session["status"] != status:
            raise ValueError(f"session {session_id} is {session['status']}, not {status}")
        return session

    def _paid_charge(self, session_id: str) -> Json:
        session = self._session_in(session_id, "complete")
        if session["payment_status"] != "paid":
            raise ValueError(f"session {session_id} completed but is not paid")
        return self.charge_objects[self.payment_intents[session["payment_intent"]]["latest_charge"]]

    def _pending_payment(self, session_id: str) -> tuple[Json, Json, Json]:
        session = self._session_in(session_id, "complete")
        intent = self.payment_intents[session["payment_intent"]]
        if intent["status"] != "processing":
            raise ValueError(f"session {session_id} has no pending asynchronous payment")
        return session, intent, self.charge_objects[intent["latest_charge"]]

    # --- webhooks ------------------------------------------------------------------------------------------

    @staticmethod
    def payload(event: Mapping[str, Any]) -> bytes:
        """The body Stripe posts: pretty-printed JSON, so a handler must verify the raw bytes, not re-dump them."""
        return json.dumps(event, indent=2).encode()

    @staticmethod
    def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
        """``Stripe-Signature``: ``t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>" keyed by the endpoint secret>``."""
        moment = _now() if timestamp is None else timestamp
        digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256).hexdigest()
        return f"t={moment},v1={digest}"

    def deliver(
        self, event: Mapping[str, Any], url: str, secret: str, *, timestamp: int | None = None,
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        """POST ``event`` to a webhook endpoint as Stripe does (``client`` may be e.g. a FastAPI TestClient)."""
        body = self.payload(event)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": WEBHOOK_USER_AGENT,
                   "Stripe-Signature": self.sign(body, secret, timestamp)}
        if client is not None:
            return client.post(url, content=body, headers=headers)
        return httpx.post(url, content=body, headers=headers, timeout=10.0)

    # --- the HTTP server -----------------------------------------------------------------------------------

    def checkout_page(self, session_id: str) -> tuple[int, str]:
        """The hosted payment page behind a session's ``url`` (tests pay with :meth:`pay`, not through it)."""
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                return 404, "<h1>Something went wrong</h1><p>The page you were looking for could not be found.</p>"
            total = _money(session["amount_total"], session["currency"])
            return 200, f"<h1>Fake Stripe Checkout</h1><p>{html.escape(session_id)}: {total}, {session['status']}</p>"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: bytes, content_type: str, headers: Mapping[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def _api(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                answer = fake.handle(method, self.path, self.headers, body)
                if not fake.answering.is_set():
                    with fake._lock:
                        fake.held += 1
                    fake.answering.wait(60)
                headers = {"Request-Id": _new_id("req_", 14), **answer.headers,
                           "Stripe-Version": self.headers.get("Stripe-Version") or fake.api_version}
                if method == "POST" and self.headers.get("Idempotency-Key"):
                    headers["Idempotency-Key"] = self.headers["Idempotency-Key"]
                self._send(answer.status, json.dumps(answer.body).encode(), "application/json", headers)

            def do_GET(self) -> None:
                page = re.fullmatch(r"/c/pay/([^/?]+)", urlparse(self.path).path)
                if page:
                    status, text = fake.checkout_page(page.group(1))
                    self._send(status, text.encode(), "text/html; charset=utf-8", {})
                else:
                    self._api("GET")

            def do_POST(self) -> None:
                self._api("POST")

            def do_DELETE(self) -> None:
                self._api("DELETE")

        return Handler
