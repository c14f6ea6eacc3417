"""Argument checks for the numpy and pandas calls creator code makes through the sandbox's proxies.

Attribute guards alone do not cover arguments that *name* things: pandas resolves a string passed to
``apply``/``agg``/``transform`` with ``getattr(obj, name)`` (``df.agg("to_pickle", path)`` would reach
a method the attribute guard refuses), ``engine="numba"`` JIT-compiles code, and ``win_type`` is looked
up by name in ``scipy.signal.windows``. These checks run before every proxied call. Object dtype is
refused too: it is not an escape by itself (every attribute of every element still goes through the
guard), but nothing an indicator computes needs it, and refusing it keeps results plainly numeric.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "SAFE_FUNCTION_NAMES",
    "check_dtype",
    "check_function_argument",
    "check_numpy_result",
    "check_pandas_call",
]

SAFE_FUNCTION_NAMES = frozenset({
    "all", "any", "bfill", "count", "cummax", "cummin", "cumprod", "cumsum", "diff", "ffill", "first", "idxmax",
    "idxmin", "kurt", "last", "max", "mean", "median", "min", "nunique", "ohlc", "pct_change", "prod", "quantile",
    "rank", "sem", "shift", "size", "skew", "std", "sum", "var",
})
SAFE_WINDOW_TYPES = frozenset({
    "barthann", "bartlett", "blackman", "blackmanharris", "bohman", "boxcar", "cosine", "exponential", "gaussian",
    "general_gaussian", "hamming", "hann", "kaiser", "nuttall", "parzen", "taylor", "triang", "tukey",
})
SAFE_ENGINES = (None, "cython", "python")
FUNCTION_TAKING = frozenset({"agg", "aggregate", "apply", "map", "transform"})
FUNCTION_KEYWORDS = ("func", "arg", "aggfunc")


def check_dtype(dtype: Any) -> None:
    """Refuse object and void dtypes (also inside an ``astype`` mapping); leave the rest to the library."""
    if isinstance(dtype, Mapping):
        for value in dtype.values():
            check_dtype(value)
        return
    if dtype is None or isinstance(dtype, (list, tuple)):
        return
    try:
        resolved = pd.api.types.pandas_dtype(dtype)
    except (TypeError, ValueError):
        return  # the library will refuse it with its own message
    if isinstance(resolved, np.dtype) and resolved.kind in "OV":
        raise TypeError(f"dtype {dtype!r} is not available in the sandbox; indicators compute with numeric dtypes.")


def check_function_argument(function: Any) -> None:
    """A function argument is a callable, or the name of a plain reduction (``"mean"``), or lists/dicts of those."""
    if isinstance(function, str):
        if function not in SAFE_FUNCTION_NAMES:
            raise ValueError(f"function name {function!r} is not available in the sandbox; pass a function or one "
                             f"of: {', '.join(sorted(SAFE_FUNCTION_NAMES))}.")
    elif isinstance(function, (list, tuple)):
        for item in function:
            check_function_argument(item)
    elif isinstance(function, Mapping):
        for item in function.values():
            check_function_argument(item)


def check_pandas_call(label: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Checks shared by every pandas method and function reached through the sandbox."""
    if kwargs:
        if kwargs.get("engine") not in SAFE_ENGINES or kwargs.get("engine_kwargs") is not None:
            raise ValueError(f"{label}: only the default engine is available in the sandbox.")
        if "dtype" in kwargs:
            check_dtype(kwargs["dtype"])
        win_type = kwargs.get("win_type")
        if win_type is not None and win_type not in SAFE_WINDOW_TYPES:
            raise ValueError(f"{label}: win_type {win_type!r} is not available in the sandbox.")
        for key in FUNCTION_KEYWORDS:
            if key in kwargs:
                check_function_argument(kwargs[key])
    method = label.rpartition(".")[2]
    if method in FUNCTION_TAKING:
        if args:
            check_function_argument(args[0])
        for key, value in kwargs.items():  # named aggregation: agg(total=("close", "sum"))
            if key != "args" and isinstance(value, tuple) and len(value) == 2:
                check_function_argument(value[1])
    elif method == "astype" and args:
        check_dtype(args[0])
    elif method == "rolling" and len(args) > 3 and args[3] is not None and args[3] not in SAFE_WINDOW_TYPES:
        raise ValueError(f"{label}: win_type {args[3]!r} is not available in the sandbox.")
    elif method == "pipe" and args and not callable(args[0]):
        raise TypeError(f"{label}: pass a function as the first argument.")


def check_numpy_result(label: str, result: Any) -> Any:
    """Refuse object arrays whichever way they were made (``dtype=object``, ragged lists, mixed types)."""
    if isinstance(result, np.ndarray) and result.dtype.kind in "OV":
        raise TypeError(f"{label} produced an array of Python objects, which the sandbox does not allow; "
                        "use numeric data.")
    return result
