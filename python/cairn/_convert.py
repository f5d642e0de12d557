"""Conversions between pandas / Python values and the server's JSON.

On the wire, tables are column-major ({"col": [v, ...]}), nulls are JSON null and
timestamps go out as integer epoch milliseconds (exact, and cheaper to parse than text);
the server answers timestamps as RFC 3339 strings.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def timestamp_to_ms(value: Any) -> Any:
    """A point in time as epoch milliseconds. Naive datetimes are taken as UTC; ints are
    already milliseconds; strings pass through unchanged (the server parses RFC 3339)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"a timestamp cannot be a bool ({value!r})")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(value)
        if ts is pd.NaT:
            return None
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        return int(ts.value // 1_000_000)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if isinstance(value, _dt.date):
        return timestamp_to_ms(_dt.datetime(value.year, value.month, value.day))
    raise TypeError(f"cannot use {value!r} ({type(value).__name__}) as a timestamp: pass a "
                    "datetime, a pandas Timestamp, epoch milliseconds or an RFC 3339 string")


def _scalar(value: Any) -> Any:
    """One cell as a JSON value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (pd.Timestamp, np.datetime64, _dt.datetime, _dt.date)):
        return timestamp_to_ms(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def values_to_json(values: Iterable[Any]) -> list:
    """A sequence (list, numpy array, pandas Series) as a JSON-ready list."""
    if isinstance(values, pd.Series):
        return series_to_json(values)
    if isinstance(values, np.ndarray):
        return series_to_json(pd.Series(values))
    return [_scalar(v) for v in values]


def series_to_json(series: pd.Series) -> list:
    """A pandas column as a JSON-ready list, vectorized for the common dtypes."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        millis = series.values.astype("datetime64[ms]").astype(np.int64)
        out = millis.tolist()
        if series.isna().any():
            for i in np.flatnonzero(series.isna().to_numpy()):
                out[i] = None
        return out
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return series.tolist()
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        out = series.tolist()
        if series.isna().any():
            for i in np.flatnonzero(series.isna().to_numpy()):
                out[i] = None
        return out
    return [_scalar(v) for v in series.tolist()]


def frame_to_columns(df: pd.DataFrame) -> dict[str, list]:
    """A DataFrame as {"column": [values...]} (column-major JSON)."""
    return {str(name): series_to_json(df[name]) for name in df.columns}


def rows_to_columns(rows: Iterable[Mapping[str, Any]]) -> dict[str, list]:
    """[{"k": 1, "t": ...}, ...] as column-major JSON; every row must have the same keys."""
    columns: dict[str, list] = {}
    rows = list(rows)
    for i, row in enumerate(rows):
        if i == 0:
            for key in row:
                columns[str(key)] = []
        elif set(map(str, row)) != set(columns):
            raise ValueError(f"entity_rows[{i}] has keys {sorted(map(str, row))}, but "
                             f"entity_rows[0] has {sorted(columns)}: give every row the "
                             "same join keys")
        for key, value in row.items():
            columns[str(key)].append(_scalar(value))
    return columns


def typed_values(kind: str | None, values: list) -> Any:
    """One column of the server's answer (JSON values) by its declared type: doubles as
    float64 (null → NaN, integral values stay floats), int64 as int64 (float64 with NaN
    when a value is null); other types (bool, string) as the list, for pandas to type."""
    if kind == "double":
        return pd.Series(values, dtype="float64").to_numpy()
    if kind == "int64":
        if any(v is None for v in values):
            return pd.Series(values, dtype="float64").to_numpy()
        return np.array(values, dtype=np.int64)
    return values


def columns_to_frame(columns: Mapping[str, list], order: list[str] | None,
                     timestamp_columns: Iterable[str]) -> pd.DataFrame:
    """The server's column-major answer as a DataFrame; `timestamp_columns` (RFC 3339
    strings or epoch ms) become pandas datetimes in UTC."""
    names = list(order) if order else list(columns)
    data = {}
    stamps = set(timestamp_columns)
    for name in names:
        values = columns[name]
        if name in stamps:
            data[name] = _parse_timestamps(values)
        else:
            data[name] = values
    return pd.DataFrame(data, columns=names)


def _parse_timestamps(values: list) -> pd.Series:
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return pd.to_datetime(pd.Series(values, dtype="float64"), unit="ms", utc=True)
    return pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
