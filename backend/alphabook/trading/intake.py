"""Deciding a process's incoming alerts in batches (group commit), on one thread.

Deciding an alert takes a handful of statements and a commit; deciding sixteen together takes the same handful
(:func:`alphabook.trading.alerts.receive_many`), so under load an alert costs a fraction of the CPU. The batches
form by themselves, with no waiting: the thread takes whatever arrived while it decided the previous batch, so a
lone alert is decided at once, as it arrives, and a burst is decided in a few large transactions.

Each batch is one transaction. If it fails as a whole (a deadlock, a lost connection, a bug an alert triggers),
its alerts are decided again one per transaction, so one alert's failure is its own and nothing is decided twice
(the failed transaction wrote nothing). Except when SQLite's write lock stayed taken past its busy timeout: alone,
each alert would wait as long again, one after another, so the whole batch is answered "busy" at once (a 503 that
says to send it again). The thread starts with the first alert and ends after a second without any, so an app that
is never sent one (most tests) runs no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from dataclasses import dataclass

from alphabook.core.config import Settings
from alphabook.core.db import Database, is_busy
from alphabook.trading import alerts

__all__ = ["Intake"]

MAX_BATCH = 64  # alerts per transaction: past a few dozen, a larger batch saves little and delays its first
IDLE_SECONDS = 1.0  # the thread ends after this long without an alert


@dataclass(frozen=True, slots=True)
class _Waiting:
    hook_id: str
    delivery: alerts.Delivery
    loop: asyncio.AbstractEventLoop
    answer: asyncio.Future[alerts.Outcome]

    def settle(self, outcome: alerts.Outcome | BaseException) -> None:
        with contextlib.suppress(RuntimeError):  # raised when its event loop is closed: nobody is waiting any more
            self.loop.call_soon_threadsafe(_settle, self.answer, outcome)


def _settle(answer: asyncio.Future[alerts.Outcome], outcome: alerts.Outcome | BaseException) -> None:
    if answer.done():  # the sender hung up; the decision stands and is in the alert log
        return
    if isinstance(outcome, BaseException):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)


class Intake:
    """Decides the alerts of one process (see the module's docstring)."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self._database, self._settings = database, settings
        self._queue: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False

    async def decide(self, hook_id: str, delivery: alerts.Delivery) -> alerts.Outcome:
        """The decision on one delivery, committed; raises NotFound for an unknown hook, and what the database
        raised when it could not decide (e.g. SQLite's write lock stayed taken)."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(hook_id, delivery, loop, loop.create_future())
        with self._lock:
            self._queue.put(waiting)
            if not self._running:
                self._start()
        return await waiting.answer

    def _start(self) -> None:  # under self._lock
        self._running = True
        threading.Thread(target=self._run, name="alphabook-intake", daemon=True).start()

    def _run(self) -> None:
        try:
            while batch := self._next_batch():
                self._decide(batch)
        finally:
            with self._lock:  # decide() puts under this lock: an alert put since the last look is seen here
                self._running = False
                if not self._queue.empty():
                    self._start()

    def _next_batch(self) -> list[_Waiting]:
        """What arrived, up to MAX_BATCH, waiting for the first at most IDLE_SECONDS (then nothing)."""
        try:
            batch = [self._queue.get(timeout=IDLE_SECONDS)]
        except queue.Empty:
            return []
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _decide(self, batch: list[_Waiting]) -> None:
        try:
            with self._database.session() as session:
                outcomes = alerts.receive_many(session, self._settings,
                                               [(waiting.hook_id, waiting.delivery) for waiting in batch])
        except Exception as error:  # any: it is handed to its request, which answers with a problem document
            if len(batch) > 1 and not is_busy(error):
                for waiting in batch:
                    self._decide([waiting])
            else:  # one alert's own failure; or SQLite stayed busy, and each alert alone would wait as long again
                for waiting in batch:
                    waiting.settle(error)
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            waiting.settle(outcome)
