"""The sandboxed side of the pool: a zygote that preloads the libraries and forks one fresh child per call.

Starting Python with pandas costs ~0.4 s; forking a process that already has numpy, pandas, TA-Lib,
alphabook's indicator library and the policy imported costs a few milliseconds, and the child starts with
nothing any earlier call did (it is a copy of the zygote, which never runs creator code). So the zygote
forks a child *ahead of demand*, which serves exactly one call (:mod:`alphabook.sandbox.child`) and exits;
the zygote waits for each with a pidfd and reports how it ended on the events pipe. The host's watchdog
asks the zygote over the control pipe to kill a child that overran the wall clock (and kills the whole
sandbox if the zygote does not answer). vectorbt is never imported here: its numba engine would JIT for
seconds.

This module runs inside bubblewrap; it must not import anything that reads settings, the database or the
network. Messages use :mod:`alphabook.sandbox.protocol`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import select
import signal
from dataclasses import dataclass
from typing import NoReturn

from alphabook.sandbox import child, protocol
from alphabook.sandbox.child import PROTOCOL_NAME

__all__ = ["PROTOCOL_NAME", "Zygote", "main"]

PR_SET_DUMPABLE = 4


def main(argv: list[str]) -> NoReturn:
    """Entry point (see :func:`alphabook.sandbox.bwrap.worker_argv`): warm up, say ready, serve forever."""
    parser = argparse.ArgumentParser(prog="alphabook-sandbox-worker")
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--allow-probe", action="store_true")
    args = parser.parse_args(argv)
    _not_dumpable()
    problem = _warm_up()
    gc.collect()
    gc.freeze()  # keep the preloaded objects out of the children's collections: fewer copied pages
    protocol.write_message(args.events, {"event": "ready", "pid": os.getpid(), "uid": os.getuid(),
                                         "problem": problem})
    Zygote(args.control, args.events, args.allow_probe).serve()


def _not_dumpable() -> None:
    """Make the zygote (and so each child) non-dumpable: no ptrace, no /proc/<pid>/mem, no core files.

    A child runs as the same uid as the zygote; without this it could attach to the zygote and leave
    state behind for the next call. prctl has no Python wrapper, so ctypes calls libc's. The zygote also
    dies with its parent (bwrap, or the host in the weaker mode), and each child with the zygote.
    """
    child.LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    child.die_with_parent(os.getppid())


def _warm_up() -> str | None:
    """Import everything a call may need and run one, so children never pay for imports or first-use caches."""
    try:
        from alphabook.research.indicators import compute, registry

        len(registry)  # builds the catalogue (and imports pandas-ta-classic) once, here
        child.prepare_rehearsal()
        compute("ichimoku", child.rehearsal_frame())
        child.rehearse()
    except Exception as exc:  # reported in the ready event; the pool then refuses to start
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(slots=True)
class _Child:
    pid: int
    pidfd: int
    taken: int | None  # read end of the pipe on which the child says which request it took
    go: int | None  # write end of the pipe that lets it rehearse
    seq: int | None = None  # the host's number of the request it took
    killed: bool = False
    said: bytes = b""  # what it has written on ``taken`` so far


class Zygote:
    """Forks and reaps the children, reports how each ended; never runs creator code itself.

    One child at a time owns stdin (the *reader*); as soon as it has taken its request it says so on its
    ``taken`` pipe and the zygote forks the next reader, so the fork and its warm-up overlap the running
    call instead of delaying the next one. Children are known by the host's request number (``seq``),
    which is what the host's kill orders and the exit reports name.
    """

    def __init__(self, control: int, events: int, allow_probe: bool) -> None:
        self.control, self.events, self.allow_probe = control, events, allow_probe
        self.children: dict[int, _Child] = {}  # by pidfd
        self.doomed: set[int] = set()  # requests the host gave up on before a child took them
        self.last_seq = 0  # the latest request a child has taken (requests are numbered from 1)

    def serve(self) -> NoReturn:
        reader: _Child | None = self._fork()
        while True:
            watched = [self.control, *self.children]
            if reader is not None and reader.taken is not None:
                watched.append(reader.taken)
            ready, _, _ = select.select(watched, [], [])
            if self.control in ready:
                self._obey()
            if reader is not None and reader.taken is not None and reader.taken in ready and self._hear(reader):
                reader = None
            for pidfd in [fd for fd in ready if fd in self.children]:
                self._reap(self.children.pop(pidfd))
            if reader is not None and reader.pidfd not in self.children:
                reader = None
            if reader is None:
                reader = self._fork()
            else:
                self._maybe_go(reader)

    def _fork(self) -> _Child:
        taken_r, taken_w = os.pipe()
        go_r, go_w = os.pipe()
        zygote = os.getpid()
        pid = os.fork()
        if pid == 0:
            child.die_with_parent(zygote)
            os.close(taken_r)
            os.close(go_w)
            child.run(taken_w, go_r, self.allow_probe)
        os.close(taken_w)
        os.close(go_r)
        spawned = _Child(pid, os.pidfd_open(pid), taken_r, go_w)
        self.children[spawned.pidfd] = spawned
        self._maybe_go(spawned)
        return spawned

    def _maybe_go(self, reader: _Child | None) -> None:
        """Let the reader rehearse once no call is running (its CPU then goes to nobody else's call)."""
        if reader is None or reader.go is None or reader.pidfd not in self.children:
            return
        if any(each.seq is not None for each in self.children.values()):
            return
        with contextlib.suppress(OSError):
            os.write(reader.go, b"g")
        os.close(reader.go)
        reader.go = None

    def _hear(self, reader: _Child) -> bool:
        """Read what the reader says; ``True`` once it has taken a request (or died before it could)."""
        assert reader.taken is not None
        said = os.read(reader.taken, 64)
        if not said:  # it died before taking a whole request: whatever it left in stdin is nobody's
            self._close_taken(reader)
            _drain(0)
            return True
        reader.said += said
        while b"\n" in reader.said:
            line, reader.said = reader.said.split(b"\n", 1)
            if line == b"w":  # warmed up: the next request (after the last one taken) meets warm pages
                protocol.write_message(self.events, {"event": "warm", "after": self.last_seq})
            elif line.startswith(b"t"):
                self._close_taken(reader)
                reader.seq = self.last_seq = int(line[1:])
                if reader.seq in self.doomed:
                    self.doomed.discard(reader.seq)
                    self._kill(reader)
                return True
        return False

    @staticmethod
    def _close_taken(reader: _Child) -> None:
        if reader.taken is not None:
            os.close(reader.taken)
            reader.taken = None

    def _obey(self) -> None:
        message = protocol.read_message(self.control, max_header=1 << 16, max_body=0)
        order = message[0] if message else {"op": "quit"}
        seq = order.get("seq")
        if order.get("op") == "kill" and isinstance(seq, int):
            targets = [each for each in self.children.values() if each.seq == seq]
            for target in targets:
                self._kill(target)
            if not targets and seq > self.last_seq:  # not taken yet: kill whichever child takes it
                self.doomed.add(seq)
        elif order.get("op") == "quit":
            for each in self.children.values():
                self._kill(each)
                os.waitpid(each.pid, 0)
            os._exit(0)

    @staticmethod
    def _kill(target: _Child) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target.pid, signal.SIGKILL)
        target.killed = True

    def _reap(self, ended: _Child) -> None:
        _, status, usage = os.wait4(ended.pid, 0)
        os.close(ended.pidfd)
        if ended.go is not None:
            os.close(ended.go)
            ended.go = None
        while ended.taken is not None and not self._hear(ended):  # the reader died: had it taken a request?
            pass
        protocol.write_message(self.events, {
            "event": "exit", "seq": ended.seq,
            "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss, "killed": ended.killed,
        })


def _drain(fd: int) -> None:
    while select.select([fd], [], [], 0)[0]:
        if not os.read(fd, 1 << 16):
            return
