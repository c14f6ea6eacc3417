"""The one OHLCV frame convention every source returns and every indicator and backtest may rely on.

A frame is a pandas DataFrame indexed by a ``DatetimeIndex`` named ``time`` holding each bar's *open*
time in UTC (``datetime64[us, UTC]``, pandas' own resolution for parsed times), strictly increasing, with
float64 columns ``open, high, low, close, volume``. :func:`validate` checks that and names the first
bad row, because "row 81 233 (2025-10-10 21:15 UTC): high is below close" is what lets a person fix a
file; :func:`to_ohlcv` turns the usual shapes (backtesting.py's ``Open``, a ``timestamp`` or ``date``
column, a naive index, integer columns, ccxt's millisecond ``ts_ms``) into the convention first.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from alphabook.core.errors import InvalidInput

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
TIME_UNIT = "us"
# Where a bar's time may sit when the index does not hold it; "unnamed: 0" is pandas' name for the
# unlabelled first column of a CSV written from an indexed frame (backtesting.py's samples).
_TIME_COLUMNS = ("time", "timestamp", "date", "datetime", "ts_ms", "unnamed: 0")


def empty_ohlcv() -> pd.DataFrame:
    """A frame with no bars that still follows the convention (what an empty range returns)."""
    index = pd.DatetimeIndex([], dtype=f"datetime64[{TIME_UNIT}, UTC]", name="time")
    return pd.DataFrame({column: np.array([], dtype="float64") for column in OHLCV_COLUMNS}, index=index)


def validate(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` unchanged if it follows the convention; InvalidInput naming the first bad row if not.

    Extra columns are allowed (a signal column does not break a price series).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"an OHLCV frame must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [column for column in OHLCV_COLUMNS if column not in frame.columns]
    if missing:
        raise InvalidInput(
            f"OHLCV frame is missing column(s) {missing}: it needs {list(OHLCV_COLUMNS)} "
            "(to_ohlcv() lower-cases names such as 'Open')"
        )
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise InvalidInput(
            f"OHLCV frame must be indexed by bar open times (a DatetimeIndex), not {type(index).__name__}: "
            "to_ohlcv() turns a 'timestamp' or 'date' column into the index"
        )
    if index.tz is None:
        where = f"row 0 ({index[0]}): " if len(index) else ""
        raise InvalidInput(
            f"{where}timestamps are naive; localise them to UTC with frame.tz_localize('UTC') "
            "(or call to_ohlcv(), which assumes naive times are UTC)"
        )
    if str(index.tz) != "UTC":
        raise InvalidInput(f"timestamps are in {index.tz}, not UTC: convert with frame.tz_convert('UTC')")
    wrong_types = {column: str(frame[column].dtype) for column in OHLCV_COLUMNS if frame[column].dtype != "float64"}
    if wrong_types:
        raise InvalidInput(f"OHLCV columns must be float64, got {wrong_types}: to_ohlcv() converts them")
    problem = _first_bad_row(frame)
    if problem is not None:
        row, reason = problem
        raise InvalidInput(f"row {row} ({index[row]}): {reason}", row=row, time=index[row].isoformat())
    return frame


def _first_bad_row(frame: pd.DataFrame) -> tuple[int, str] | None:
    """Position and reasons of the earliest row that breaks a per-row rule, or None."""
    values = {column: frame[column].to_numpy() for column in OHLCV_COLUMNS}
    times = frame.index.asi8
    previous = np.concatenate([[np.iinfo(np.int64).min], times[:-1]])
    top = np.maximum(values["open"], values["close"])
    bottom = np.minimum(values["open"], values["close"])
    checks: list[tuple[npt.NDArray[np.bool_], str]] = [
        *((~np.isfinite(values[column]), f"{column} is not a finite number") for column in OHLCV_COLUMNS),
        (times == previous, "duplicates the previous row's timestamp (drop duplicates)"),
        (times < previous, "is earlier than the previous row (sort with frame.sort_index())"),
        (values["high"] < top, "high is below max(open, close)"),
        (values["low"] > bottom, "low is above min(open, close)"),
        (values["volume"] < 0, "volume is negative"),
    ]
    bad = np.column_stack([mask for mask, _ in checks]) if len(frame) else np.zeros((0, len(checks)), bool)
    rows = np.flatnonzero(bad.any(axis=1))
    if not len(rows):
        return None
    row = int(rows[0])
    bar = {column: float(values[column][row]) for column in OHLCV_COLUMNS}
    reasons = "; ".join(reason for (mask, reason) in checks if mask[row])
    return row, f"{reasons} ({', '.join(f'{name}={value!r}' for name, value in bar.items())})"


def to_ohlcv(data: pd.DataFrame) -> pd.DataFrame:
    """Normalise common OHLCV shapes to the convention, then :func:`validate` the result.

    Column names are stripped and lower-cased; the time comes from the index if it holds datetimes,
    else from the first of the columns ``time, timestamp, date, datetime, ts_ms`` (epoch milliseconds,
    ccxt's unit) or pandas' ``Unnamed: 0``; naive times are taken as UTC and aware ones converted to it;
    the five price/volume columns become float64 and other columns are dropped. Rows are not sorted or
    de-duplicated: :func:`validate` reports such rows so that a broken file is noticed, not hidden.
    """
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(f"to_ohlcv needs a pandas DataFrame, not {type(data).__name__}")
    frame = data.rename(columns=lambda name: str(name).strip().lower())
    if frame.columns.duplicated().any():
        raise InvalidInput(f"columns {list(data.columns)} repeat a name once lower-cased: keep one of each")
    missing = [column for column in OHLCV_COLUMNS if column not in frame.columns]
    if missing:
        raise InvalidInput(f"data is missing column(s) {missing}; columns present: {list(data.columns)}")
    index = _bar_times(frame)
    columns: dict[str, npt.NDArray[np.float64]] = {}
    for column in OHLCV_COLUMNS:
        try:
            columns[column] = frame[column].astype("float64").to_numpy()
        except (TypeError, ValueError) as error:
            raise InvalidInput(f"column {column!r} holds values that are not numbers ({error})") from error
    return validate(pd.DataFrame(columns, index=index))


def _bar_times(frame: pd.DataFrame) -> pd.DatetimeIndex:
    """The bar open times of ``frame`` as an aware UTC index named ``time``."""
    column = None if isinstance(frame.index, pd.DatetimeIndex) else next(
        (name for name in _TIME_COLUMNS if name in frame.columns), None
    )
    raw = frame.index if column is None else frame[column]
    label = "the index" if column is None else f"column {column!r}"
    if isinstance(raw, pd.RangeIndex):
        raise InvalidInput(
            f"no bar times found: index the frame by time or add one of the columns {list(_TIME_COLUMNS[:5])}"
        )
    if pd.api.types.is_numeric_dtype(raw.dtype) and column != "ts_ms":
        raise InvalidInput(f"{label} holds numbers: name epoch milliseconds 'ts_ms' so that their unit is known")
    try:
        times = pd.to_datetime(raw, unit="ms", utc=True) if column == "ts_ms" else pd.to_datetime(raw, utc=True)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{label} cannot be read as bar times ({error})") from error
    return pd.DatetimeIndex(times, name="time").as_unit(TIME_UNIT)


def bars_between(frame: pd.DataFrame, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """The bars that open in ``[start, end)`` (half-open; None leaves that side unbounded)."""
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= frame.index >= start
    if end is not None:
        keep &= frame.index < end
    return frame[keep]
