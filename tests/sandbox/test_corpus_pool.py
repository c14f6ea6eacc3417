"""Both corpora through the real bubblewrap pool: every attack ends as its header says, every legit case is exact.

Attacks run concurrently (a few at a time, as buyers' calls would) through ``run_indicator`` with short
limits (see QUICK_LIMITS); each outcome is then checked against the case's ``# expect:`` line.
Afterwards the same pool must still serve an ordinary call and its stats must add up. Legitimate cases
must give the same numbers as the same source run unsandboxed (plain ``exec`` +
:func:`alphabook.research.indicators.contract.run_indicator`), within 1e-12.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphabook.core.errors import AlphabookError
from alphabook.research.indicators import contract
from alphabook.sandbox.errors import BadResult, IndicatorFailed, LimitExceeded, SandboxRejected
from alphabook.sandbox.limits import Limits
from alphabook.sandbox.pool import BwrapPool
from alphabook.sandbox.service import run_indicator
from tests.sandbox.corpus import Case, load_corpus

ATTACKS = load_corpus("attacks")
LEGIT = load_corpus("legit")
# The limit a case expects must be the one that binds first: CPU burners get 1 s of CPU (and a wall clock
# far enough behind it for 4 calls on 2 cores), output floods get the default budgets so that it is the
# output check, not the CPU or memory limit, that stops them.
QUICK_LIMITS = Limits(cpu_seconds=1, wall_seconds=5.0, memory_bytes=256 << 20)
OUTPUT_LIMITS = Limits()
LEGIT_LIMITS = Limits(cpu_seconds=10, wall_seconds=20.0)
CONCURRENT_CALLS = 4


def _outcome(pool: BwrapPool, case: Case, bars: pd.DataFrame) -> Any:
    limits = OUTPUT_LIMITS if case.expect == "limit output" else QUICK_LIMITS
    try:
        return run_indicator(case.source, bars, case.params, limits, executor=pool)
    except AlphabookError as exc:
        return exc


@pytest.fixture(scope="module")
def attack_outcomes(pool: BwrapPool, bars: pd.DataFrame) -> dict[str, Any]:
    with ThreadPoolExecutor(CONCURRENT_CALLS) as callers:
        outcomes = callers.map(lambda case: _outcome(pool, case, bars), ATTACKS)
        return {case.name: outcome for case, outcome in zip(ATTACKS, outcomes, strict=True)}


def _header_text(case: Case) -> str:
    lines = []
    for line in case.source.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lower())
    return " ".join(lines)


def test_corpora_are_there() -> None:
    assert ATTACKS, "tests/sandbox/attacks/ holds no cases"
    assert LEGIT, "tests/sandbox/legit/ holds no cases"


@pytest.mark.parametrize("case", ATTACKS, ids=[case.name for case in ATTACKS])
def test_attack_ends_as_expected(case: Case, attack_outcomes: dict[str, Any]) -> None:
    outcome = attack_outcomes[case.name]
    described = f"{case.name} (expect {case.expect}) ended with {outcome!r}"
    if case.expect == "rejected":
        assert isinstance(outcome, SandboxRejected), described
    elif case.expect == "error":  # returning something unusable (BadResult) is the creator's error too
        assert isinstance(outcome, IndicatorFailed | SandboxRejected | BadResult), described
    elif case.expect.startswith("limit "):
        kind = case.expect.removeprefix("limit ")
        allowed = {kind}
        header = _header_text(case)
        if kind in ("timeout", "cpu") and "timeout" in header and "cpu" in header:
            allowed = {"timeout", "cpu"}  # the case says either limit may stop it first
        assert isinstance(outcome, LimitExceeded) and outcome.kind in allowed, described
    elif case.expect == "contained":
        if isinstance(outcome, pd.DataFrame):
            assert (outcome.to_numpy() == 0.0).all(), f"{described}: the attack got something out"
        else:
            assert isinstance(outcome, AlphabookError), described
    else:
        pytest.fail(f"unknown expectation {case.expect!r} in {case.path}")


def test_pool_is_healthy_after_the_attacks(pool: BwrapPool, bars: pd.DataFrame,
                                           attack_outcomes: dict[str, Any]) -> None:
    output = run_indicator("def indicator(df):\n    return df['close'].diff()\n", bars, {}, executor=pool)
    np.testing.assert_array_equal(output["close"], bars["close"].diff())
    stats = pool.stats()
    assert stats.calls == stats.succeeded + sum(stats.failures.values())
    assert stats.calls >= len(attack_outcomes) + 1
    assert stats.workers_alive == stats.workers and stats.queue_depth == 0


def _unsandboxed(case: Case, bars: pd.DataFrame) -> pd.DataFrame:
    namespace: dict[str, Any] = {"__name__": f"legit_{case.name}"}
    exec(compile(case.source, str(case.path), "exec"), namespace)
    return contract.run_indicator(namespace["indicator"], bars.copy(), **case.params)


@pytest.mark.parametrize("case", LEGIT, ids=[case.name for case in LEGIT])
def test_legit_case_matches_unsandboxed(case: Case, pool: BwrapPool, bars: pd.DataFrame) -> None:
    sandboxed = run_indicator(case.source, bars, case.params, LEGIT_LIMITS, executor=pool)
    expected = _unsandboxed(case, bars)
    assert list(sandboxed.columns) == list(expected.columns)
    assert sandboxed.index.equals(bars.index)
    np.testing.assert_allclose(sandboxed.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)
