"""Scheduler benchmarks (``make bench``): what our runner adds over bare papermill on the same notebook, and runs
per minute with N workers.

Overhead: one small research notebook (pandas over the bundled Alphabet bars, an injected parameter) is executed
alternately by the anchor, the ``papermill`` command (a fresh process, like a cron job calling papermill), by our
runner alone (:func:`alphabook.scheduler.execution.run_notebook`: a process group, lease heartbeats, the output
copied into the run store) and by the whole scheduler path (queue claim, run, record in the database), with the
in-process ``papermill.execute_notebook`` call printed too. Throughput: 24 runs of a short notebook queued at once and
executed by 1, 2 and 4 worker threads of one embedded scheduler (SQLite). Nothing here asserts on time.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from tqdm import tqdm

from alphabook.accounts import service
from alphabook.core import migrations
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.scheduler import jobs
from alphabook.scheduler.execution import Beat, Prepared, run_notebook
from alphabook.scheduler.homes import account_of
from alphabook.scheduler.worker import Scheduler

ROUNDS = 7
QUEUED = 24
PAPERMILL = Path(sys.executable).parent / "papermill"


def _notebook(path: Path) -> None:
    book = new_notebook(cells=[
        new_code_cell("window = 20", metadata={"tags": ["parameters"]}),
        new_code_cell("from alphabook.research.data import load\ndf = load('NASDAQ:GOOG', '1d')"),
        new_code_cell("band = df.close.rolling(window).agg(['mean', 'std'])\nprint(band.dropna().describe())")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, path)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def test_runner_overhead_over_bare_papermill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    migrations.upgrade(url)
    database = Database(url)
    settings = Settings(home=tmp_path, database_url=url, isolation="none")
    notebook = tmp_path / "users" / "bench" / "bands.ipynb"
    _notebook(notebook)
    with database.session() as session:
        owner = service.ensure_user(session, "bench", roles=["user"], email="bench@example.org")
        job = jobs.create_job(session, owner, {"name": "bands", "notebook": "bands.ipynb", "cron": "0 0 1 1 *",
                                               "parameters": {"window": 30}}, settings)
        job.kernel = "python3"
        owner_id, job_id = owner.id, job.id
    scheduler = Scheduler(settings, database)
    account = account_of("bench", settings)

    def cli() -> None:
        subprocess.run([str(PAPERMILL), str(notebook), str(tmp_path / "cli.ipynb"), "-p", "window", "30", "-k",
                        "python3", "--cwd", str(notebook.parent), "--no-progress-bar"], check=True,
                       capture_output=True)

    def in_process() -> None:
        papermill.execute_notebook(str(notebook), str(tmp_path / "api.ipynb"), parameters={"window": 30},
                                   kernel_name="python3", cwd=str(notebook.parent), progress_bar=False)

    def runner() -> None:
        prepared = Prepared(notebook, tmp_path / "runner.ipynb", "python3", notebook.parent, {"window": 30},
                            account, 600)
        assert run_notebook(prepared, lambda: Beat.GO_ON).status == "succeeded"

    def scheduled() -> None:
        with database.session() as session:
            from alphabook.accounts.models import User
            from alphabook.scheduler.models import Job

            jobs.run_now(session, session.get(User, owner_id), session.get(Job, job_id))  # type: ignore[arg-type]
        assert scheduler.work_once() is not None

    ways = {"papermill command (anchor)": cli, "papermill.execute_notebook, in process": in_process,
            "our runner (process group, heartbeats, store)": runner, "scheduler: claim + run + record": scheduled}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for action in ways.values():  # warm-up: imports and the page cache
        action()
    for _ in tqdm(range(ROUNDS), desc="overhead rounds", unit="round"):
        for name, action in ways.items():  # interleaved, so drift hits every way alike
            times[name].append(_timed(action))
    anchor = statistics.median(times["papermill command (anchor)"])
    print(f"\nSame notebook, {ROUNDS} interleaved rounds, median seconds (ratio to the papermill command; "
          "goal ≤ 1.10):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:48s} {median:6.3f} s  ×{median / anchor:5.3f}  (min {min(values):.3f}, max {max(values):.3f})")
    database.dispose()


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_runs_per_minute_with_n_workers(tmp_path: Path, workers: int) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    migrations.upgrade(url)
    database = Database(url)
    settings = Settings(home=tmp_path, database_url=url, isolation="none", scheduler_workers=workers,
                        scheduler_runs_per_user=workers)
    book = new_notebook(cells=[new_code_cell("n = 1", metadata={"tags": ["parameters"]}),
                               new_code_cell("print(sum(range(n * 1000)))")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "users" / "bench").mkdir(parents=True)
    nbformat.write(book, tmp_path / "users" / "bench" / "tiny.ipynb")
    with database.session() as session:
        owner = service.ensure_user(session, "bench", roles=["user"], email="bench@example.org")
        job = jobs.create_job(session, owner, {"name": "tiny", "notebook": "tiny.ipynb", "cron": "0 0 1 1 *"},
                              settings)
        job.kernel = "python3"
        for _ in range(QUEUED):
            jobs.run_now(session, owner, job)
    scheduler = Scheduler(settings, database)
    done: list[int] = []
    progress = tqdm(total=QUEUED, desc=f"{workers} workers", unit="run")

    def worker() -> None:
        while (ran := scheduler.work_once()) is not None:
            done.append(ran)
            progress.update(1)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    progress.close()
    assert len(done) == QUEUED == len(set(done))  # every run once, none twice
    print(f"\n{workers} worker(s): {QUEUED} runs in {elapsed:.1f} s = {QUEUED / elapsed * 60:.1f} runs/minute "
          f"({elapsed / QUEUED:.2f} s per run; 2-core machine)")
    database.dispose()
