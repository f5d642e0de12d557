"""The binary columnar transport of training sets (docs/formats/columns.md), used by
`FeatureStore.get_historical_features` when pyarrow imports.

The server lays the training set out as Apache Arrow's in-memory buffers behind a JSON
footer; this module wraps them with `pyarrow.Array.from_buffers` (no parsing, no copy of the
response) and turns each column into what the JSON transport builds from the same answer
(`_convert.typed_values`, `_convert._parse_timestamps`), so the DataFrame is the same
whichever way the rows travelled. Entity frames go up in the same form.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np
import pandas as pd

from cairn import _arrow_io, _convert
from cairn.errors import CairnError

CONTENT_TYPE = "application/vnd.cairn.columns"
MAGIC = b"CAIRNCOL"
VERSION = 1
_ALIGN = 64
_TRAILER = 16  # footer length (u64 LE) + magic

# Epoch milliseconds of 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the years
# that pandas parses from the server's RFC 3339 text (the JSON transport); outside them the
# text is built and parsed the same way, so the same error comes out.
_MIN_TEXT_MS = -62_135_596_800_000
_MAX_TEXT_MS = 253_402_300_799_999


def footer(content: bytes) -> dict:
    """The JSON footer of a columnar body; BAD_RESPONSE when the framing is wrong or the
    footer lacks the row count or the column list."""
    if len(content) < len(MAGIC) + _TRAILER or content[:8] != MAGIC or content[-8:] != MAGIC:
        raise CairnError("BAD_RESPONSE", "historical answer is not in the columnar form "
                         f"({CONTENT_TYPE}): no CAIRNCOL magic at both ends")
    length = int.from_bytes(content[-_TRAILER:-8], "little")
    if length > len(content) - len(MAGIC) - _TRAILER:
        raise CairnError("BAD_RESPONSE", f"columnar answer: footer length {length} exceeds "
                         f"the body ({len(content)} bytes)")
    end = len(content) - _TRAILER
    try:
        meta = json.loads(content[end - length:end])
    except ValueError as error:
        raise CairnError("BAD_RESPONSE", f"columnar answer: the footer is not JSON ({error})"
                         ) from None
    except RecursionError:
        raise CairnError("BAD_RESPONSE", "columnar answer: the footer is nested too deeply "
                         "to read") from None
    if not isinstance(meta, dict) or meta.get("version") != VERSION:
        raise CairnError("BAD_RESPONSE", f"columnar answer: footer version "
                         f"{meta.get('version') if isinstance(meta, dict) else None!r}, "
                         f"this SDK reads {VERSION}")
    rows = meta.get("rows")
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise CairnError("BAD_RESPONSE", "columnar answer: footer.rows is "
                         f"{_kind(rows)}, not a row count")
    columns = meta.get("columns")
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        raise CairnError("BAD_RESPONSE", "columnar answer: footer.columns is "
                         f"{_kind(columns)}, not a list of column objects")
    return meta


def _kind(value: Any) -> str:
    """A footer value in a message: scalars as written, containers by kind (a nested one
    is never printed whole)."""
    if value is None:
        return "missing"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "an object"
    return repr(value)[:40]


# --- the answer ---------------------------------------------------------------------------

_ARROW_TYPES = {"int64": "int64", "double": "float64", "bool": "bool_"}


def _array(pa, buffer, rows: int, spec: dict):
    def part(key):
        where = spec.get(key)
        return buffer.slice(where[0], where[1]) if where else None

    kind = spec.get("type")
    nulls = spec.get("null_count")
    if nulls is None and not spec.get("validity"):
        nulls = 0  # no bitmap: no nulls
    if not isinstance(nulls, int) or isinstance(nulls, bool) or nulls < 0:
        raise CairnError("BAD_RESPONSE", f"columnar answer: column {spec.get('name')!r} has "
                         f"null_count {_kind(nulls)} (a validity bitmap needs its count)")
    if kind == "string":
        return pa.Array.from_buffers(pa.large_string(), rows,
                                     [part("validity"), part("values"), part("data")],
                                     null_count=nulls)
    if kind == "timestamp":
        arrow_type = pa.timestamp("ms", tz="UTC")
    elif kind in _ARROW_TYPES:
        arrow_type = getattr(pa, _ARROW_TYPES[kind])()
    else:
        raise CairnError("BAD_RESPONSE", f"columnar answer: column {spec.get('name')!r} has "
                         f"type {kind!r}")
    return pa.Array.from_buffers(arrow_type, rows, [part("validity"), part("values")],
                                 null_count=nulls)


def _timestamp_text(millis: int) -> str:
    """The server's FormatTimestamp (RFC 3339 with milliseconds, any year)."""
    secs, ms = divmod(millis, 1000)
    days, rem = divmod(secs, 86_400)
    # Howard Hinnant's civil_from_days (the server's CivilFromDays).
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    year = f"-{-y:03d}" if y < 0 else f"{y:04d}"
    return (f"{year}-{m:02d}-{d:02d}T{rem // 3600:02d}:{rem % 3600 // 60:02d}:"
            f"{rem % 60:02d}.{ms:03d}Z")


def _timestamps(pa, array) -> Any:
    millis = array.cast(pa.int64())
    if array.null_count < len(array):
        import pyarrow.compute as pc

        bounds = pc.min_max(millis)  # of the non-null values
        if _MIN_TEXT_MS <= bounds["min"].as_py() and bounds["max"].as_py() <= _MAX_TEXT_MS:
            return array.to_pandas().astype(_arrow_io._timestamp_dtype())
    # All null (or no rows), or years pandas cannot hold: the JSON transport's way.
    return _convert._parse_timestamps(
        [None if v is None else _timestamp_text(v) for v in millis.to_pylist()])


def training_set_columns(content: bytes, stamps: Iterable[str]
                         ) -> tuple[dict[str, Any], list[str], dict]:
    """A columnar historical answer as ({column: values}, column order, footer); `stamps`
    are the non-timestamp columns to turn into UTC datetimes (entity datetimes, which
    travel as epoch milliseconds)."""
    pa = _arrow_io.pa
    meta = footer(content)
    rows = int(meta["rows"])
    buffer = pa.py_buffer(content)
    stamps = set(stamps)
    out: dict[str, Any] = {}
    order: list[str] = []
    for spec in meta["columns"]:
        name, kind = spec.get("name"), spec.get("type")
        if not isinstance(name, str):
            raise CairnError("BAD_RESPONSE", f"columnar answer: a column's name is "
                             f"{_kind(name)}")
        array = _array(pa, buffer, rows, spec)
        order.append(name)
        if kind == "timestamp":
            out[name] = _timestamps(pa, array)
        elif name in stamps:
            out[name] = _convert._parse_timestamps(array.to_pylist())
        elif kind == "double":
            values = array.to_numpy(zero_copy_only=False) + 0.0  # -0.0 → 0.0, a new array
            # As the JSON answer carries them: NaN and ±inf are null there (NaN here).
            bad = ~np.isfinite(values)
            if bad.any():
                values[bad] = np.nan
            out[name] = values
        elif kind == "int64" and array.null_count == 0:
            out[name] = array.to_numpy()
        elif kind == "int64":
            out[name] = array.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        elif kind == "bool" and array.null_count == 0 and rows:
            out[name] = array.to_numpy(zero_copy_only=False)
        elif kind == "string" and array.null_count < rows:
            out[name] = array.to_pandas()
        else:  # nulls in a bool column, all-null or empty text: as lists, like JSON
            out[name] = _convert.typed_values(kind, array.to_pylist())
    return out, order, meta


# --- the entity upload --------------------------------------------------------------------

def _pad(n: int) -> int:
    return -n % _ALIGN


def entities_columns(df: pd.DataFrame) -> bytes | None:
    """`df` in the columnar form, or None when it is not sent this way: no pyarrow, no rows,
    or a column of a kind the server would type differently than from CSV text (floats,
    text, nullable extension dtypes); the caller then sends CSV or JSON. Ints as int64,
    bools as bool, datetimes as int64 epoch milliseconds (the server reads the timestamp
    column and timestamp keys as times, other datetime columns as int64, as from CSV),
    in the order of the column names (as the JSON path's object keys)."""
    if _arrow_io.pa is None or len(df) == 0:
        return None
    rows = len(df)
    columns = []
    for name in df.columns:
        series = df[name]
        dtype = series.dtype
        validity, nulls = None, 0
        if pd.api.types.is_datetime64_any_dtype(dtype):
            if getattr(dtype, "tz", None) is not None:
                series = series.dt.tz_convert("UTC").dt.tz_localize(None)
            missing = series.isna().to_numpy()
            values = series.values.astype("datetime64[ms]").view(np.int64).copy()
            nulls = int(missing.sum())
            if nulls:
                values[missing] = 0
                validity = np.packbits(~missing, bitorder="little").tobytes()
            kind, payload = "int64", values.astype("<i8", copy=False).tobytes()
        elif isinstance(dtype, np.dtype) and dtype.kind == "i":
            kind, payload = "int64", series.to_numpy().astype("<i8", copy=False).tobytes()
        elif isinstance(dtype, np.dtype) and dtype.kind == "b":
            kind = "bool"
            payload = np.packbits(series.to_numpy(), bitorder="little").tobytes()
        else:
            return None
        columns.append((str(name), kind, validity, payload, nulls))
    names = [c[0] for c in columns]
    if not columns or len(set(names)) != len(names):
        return None
    columns.sort(key=lambda c: c[0])
    parts = [MAGIC, b"\0" * _pad(len(MAGIC))]
    at = len(MAGIC) + _pad(len(MAGIC))
    specs = []

    def put(data: bytes) -> list[int]:
        nonlocal at
        where = [at, len(data)]
        parts.append(data)
        parts.append(b"\0" * _pad(len(data)))
        at += len(data) + _pad(len(data))
        return where

    for name, kind, validity, payload, nulls in columns:
        spec = {"name": name, "type": kind, "null_count": nulls,
                "validity": put(validity) if validity is not None else None}
        spec["values"] = put(payload)
        specs.append(spec)
    meta = json.dumps({"format": "cairn.columns", "version": VERSION, "rows": rows,
                       "columns": specs}).encode()
    parts += [meta, len(meta).to_bytes(8, "little"), MAGIC]
    return b"".join(parts)
