"""The dispatcher: sends what the order service wrote to the outbox, and records what brokers answer.

Each round claims due messages with a lease (``claimed_until``) in one ``UPDATE … RETURNING``: on PostgreSQL its
subquery takes them ``FOR UPDATE SKIP LOCKED`` so several dispatchers (API processes, ``alphabook trading
dispatch``) share the work without waiting on each other; on SQLite the claim's ``BEGIN IMMEDIATE`` makes it
atomic. Nothing is held open while a broker is talked to: the claim commits, the broker is called (a run of first
placements for one account in one ``Broker.place_many``), and the round's answers are recorded in a second
transaction (:func:`alphabook.trading.orders.record`, idempotent).

What can go wrong, and what happens:

* **A crash anywhere** (before the send, during it, after it but before the answer is recorded): the lease runs
  out and another round claims the message again. A message claimed before is never sent blindly: the
  dispatcher first asks the broker for the order by our ``client_order_id`` (``Broker.find_order``) and records
  what it finds; only if the venue has nothing is it sent (under the same client id, which venues dedupe on).
* **TemporaryError** (a timeout, a 5xx, a rate limit): retried after an exponential delay with jitter
  (``trading_dispatch_backoff_seconds`` doubling up to ``…_max_seconds``, times a random factor in [0.5, 1]),
  and marked failed after ``trading_dispatch_max_attempts`` sends.
* **RejectedError** (the venue's final word, e.g. insufficient funds): the order is ``rejected`` with the
  venue's reason; refusals of ours at send time (a paper hook meeting a live broker, missing credentials) make it
  ``failed`` with the reason. Neither is retried.
* **Anything unexpected** (a bug, the database going away) is logged and retried like a temporary failure.
"""

from __future__ import annotations

import logging
import random
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import AlphabookError, RejectedError, TemporaryError
from alphabook.trading import locking, orders
from alphabook.trading.brokers.base import Broker, BrokerOrder, OrderRequest
from alphabook.trading.brokers.registry import BrokerRegistry
from alphabook.trading.models import Hook, Order, OrderState, OutboxMessage, OutboxStatus, TradingAccount

__all__ = ["Dispatcher", "backoff_seconds"]

log = logging.getLogger(__name__)
OPEN = (OrderState.NEW.value, OrderState.PARTIALLY_FILLED.value)
NOT_YET_DELAY = timedelta(milliseconds=500)


_running: weakref.WeakSet[Dispatcher] = weakref.WeakSet()  # this process's dispatchers in run_forever


@event.listens_for(Session, "after_commit")
def _wake_dispatchers(session: Session) -> None:
    """Orders (or cancels, replacements) committed to the outbox are sent now rather than at the next poll."""
    if session.info.pop(orders.ENQUEUED, False):
        for dispatcher in list(_running):
            dispatcher.wake()


@event.listens_for(Session, "after_rollback")
def _forget_enqueued(session: Session) -> None:
    session.info.pop(orders.ENQUEUED, None)


class _NotYet(Exception):
    """A cancel or replace of an order whose placement has not been answered yet: try again shortly."""


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Delay before send number ``attempts + 1``: ``base · 2^(attempts-1)``, capped, times a jitter in [0.5, 1]."""
    delay: float = min(cap, base * 2.0 ** max(0, attempts - 1))
    return delay * rng.uniform(0.5, 1.0)


@dataclass
class _Work:
    """One claimed message and what sending it needs, read in the claim's transaction."""

    message_id: int
    order_id: int
    account_id: int
    action: str
    attempts: int  # sends started so far, this one included
    request: OrderRequest
    broker_order_id: str | None
    state: str
    replacement: tuple[int, OrderRequest] | None = None
    broker: Broker | None = None
    refusal: AlphabookError | None = None  # the registry's: nothing may be sent
    views: list[tuple[int, BrokerOrder]] = field(default_factory=list)
    sent: bool = False  # the broker answered: record ``views``


class Dispatcher:
    """Sends outbox messages through each account's broker. ``run_once`` for a round, ``run_forever`` for a loop."""

    def __init__(self, database: Database, settings: Settings, *, registry: BrokerRegistry | None = None,
                 batch: int = 50, rng: random.Random | None = None) -> None:
        self.database = database
        self.settings = settings
        self.registry = registry or BrokerRegistry(database, settings)
        self.batch = batch
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        # SQLite has one writer: sending paper orders at once (each a write) would only queue on its lock.
        sqlite = database.engine.dialect.name == "sqlite"
        self._threads = 1 if sqlite else settings.trading_dispatch_threads
        self._next_refresh = 0.0

    # --- the loop ------------------------------------------------------------------------------------------

    def wake(self) -> None:
        """New work was committed (by this process): look at once instead of at the next poll."""
        self._wake.set()

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Dispatch until ``stop`` (or :meth:`stop`) is set; survives errors of one round. While it runs, every
        commit in this process that wrote outbox messages wakes it (:func:`_wake_dispatchers`)."""
        _running.add(self)
        try:
            self._loop(stop or self._stop)
        finally:
            _running.discard(self)

    def _loop(self, stop: threading.Event) -> None:
        import time

        while not stop.is_set():
            self._wake.clear()
            handled = 0
            try:
                handled = self.run_once()
                if time.monotonic() >= self._next_refresh:
                    self._next_refresh = time.monotonic() + self.settings.trading_refresh_seconds
                    self.refresh_open_orders()
            except Exception:
                log.exception("dispatcher round failed; trying again after %s s",
                              self.settings.trading_dispatch_poll_seconds)
            if handled < self.batch:
                self._wake.wait(self.settings.trading_dispatch_poll_seconds)

    def start(self) -> threading.Thread:
        """Run :meth:`run_forever` in a daemon thread (the API process's dispatcher)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="order-dispatcher", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # --- one round -----------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim the due messages (at most ``batch``), send them, record the answers; returns how many.

        Messages of different orders are sent at the same time (``trading_dispatch_threads``: a venue's round trip
        is tens of milliseconds), those of one order in the order they were written, and those of one account in
        that order too when its broker takes them ``one_at_a_time`` (the paper venue locks the account: threads
        would only queue on that lock); the answers of the round are then recorded in one transaction."""
        work = self._claim()
        groups: dict[tuple[str, int], list[_Work]] = {}
        for item in work:
            serial = item.broker is not None and item.broker.capabilities.one_at_a_time
            groups.setdefault(("account", item.account_id) if serial else ("order", item.order_id), []).append(item)
        if len(groups) > 1 and self._threads > 1:
            list(self._executor().map(self._send_all, groups.values()))
        else:
            for items in groups.values():
                self._send_all(items)
        self._record([item for item in work if item.sent])
        return len(work)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="order-send")
        return self._pool

    def _send_all(self, items: list[_Work]) -> None:
        """Send one group's messages in sequence; a run of first placements for one broker goes in one call
        (``Broker.place_many``: the paper venue places a burst of alerts in one transaction)."""
        run: list[_Work] = []
        for item in items:
            if self._batchable(item) and (not run or run[0].broker is item.broker):
                run.append(item)
                continue
            self._send_run(run, items)
            run = [item] if self._batchable(item) else []
            if not run:
                self._send(item, items)
        self._send_run(run, items)

    def _send_run(self, run: list[_Work], items: list[_Work]) -> None:
        if len(run) == 1:
            self._send(run[0], items)
        elif run:
            self._place_run(run)

    @staticmethod
    def _batchable(item: _Work) -> bool:
        """A placement sent for the first time: nothing to look up at the venue first."""
        return item.action == "place" and item.attempts == 1 and item.refusal is None and item.broker is not None

    def _place_run(self, run: list[_Work]) -> None:
        broker = run[0].broker
        assert broker is not None
        try:
            answers = broker.place_many([item.request for item in run])
        except Exception as error:  # nothing of the run is known to be placed: each is retried (and looked up)
            log.exception("placing %s orders at once failed; they will be retried", len(run))
            for item in run:
                self._settle(item, TemporaryError(f"{type(error).__name__}: {error}"))
            return
        for item, answer in zip(run, answers, strict=True):
            if isinstance(answer, BrokerOrder):
                item.views, item.sent = [(item.order_id, answer)], True
            else:
                self._settle(item, answer)

    def _claim(self) -> list[_Work]:
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.trading_dispatch_lease_seconds)
        due = (select(OutboxMessage.id)
               .where(OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.next_attempt_at <= now,
                      or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
               .order_by(OutboxMessage.id).limit(self.batch).with_for_update(skip_locked=True, key_share=True))
        claim = (update(OutboxMessage).where(OutboxMessage.id.in_(due))
                 .values(attempts=OutboxMessage.attempts + 1, claimed_until=lease, updated_at=now)
                 .returning(OutboxMessage).execution_options(synchronize_session=False))
        with self.database.session() as session:
            messages = sorted(session.scalars(claim), key=lambda message: message.id)
            loaded = self._load_for(session, messages)  # held: the session's identity map only keeps weak references
            work = [self._prepare(session, message) for message in messages]
            del loaded
            return work

    @staticmethod
    def _load_for(session: Session, messages: list[OutboxMessage]) -> list[object]:
        """Read the orders, accounts and hooks of a round's messages in one query; ``_prepare`` then finds them in
        the session's identity map instead of querying once per message."""
        order_ids = {message.order_id for message in messages} | {
            int(message.payload["replacement_order_id"]) for message in messages if message.action == "replace"}
        if not order_ids:
            return []
        rows = session.execute(select(Order, TradingAccount, Hook)
                               .join(TradingAccount, TradingAccount.id == Order.account_id)
                               .outerjoin(Hook, Hook.id == Order.hook_id).where(Order.id.in_(order_ids)))
        return [item for row in rows for item in row if item is not None]

    def _prepare(self, session: Session, message: OutboxMessage) -> _Work:
        order = session.get(Order, message.order_id)
        assert order is not None  # the message is deleted with its order
        item = _Work(message_id=message.id, order_id=order.id, account_id=order.account_id, action=message.action,
                     attempts=message.attempts, request=orders.request_of(order),
                     broker_order_id=order.broker_order_id, state=order.state)
        if message.action == "replace":
            new = session.get(Order, message.payload["replacement_order_id"])
            assert new is not None
            item.replacement = (new.id, orders.request_of(new))
        try:
            item.broker = self.registry.for_order(session, order)
        except AlphabookError as refusal:  # a paper hook meeting a live broker, missing credentials, …
            item.refusal = refusal
        return item

    def _send(self, item: _Work, batch: list[_Work]) -> None:
        try:
            if item.refusal is not None:
                raise item.refusal
            assert item.broker is not None
            item.views = self._call_broker(item.broker, item, batch)
            item.sent = True
        except _NotYet:
            self._later(item, None)
        except AlphabookError as error:
            self._settle(item, error)
        except Exception as error:
            log.exception("order %s: %s failed unexpectedly; it will be retried", item.order_id, item.action)
            self._later(item, TemporaryError(f"{type(error).__name__}: {error}"))

    def _settle(self, item: _Work, error: AlphabookError) -> None:
        """A message the broker did not take: retried later (TemporaryError), else finished with the reason."""
        if isinstance(error, TemporaryError):
            log.info("order %s: %s failed for now (attempt %s): %s", item.order_id, item.action, item.attempts,
                     error.detail)
            self._later(item, error)
        else:
            self._final(item, error, OrderState.REJECTED if isinstance(error, RejectedError) else OrderState.FAILED)

    def _call_broker(self, broker: Broker, item: _Work, batch: list[_Work]) -> list[tuple[int, BrokerOrder]]:
        request, retried = item.request, item.attempts > 1
        if item.action == "place":
            if retried:  # this message was claimed before: the order may be at the venue already
                found = broker.find_order(request.client_order_id, request.symbol)
                if found is not None:
                    return [(item.order_id, found)]
            try:
                return [(item.order_id, broker.place(request))]
            except RejectedError:
                found = broker.find_order(request.client_order_id, request.symbol) if retried else None
                if found is None:
                    raise
                return [(item.order_id, found)]  # the venue refused the duplicate of an order it has
        broker_order_id = item.broker_order_id or self._placed_in(batch, item.order_id)
        if item.action == "cancel":
            if broker_order_id is None:
                if item.state == OrderState.PENDING:
                    raise _NotYet()
                return []  # never placed (rejected or failed): nothing to cancel
            return [(item.order_id, broker.cancel(broker_order_id, request.symbol))]
        if item.action == "replace":
            assert item.replacement is not None
            new_id, replacement = item.replacement
            if retried:
                found = broker.find_order(replacement.client_order_id, replacement.symbol)
                if found is not None:
                    return [(new_id, found), *self._old_view(broker, item, broker_order_id)]
            if broker_order_id is None:
                if item.state == OrderState.PENDING:
                    raise _NotYet()
                raise RejectedError(f"Order {item.order_id} was never placed, so it cannot be replaced.")
            placed = broker.replace(broker_order_id, request.symbol, replacement)
            return [(new_id, placed), *self._old_view(broker, item, broker_order_id)]
        raise RejectedError(f"Unknown outbox action {item.action!r}.")

    @staticmethod
    def _placed_in(batch: list[_Work], order_id: int) -> str | None:
        """The broker id an earlier message of this round got for ``order_id`` (a place then a cancel)."""
        for other in batch:
            for view_order_id, view in other.views:
                if view_order_id == order_id:
                    return view.broker_order_id
        return None

    @staticmethod
    def _old_view(broker: Broker, item: _Work, broker_order_id: str | None) -> list[tuple[int, BrokerOrder]]:
        if broker_order_id is None:
            return []
        try:
            return [(item.order_id, broker.fetch_order(broker_order_id, item.request.symbol))]
        except AlphabookError:
            return []  # the replaced order's final state is picked up by the next refresh

    # --- writing down the outcome --------------------------------------------------------------------------

    def _record(self, items: list[_Work]) -> None:
        """Record the brokers' answers of a round and finish their messages, in one transaction (locks in the fixed
        order: orders, then messages, by id). One that fails to record stays claimed: when its lease runs out it
        is taken again, and the broker's answer found by its client order id."""
        if not items:
            return
        try:
            self._record_round(items, one_by_one=False)
        except Exception:  # one answer spoilt the round's transaction: record each in a savepoint of its own
            log.info("recording %s answers at once failed; recording them one by one", len(items), exc_info=True)
            self._record_round(items, one_by_one=True)

    def _record_round(self, items: list[_Work], *, one_by_one: bool) -> None:
        with self.database.session() as session:
            order_ids = {order_id for item in items for order_id, _ in item.views} | {item.order_id for item in items}
            locked = locking.lock_orders(session, order_ids)
            if not one_by_one:
                self._record_answers(session, items, locked)
                return
            for item in items:
                try:
                    with session.begin_nested():
                        self._record_answers(session, [item], locked)
                except Exception:
                    log.exception("order %s: recording the broker's answer failed; it is looked up again after the "
                                  "lease", item.order_id)

    @staticmethod
    def _record_answers(session: Session, items: list[_Work], locked: dict[int, Order]) -> None:
        """The brokers' views of the items' orders, then their messages finished in one statement (the lock order:
        orders, then messages); a message another dispatcher finished meanwhile (its lease had run out) stays so."""
        for item in items:
            for order_id, view in item.views:
                orders.record(session, locked[order_id], view, locked=True)
        session.execute(update(OutboxMessage)
                        .where(OutboxMessage.id.in_(sorted(item.message_id for item in items)),
                               OutboxMessage.status == OutboxStatus.PENDING.value)
                        .values(status=OutboxStatus.DONE.value, claimed_until=None, updated_at=utcnow(),
                                last_error=None)
                        .execution_options(synchronize_session=False))

    def _later(self, item: _Work, error: AlphabookError | None) -> None:
        with self.database.session() as session:
            locking.lock_order(session, item.order_id)
            message = locking.lock_outbox(session, item.message_id)
            if message is None or message.status != OutboxStatus.PENDING.value:
                return
            now = utcnow()
            if error is None:  # waiting for the placement's answer: not a failure
                message.attempts = max(0, message.attempts - 1)
                message.next_attempt_at, message.claimed_until = now + NOT_YET_DELAY, None
                return
            if message.attempts >= self.settings.trading_dispatch_max_attempts:
                self._give_up(session, message, f"gave up after {message.attempts} attempts: {error.detail}",
                              OrderState.FAILED)
                return
            delay = backoff_seconds(message.attempts, self.settings.trading_dispatch_backoff_seconds,
                                    self.settings.trading_dispatch_backoff_max_seconds, self.rng)
            message.next_attempt_at = now + timedelta(seconds=delay)
            message.claimed_until, message.last_error, message.updated_at = None, error.detail[:2000], now

    def _final(self, item: _Work, error: AlphabookError, state: OrderState) -> None:
        with self.database.session() as session:
            locking.lock_order(session, item.order_id)
            message = locking.lock_outbox(session, item.message_id)
            if message is not None and message.status == OutboxStatus.PENDING.value:
                self._give_up(session, message, error.detail, state)

    def _give_up(self, session: Session, message: OutboxMessage, reason: str, state: OrderState) -> None:
        """The message is finished without success; a placement's order becomes ``state`` with the reason."""
        now = utcnow()
        message.status, message.claimed_until, message.updated_at = OutboxStatus.FAILED.value, None, now
        message.last_error = reason[:2000]
        target_id = message.order_id
        if message.action == "replace":
            target_id = int(message.payload["replacement_order_id"])
        elif message.action != "place":
            audit.record(session, actor="dispatcher", action=f"order.{message.action}_failed",
                         subject=f"order:{message.order_id}", reason=reason)
            return
        order = locking.lock_order(session, target_id)
        if OrderState(order.state) is OrderState.PENDING:
            order.state, order.reason, order.updated_at = state.value, reason[:2000], now
            audit.record(session, actor="dispatcher", action=f"order.{state.value}", subject=f"order:{order.id}",
                         account_id=order.account_id, reason=reason)

    # --- later fills ---------------------------------------------------------------------------------------

    def refresh_open_orders(self, limit: int = 200) -> int:
        """Bring working orders up to date: paper accounts match their resting orders against the feed's new bars
        (``match``); other brokers are asked about each order not looked at for ``trading_refresh_seconds``.
        Returns how many broker views were recorded."""
        stale = utcnow() - timedelta(seconds=self.settings.trading_refresh_seconds)
        with self.database.session() as session:
            rows = list(session.scalars(select(Order).where(Order.state.in_(OPEN), Order.updated_at <= stale,
                                                            Order.broker_order_id.is_not(None))
                                        .order_by(Order.id).limit(limit)))
            targets: dict[int, tuple[Broker, list[tuple[int, str, str]]]] = {}
            for order in rows:
                try:
                    broker = targets[order.account_id][0] if order.account_id in targets else \
                        self.registry.for_order(session, order)
                except AlphabookError as error:
                    log.warning("order %s cannot be refreshed: %s", order.id, error.detail)
                    continue
                targets.setdefault(order.account_id, (broker, []))[1].append(
                    (order.id, order.broker_order_id or "", order.symbol))
        recorded = 0
        for account_id, (broker, account_orders) in targets.items():
            views: list[BrokerOrder] = []
            try:
                views = broker.refresh([(broker_order_id, symbol) for _, broker_order_id, symbol in account_orders])
            except AlphabookError as error:
                log.info("account %s: refreshing its orders failed: %s", account_id, error.detail)
            with self.database.session() as session:
                for order_id, _, _ in sorted(account_orders):
                    locking.lock_order(session, order_id).updated_at = utcnow()  # looked at: wait a turn
                for view in views:
                    target = session.scalar(select(Order).where(Order.account_id == account_id,
                                                                Order.client_order_id == view.client_order_id))
                    if target is not None:
                        orders.record(session, target, view)
                        recorded += 1
        return recorded

