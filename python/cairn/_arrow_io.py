"""The CSV transport of training sets through pyarrow (optional: used when pyarrow
imports, e.g. where mlflow installed it). By default `FeatureStore.get_historical_features`
uses the binary columnar form (`_columnar`); with `_historical_transport = "csv"` it sends
the entity rows as a CSV body and reads the training set back as CSV with pyarrow's
multi-threaded reader (and an entity frame without rows always goes up as CSV). The
columns built here are the ones the JSON path builds from the same answer
(`_convert.typed_values`, `_convert._parse_timestamps`), so the DataFrame is the same
whichever way the rows travelled.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from cairn import _convert

try:
    import pyarrow as pa
    import pyarrow.csv as pacsv
except ImportError:  # pragma: no cover - exercised by forcing `pa = None` in the tests
    pa = None
    pacsv = None


def available() -> bool:
    return pa is not None


def entities_csv(df: pd.DataFrame) -> bytes | None:
    """`df` as CSV (header + rows; datetimes as epoch milliseconds, like the JSON path), or
    None when pyarrow is missing or a column is of a kind the server would type
    differently from CSV text than from JSON values (floats, text, nullable extension
    dtypes): the caller then sends JSON."""
    if pa is None:
        return None
    arrays, names = [], []
    for name in df.columns:
        series = df[name]
        dtype = series.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            if getattr(dtype, "tz", None) is not None:
                series = series.dt.tz_convert("UTC").dt.tz_localize(None)
            millis = series.values.astype("datetime64[ms]").astype(np.int64)
            arrays.append(pa.array(millis, mask=series.isna().to_numpy()))
        elif isinstance(dtype, np.dtype) and dtype.kind in "ib":
            arrays.append(pa.array(series.to_numpy()))
        else:
            return None
        names.append(str(name))
    if not arrays or len(set(names)) != len(names):
        return None
    # In the order of the JSON path's object keys (the server reads JSON objects sorted by
    # name), so that the entity table, and with it the snapshot's hashes, are the same.
    order = sorted(range(len(names)), key=lambda i: names[i])
    table = pa.Table.from_arrays([arrays[i] for i in order], names=[names[i] for i in order])
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes()


_ARROW_TYPES = {"int64": "int64", "double": "float64", "string": "string", "bool": "bool_"}
_TIMESTAMP_DTYPE = None


def _timestamp_dtype():
    """The dtype `_convert._parse_timestamps` gives the server's timestamps (its unit
    depends on the pandas version)."""
    global _TIMESTAMP_DTYPE
    if _TIMESTAMP_DTYPE is None:
        _TIMESTAMP_DTYPE = _convert._parse_timestamps(["1970-01-01T00:00:00.000Z"]).dtype
    return _TIMESTAMP_DTYPE


def _read(content: bytes, types: Mapping[str, str], text_stamps: bool):
    column_types = {}
    for name, kind in types.items():
        if kind == "timestamp":
            column_types[name] = pa.string() if text_stamps else pa.timestamp("ms", tz="UTC")
        elif kind in _ARROW_TYPES:
            column_types[name] = getattr(pa, _ARROW_TYPES[kind])()
    convert = pacsv.ConvertOptions(column_types=column_types, null_values=[""],
                                   strings_can_be_null=True, quoted_strings_can_be_null=False,
                                   true_values=["true"], false_values=["false"])
    # Only text can hold a line break inside a (quoted) value; allowing them costs speed.
    parse = pacsv.ParseOptions(newlines_in_values="string" in types.values())
    return pacsv.read_csv(pa.py_buffer(content), parse_options=parse,
                          convert_options=convert)


def training_set_columns(content: bytes, types: Mapping[str, str],
                         stamps: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """The server's training-set CSV as ({column: values}, column order), `types` being its
    X-Cairn-Column-Types header; `stamps` are the columns to turn into UTC datetimes."""
    stamps = set(stamps)
    try:
        table = _read(content, types, text_stamps=False)
    except pa.ArrowInvalid:
        # Years outside 0001-9999 (pyarrow cannot parse them): as text, parsed by pandas
        # like the JSON path does (which raises the same error for out-of-range times).
        table = _read(content, types, text_stamps=True)
    out: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns):
        kind = types.get(name)
        if kind == "timestamp" and pa.types.is_timestamp(column.type):
            if column.null_count == len(column):  # pandas types no values its own way
                out[name] = _convert._parse_timestamps(column.to_pylist())
            else:
                out[name] = column.to_pandas().astype(_timestamp_dtype())
        elif name in stamps:
            out[name] = _convert._parse_timestamps(column.to_pylist())
        elif kind == "double":
            values = column.to_numpy()
            # As the JSON answer carries them: ±inf is null there (NaN here), and -0.0
            # reads back as the integer 0.
            values = np.where(np.isinf(values), np.nan, values)
            values[values == 0] = 0.0
            out[name] = values
        elif kind == "int64" and column.null_count == 0:
            out[name] = column.to_numpy()
        elif kind == "int64":
            out[name] = column.cast(pa.float64(), safe=False).to_numpy()
        else:
            out[name] = _convert.typed_values(kind, column.to_pylist())
    return out, list(table.column_names)
