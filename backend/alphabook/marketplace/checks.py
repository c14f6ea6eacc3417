"""The automated checks a listing version passes before a person reviews it.

1. *validation*: the sandbox policy compiles the code (:mod:`alphabook.sandbox.policy`, RestrictedPython) and
   the parameter schema agrees with what ``indicator(df, ...)`` declares;
2. *test run*: the code runs in the sandbox (:mod:`alphabook.sandbox.service`, bubblewrap) on reference data
   (Alphabet daily bars bundled with backtesting.py) with its default parameters, and the output's shape
   is checked (every row, at least one column, some values; a strategy returns ``entries`` and ``exits``);
3. *preview*: the output over the last bars of the sample chart, stored for the listing page;
4. *backtest* (strategies): the entries and exits backtested by :mod:`alphabook.research.backtest`, with the
   number of trials the creator ran and the deflated Sharpe ratio that accounts for them.

Notebooks are checked for structure (nbformat) only: they run in the sandboxed kernel (#7). The checks
never raise for what the code does: every failure is a step with ``ok: false`` and a message the creator
reads. Only the host's own failures (the sandbox is down) propagate.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.marketplace.params import parse_schema, resolve
from alphabook.sandbox.base import Executor
from alphabook.sandbox.errors import SandboxBusy, SandboxUnavailable

__all__ = ["PREVIEW_BARS", "backtest_summary", "reference_bars", "run_checks"]

PREVIEW_BARS = 250
REFERENCE_BARS = 1000
Step = dict[str, Any]


def reference_bars() -> pd.DataFrame:
    from alphabook.research.data import load

    return load("NASDAQ:GOOG", "1d").iloc[-REFERENCE_BARS:]


def _step(steps: list[Step], name: str, action: Callable[[], Any]) -> Any:
    """Run one check, recording whether it passed and why not; returns its value (None on failure)."""
    started = time.perf_counter()
    try:
        value = action()
    except (SandboxUnavailable, SandboxBusy):
        raise
    except InvalidInput as exc:
        steps.append({"name": name, "ok": False, "detail": exc.detail,
                      "seconds": round(time.perf_counter() - started, 3)})
        return None
    steps.append({"name": name, "ok": True, "detail": "", "seconds": round(time.perf_counter() - started, 3)})
    return value


def run_checks(kind: str, code: str, schema: Sequence[Mapping[str, Any]], executor: Executor | None, *,
               trials: int = 1) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(report, preview) for a version; ``report["ok"]`` says whether it may be submitted."""
    steps: list[Step] = []
    if kind == "notebook":
        _step(steps, "validation", lambda: _check_notebook(code))
        return {"ok": all(step["ok"] for step in steps), "steps": steps}, None
    params = _step(steps, "validation", lambda: _check_code(code, schema))
    preview = backtest = None
    if params is not None:
        bars = reference_bars()
        output = _step(steps, "test run", lambda: _test_run(kind, code, bars, params, executor))
        if output is not None:
            preview = _preview(bars, output)
            if kind == "strategy":
                backtest = _step(steps, "backtest", lambda: backtest_summary(bars, output, trials))
    report: dict[str, Any] = {"ok": all(step["ok"] for step in steps), "steps": steps}
    if backtest is not None:
        report["backtest"] = backtest
    return report, preview


def _check_notebook(code: str) -> None:
    import nbformat

    try:
        notebook = nbformat.reads(code, as_version=4)  # type: ignore[no-untyped-call]
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises a zoo of JSON and schema errors
        raise InvalidInput(f"This is not a valid Jupyter notebook: {str(exc).splitlines()[0]}") from None


def _check_code(code: str, schema: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    from alphabook.sandbox import policy

    compiled = policy.validate_source(code)
    specs = parse_schema(schema)
    declared = {param.name for param in compiled.params}
    missing = [spec.name for spec in specs if spec.name not in declared]
    if missing and not compiled.accepts_any_params:
        raise InvalidInput(f"The schema declares {', '.join(missing)}, which indicator(df, ...) does not accept.")
    required = [param.name for param in compiled.params if not param.has_default and param.name not in
                {spec.name for spec in specs}]
    if required:
        raise InvalidInput(f"indicator(df, ...) requires {', '.join(required)} without a default; declare "
                           "them in the parameter schema.")
    return resolve(schema, {})


def _test_run(kind: str, code: str, bars: pd.DataFrame, params: dict[str, Any],
              executor: Executor | None) -> pd.DataFrame:
    from alphabook.sandbox.service import run_indicator

    try:
        output = run_indicator(code, bars, params, executor=executor)
    except (SandboxUnavailable, SandboxBusy):
        raise
    except Exception as exc:  # the sandbox's errors are the creator's to fix: say what they were
        detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
        raise InvalidInput(f"The test run on {len(bars)} daily bars failed: {detail}") from None
    if len(output) != len(bars) or output.shape[1] == 0:
        raise InvalidInput(f"The output has {output.shape[1]} columns of {len(output)} rows; expected at least one "
                           f"column of {len(bars)} rows.")
    if bool(output.isna().all().all()):
        raise InvalidInput("Every output value is missing (NaN) on the reference data.")
    if kind == "strategy":
        names = {str(name) for name in output.columns}
        if not {"entries", "exits"} <= names:
            raise InvalidInput("A strategy returns a dict with 'entries' and 'exits' (booleans); got "
                               f"{', '.join(sorted(names))}.")
    return output


def _number(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else round(number, 6)


def _preview(bars: pd.DataFrame, output: pd.DataFrame) -> dict[str, Any]:
    tail = bars.iloc[-PREVIEW_BARS:]
    outputs = output.iloc[-PREVIEW_BARS:]
    return {
        "symbol": "NASDAQ:GOOG", "timeframe": "1d",
        "time": [stamp.isoformat() for stamp in tail.index],
        "close": [_number(value) for value in tail["close"]],
        "outputs": {str(name): [_number(value) for value in outputs[name]] for name in outputs.columns},
    }


def backtest_summary(bars: pd.DataFrame, output: pd.DataFrame, trials: int) -> dict[str, Any]:
    from alphabook.research.backtest.signals import Signals
    from alphabook.research.backtest.single import backtest
    from alphabook.research.optimize.overfitting import deflated_sharpe_ratio

    signals = Signals(entries=output["entries"].fillna(0) > 0.5, exits=output["exits"].fillna(0) > 0.5)
    report = backtest(bars, signals)
    summary: dict[str, Any] = json.loads(json.dumps(
        {key: value for key, value in report.to_dict().items() if key != "trades"}, default=str))
    try:
        deflated = deflated_sharpe_ratio(report.returns, max(1, trials))
        summary["deflated_sharpe"] = {"probability": deflated.probability, "trials": deflated.n_trials,
                                      "sharpe_per_period": deflated.sharpe, "verdict": deflated.verdict}
    except InvalidInput as exc:
        summary["deflated_sharpe"] = {"probability": None, "trials": trials, "verdict": exc.detail}
    summary["trials"] = trials
    return summary
