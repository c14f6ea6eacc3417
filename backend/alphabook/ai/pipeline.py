"""A sentence in, a validated and backtested strategy out: the assistant's one job, start to finish.

1. the person's model (:mod:`alphabook.ai.router`) is asked for code in the marketplace's strategy contract;
2. the code is untrusted: it is validated by the sandbox policy and run only in :mod:`alphabook.sandbox`
   (bubblewrap), on offline bars of the asset the sentence names (:mod:`alphabook.ai.marketdata`);
3. the entries and exits are backtested by :mod:`alphabook.research.backtest` and drawn with Plotly.

When the code fails step 2 the error goes back to the model once, for a fix; if the second answer fails too
(or the answer has no code at all), the result says why (``ok`` false, the failing step's message) instead of
raising, because that is the model's failure, not the person's. Only the host's own problems (the sandbox is
down or busy) raise.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.ai.base import Message
from alphabook.ai.marketdata import Dataset, bars_for
from alphabook.ai.router import DEFAULT_ROUTE, complete
from alphabook.ai.sentences import find_asset
from alphabook.core.config import Settings
from alphabook.core.db import end_transaction
from alphabook.core.errors import InvalidInput
from alphabook.core.money import Money
from alphabook.sandbox.base import Executor
from alphabook.sandbox.errors import SandboxBusy, SandboxUnavailable

__all__ = ["SYSTEM_PROMPT", "StrategyResult", "extract_code", "generate"]

MAX_SENTENCE = 2000
SYSTEM_PROMPT = """You write trading strategies for alphabook. Answer with ONE Python code block and nothing
else that is code. The code defines `indicator(df)`: `df` is a pandas DataFrame of OHLCV bars (columns open,
high, low, close, volume; a UTC DatetimeIndex). It returns a dict {"entries": ..., "exits": ...} of boolean
pandas Series on df's index: entries open a long position, exits close it. Compute indicators with
`from alphabook.research.indicators import compute`, e.g. compute("rsi", df, timeperiod=14) (a Series),
compute("macd", df, fastperiod=12, slowperiod=26, signalperiod=9) (columns macd, macdsignal, macdhist),
compute("sma"|"ema", df, timeperiod=n), compute("bbands", df, timeperiod=20, nbdevup=2.0, nbdevdn=2.0)
(columns upperband, middleband, lowerband). Only numpy, pandas, math and that module may be imported; no
files, no network, no printing. A crossing of a above b is (a > b) & (a.shift(1) <= b.shift(1)). If the
request gives no exit rule, exit on the mirror image of the entry. After the code block, say in one
sentence how you read the rules."""
_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(?P<code>.*?)```", re.DOTALL)


@dataclass
class StrategyResult:
    """What the person sees; ``chart`` is a Plotly figure as JSON (``None`` when no backtest ran)."""

    sentence: str
    ok: bool
    code: str
    explanation: str
    provider: str
    model: str
    attempts: int
    steps: list[dict[str, Any]] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    backtest: dict[str, Any] | None = None
    chart: dict[str, Any] | None = None
    charge: Money | None = None
    skipped: list[str] = field(default_factory=list)
    error: str | None = None


def extract_code(text: str) -> tuple[str, str]:
    """(code, the rest of the answer): the first fenced block, or the whole answer when it looks like code."""
    fenced = _FENCE.search(text)
    if fenced:
        return fenced["code"].strip() + "\n", (text[:fenced.start()] + text[fenced.end():]).strip()
    if re.search(r"^def indicator\(", text, re.MULTILINE):
        return text.strip() + "\n", ""
    return "", text.strip()


def generate(session: Session, user: User, sentence: str, settings: Settings, executor: Executor, *,
             route: str = DEFAULT_ROUTE, symbol: str | None = None, timeframe: str | None = None,
             sleep: Callable[[float], None] = time.sleep) -> StrategyResult:
    """Turn ``sentence`` into a strategy, validated and backtested (see the module docstring)."""
    sentence = " ".join(sentence.split())
    if not sentence or len(sentence) > MAX_SENTENCE:
        raise InvalidInput(f"Describe the strategy in 1 to {MAX_SENTENCE} characters, e.g. 'buy BTC when RSI < 30 "
                           "and MACD crosses above its signal'.")
    dataset = bars_for(find_asset(sentence), settings, symbol, timeframe)
    messages = [Message("system", SYSTEM_PROMPT), Message("user", sentence)]
    charges: list[Money] = []
    skipped: list[str] = []
    for attempt in (1, 2):
        routed = complete(session, user, messages, settings, "strategy", route=route, sleep=sleep)
        charges += [routed.charge] if routed.charge is not None else []
        skipped += routed.skipped
        code, explanation = extract_code(routed.completion.text)
        steps: list[dict[str, Any]] = []
        end_transaction(session)  # the charge for the answer is kept whatever the sandbox says
        output = _checked(steps, code, dataset, executor)
        result = StrategyResult(sentence=sentence, ok=output is not None, code=code, explanation=explanation,
                                provider=routed.route, model=routed.completion.model, attempts=attempt, steps=steps,
                                dataset={"symbol": dataset.symbol, "timeframe": dataset.timeframe,
                                         "bars": len(dataset.bars)},
                                charge=Money.sum(charges, charges[0].currency) if charges else None,
                                skipped=skipped)
        if output is not None:
            _backtest(result, dataset, output)
            return result
        if not code:  # a refusal or a question back: asking again for a fix would not help
            result.error = f"The model answered without code: {explanation[:500] or '(an empty answer)'}"
            return result
        failure = steps[-1]["detail"]
        messages += [Message("assistant", routed.completion.text),
                     Message("user", f"That code failed {steps[-1]['name']}: {failure}\nFix it and answer again "
                                     "with the whole code in one Python block.")]
    result.error = (f"The model's code failed {result.steps[-1]['name']} twice; last error: "
                    f"{result.steps[-1]['detail']} Try rephrasing the rules, or another model.")
    return result


def _checked(steps: list[dict[str, Any]], code: str, dataset: Dataset, executor: Executor) -> pd.DataFrame | None:
    """Validate and test-run ``code`` in the sandbox, recording each step; its output, or None on failure."""
    from alphabook.sandbox import policy

    if not code:
        steps.append({"name": "code", "ok": False, "detail": "The answer contained no Python code block."})
        return None
    try:
        policy.validate_source(code)
    except InvalidInput as error:
        steps.append({"name": "validation", "ok": False, "detail": error.detail})
        return None
    steps.append({"name": "validation", "ok": True, "detail": "accepted by the sandbox policy"})
    try:
        output = executor.run(code, dataset.bars, {})
    except (SandboxBusy, SandboxUnavailable):
        raise
    except InvalidInput as error:  # the sandbox's verdicts on the code: failed, over a limit, bad output
        steps.append({"name": "sandbox run", "ok": False, "detail": error.detail})
        return None
    missing = {"entries", "exits"} - {str(name) for name in output.columns}
    if missing:
        steps.append({"name": "sandbox run", "ok": False, "detail": "indicator(df) must return a dict with "
                      f"'entries' and 'exits'; {', '.join(sorted(missing))} missing."})
        return None
    steps.append({"name": "sandbox run", "ok": True,
                  "detail": f"{dataset.note}ran in the sandbox on {len(dataset.bars)} bars of {dataset.symbol} "
                            f"{dataset.timeframe}"})
    return output


def _backtest(result: StrategyResult, dataset: Dataset, output: pd.DataFrame) -> None:
    from alphabook.research.backtest import Signals, backtest

    signals = Signals(entries=output["entries"].fillna(0) > 0.5, exits=output["exits"].fillna(0) > 0.5)
    report = backtest(dataset.bars, signals)
    summary = {key: value for key, value in report.to_dict().items() if key != "trades"}
    summary["entries"] = int(signals.entries.sum())
    result.backtest = json.loads(json.dumps(summary, default=str))
    result.chart = json.loads(report.plot().to_json())
    result.steps.append({"name": "backtest", "ok": True,
                         "detail": f"{report.num_trades} trades, total return {report.total_return:.2%}"})
