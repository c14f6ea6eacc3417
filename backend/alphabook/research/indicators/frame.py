"""Getting one column out of an OHLCV frame as the array a kernel wants, with errors a person can act on.

Every engine reads columns the same way: TA-Lib needs contiguous float64 arrays, the other kernels are
happy with the same, and a missing or non-numeric column should say which indicator needed it and
which columns the frame does have, rather than surface as a ``KeyError`` from deep inside pandas.
Taking a float64 column of a pandas frame is a zero-copy view, so this costs microseconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from alphabook.core.errors import InvalidInput

__all__ = ["OHLCV", "column_1d", "require_frame"]

OHLCV = ("open", "high", "low", "close", "volume")


def require_frame(frame: object, who: str) -> pd.DataFrame:
    """``frame`` itself when it is a DataFrame; InvalidInput otherwise."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(
            f"{who} needs a pandas DataFrame with columns {', '.join(OHLCV)}, got {type(frame).__name__}"
        )
    return frame


def column_1d(frame: pd.DataFrame, name: str, who: str) -> NDArray[np.float64]:
    """Column ``name`` as a contiguous float64 array (a view when the column already is float64)."""
    try:
        column = frame[name]
    except KeyError:
        raise InvalidInput(
            f"{who} needs a {name!r} column; the frame has {', '.join(map(str, frame.columns)) or 'no columns'}"
        ) from None
    if not isinstance(column, pd.Series):
        raise InvalidInput(f"{who}: the frame has more than one {name!r} column")
    try:
        values = column.to_numpy(dtype=np.float64, copy=False)
    except (TypeError, ValueError):
        raise InvalidInput(f"{who}: column {name!r} must be numeric, it is {column.dtype}") from None
    return np.ascontiguousarray(values)
