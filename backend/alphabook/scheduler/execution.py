"""Execute one run: start its notebook process as the owner, watch it, stop it on timeout or cancel, read the result.

The scheduler holds the run's lease meanwhile: ``heartbeat`` is called every poll and renews it; it says whether to
go on, stop because someone cancelled, or stop because the lease was lost (another executor now decides the run).
The process tree is killed as a group, so the kernel dies with papermill. The failing cell and its traceback are
read from the output notebook papermill saved (nbformat reads it); psutil finds the process tree to stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import nbformat
import psutil

from alphabook.scheduler.homes import Account
from alphabook.scheduler.models import RunStatus

__all__ = ["Beat", "Outcome", "Prepared", "failure_of", "run_notebook"]

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
KILL_GRACE_SECONDS = 5.0
LOG_LIMIT = 100_000


class Beat(Enum):
    GO_ON = "go on"
    CANCEL = "cancel"
    LOST = "lost"  # the lease is gone: stop, and record nothing


@dataclass(frozen=True)
class Prepared:
    """Everything the notebook process needs, decided before it starts."""

    input_path: Path | None  # None: the notebook is ``input_text`` (a listing's), written beside the output
    output_path: Path
    kernel: str
    cwd: Path
    parameters: dict[str, object]
    account: Account | None  # None: run as this process (the platform's own job notebooks)
    timeout_seconds: int
    environment: dict[str, str] = field(default_factory=dict)
    input_text: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: RunStatus | None  # None: the lease was lost, the run is someone else's to record
    failed_cell: int | None
    error: str | None
    log: str


def _environment(prepared: Prepared, runtime: Path) -> dict[str, str]:
    """A clean environment; the kernel's sockets go in the run's short work folder (ipc paths fit 107 bytes)."""
    home = str(prepared.account.home) if prepared.account else os.environ.get("HOME", tempfile.gettempdir())
    base = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": home,
            "LANG": os.environ.get("LANG", "C.UTF-8"), "PYTHONUNBUFFERED": "1", "JUPYTER_RUNTIME_DIR": str(runtime)}
    if prepared.account is None:  # the platform's jobs read alphabook's own settings
        base |= {key: value for key, value in os.environ.items() if key.startswith("ALPHABOOK_")}
    return base | prepared.environment


def _start(prepared: Prepared, source: Path, output: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "alphabook.scheduler.notebook_process", "--input", str(source),
               "--output", str(output), "--kernel", prepared.kernel, "--cwd", str(prepared.cwd),
               "--parameters", json.dumps(prepared.parameters)]
    account = prepared.account
    as_owner = account is not None and account.uid is not None and os.geteuid() == 0
    if as_owner and account and account.uid is not None and account.gid is not None:
        os.chown(output.parent, account.uid, account.gid)  # the owner writes the output; the store is ours
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=prepared.cwd, env=_environment(prepared, output.parent), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                user=account.uid if as_owner and account else None,
                                group=account.gid if as_owner and account else None,
                                extra_groups=[] if as_owner else None)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Stop papermill and everything it started. jupyter_client starts kernels in sessions of their own, so the
    process group is not enough: the descendants are collected first (psutil) and stopped with it."""
    try:
        parent = psutil.Process(process.pid)
        tree = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 30.0)):
        for each in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                each.send_signal(sig)
        _, alive = psutil.wait_procs(tree, timeout=wait)
        if not alive:
            break
        tree = alive
    process.wait(timeout=30)


def run_notebook(prepared: Prepared, heartbeat: Callable[[], Beat], *, poll_seconds: float = 1.0) -> Outcome:
    """Run the notebook to its end, its timeout, a cancel or the loss of the lease; the outcome says which."""
    with tempfile.TemporaryDirectory(prefix="alphabook-run-") as folder:
        os.chmod(folder, 0o711)  # noqa: S103  (the owner passes through to their work folder; no listing)
        log_path, work = Path(folder) / "run.log", Path(folder) / "work"
        work.mkdir()
        output, source = work / "output.ipynb", prepared.input_path or work / "input.ipynb"
        if prepared.input_text is not None:
            source.write_text(prepared.input_text, encoding="utf-8")
            source.chmod(0o644)
        started = time.monotonic()
        process = _start(prepared, source, output, log_path)
        stopped: RunStatus | None = None
        lost = False
        while process.poll() is None:
            try:
                process.wait(timeout=poll_seconds)
                break
            except subprocess.TimeoutExpired:
                pass
            beat = heartbeat()
            if time.monotonic() - started > prepared.timeout_seconds:
                stopped = RunStatus.TIMED_OUT
            elif beat is not Beat.GO_ON:
                stopped, lost = RunStatus.CANCELLED, beat is Beat.LOST
            if stopped is not None:
                _kill(process)
                break
        log = ANSI.sub("", log_path.read_text(errors="replace"))[-LOG_LIMIT:]
        if output.is_file() and not lost:
            prepared.output_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(output, prepared.output_path)
    if lost:
        return Outcome(None, None, None, log)
    failed_cell, error = failure_of(prepared.output_path)
    if stopped is RunStatus.TIMED_OUT:
        return Outcome(stopped, failed_cell, f"Stopped after the job's timeout of {prepared.timeout_seconds} s"
                       + (f" while cell {failed_cell} was running." if failed_cell else "."), log)
    if stopped is RunStatus.CANCELLED:
        return Outcome(stopped, None, "Cancelled while running.", log)
    if process.returncode == 0:
        return Outcome(RunStatus.SUCCEEDED, None, None, log)
    return Outcome(RunStatus.FAILED, failed_cell, error or f"The notebook process exited with {process.returncode}; "
                   "see the log.", log)


def failure_of(output: Path) -> tuple[int | None, str | None]:
    """(execution count, "Name: message" and traceback) of the cell that raised, or of the one left running."""
    try:
        notebook = nbformat.read(output, as_version=4)  # type: ignore[no-untyped-call]
    except (OSError, ValueError):
        return None, None
    counted = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        counted = cell.get("execution_count") or counted
        status = cell.get("metadata", {}).get("papermill", {})
        errors = [each for each in cell.get("outputs", []) if each.get("output_type") == "error"]
        if errors:
            error = errors[0]
            trace = ANSI.sub("", "\n".join(error.get("traceback", [])))
            return cell.get("execution_count"), f"{error['ename']}: {error['evalue']}\n{trace}".strip()
        if status.get("status") == "running":  # a cell gets its number when it ends: this one is the next
            return cell.get("execution_count") or counted + 1, None
    return None, None
