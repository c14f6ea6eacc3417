"""Frames and results as raw numpy buffers described by a JSON header: what crosses the pipe to a worker.

numpy does the work. The host sends each column of the caller's frame as its own contiguous array, gathered
straight from pandas' memory into one ``writev`` (no encoding step, no copy), and a header naming every
column's dtype and the index (a range, or int64 epoch counts with a unit and time zone). The worker views
the received bytes as numpy arrays in place. The answer is the normalised output as float64 columns, one
after another, and their names: no index, no objects, nothing to parse but a length. :func:`decode_result`
reads it as data the host distrusts (names, row count and size are checked) and rebuilds the output on the
caller's own index, so a worker can say "these numbers", never "this object" and never "this index".
Arrow IPC was the first format here; raw buffers halve the per-call cost and leave no parser exposed to
the worker's bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.sandbox.errors import BadResult, LimitExceeded
from alphabook.sandbox.limits import Limits

__all__ = ["OutputTooLarge", "check_frame", "check_params", "decode_frame", "decode_result", "encode_frame",
           "encode_result"]

MAX_OUTPUT_COLUMNS = 256
ALIGN = 8  # every buffer starts on an 8-byte boundary, so the worker can view it in place
SENDABLE_KINDS = "biufM"  # numeric, boolean, datetime64 (as int64 counts)
RESULT_DTYPE = np.dtype("<f8")


class OutputTooLarge(LimitExceeded, BadResult):
    """Output bigger than ``Limits.max_output_bytes``: a broken limit (kind ``output``) and an unusable result."""

    def __init__(self, detail: str) -> None:
        LimitExceeded.__init__(self, "output", detail)


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as they will arrive in the worker (a JSON round trip), or InvalidInput."""
    if not all(isinstance(key, str) for key in params):
        raise InvalidInput("Indicator parameter names must be strings.")
    try:
        value = json.loads(json.dumps(dict(params), allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Indicator parameters must be JSON values (numbers, strings, lists): {exc}") from None
    return dict(value)


def check_frame(df: pd.DataFrame, limits: Limits) -> None:
    """InvalidInput unless ``df`` is a DataFrame the sandbox accepts (rows, column names)."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidInput(f"An indicator runs on a pandas DataFrame, not {type(df).__name__}.")
    if len(df) > limits.max_input_rows:
        raise InvalidInput(f"The frame has {len(df)} rows; the sandbox accepts at most {limits.max_input_rows}.")
    names = df.columns.tolist()
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise InvalidInput("The frame's column names must be distinct strings.")


def _buffer(name: str, values: Any) -> tuple[dict[str, Any], np.ndarray]:
    """One column (or the index) as a contiguous array and its description; datetimes as int64 counts."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        times = pd.DatetimeIndex(values)
        return {"dtype": "<i8", "unit": times.unit, "tz": str(times.tz) if times.tz is not None else None}, \
            np.ascontiguousarray(times.asi8)
    if isinstance(dtype, np.dtype) and dtype.kind in SENDABLE_KINDS:
        array = np.ascontiguousarray(values, dtype=dtype.newbyteorder("<"))
        return {"dtype": array.dtype.str}, array
    raise InvalidInput(f"Column {name!r} is {dtype}; the sandbox accepts numeric, boolean and datetime columns.")


def _padding(size: int) -> bytes:
    return bytes(-size % ALIGN)


def encode_frame(df: pd.DataFrame, limits: Limits) -> tuple[dict[str, Any], list[Any]]:
    """``df`` as a header and the buffers to send after it (views of pandas' memory, padded to 8 bytes)."""
    check_frame(df, limits)
    index = df.index
    name = index.name if isinstance(index.name, str | int) or index.name is None else str(index.name)
    meta: dict[str, Any] = {"rows": len(df), "name": name, "columns": []}
    buffers: list[Any] = []

    def add(description: dict[str, Any], array: np.ndarray) -> None:
        buffers.append(array)
        if pad := _padding(array.nbytes):
            buffers.append(pad)
        description["bytes"] = array.nbytes + len(pad)

    if isinstance(index, pd.RangeIndex):
        meta["index"] = {"kind": "range", "start": index.start, "stop": index.stop, "step": index.step}
    elif isinstance(index, pd.DatetimeIndex) or (isinstance(index.dtype, np.dtype) and index.dtype.kind in "iuf"):
        description, array = _buffer("index", index)
        meta["index"] = {"kind": "values", **description}
        if isinstance(index, pd.DatetimeIndex):
            meta["index"]["freq"] = index.freqstr if index.freq is not None else None
        add(meta["index"], array)
    else:
        raise InvalidInput(f"The frame's index is {type(index).__name__}; use a DatetimeIndex or a numeric index.")
    for column in df.columns:
        description, array = _buffer(column, df[column].array if df[column].dtype.kind == "M" else
                                     df[column].to_numpy())
        meta["columns"].append({"name": column, **description})
        add(meta["columns"][-1], array)
    return meta, buffers


def _view(description: Mapping[str, Any], body: Any, offset: int, rows: int) -> Any:
    """The values of one buffer, viewed in place in ``body`` (datetimes rebuilt with their time zone)."""
    dtype = np.dtype(description["dtype"])
    if dtype.kind not in SENDABLE_KINDS or offset + rows * dtype.itemsize > len(body):
        raise ValueError("a frame buffer does not fit its description")
    values = np.frombuffer(body, dtype=dtype, count=rows, offset=offset)
    if "unit" not in description:
        return values
    naive, tz = values.view(f"M8[{description['unit']}]"), description["tz"]
    if tz is None or tz == "UTC":  # UTC wall times are the epoch counts: no conversion to do
        return pd.DatetimeIndex(naive, dtype=None if tz is None else pd.DatetimeTZDtype(description["unit"], tz))
    return pd.DatetimeIndex(naive).tz_localize("UTC").tz_convert(tz)


def decode_frame(meta: Mapping[str, Any], body: Any) -> pd.DataFrame:
    """The worker's copy of the caller's frame: the same index, name and dtypes.

    Columns are numpy views straight into ``body`` (a writable buffer the request was read into): no copy,
    no fresh pages to fault in.
    """
    rows, offset = int(meta["rows"]), 0
    index_meta = meta["index"]
    index: pd.Index
    if index_meta["kind"] == "range":
        index = pd.RangeIndex(index_meta["start"], index_meta["stop"], index_meta["step"], name=meta["name"])
    else:
        values = _view(index_meta, body, 0, rows)
        offset = int(index_meta["bytes"])
        index = pd.Index(values, name=meta["name"]) if "unit" not in index_meta else values.rename(meta["name"])
        if index_meta.get("freq") is not None:
            index = pd.DatetimeIndex(index, freq=index_meta["freq"])
    columns = {}
    for column in meta["columns"]:
        values = _view(column, body, offset, rows)
        columns[column["name"]] = values.array if "unit" in column else values
        offset += int(column["bytes"])
    return pd.DataFrame(columns, index=index, copy=False)


# --- the result ----------------------------------------------------------------------------------------

def encode_result(frame: pd.DataFrame) -> tuple[list[str], list[np.ndarray]]:
    """The normalised output's column names and float64 arrays; the index stays behind on purpose."""
    return [str(name) for name in frame.columns], \
        [np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64), dtype=RESULT_DTYPE) for name in frame.columns]


def _sane_name(name: object) -> bool:
    return isinstance(name, str) and 0 < len(name) <= 200 and name.isprintable()


def decode_result(names: Any, body: Any, index: pd.Index, max_bytes: int) -> pd.DataFrame:
    """Check a worker's reply and rebuild the output on the host's own ``index``; BadResult otherwise.

    The reply must name between 1 and 256 distinct, printable columns and carry exactly
    ``len(names) * len(index)`` float64 values, none infinite. ``body`` is the host's own buffer (the pipe
    copied the bytes into it), so the frame is a view of it and no worker can touch it afterwards.
    """
    if not isinstance(names, list) or not 0 < len(names) <= MAX_OUTPUT_COLUMNS:
        raise BadResult(f"An indicator must return between 1 and {MAX_OUTPUT_COLUMNS} output columns.")
    if len(set(map(str, names))) != len(names) or not all(_sane_name(name) for name in names):
        raise BadResult("Output column names must be distinct, printable and at most 200 characters.")
    if len(body) > max_bytes:
        raise OutputTooLarge(f"The indicator's output is {len(body)} bytes; the limit is {max_bytes}.")
    if len(body) != len(names) * len(index) * RESULT_DTYPE.itemsize:
        raise BadResult(f"The output holds {len(body)} bytes; {len(names)} float64 columns of df's {len(index)} "
                        "rows were expected. Keep df's index.")
    matrix = np.frombuffer(body, dtype=RESULT_DTYPE).reshape(len(names), len(index))
    if np.isinf(matrix).any():
        raise BadResult("The output contains infinity; use NaN where there is no value.")
    return pd.DataFrame(matrix.T, index=index, columns=names, copy=False)

