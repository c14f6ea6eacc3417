"""The attack and legitimate corpora against the language-level layer (validator and guards), in-process.

Only what the guards themselves stop runs here: ``rejected`` attacks are compiled, ``error`` attacks are
loaded and called (safe only because the guards stop them), and ``limit``/``contained`` attacks are
only validated (they must get past the validator, or their expectation would be ``rejected``); the
pool's runner executes those under operating-system limits. Every legitimate indicator must produce the
same numbers sandboxed as when its source is run plainly.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alphabook.research.indicators.contract import run_indicator
from alphabook.sandbox.errors import BadResult, IndicatorFailed, SandboxRejected
from alphabook.sandbox.policy import call_indicator, load_indicator, normalise_output, validate_source
from tests.sandbox.corpus import EXPECTATIONS, Case, load_corpus
from tests.unit.research.conftest import read_backtesting_sample

ATTACKS = load_corpus("attacks")
LEGIT = load_corpus("legit")
LINE = re.compile(r"^line \d+: ")
TMP_PATH = re.compile(r'"(/tmp/[^"]+)"')


def cases(prefix: str) -> list[object]:
    return [pytest.param(case, id=case.name) for case in ATTACKS if case.expect.startswith(prefix)]


@pytest.fixture(scope="module")
def goog() -> pd.DataFrame:
    return read_backtesting_sample("GOOG")


def test_corpora_are_complete_and_well_formed() -> None:
    kinds = Counter(case.expect.split()[0] for case in ATTACKS)
    assert len(ATTACKS) >= 45 and len(LEGIT) >= 18
    assert {"rejected", "error", "limit", "contained"} <= set(kinds)
    for case in [*ATTACKS, *LEGIT]:
        first, second = case.source.splitlines()[:2]
        assert first == f"# expect: {case.expect}" and case.expect in EXPECTATIONS, case.name
        assert second.startswith("# ") and len(second) > 10, f"{case.name}: second line says what it tries"
    assert len({case.name.split("_")[0] for case in ATTACKS}) == len(ATTACKS), "numbers are unique"


@pytest.mark.parametrize("case", cases("rejected"))
def test_rejected_attack_is_refused_before_running(case: Case) -> None:
    with pytest.raises(SandboxRejected) as refused:
        validate_source(case.source, filename=case.name)
    assert LINE.match(refused.value.detail), refused.value.detail
    assert not refused.value.extra.get("internal")


@pytest.mark.parametrize("case", cases("error"))
def test_error_attack_is_stopped_by_the_guards(case: Case, goog: pd.DataFrame) -> None:
    compiled = validate_source(case.source, filename=case.name)  # gets past the validator: the guards must stop it
    targets = [Path(path) for path in TMP_PATH.findall(case.source)]
    existed = {path for path in targets if path.exists()}
    with pytest.raises((IndicatorFailed, SandboxRejected, BadResult)) as stopped:
        normalise_output(call_indicator(load_indicator(compiled), goog, case.params), goog)
    if isinstance(stopped.value, IndicatorFailed):
        assert LINE.match(stopped.value.detail), stopped.value.detail
    assert {path for path in targets if path.exists()} == existed, "the attack wrote a file"


@pytest.mark.parametrize("case", cases("limit") + cases("contained"))
def test_pool_only_attack_gets_past_the_validator(case: Case) -> None:
    """These run only in the pool (under OS limits); here they just must not be refused at compile time."""
    assert validate_source(case.source, filename=case.name).code is not None


def run_plainly(case: Case, df: pd.DataFrame) -> pd.DataFrame:
    namespace: dict[str, object] = {"__name__": f"plain_{case.name}"}
    exec(compile(case.source, str(case.path), "exec"), namespace)
    return run_indicator(namespace["indicator"], df.copy(), **case.params)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in LEGIT])
def test_legit_indicator_matches_the_unsandboxed_run(case: Case, goog: pd.DataFrame) -> None:
    compiled = validate_source(case.source, filename=case.name)
    sandboxed = normalise_output(call_indicator(load_indicator(compiled), goog, case.params), goog)
    plain = run_plainly(case, goog)
    assert list(sandboxed.columns) == list(plain.columns)
    assert sandboxed.index.equals(plain.index)
    np.testing.assert_allclose(sandboxed.to_numpy(), plain.to_numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)
    assert sandboxed.notna().to_numpy().any(), "the indicator computed something"
