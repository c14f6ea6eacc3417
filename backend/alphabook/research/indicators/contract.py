"""The indicator contract creators write to: ``indicator(df, **params)`` returns output aligned to ``df``.

A creator's indicator (a notebook cell, a marketplace listing, code run in the sandbox) is a function
that takes an OHLCV frame and keyword parameters and returns a pandas Series, a DataFrame, or a dict of
Series, each aligned to ``df``. :func:`run_indicator` calls one and turns whatever it returned into one
float64 DataFrame (a Series keeps its name, or is called ``value``), or says exactly which rule was
broken, so a creator learns what to fix before anyone else runs their code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from alphabook.core.errors import InvalidInput

Indicator = Callable[..., Any]


def run_indicator(indicator: Indicator, df: pd.DataFrame, **params: Any) -> pd.DataFrame:
    """Call ``indicator(df, **params)`` and return its output as a DataFrame aligned to ``df``."""
    name = getattr(indicator, "__name__", "indicator")
    output = indicator(df, **params)
    if isinstance(output, pd.Series):
        columns = {str(output.name) if output.name is not None else "value": output}
    elif isinstance(output, pd.DataFrame):
        columns = {str(column): output[column] for column in output.columns}
    elif isinstance(output, Mapping):
        columns = {str(key): value for key, value in output.items()}
    else:
        raise InvalidInput(f"{name} returned {type(output).__name__}; return a pandas Series, a DataFrame or a "
                           "dict of Series aligned to df.")
    if not columns:
        raise InvalidInput(f"{name} returned no output columns.")
    frame = {}
    for column, series in columns.items():
        if not isinstance(series, pd.Series):
            raise InvalidInput(f"{name}: output {column!r} is {type(series).__name__}, not a pandas Series.")
        if not series.index.equals(df.index):
            raise InvalidInput(
                f"{name}: output {column!r} has {len(series)} rows that do not match df's {len(df)} bars; "
                "build it from df's columns (same index) and do not drop or shift rows away."
            )
        if series.dtype.kind not in "biuf":
            raise InvalidInput(f"{name}: output {column!r} must be numeric or boolean, not {series.dtype}.")
        values = series.to_numpy(dtype=np.float64)
        if np.isinf(values).any():
            raise InvalidInput(f"{name}: output {column!r} contains infinity; use NaN where there is no value.")
        frame[column] = values
    return pd.DataFrame(frame, index=df.index)
