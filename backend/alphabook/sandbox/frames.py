"""Frames and results as Apache Arrow IPC: what crosses the pipe between the host and a sandboxed worker.

pyarrow does the work. The host sends the caller's frame as one record batch (its index as a column, or as
a range in the header) and the worker turns it back into the same DataFrame with numpy views straight
into the received bytes. The worker answers with its normalised float64 output columns and nothing else:
no index, no objects. :func:`decode_result` reads that answer as data the host distrusts (types, names,
row count and size are checked, values copied out) and rebuilds the output on the caller's own index, so
a worker can say "these numbers", never "this object" and never "this index".
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from alphabook.core.errors import InvalidInput
from alphabook.sandbox.errors import BadResult, LimitExceeded
from alphabook.sandbox.limits import Limits

__all__ = ["OutputTooLarge", "check_frame", "check_params", "decode_frame", "decode_result", "encode_frame",
           "encode_result"]

MAX_OUTPUT_COLUMNS = 256
INDEX_FIELD = "__index__"


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


def _column_array(name: str, series: pd.Series) -> pa.Array:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return pa.array(series.to_numpy())
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        return pa.Array.from_pandas(series)
    raise InvalidInput(f"Column {name!r} is {dtype}; the sandbox accepts numeric, boolean and datetime columns.")


def check_frame(df: pd.DataFrame, limits: Limits) -> None:
    """InvalidInput unless ``df`` is a DataFrame the sandbox accepts (rows, column names)."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidInput(f"An indicator runs on a pandas DataFrame, not {type(df).__name__}.")
    if len(df) > limits.max_input_rows:
        raise InvalidInput(f"The frame has {len(df)} rows; the sandbox accepts at most {limits.max_input_rows}.")
    names = df.columns.tolist()
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names) or INDEX_FIELD in names:
        raise InvalidInput("The frame's column names must be distinct strings.")


@functools.lru_cache(maxsize=64)
def _timestamp_type(unit: str, tz: Any) -> pa.DataType:
    """Arrow's timestamp type for a pandas unit and time zone (spelled as Arrow spells it, e.g. "+01:00")."""
    return pa.array(pd.DatetimeIndex([0], dtype=pd.DatetimeTZDtype(unit, tz) if tz is not None else
                                     f"datetime64[{unit}]")).type


def encode_frame(df: pd.DataFrame, limits: Limits) -> tuple[dict[str, Any], pa.Buffer]:
    """``df`` as Arrow IPC plus a header describing its index (rebuilt exactly by :func:`decode_frame`)."""
    check_frame(df, limits)
    names = df.columns.tolist()
    index = df.index
    arrays: list[pa.Array] = []
    name = index.name if isinstance(index.name, str | int) or index.name is None else str(index.name)
    meta: dict[str, Any] = {"name": name, "columns": names}
    if isinstance(index, pd.RangeIndex):
        meta.update(kind="range", start=index.start, stop=index.stop, step=index.step)
    elif isinstance(index, pd.DatetimeIndex):
        kind = _timestamp_type(index.unit, index.tz)  # the values are the int64 epoch counts, zero-copy
        array = pa.Array.from_buffers(kind, len(index), [None, pa.py_buffer(np.ascontiguousarray(index.asi8))])
        meta.update(kind="datetime", tz=kind.tz, freq=index.freqstr if index.freq is not None else None)
        arrays.append(array)
    elif isinstance(index.dtype, np.dtype) and index.dtype.kind in "iuf":
        meta.update(kind="values")
        arrays.append(pa.array(index.to_numpy()))
    else:
        raise InvalidInput(f"The frame's index is {type(index).__name__}; use a DatetimeIndex or a numeric index.")
    arrays += [_column_array(column, df[column]) for column in names]
    batch = pa.record_batch(arrays, names=([INDEX_FIELD] if meta["kind"] != "range" else []) + names)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return meta, sink.getvalue()


def decode_frame(meta: Mapping[str, Any], body: Any) -> pd.DataFrame:
    """The worker's copy of the caller's frame: the same index, name and dtypes, and writable columns.

    Numeric columns are numpy views straight into ``body`` (a writable buffer the request was read into):
    no copy, no fresh pages to fault in. Booleans (bit-packed in Arrow) and datetimes are converted.
    """
    buffer = pa.py_buffer(body)
    batch = pa.ipc.open_stream(buffer).read_next_batch()
    columns: dict[str, Any] = {}
    for field_name, column in zip(batch.schema.names, batch.columns, strict=True):
        if field_name == INDEX_FIELD:
            continue
        if pa.types.is_timestamp(column.type):
            columns[field_name] = column.to_pandas().array
        elif buffer.is_mutable and column.null_count == 0 and column.type.bit_width >= 8:
            dtype = np.dtype(column.type.to_pandas_dtype())
            offset = column.buffers()[1].address - buffer.address + column.offset * dtype.itemsize
            if offset % dtype.itemsize == 0 and 0 <= offset <= buffer.size - len(column) * dtype.itemsize:
                columns[field_name] = np.frombuffer(body, dtype=dtype, count=len(column), offset=offset)
            else:
                columns[field_name] = column.to_numpy().copy()
        else:
            columns[field_name] = np.array(column.to_numpy(zero_copy_only=False), copy=True)
    index: pd.Index
    if meta["kind"] == "range":
        index = pd.RangeIndex(meta["start"], meta["stop"], meta["step"], name=meta["name"])
    elif meta["kind"] == "datetime":
        index = pd.DatetimeIndex(batch.column(INDEX_FIELD).to_numpy(), name=meta["name"])  # UTC wall times
        if meta["tz"] is not None:
            index = index.tz_localize("UTC").tz_convert(meta["tz"])
        if meta["freq"] is not None:
            index = pd.DatetimeIndex(index, freq=meta["freq"])
    else:
        index = pd.Index(np.array(batch.column(INDEX_FIELD).to_numpy(), copy=True), name=meta["name"])
    return pd.DataFrame({name: columns[name] for name in meta["columns"]}, index=index, copy=False)


# --- the result ----------------------------------------------------------------------------------------

def encode_result(frame: pd.DataFrame) -> pa.Buffer:
    """The normalised output (float64 columns) as Arrow IPC; the index stays behind on purpose."""
    batch = pa.record_batch([pa.array(frame[name].to_numpy(dtype=np.float64)) for name in frame.columns],
                            names=[str(name) for name in frame.columns])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def _sane_name(name: str) -> bool:
    return 0 < len(name) <= 200 and name.isprintable()


def decode_result(body: Any, index: pd.Index, max_bytes: int) -> pd.DataFrame:
    """Check a worker's reply body and rebuild the output on the host's own ``index``; BadResult otherwise.

    Only float64 or boolean columns with sane names and exactly ``len(index)`` rows are accepted, and
    every value is copied out of the Arrow buffers into fresh numpy arrays.
    """
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(body))
        schema = reader.schema
        names = list(schema.names)
        if not names or len(names) > MAX_OUTPUT_COLUMNS:
            raise BadResult(f"An indicator must return between 1 and {MAX_OUTPUT_COLUMNS} output columns.")
        if len(set(names)) != len(names) or not all(_sane_name(name) for name in names):
            raise BadResult("Output column names must be distinct, printable and at most 200 characters.")
        for field in schema:
            if not (pa.types.is_float64(field.type) or pa.types.is_boolean(field.type)):
                raise BadResult(f"Output {field.name!r} is {field.type}; outputs must be float64 or boolean.")
        table = reader.read_all()
        table.validate(full=True)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise BadResult(f"The sandbox could not read the indicator's output: {exc}") from None
    if table.num_rows != len(index):
        raise BadResult(f"The output has {table.num_rows} rows; df has {len(index)}. Keep df's index.")
    if table.nbytes > max_bytes:
        raise OutputTooLarge(f"The indicator's output is {table.nbytes} bytes; the limit is {max_bytes}.")
    columns = {}
    for name, column in zip(names, table.columns, strict=True):
        if not pa.types.is_float64(column.type):
            column = column.cast(pa.float64())
        values = np.array(column.to_numpy(), dtype=np.float64, copy=True)
        if np.isinf(values).any():
            raise BadResult(f"Output {name!r} contains infinity; use NaN where there is no value.")
        columns[name] = values
    return pd.DataFrame(columns, index=index, copy=False)  # the values are fresh copies: no second copy
