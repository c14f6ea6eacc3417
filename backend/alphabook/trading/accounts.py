"""Trading accounts: a demo in one click, its renewal, expiry, cleanup and upgrade; traders' paper accounts.

A demo has no owner. The browser that opened it holds a random 256-bit token in an HTTP-only cookie and only
the token's SHA-256 is stored, so a copy of the database opens no account. Its life::

    active ──expires_at passes──▶ read-only ──demo_read_only_days later──▶ deleted, with everything in it
      ▲                               │
      └──────── renew(email) ─────────┘          upgrade(user), from active or read-only:
                                                  the same row becomes the user's own paper account

An upgrade changes the account row only: orders, fills, positions, hooks, watchlists and saved strategies
point at it by ``account_id`` and stay where they are. Expiry is exact without the job: a demo whose
``expires_at`` has passed counts as read-only at once (:func:`effective_status`); :func:`expire_demos` only
writes down what the clock already decided, and :func:`cleanup_demos` deletes by the clock as well.

Locking: an account is locked and re-read through :mod:`alphabook.trading.locking` (trading's one fixed lock
order) before it changes, so two upgrades of one demo, or an upgrade racing the cleanup, see each other's
result instead of overwriting it; the jobs skip rows a request holds. A user's row, locked to count their
accounts, comes before any of those. On SQLite the transaction holds the database's write lock from ``BEGIN``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Select, Table, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Base, Database, end_transaction
from alphabook.core.errors import Conflict, Forbidden, InvalidInput, RejectedError, TemporaryError
from alphabook.core.money import Money, normalize_currency
from alphabook.trading import locking
from alphabook.trading.credentials import BrokerSecrets, CredentialCipher, load_credentials, store_credentials
from alphabook.trading.models import AccountKind, AccountStatus, BrokerCredential, TradingAccount

if TYPE_CHECKING:
    from alphabook.trading.brokers.registry import BrokerRegistry

__all__ = ["DEMO_TOKEN_BYTES", "MAX_OPEN_ACCOUNTS", "MAX_STARTING_CASH_MINOR", "DemoCleanup", "account_subject",
           "actor_for", "broker_connection", "broker_of_venue", "cascade_paths", "check_email", "cleanup_demos",
           "connect_broker", "days_left", "deletion_due", "demo_token_digest", "effective_status", "expire_demos",
           "find_demo", "is_writable", "list_accounts", "lock_user", "open_demo", "open_live_account",
           "open_paper_account", "own_paper_account", "renew", "rows_by_account", "run_cleanup", "run_expiry",
           "upgrade", "verify_keys"]

DEMO_TOKEN_BYTES = 32  # 256 random bits
MAX_OPEN_ACCOUNTS = 20  # paper accounts a trader may hold open at once
MAX_STARTING_CASH_MINOR = 10**15
DEMO_NAME = "Demo account"
PAPER_NAME = "Paper account"
JOB_ACTOR = "demo-job"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoCleanup:
    """What a cleanup did: demos deleted, rows of each table that went with them (``trading_accounts``
    included), demos it had to keep, and how far it got (for the next batch)."""

    accounts: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    kept: tuple[int, ...] = ()
    examined: int = 0
    last_id: int = 0

    def __add__(self, other: DemoCleanup) -> DemoCleanup:
        return DemoCleanup(self.accounts + other.accounts, dict(Counter(self.rows) + Counter(other.rows)),
                           self.kept + other.kept, self.examined + other.examined, max(self.last_id, other.last_id))


# --- identity and state -----------------------------------------------------------------------------------


def demo_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def account_subject(account_id: int) -> str:
    return f"trading_account:{account_id}"


def actor_for(account: TradingAccount, user: User | None) -> str:
    """Who the audit log names: the signed-in person, or the demo's cookie holder."""
    return user.name if user is not None else f"demo:{account.id}"


def find_demo(session: Session, token: str | None) -> TradingAccount | None:
    """The demo whose cookie token is ``token`` (a hash look-up: the token itself is never stored)."""
    if not token or len(token) > 128:
        return None
    return session.scalar(select(TradingAccount).where(TradingAccount.demo_token_hash == demo_token_digest(token)))


def effective_status(account: TradingAccount, now: datetime) -> str:
    """The status, with a demo past its expiry read-only even before :func:`expire_demos` has run."""
    if (account.kind == AccountKind.DEMO and account.status == AccountStatus.ACTIVE
            and account.expires_at is not None and account.expires_at <= now):
        return AccountStatus.READ_ONLY.value
    return account.status


def is_writable(account: TradingAccount, now: datetime) -> bool:
    """Whether the account may trade and change what it holds (the rest is read-only)."""
    return effective_status(account, now) == AccountStatus.ACTIVE


def days_left(account: TradingAccount, now: datetime) -> int | None:
    """Whole days (rounded up) until a demo expires; 0 once expired; None for accounts that do not expire."""
    if account.expires_at is None:
        return None
    return max(0, math.ceil((account.expires_at - now) / timedelta(days=1)))


def deletion_due(account: TradingAccount, settings: Settings) -> datetime | None:
    """When the cleanup may delete a demo: its expiry plus the read-only period."""
    if account.kind != AccountKind.DEMO or account.expires_at is None:
        return None
    return account.expires_at + timedelta(days=settings.demo_read_only_days)


def check_email(value: str) -> str:
    """A deliverable-looking address, domain lower-cased: one ``@``, a local part, a dotted domain."""
    email = value.strip()
    local, at, domain = email.rpartition("@")
    labels = domain.lower().split(".")
    if (not at or not local or len(email) > 254 or len(local) > 64 or "@" in local or len(labels) < 2
            or any(char.isspace() or ord(char) < 32 for char in email)
            or not all(0 < len(label) <= 63 and not label.startswith("-") and not label.endswith("-")
                       and all(char.isalnum() or char == "-" for char in label) for label in labels)
            or labels[-1].isdigit()):
        raise InvalidInput(f"{value!r} is not an email address; write it as name@example.org.")
    return f"{local}@{domain.lower()}"


# --- locks --------------------------------------------------------------------------------------------------


def lock_user(session: Session, user: User) -> None:
    """Lock ``user``'s row for the rest of the transaction; taken before any lock of
    :mod:`alphabook.trading.locking` (accounts, hooks, orders, outbox), never after one."""
    session.execute(select(User.id).where(User.id == user.id).with_for_update())


# --- demos ------------------------------------------------------------------------------------------------


def open_demo(session: Session, settings: Settings) -> tuple[TradingAccount, str]:
    """A new demo with the configured virtual cash, valid ``demo_days``; returns it and its cookie token,
    which exists only in this return value and the browser."""
    token = secrets.token_urlsafe(DEMO_TOKEN_BYTES)
    now = utcnow()
    account = TradingAccount(
        owner_id=None, kind=AccountKind.DEMO.value, status=AccountStatus.ACTIVE.value, name=DEMO_NAME,
        broker="paper", currency=settings.demo_currency, starting_cash_minor=settings.demo_starting_cash_minor,
        demo_token_hash=demo_token_digest(token), demo_email=None, expires_at=now + timedelta(days=settings.demo_days),
        kill_switch=False, kill_reason=None, limits={}, created_at=now, updated_at=now)
    session.add(account)
    session.flush()
    audit.record(session, actor=f"demo:{account.id}", action="trading_account.demo_opened",
                 subject=account_subject(account.id), starting_cash_minor=account.starting_cash_minor,
                 currency=account.currency, expires_at=_iso(account.expires_at))
    return account, token


def renew(session: Session, settings: Settings, account: TradingAccount, email: str) -> TradingAccount:
    """Keep a demo ``demo_days`` more from now, with its holder's email; an expired demo that is not deleted
    yet comes back to life. The email is not written to the audit log, which can never be erased."""
    email = check_email(email)
    account = locking.lock_account(session, account.id)
    if account.kind != AccountKind.DEMO:
        raise Conflict(f"Account {account.id} is not a demo: it does not expire, so there is nothing to renew.")
    if account.status == AccountStatus.CLOSED:
        raise Conflict(f"Demo {account.id} is closed; open a new one.")
    now = utcnow()
    was = effective_status(account, now)
    account.expires_at = now + timedelta(days=settings.demo_days)
    account.demo_email, account.status, account.updated_at = email, AccountStatus.ACTIVE.value, now
    session.flush()
    audit.record(session, actor=f"demo:{account.id}", action="trading_account.demo_renewed",
                 subject=account_subject(account.id), was=was, expires_at=_iso(account.expires_at))
    return account


def upgrade(session: Session, account: TradingAccount, user: User) -> TradingAccount:
    """Make the demo ``user``'s own paper account, keeping every row that belongs to it. The cookie token and
    the expiry are gone afterwards; a read-only demo becomes active again. Upgrading twice at once: the
    second sees the first's result (the same user gets the account back, anyone else a conflict)."""
    account = locking.lock_account(session, account.id)
    if account.owner_id is not None:
        if account.owner_id == user.id:
            return account
        raise Conflict(f"Account {account.id} already belongs to a trader; it cannot be upgraded again.")
    if account.kind != AccountKind.DEMO or account.status == AccountStatus.CLOSED:
        raise Conflict(f"Account {account.id} is not an open demo; only a demo can be upgraded.")
    now = utcnow()
    was = effective_status(account, now)
    account.owner_id, account.kind, account.status = user.id, AccountKind.PAPER.value, AccountStatus.ACTIVE.value
    account.demo_token_hash, account.expires_at, account.demo_email, account.updated_at = None, None, None, now
    session.flush()
    audit.record(session, actor=user.name, action="trading_account.demo_upgraded", subject=account_subject(account.id),
                 user_id=user.id, was=was)
    return account


def expire_demos(session: Session, now: datetime, *, limit: int = 500, actor: str = JOB_ACTOR) -> list[int]:
    """Mark up to ``limit`` demos past their expiry read-only; returns their ids. Rows a request holds locked
    (a renewal in flight) are skipped and looked at again next time."""
    query = (select(TradingAccount)
             .where(TradingAccount.kind == AccountKind.DEMO, TradingAccount.status == AccountStatus.ACTIVE,
                    TradingAccount.expires_at <= now)
             .order_by(TradingAccount.id).limit(limit).with_for_update(skip_locked=True)
             .execution_options(populate_existing=True))
    expired = list(session.scalars(query))
    for account in expired:
        account.status, account.updated_at = AccountStatus.READ_ONLY.value, now
        audit.record(session, actor=actor, action="trading_account.demo_expired", subject=account_subject(account.id),
                     expires_at=_iso(account.expires_at))
    session.flush()
    return [account.id for account in expired]


def cleanup_demos(session: Session, settings: Settings, now: datetime, *, limit: int = 200, after_id: int = 0,
                  actor: str = JOB_ACTOR) -> DemoCleanup:
    """Delete the first ``limit`` demos (by id, above ``after_id``) whose read-only period is over, with every
    row that belongs to them: the foreign keys cascade, and :func:`cascade_paths` finds those tables to count
    them. The audit log keeps one entry per deleted demo with the counts. A demo that something still refers to
    without a cascade is left alone (and logged) rather than failing the whole batch. The deleted accounts leave
    ``session``; other rows of theirs it had loaded are stale, so run this in a session of its own."""
    cutoff = now - timedelta(days=settings.demo_read_only_days)
    query = (select(TradingAccount.id, TradingAccount.expires_at)
             .where(TradingAccount.kind == AccountKind.DEMO, TradingAccount.owner_id.is_(None),
                    TradingAccount.expires_at <= cutoff, TradingAccount.id > after_id)
             .order_by(TradingAccount.id).limit(limit).with_for_update(skip_locked=True))
    due = {account_id: expires_at for account_id, expires_at in session.execute(query)}
    if not due:
        return DemoCleanup(last_id=after_id)
    per_account = rows_by_account(session, list(due))
    totals: Counter[str] = Counter()
    deleted, kept = 0, []
    for account_id, expires_at in due.items():
        try:
            with session.begin_nested():
                session.execute(delete(TradingAccount).where(TradingAccount.id == account_id))
        except IntegrityError as exc:
            log.warning("demo account %s was not deleted: a row refers to it without a cascade (%s)", account_id,
                        exc.orig)
            kept.append(account_id)
            continue
        rows = {"trading_accounts": 1, **per_account.get(account_id, {})}
        totals.update(rows)
        deleted += 1
        audit.record(session, actor=actor, action="trading_account.demo_deleted", subject=account_subject(account_id),
                     expired_at=_iso(expires_at), rows=rows)
    session.flush()
    return DemoCleanup(deleted, dict(totals), tuple(kept), examined=len(due), last_id=max(due))


def run_expiry(database: Database, now: datetime | None = None, *, batch: int = 500) -> int:
    """Expire every due demo, one committed transaction per ``batch``; returns how many."""
    count = 0
    while True:
        with database.session() as session:
            done = len(expire_demos(session, now or utcnow(), limit=batch))
        count += done
        if done < batch:
            return count


def run_cleanup(database: Database, settings: Settings, now: datetime | None = None, *,
                batch: int = 200) -> DemoCleanup:
    """Delete every demo whose read-only period is over, one committed transaction per ``batch``."""
    total = DemoCleanup()
    while True:
        with database.session() as session:
            done = cleanup_demos(session, settings, now or utcnow(), limit=batch, after_id=total.last_id)
        total += done
        if done.examined < batch:
            return total


# --- a trader's own accounts ------------------------------------------------------------------------------


def list_accounts(session: Session, user: User) -> list[TradingAccount]:
    return list(session.scalars(select(TradingAccount).where(TradingAccount.owner_id == user.id)
                                .order_by(TradingAccount.id)))


def open_paper_account(session: Session, user: User, *, name: str, starting_cash: Money) -> TradingAccount:
    """A paper account of ``user``'s with ``starting_cash`` of virtual money; at most
    :data:`MAX_OPEN_ACCOUNTS` open at once (counted with the user's row locked)."""
    cleaned = _account_name(name)
    if not 0 < starting_cash.amount_minor <= MAX_STARTING_CASH_MINOR:
        raise InvalidInput(f"Starting cash must be more than zero and at most {MAX_STARTING_CASH_MINOR} minor units.")
    _check_room(session, user)
    now = utcnow()
    account = TradingAccount(
        owner_id=user.id, kind=AccountKind.PAPER.value, status=AccountStatus.ACTIVE.value, name=cleaned,
        broker="paper", currency=starting_cash.currency, starting_cash_minor=starting_cash.amount_minor,
        demo_token_hash=None, demo_email=None, expires_at=None, kill_switch=False, kill_reason=None, limits={},
        created_at=now, updated_at=now)
    session.add(account)
    session.flush()
    audit.record(session, actor=user.name, action="trading_account.opened", subject=account_subject(account.id),
                 kind=account.kind, starting_cash_minor=account.starting_cash_minor, currency=account.currency)
    return account


def own_paper_account(session: Session, user: User, *, starting_cash: Money) -> TradingAccount:
    """``user``'s paper account to practise and copy into: their oldest active one, or a new one with
    ``starting_cash`` when they have none (the signed-in counterpart of a one-click demo)."""
    for account in list_accounts(session, user):
        if account.kind == AccountKind.PAPER and account.status == AccountStatus.ACTIVE:
            return account
    return open_paper_account(session, user, name=PAPER_NAME, starting_cash=starting_cash)


# --- live accounts: a trader's account at a real broker -----------------------------------------------------

#: Adapter options any trader may set; the endpoint options need ``trading_custom_broker_endpoints``.
TRADER_OPTIONS = frozenset({"quote_currency", "market_type"})
ENDPOINT_OPTIONS = frozenset({"urls", "config", "base_url", "retry"})
MARKET_TYPES = ("spot", "swap", "future")
#: Quote currencies an account at a crypto venue reports in US dollars (accounts hold ISO 4217 currencies).
USD_STABLECOINS = frozenset({"USDT", "USDC", "BUSD", "TUSD", "FDUSD", "USDP", "DAI"})


def broker_of_venue(venue: str) -> str:
    """The adapter a venue trades through: ``alpaca``, or ``ccxt`` for any exchange id in ``ccxt.exchanges``."""
    if venue == "alpaca":
        return "alpaca"
    import ccxt  # heavy; only connecting an account needs its list here

    if venue in ccxt.exchanges:
        return "ccxt"
    raise InvalidInput(f"{venue!r} is neither 'alpaca' nor an exchange id ccxt knows (lower case, e.g. 'binance', "
                       "'kraken', 'coinbase').")


def open_live_account(session: Session, user: User, *, name: str, venue: str, sandbox: bool, secrets: BrokerSecrets,
                      cipher: CredentialCipher, currency: str | None = None, registry: BrokerRegistry | None = None,
                      custom_endpoints: bool = False) -> TradingAccount:
    """A ``live`` account of ``user``'s at ``venue`` (its testnet or paper endpoint when ``sandbox``), with the keys
    stored encrypted. With a ``registry`` the keys are tried first (:func:`verify_keys`), so wrong ones are refused
    here and nothing is written. Counts against :data:`MAX_OPEN_ACCOUNTS` like a paper account. The account's
    currency is ``currency``, else the venue's: USD at Alpaca, the quote currency at a ccxt exchange (USD for the
    dollar stablecoins)."""
    cleaned = _account_name(name)
    broker = broker_of_venue(venue)
    secrets = _checked_secrets(secrets, custom_endpoints)
    account_currency = _live_currency(broker, secrets, currency)
    if registry is not None:
        end_transaction(session)  # the venue's round trip holds no transaction (on SQLite: every writer's lock)
        verify_keys(registry, broker, venue, sandbox=sandbox, secrets=secrets)
    _check_room(session, user)
    now = utcnow()
    account = TradingAccount(
        owner_id=user.id, kind=AccountKind.LIVE.value, status=AccountStatus.ACTIVE.value, name=cleaned,
        broker=broker, currency=account_currency, starting_cash_minor=0, demo_token_hash=None, demo_email=None,
        expires_at=None, kill_switch=False, kill_reason=None, limits={}, created_at=now, updated_at=now)
    session.add(account)
    session.flush()
    store_credentials(session, cipher, account, venue=venue, sandbox=sandbox, secrets=secrets, actor=user.name)
    audit.record(session, actor=user.name, action="trading_account.opened", subject=account_subject(account.id),
                 kind=account.kind, broker=broker, venue=venue, sandbox=sandbox, currency=account.currency,
                 verified=registry is not None)
    return account


def connect_broker(session: Session, user: User, account: TradingAccount, *, secrets: BrokerSecrets,
                   cipher: CredentialCipher, sandbox: bool | None = None, venue: str | None = None,
                   registry: BrokerRegistry | None = None, custom_endpoints: bool = False) -> BrokerCredential:
    """Replace the keys of ``user``'s live account (rotation), checked first as :func:`open_live_account` does.

    The venue stays (another venue is another account); ``sandbox`` None keeps the endpoint, and ``secrets``
    without options keep the stored ones. Only the owner connects keys: an admin who may see the account may not.
    Orders already written are sent with the new keys (the registry rebuilds a broker whose credential changed)."""
    if account.owner_id != user.id:
        raise Forbidden(f"Only the owner of account {account.id} connects its broker.")
    if account.kind != AccountKind.LIVE:
        raise Conflict(f"Account {account.id} is a {account.kind} account, which trades on alphabook's simulation and "
                       "has no broker keys; open a live account with POST api/accounts/live.")
    current = session.get(BrokerCredential, account.id)
    if current is not None and venue is not None and venue != current.venue:
        raise Conflict(f"Account {account.id} trades at {current.venue}; a live account stays at its venue, so open "
                       f"another account for {venue}.")
    venue = venue or (current.venue if current is not None else None)
    if venue is None:
        raise InvalidInput(f"Account {account.id} has no broker yet: name its venue.")
    if broker_of_venue(venue) != account.broker:
        raise Conflict(f"Account {account.id} trades through {account.broker}, which {venue!r} is not.")
    sandbox = sandbox if sandbox is not None else (current.sandbox if current is not None else False)
    if secrets.options is None and current is not None:
        secrets = replace(secrets, options=load_credentials(cipher, current).options)
    secrets = _checked_secrets(secrets, custom_endpoints)
    if registry is not None:
        end_transaction(session)  # as open_live_account; the account is read again under its lock below
        verify_keys(registry, account.broker, venue, sandbox=sandbox, secrets=secrets)
    account = locking.lock_account(session, account.id)
    credential = store_credentials(session, cipher, account, venue=venue, sandbox=sandbox, secrets=secrets,
                                   actor=user.name)
    account.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=user.name, action="trading_account.broker_connected",
                 subject=account_subject(account.id), venue=venue, sandbox=sandbox,
                 was_sandbox=None if current is None else current.sandbox, verified=registry is not None)
    return credential


def broker_connection(session: Session, account: TradingAccount) -> tuple[BrokerCredential | None, bool]:
    """``account``'s stored credential (None for paper, or a live account without keys) and whether its orders
    move real money, from the stored facts (nothing is decrypted, no venue is asked)."""
    from alphabook.trading.brokers.registry import is_live  # the registry imports the brokers, which import us

    credential = session.get(BrokerCredential, account.id) if account.broker != "paper" else None
    return credential, is_live(session, account)


def verify_keys(registry: BrokerRegistry, broker: str, venue: str, *, sandbox: bool, secrets: BrokerSecrets) -> None:
    """Log in at the venue with ``secrets`` as the dispatcher will, and read the balances (a signed request that
    places nothing). The venue refusing them is InvalidInput (a 422: the trader fixes the keys); the venue out of
    reach is a TemporaryError (503): the keys were neither checked nor saved, so the request can be repeated."""
    built = registry.build_remote(broker, venue, sandbox=sandbox, secrets=secrets)
    try:
        built.balances()
    except RejectedError as error:
        where = "testnet/paper" if sandbox else "live"
        raise InvalidInput(f"The venue refused these keys: {_scrubbed(error.detail, secrets)} Nothing was saved; "
                           f"check the key, its secret (and passphrase), its permissions, and that it is for "
                           f"{venue}'s {where} endpoint.") from None
    except TemporaryError as error:
        raise TemporaryError(f"{venue} could not be reached to check these keys ({_scrubbed(error.detail, secrets)});"
                             " they were not saved. Try again shortly.", retry_after=30) from None
    finally:
        close = getattr(built, "close", None)
        if callable(close):
            close()


def _checked_secrets(secrets: BrokerSecrets, custom_endpoints: bool) -> BrokerSecrets:
    options = dict(secrets.options or {})
    unknown = sorted(set(options) - TRADER_OPTIONS - ENDPOINT_OPTIONS)
    if unknown:
        raise InvalidInput(f"Unknown broker options {', '.join(unknown)}; use {', '.join(sorted(TRADER_OPTIONS))}.")
    endpoints = sorted(set(options) & ENDPOINT_OPTIONS)
    if endpoints and not custom_endpoints:
        raise InvalidInput(f"Options {', '.join(endpoints)} name the venue's endpoints, which this installation does "
                           "not let traders choose (ALPHABOOK_TRADING_CUSTOM_BROKER_ENDPOINTS is off).")
    if options.get("market_type", "spot") not in MARKET_TYPES:
        raise InvalidInput(f"market_type is one of {', '.join(MARKET_TYPES)}.")
    if "quote_currency" in options:
        quote = options["quote_currency"]
        if not isinstance(quote, str) or not quote.isalnum() or not 2 <= len(quote) <= 12:
            raise InvalidInput("quote_currency is a currency code such as USDT.")
        options["quote_currency"] = quote.upper()
    return replace(secrets, options=options)


def _live_currency(broker: str, secrets: BrokerSecrets, currency: str | None) -> str:
    if currency is not None:
        return normalize_currency(currency)
    if broker == "alpaca":
        return "USD"
    quote = str((secrets.options or {}).get("quote_currency", "USDT")).upper()
    if quote in USD_STABLECOINS:
        return "USD"
    if len(quote) != 3:
        raise InvalidInput(f"The quote currency {quote} is not an ISO 4217 currency: give the account's currency.")
    return normalize_currency(quote)


def _scrubbed(text: str, secrets: BrokerSecrets) -> str:
    """A venue's message with any echo of the keys cut out (it is shown to the trader and may be logged)."""
    for value in (secrets.api_key, secrets.secret, secrets.password):
        if value:
            text = text.replace(value, "…")
    return text


def _account_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 80:
        raise InvalidInput("An account name has 1 to 80 characters.")
    return cleaned


def _check_room(session: Session, user: User) -> None:
    """Lock ``user``'s row and refuse a new account beyond :data:`MAX_OPEN_ACCOUNTS` open ones (of any kind)."""
    lock_user(session, user)
    open_count = session.scalar(select(func.count()).select_from(TradingAccount)
                                .where(TradingAccount.owner_id == user.id,
                                       TradingAccount.status != AccountStatus.CLOSED)) or 0
    if open_count >= MAX_OPEN_ACCOUNTS:
        raise Conflict(f"You have {open_count} open trading accounts, the most one trader may hold; close one first.")


# --- what belongs to an account ---------------------------------------------------------------------------


def cascade_paths(tables: Iterable[Table] | None = None) -> dict[str, list[ForeignKey]]:
    """Every table whose rows are deleted with an account, with the chain of ``ON DELETE CASCADE`` foreign keys
    that leads from it to ``trading_accounts`` (shortest first: ``order_fills -> orders -> trading_accounts``)."""
    import alphabook.models  # noqa: F401  (every table registered; here, as the models import the order service)

    tables = list(Base.metadata.tables.values() if tables is None else tables)
    paths: dict[str, list[ForeignKey]] = {"trading_accounts": []}
    frontier = ["trading_accounts"]
    while frontier:
        reached: list[str] = []
        for table in tables:
            if table.name in paths:
                continue
            for key in sorted(table.foreign_keys, key=lambda key: key.parent.name):
                target = key.column.table.name
                if target in frontier and (key.ondelete or "").upper() == "CASCADE":
                    paths[table.name] = [key, *paths[target]]
                    reached.append(table.name)
                    break
        frontier = reached
    del paths["trading_accounts"]
    return paths


def rows_by_account(session: Session, account_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """For each account, how many rows of each table belong to it (tables without any are left out)."""
    result: dict[int, dict[str, int]] = {}
    for name, path in sorted(cascade_paths().items()):
        for account_id, count in session.execute(_count_along(path, account_ids)):
            result.setdefault(account_id, {})[name] = int(count)
    return result


def _count_along(path: Sequence[ForeignKey], account_ids: Sequence[int]) -> Select[int, int]:
    """Rows of the path's first table per account, joined up the chain to the column naming the account."""
    root = path[-1].parent  # e.g. orders.account_id
    query = select(root, func.count()).select_from(path[0].parent.table)
    for key in path[:-1]:
        query = query.join(key.column.table, key.parent == key.column)
    return query.where(root.in_(account_ids)).group_by(root)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
