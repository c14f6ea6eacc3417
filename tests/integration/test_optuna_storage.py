"""optuna studies in a database: two worker processes fill one study, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
from sqlalchemy import inspect

from alphabook.core.db import make_engine
from alphabook.research.optimize.storage import open_storage

WORKER = """
import json, sys
sys.path.insert(0, {root!r})
from tests.unit.research.conftest import read_backtesting_sample
from alphabook.research.optimize.space import IntRange
from alphabook.research.optimize.study import optimize
from alphabook.research.strategies import sma_crossover
space = {{"fast": IntRange(2, 40), "slow": IntRange(41, 200)}}
result = optimize(read_backtesting_sample("GOOG"), sma_crossover, space, metric="sharpe", n_trials={n},
                  storage={storage!r}, study_name="shared-sma")
print(json.dumps({{"n_trials": result.n_trials, "best": result.best_value}}))
"""


def _workers(storage: str, n: int, env: dict[str, str]) -> list[dict[str, float]]:
    root = str(Path(__file__).resolve().parents[2])
    code = WORKER.format(root=root, n=n, storage=storage)
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env, cwd=root) for _ in range(2)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_two_processes_share_one_study(fresh_database_url: str) -> None:
    results = _workers(fresh_database_url, 8, dict(os.environ))
    study = optuna.load_study(study_name="shared-sma", storage=open_storage(fresh_database_url))
    assert len(study.trials) == 16
    # Each worker saw the other's trials: the later one to finish reports them all.
    assert max(result["n_trials"] for result in results) == 16
    assert study.best_value == max(result["best"] for result in results)


def test_alphabook_storage_keeps_optuna_out_of_alphabooks_tables(fresh_database_url: str, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALPHABOOK_")}
    env |= {"ALPHABOOK_HOME": str(tmp_path), "ALPHABOOK_DATABASE_URL": fresh_database_url}
    _workers("alphabook", 3, env)
    engine = make_engine(fresh_database_url)
    try:
        public = set(inspect(engine).get_table_names())
        assert "trials" not in public  # optuna's own alembic_version would clash with ours
        if engine.dialect.name == "postgresql":
            assert "trials" in set(inspect(engine).get_table_names(schema="optuna"))
    finally:
        engine.dispose()
    if fresh_database_url.startswith("sqlite"):
        assert (Path(fresh_database_url.removeprefix("sqlite:///")).with_name("optuna.db")).exists()
