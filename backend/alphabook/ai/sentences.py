"""Trading rules written as a sentence, read into a small rule tree and written out as strategy code.

This is the assistant's offline brain (no model, no key, no network): it understands the sentences people
type most, "buy BTC when RSI < 30 and MACD crosses above its signal", "sell when the 20 EMA crosses below the
50 SMA or RSI is above 70". Operands: RSI, MACD (its line, signal, histogram), SMA/EMA, Bollinger bands, the
price, numbers. Conditions: comparisons (``<``, ``above``, ``less than``…) and crossings (``crosses above``,
``rises above``, ``falls below``), joined by "and" (binding tighter) and "or". Without a sell rule the exit is
the entry's mirror image (crossings reversed, ``RSI < 30`` becomes ``RSI > 70``). The code it writes follows
the strategy contract of the marketplace: ``indicator(df)`` returns ``{"entries": ..., "exits": ...}``,
computed with :func:`alphabook.research.indicators.compute` (TA-Lib), and is then treated like any other
untrusted code: validated and run in the sandbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alphabook.core.errors import InvalidInput

__all__ = ["Condition", "Operand", "Rules", "find_asset", "parse_rules", "write_code"]


@dataclass(frozen=True, slots=True)
class Operand:
    """``setup`` computes a frame or series once (``None`` for the price and numbers), ``expression`` reads it."""

    label: str
    expression: str
    setup: tuple[str, str] | None = None  # (variable, code)
    constant: float | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    left: Operand
    relation: str  # "<", ">", "<=", ">=", "crosses above", "crosses below"
    right: Operand

    @property
    def label(self) -> str:
        return f"{self.left.label} {self.relation} {self.right.label}"


Clauses = tuple[tuple[Condition, ...], ...]  # OR of ANDs


@dataclass(frozen=True, slots=True)
class Rules:
    entry: Clauses
    exit: Clauses
    exit_given: bool
    asset: str | None

    def describe(self) -> str:
        exit_note = "" if self.exit_given else " (no sell rule was given, so the entry's mirror image)"
        return f"Buy when {_label(self.entry)}. Sell when {_label(self.exit)}{exit_note}."


ASSETS = {"btc": "BTC", "bitcoin": "BTC", "eth": "ETH", "ethereum": "ETH", "goog": "GOOG", "google": "GOOG",
          "alphabet": "GOOG", "eur/usd": "EUR", "eurusd": "EUR", "euro": "EUR", "orcl": "ORCL", "oracle": "ORCL"}
_ACTION = re.compile(r"\b(?P<side>buy|go long|enter(?: long)?|sell|exit|close(?: the position)?)\b"
                     r"(?P<what>[^.;]*?)\b(?:when(?:ever)?|if|once|as soon as)\b")
_CROSS = re.compile(r"^(?P<a>.+?)\s+(?:cross(?:es|ed)?\s+(?P<dir>above|over|below|under)|(?P<up>rises|goes|moves)"
                    r"\s+above|(?P<down>falls|drops|goes|moves)\s+below)\s+(?P<b>.+)$")
_COMPARE = re.compile(r"^(?P<a>.+?)\s*(?P<op><=|>=|<|>|(?:is\s+)?(?:below|under|above|over|less than|lower than|"
                      r"greater than|higher than|more than))\s*(?P<b>.+)$")
_WORD_OPS = {"below": "<", "under": "<", "less than": "<", "lower than": "<", "above": ">", "over": ">",
             "greater than": ">", "higher than": ">", "more than": ">"}
_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "crosses above": "crosses below",
           "crosses below": "crosses above"}
_PERIOD = r"(?:\(?\s*(?P<after>\d{1,4})\s*\)?)?"
_MA = re.compile(r"^(?:(?P<before>\d{1,4})[- ]?(?:day|bar|period)?\s+)?(?P<kind>sma|ema|simple moving average|"
                 rf"exponential moving average|moving average|ma)\s*{_PERIOD}$")
_RSI = re.compile(r"^(?:(?P<before>\d{1,4})[- ]?(?:day|bar|period)?\s+)?rsi\s*" + _PERIOD + "$")
_BAND = re.compile(r"^(?:(?P<side1>upper|lower|middle)\s+)?(?:bollinger|bb)(?:\s+bands?)?(?:\s+(?P<side2>upper|lower|"
                   r"middle)(?:\s+band)?)?$|^(?P<side3>upper|lower|middle)\s+band$")


def parse_rules(sentence: str) -> Rules:
    """The rules a sentence states; InvalidInput saying what was not understood."""
    text = " ".join(sentence.lower().replace("’", "'").split())
    actions = list(_ACTION.finditer(text))
    if not actions:
        raise InvalidInput("Say when to buy, e.g. 'buy BTC when RSI < 30 and MACD crosses above its signal'.")
    entry: Clauses | None = None
    exit_: Clauses | None = None
    for number, action in enumerate(actions):
        end = actions[number + 1].start() if number + 1 < len(actions) else len(text)
        condition = re.sub(r"[\s,]*(?:\band\b|\bthen\b)?[\s,.;!]*$", "", text[action.end():end])
        clauses = _parse_condition(condition)
        if action["side"].startswith(("buy", "go long", "enter")):
            entry = clauses
        else:
            exit_ = clauses
    if entry is None:
        raise InvalidInput("The sentence says when to sell but not when to buy; this assistant backtests long "
                           "positions: add 'buy when ...'.")
    return Rules(entry=entry, exit=exit_ or _mirror(entry), exit_given=exit_ is not None, asset=find_asset(text))


def find_asset(text: str) -> str | None:
    """The asset a sentence names (``BTC``, ``ETH``, ``GOOG``, ``EUR``, ``ORCL``), if any."""
    text = text.lower()
    for word, asset in ASSETS.items():
        if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text):
            return asset
    return None


def _parse_condition(text: str) -> Clauses:
    if not text:
        raise InvalidInput("A rule ends after 'when': say what must happen, e.g. 'RSI < 30'.")
    return tuple(tuple(_parse_clause(part.strip()) for part in re.split(r"\s*\band\b\s*|\s*&\s*", alternative))
                 for alternative in re.split(r"\s*\bor\b\s*|\s*\|\s*", text))


def _parse_clause(text: str) -> Condition:
    crossing = _CROSS.match(text)
    if crossing:
        upward = crossing["dir"] in ("above", "over") or bool(crossing["up"])
        left = _operand(crossing["a"])
        return Condition(left, "crosses above" if upward else "crosses below", _operand(crossing["b"], left))
    comparison = _COMPARE.match(text)
    if comparison:
        op = comparison["op"].removeprefix("is").strip()
        left = _operand(comparison["a"])
        return Condition(left, _WORD_OPS.get(op, op), _operand(comparison["b"], left))
    raise InvalidInput(f"'{text}' is not a condition I understand: compare two things ('RSI < 30', 'close above "
                       "the 200 SMA') or say that one crosses another ('MACD crosses above its signal').")


def _operand(text: str, other: Operand | None = None) -> Operand:
    """One side of a condition; ``other`` is the left side, which gives "its signal" its meaning."""
    words = re.sub(r"^(?:the|its|it's|a|an)\s+", "", text.strip(" .,'\"")).strip()
    words = re.sub(r"\s+(?:line|value|level)$", "", words)
    if re.fullmatch(r"-?\d+(?:\.\d+)?%?", words):
        value = float(words.rstrip("%"))
        return Operand(label=f"{value:g}", expression=f"{value:g}", constant=value)
    if words in {"price", "close", "closing price", "the close", "the price", "btc", "bitcoin"}:
        return Operand(label="close", expression='df["close"]')
    if words in {"volume"}:
        return Operand(label="volume", expression='df["volume"]')
    if words in {"macd"}:
        return _macd("macd", "MACD")
    if words in {"signal", "macd signal", "signal of macd", "macd's signal"}:
        if other is not None and other.label != "MACD" and words == "signal":
            raise InvalidInput("'its signal' refers to MACD's signal line: write 'MACD crosses above its signal'.")
        return _macd("macdsignal", "MACD signal")
    if words in {"macd histogram", "histogram"}:
        return _macd("macdhist", "MACD histogram")
    rsi = _RSI.match(words)
    if rsi:
        period = int(rsi["before"] or rsi["after"] or 14)
        return Operand(label=f"RSI({period})", expression=f"rsi_{period}",
                       setup=(f"rsi_{period}", f'compute("rsi", df, timeperiod={period})'))
    average = _MA.match(words)
    if average:
        period = int(average["before"] or average["after"] or 20)
        kind = "ema" if average["kind"].startswith(("ema", "exponential")) else "sma"
        return Operand(label=f"{kind.upper()}({period})", expression=f"{kind}_{period}",
                       setup=(f"{kind}_{period}", f'compute("{kind}", df, timeperiod={period})'))
    band = _BAND.match(words)
    if band:
        side = band["side1"] or band["side2"] or band["side3"] or "middle"
        return Operand(label=f"{side} Bollinger band", expression=f'bbands["{side}band"]',
                       setup=("bbands", 'compute("bbands", df, timeperiod=20, nbdevup=2.0, nbdevdn=2.0)'))
    raise InvalidInput(f"'{text}' is not something I can compute: use RSI, MACD (and its signal), SMA/EMA with a "
                       "period, Bollinger bands, the price, or a number.")


def _macd(column: str, label: str) -> Operand:
    return Operand(label=label, expression=f'macd["{column}"]',
                   setup=("macd", 'compute("macd", df, fastperiod=12, slowperiod=26, signalperiod=9)'))


def _mirror(entry: Clauses) -> Clauses:
    """Sell on any one of the entry's conditions turned around."""
    mirrored = []
    for alternative in entry:
        for condition in alternative:
            right = condition.right
            if condition.left.label.startswith("RSI") and right.constant is not None and condition.relation in (
                    "<", ">", "<=", ">="):
                value = 100 - right.constant
                right = Operand(label=f"{value:g}", expression=f"{value:g}", constant=value)
            mirrored.append((Condition(condition.left, _MIRROR[condition.relation], right),))
    return tuple(mirrored)


def _label(clauses: Clauses) -> str:
    return " or ".join(" and ".join(condition.label for condition in alternative) for alternative in clauses)


def _expression(condition: Condition) -> str:
    left, right = condition.left.expression, condition.right.expression
    if condition.relation.startswith("crosses"):
        before = right if condition.right.constant is not None else f"{right}.shift(1)"
        now, then = (">", "<=") if condition.relation == "crosses above" else ("<", ">=")
        return f"({left} {now} {right}) & ({left}.shift(1) {then} {before})"
    return f"({left} {condition.relation} {right})"


def _boolean(clauses: Clauses) -> str:
    alternatives = [" & ".join(_expression(condition) for condition in alternative) for alternative in clauses]
    return " | ".join(f"({text})" if len(clauses) > 1 and " & " in text else text for text in alternatives)


def write_code(rules: Rules, sentence: str) -> str:
    """The strategy as Python source following the marketplace's strategy contract."""
    setups: dict[str, str] = {}
    for clauses in (rules.entry, rules.exit):
        for alternative in clauses:
            for condition in alternative:
                for operand in (condition.left, condition.right):
                    if operand.setup is not None:
                        setups.setdefault(*operand.setup)
    quoted = " ".join(sentence.split()).replace("\\", "/").replace('"', "'")
    lines = ["from alphabook.research.indicators import compute", "", "",
             "def indicator(df):", f'    """{quoted}', "", f"    {rules.describe()}", '    """']
    lines += [f"    {name} = {code}" for name, code in setups.items()]
    lines += [f"    entries = {_boolean(rules.entry)}", f"    exits = {_boolean(rules.exit)}",
              '    return {"entries": entries, "exits": exits}', ""]
    return "\n".join(lines)
