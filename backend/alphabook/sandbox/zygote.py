"""The host's handle on one sandboxed zygote: its four pipes, one call at a time, and the wall-clock watchdog.

The zygote (:mod:`alphabook.sandbox.worker`) runs as an unprivileged uid inside bubblewrap. Requests go to
its stdin and replies come from its stdout, both read and written directly by the child that serves the
call; the zygote reports each child's end on an *events* pipe and takes orders ("kill child n", "quit")
on a *control* pipe. Everything here is non-blocking and driven by ``select``, so the watchdog keeps
time even while a large frame is still being written: a call that overruns ``wall_seconds`` has its
child killed by the zygote, and if the zygote does not confirm within :data:`KILL_GRACE` seconds the
whole sandbox is killed from the host and the slot restarts.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alphabook.sandbox import protocol
from alphabook.sandbox.errors import SandboxUnavailable
from alphabook.sandbox.frames import OutputTooLarge
from alphabook.sandbox.protocol import MessageReader, ProtocolError

__all__ = ["CallOutcome", "ZygoteProcess"]

log = logging.getLogger(__name__)
KILL_GRACE = 3.0  # seconds the zygote has to confirm a kill before the host kills the sandbox
PIPE_BYTES = 1 << 20  # bigger pipes: fewer wake-ups for a 10k-bar frame
TICK = 0.05  # how often a waiting call checks for cancellation


@dataclass(slots=True)
class CallOutcome:
    """What happened to one call, for the pool to turn into a result or an error."""

    reply: tuple[dict[str, Any], bytearray] | None = None
    exit: dict[str, Any] | None = None  # the zygote's report on the child, when it died without replying
    timed_out: bool = False
    cancelled: bool = False
    too_large: OutputTooLarge | None = None
    broken: str | None = None  # why the sandbox must be restarted (it died; the byte stream broke)


class _Events:
    """Length-prefixed JSON events from the zygote, parsed as they arrive on a non-blocking pipe."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer = fd, bytearray()

    def read(self) -> list[dict[str, Any]] | None:
        """Whatever complete events have arrived; ``None`` once the zygote has gone (end of file)."""
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        if not chunk:
            return None
        self.buffer += chunk
        events = []
        while len(self.buffer) >= protocol.PREFIX.size:
            magic, header_size, body_size = protocol.PREFIX.unpack_from(self.buffer)
            if magic != protocol.MAGIC or body_size or header_size > 1 << 16:
                raise ProtocolError("bad event from the zygote")
            end = protocol.PREFIX.size + header_size
            if len(self.buffer) < end:
                break
            events.append(protocol.parse_header(self.buffer[protocol.PREFIX.size:end]))
            del self.buffer[:end]
        return events


class ZygoteProcess:
    """One running sandbox: start it, send it calls one at a time, stop it. Not thread-safe (one slot owns it)."""

    def __init__(self, command: Callable[[int, int], list[str]], *, uid: int | None, env: Mapping[str, str],
                 name: str) -> None:
        self._command, self.uid, self.env, self.name = command, uid, dict(env), name
        self.process: subprocess.Popen[bytes] | None = None
        self.seq = 0  # the number of the latest request; children and their exit reports are known by it
        self.warm = False  # the child waiting for the next request has rehearsed (see alphabook.sandbox.child)
        self.problem: str | None = None  # what the zygote could not preload (calls then fail)
        self._stderr: deque[str] = deque(maxlen=40)

    # --- life cycle -----------------------------------------------------------------------------------
    def start(self, timeout: float) -> None:
        """Start the sandbox and wait until its zygote has preloaded everything; SandboxUnavailable if not."""
        request_r, self.request = os.pipe()
        self.reply, reply_w = os.pipe()
        control_r, self.control = os.pipe()
        self.events_fd, events_w = os.pipe()
        for fd in (self.request, self.reply):
            with contextlib.suppress(OSError):  # the default 64 KiB works, with more wake-ups
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:
            self.process = subprocess.Popen(
                self._command(control_r, events_w), stdin=request_r, stdout=reply_w, stderr=subprocess.PIPE,
                pass_fds=(control_r, events_w), env=self.env, cwd="/", start_new_session=True,
                user=self.uid, group=self.uid, extra_groups=[] if self.uid is not None else None,
            )
        except OSError as exc:
            for fd in (self.request, self.reply, self.control, self.events_fd):
                os.close(fd)
            raise SandboxUnavailable(f"The sandbox could not be started: {exc}") from exc
        finally:
            for fd in (request_r, reply_w, control_r, events_w):
                os.close(fd)
        for fd in (self.request, self.reply, self.events_fd):
            os.set_blocking(fd, False)
        self.events = _Events(self.events_fd)
        threading.Thread(target=self._drain_stderr, name=f"{self.name}-stderr", daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            select.select([self.events_fd], [], [], max(0.0, deadline - time.monotonic()))
            events = self.events.read()
            for event in [{"event": "gone"}] if events is None else events:
                if event.get("event") == "ready":
                    self.problem = event.get("problem")
                    if self.problem:
                        log.error("sandbox worker %s cannot run indicators: %s", self.name, self.problem)
                    return
                if event.get("event") == "gone":
                    self.stop()
                    raise SandboxUnavailable(f"The sandbox worker did not start: {self.stderr_tail()}")
        self.stop()
        raise SandboxUnavailable(f"The sandbox worker did not start within {timeout:.0f} s: {self.stderr_tail()}")

    def _drain_stderr(self) -> None:
        process = self.process
        assert process is not None
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self._stderr.append(line)
            log.debug("%s: %s", self.name, line)

    def stderr_tail(self) -> str:
        time.sleep(0.05)  # let the reader thread catch the last lines
        return " | ".join(line for line in self._stderr if line) or "(no output)"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Ask the zygote to quit, then kill the sandbox's process group; close every pipe. Idempotent."""
        if self.process is None:
            return
        with contextlib.suppress(OSError):
            protocol.write_message(self.control, {"op": "quit"})
        try:
            self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.kill()
        for fd in (self.request, self.reply, self.control, self.events_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the sandbox: bwrap's --die-with-parent and the PID namespace take everything inside with it."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    # --- calls ------------------------------------------------------------------------------------------
    def healthy(self) -> bool:
        """Read any late reports (warm-ups, earlier children ending) without waiting; ``False`` if it is gone."""
        if not self.alive:
            return False
        try:
            events = self.events.read()
        except ProtocolError:
            return False
        if events is None:
            return False
        self._absorb(events)
        return True

    def _absorb(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Note warm-ups; return the exit reports."""
        for event in events:
            if event.get("event") == "warm":
                self.warm = event.get("after") == self.seq
        return [event for event in events if event.get("event") == "exit"]

    def call(self, header: Mapping[str, Any], body: Any, *, wall_s: float, max_body: int,
             should_cancel: Callable[[], bool]) -> CallOutcome:
        """Send one request and wait for its reply or its child's end; never raises for what the child did.

        Returns as soon as the reply is in: the child's exit is reported later and read by the next call.
        """
        self.seq += 1
        seq = self.seq
        self.warm = False
        pending = protocol.pack({**header, "seq": seq}, body)
        reader = MessageReader(protocol.MAX_REPLY_HEADER, max_body)
        outcome = CallOutcome()
        deadline = time.monotonic() + wall_s
        kill_deadline: float | None = None
        while True:
            now = time.monotonic()
            if kill_deadline is None and (now >= deadline or should_cancel()):
                outcome.timed_out, outcome.cancelled = now >= deadline, now < deadline
                kill_deadline = self._kill_child(seq, now)
            if kill_deadline is not None and now >= kill_deadline:
                self.kill()
                outcome.broken = "the zygote did not stop its child"
                return outcome
            wait = (kill_deadline or deadline) - now
            writable = [self.request] if pending else []
            ready, can_write, _ = select.select([self.reply, self.events_fd], writable, [], min(max(wait, 0), TICK))
            if can_write:
                pending = self._write_some(pending)
            if self.reply in ready and outcome.too_large is None:
                try:
                    if not reader.feed(self.reply):
                        outcome.broken = "the sandbox closed its output"
                        return outcome
                except OutputTooLarge as exc:
                    outcome.too_large = exc
                    kill_deadline = kill_deadline or self._kill_child(seq, now)
                except ProtocolError as exc:
                    outcome.broken = str(exc)
                    self.kill()
                    return outcome
                if (message := reader.message()) is not None:
                    outcome.reply = message
                    return outcome
            if self.events_fd in ready:
                try:
                    events = self.events.read()
                except ProtocolError as exc:
                    events, outcome.broken = None, str(exc)
                if events is None:
                    outcome.broken = outcome.broken or "the zygote died"
                    return outcome
                for event in self._absorb(events):
                    if event.get("seq") == seq:
                        return self._after_death(outcome, reader, event, bool(pending))

    def _kill_child(self, seq: int, now: float) -> float:
        try:
            protocol.write_message(self.control, {"op": "kill", "seq": seq})
        except OSError:
            return now  # the zygote is gone: kill the sandbox at once
        return now + KILL_GRACE

    def _write_some(self, pending: list[memoryview]) -> list[memoryview]:
        while pending:  # gathered: the prefix, header and body reach the child in one wake-up
            try:
                written = os.writev(self.request, pending)
            except BlockingIOError:
                break
            except BrokenPipeError:
                return []
            pending = protocol.consume(pending, written)
        return pending

    def _after_death(self, outcome: CallOutcome, reader: MessageReader, ended: dict[str, Any],
                     unsent: bool) -> CallOutcome:
        """The child ended before we had its reply: read what it managed to write, then classify."""
        try:
            while outcome.too_large is None and reader.feed(self.reply):
                if (message := reader.message()) is not None:
                    outcome.reply = message
                    return outcome
        except (BlockingIOError, ProtocolError):
            pass
        except OutputTooLarge as exc:
            outcome.too_large = exc
        _drain(self.reply)
        outcome.exit = ended
        if unsent:  # our request was cut short: its tail could reach the next child, so start afresh
            outcome.broken = "a child died while its request was being sent"
        return outcome


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 1 << 16):
            pass
    except BlockingIOError:
        pass
