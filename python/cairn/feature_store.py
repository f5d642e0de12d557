"""`FeatureStore`: the client of the Cairn server's feature store (HTTP API
/api/v1/features/... and the Feast-shaped /get-online-features)."""

from __future__ import annotations

import datetime as _dt
import json as _json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote

import pandas as pd
from cairn import _arrow_io, _columnar, _convert
from cairn._client import DEFAULT_URL, Client  # noqa: F401 (DEFAULT_URL re-exported)
from cairn.errors import CairnError

PUSH_TARGETS = ("online", "offline", "online_and_offline")
# MLflow stores dataset digests of at most 36 characters.
_MLFLOW_MAX_DIGEST = 36


class OnlineResponse:
    """The answer of an online read, in Feast's shape: `metadata.feature_names` and one
    result per name (column-major) with `values`, `statuses` (PRESENT, NULL_VALUE,
    NOT_FOUND, OUTSIDE_MAX_AGE) and `event_timestamps`."""

    def __init__(self, payload: Mapping[str, Any]):
        self.raw = payload
        self.feature_names: list[str] = list(payload.get("metadata", {}).get("feature_names", []))
        self._results: list[Mapping[str, Any]] = list(payload.get("results", []))
        if len(self._results) != len(self.feature_names):
            raise CairnError("BAD_RESPONSE",
                             f"online response has {len(self.feature_names)} feature names "
                             f"but {len(self._results)} results")

    def to_dict(self) -> dict[str, list]:
        """{name: [value per entity row]} (join keys and features), like Feast's."""
        return {name: list(result.get("values", []))
                for name, result in zip(self.feature_names, self._results)}

    @property
    def statuses(self) -> dict[str, list[str]]:
        """{name: [status per entity row]}."""
        return {name: list(result.get("statuses", []))
                for name, result in zip(self.feature_names, self._results)}

    @property
    def event_timestamps(self) -> dict[str, list]:
        """{name: [event time per entity row]} as the server wrote them (RFC 3339)."""
        return {name: list(result.get("event_timestamps", []))
                for name, result in zip(self.feature_names, self._results)}

    def to_df(self) -> pd.DataFrame:
        """The values as a DataFrame, one row per entity row."""
        return pd.DataFrame(self.to_dict(), columns=self.feature_names)

    def __repr__(self) -> str:
        return f"OnlineResponse({self.to_dict()!r})"


class FeatureStore(Client):
    """A connection to a Cairn server's feature store.

    `url` defaults to $CAIRN_URL, else http://127.0.0.1:5000. One keep-alive HTTP session
    is shared by all calls; the object can be used as a context manager. Every failure
    raises `CairnError` with the server's error code and message.
    """

    # How training sets travel when pyarrow imports: "columns" (binary, Arrow's buffers) or
    # "csv" (the CLI's form). Without pyarrow they travel as JSON. For tests and A/B runs.
    _historical_transport = "columns"

    def __init__(self, url: str | None = None, timeout: float = 600.0):
        super().__init__(url, timeout)

    # --- definitions -------------------------------------------------------------------

    def apply(self, path: str | os.PathLike, dry_run: bool = False,
              prune: bool = False) -> dict:
        """Applies the YAML definitions in `path` (one file, or every *.yaml / *.yml below
        a directory) and returns the server's plan: {"changes": [{"kind", "name",
        "action": "added" | "changed" | "unchanged" | "removed", "old_version",
        "new_version", "diffs": [{"path", "old", "new"}], "file", "line"}, ...],
        "applied": bool}. `dry_run` only computes the plan; `prune` removes registered
        objects that the files no longer define."""
        root = Path(path)
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")
                           and p.is_file())
            if not files:
                raise CairnError("INVALID_PARAMETER_VALUE",
                                 f"no *.yaml or *.yml files under {root}")
        elif root.is_file():
            files = [root]
        else:
            raise CairnError("INVALID_PARAMETER_VALUE", f"{root}: no such file or directory")
        documents = [{"path": str(p.relative_to(root) if root.is_dir() else p.name),
                      "content": p.read_text()} for p in files]
        body = {"files": documents, "dry_run": bool(dry_run), "prune": bool(prune)}
        return self._call("POST", "/api/v1/features/apply", json=body)

    def list_entities(self) -> list[dict]:
        """The registered entities (latest versions)."""
        return self._list("entities")

    def list_sources(self) -> list[dict]:
        """The registered sources (latest versions)."""
        return self._list("sources")

    def list_feature_views(self) -> list[dict]:
        """The registered feature views (latest versions)."""
        return self._list("views")

    def list_feature_services(self) -> list[dict]:
        """The registered feature services (latest versions)."""
        return self._list("services")

    def get_feature_view(self, name: str, version: int | None = None) -> dict:
        """One feature view: the latest version, or `version`."""
        return self._get_object("views", name, version)

    def get_feature_service(self, name: str, version: int | None = None) -> dict:
        """One feature service: the latest version, or `version`."""
        return self._get_object("services", name, version)

    # --- data in -----------------------------------------------------------------------

    def ingest(self, source: str, path: str | os.PathLike, quarantine: bool = False,
               format: str | None = None) -> dict:
        """Uploads a CSV or JSON Lines file (streamed) into a file source and returns
        {"rows", "quarantined", "views", ...}. A bad row rejects the whole file with an
        error naming the file, line, column and value, unless `quarantine` is true: then
        bad rows are stored aside and counted. `format` ("csv" | "jsonl") defaults to
        the source's."""
        path = Path(path)
        params = {"quarantine": "true" if quarantine else "false", "file": path.name}
        if format:
            params["format"] = format
        with open(path, "rb") as body:
            return self._call("POST", f"/api/v1/features/sources/{quote(source, safe='')}/ingest",
                              params=params, data=body,
                              headers={"Content-Type": "application/octet-stream"})

    def push(self, source: str, df: pd.DataFrame | Mapping[str, Sequence[Any]],
             to: str = "online") -> dict:
        """Writes rows to a push source's views: `to` is "online", "offline" or
        "online_and_offline". `df` is a DataFrame or {column: [values]}."""
        if to not in PUSH_TARGETS:
            raise ValueError(f"to={to!r}: use one of {', '.join(PUSH_TARGETS)}")
        body = {"push_source_name": source, "df": self._columns(df, "df"), "to": to}
        return self._call("POST", "/api/v1/features/push", json=body)

    def materialize(self, start: Any, end: Any, views: Iterable[str] | None = None) -> dict:
        """Writes the latest row per key with event time in [start, end) of each online
        view (or of `views`) to the online store; returns per-view counts."""
        body: dict[str, Any] = {"start": _wire_time(start), "end": _wire_time(end)}
        if views is not None:
            body["views"] = list(views)
        return self._call("POST", "/api/v1/features/materialize", json=body)

    def materialize_incremental(self, end: Any, views: Iterable[str] | None = None) -> dict:
        """Materializes each view from where its last materialization ended up to `end`."""
        body: dict[str, Any] = {"end": _wire_time(end)}
        if views is not None:
            body["views"] = list(views)
        return self._call("POST", "/api/v1/features/materialize-incremental", json=body)

    # --- data out ----------------------------------------------------------------------

    def get_historical_features(self, entity_df: pd.DataFrame | str | os.PathLike,
                                features: Sequence[str] | None = None,
                                feature_service: str | None = None,
                                full_feature_names: bool = False,
                                timestamp_column: str = "event_timestamp") -> pd.DataFrame:
        """The point-in-time correct training set for `entity_df` (join keys + the
        timestamp column; a DataFrame or a CSV file), with Feast's semantics: for each row
        and view, the latest feature row with event time <= the row's time (and within
        the view's TTL), ties broken by created time, null when none qualifies.

        Give `features` ("view:feature", or "view" for all of a view) or
        `feature_service`. The result keeps the entity rows in their order, their columns
        (the timestamp column as UTC datetimes), then one column per feature ("feature"
        or "view__feature" with `full_feature_names`). The training-set snapshot the
        server saved (id, content_hash, entity_hash, feature_views, rows) is in
        `df.attrs["cairn_snapshot"]`, the server's join time in `df.attrs["cairn_join_ms"]`.

        With pyarrow installed the training set travels in Cairn's binary columnar form
        (docs/formats/columns.md: Arrow's buffers, wrapped without parsing), and so do
        entity frames of ints, bools and datetimes (others go up as CSV or JSON); without
        pyarrow, or for entity columns that CSV would not type the same way (floats, text),
        everything travels as JSON. The result is the same.
        """
        body = self._feature_selection(features, feature_service)
        body.update({"full_feature_names": bool(full_feature_names),
                     "timestamp_column": timestamp_column})
        is_frame = isinstance(entity_df, pd.DataFrame)
        if is_frame and timestamp_column not in entity_df.columns:
            raise ValueError(f"entity_df has no timestamp column {timestamp_column!r} "
                             f"(columns: {list(entity_df.columns)}); pass "
                             "timestamp_column=")
        entity_columns = [str(c) for c in entity_df.columns] if is_frame else []
        stamps = {timestamp_column}
        if is_frame:
            stamps.update(str(c) for c in entity_df.columns
                          if pd.api.types.is_datetime64_any_dtype(entity_df[c].dtype))
        transport = self._historical_transport if _arrow_io.available() else "json"
        upload, upload_type = None, "text/csv"
        if transport != "json" and not is_frame:
            upload = Path(entity_df).read_bytes()
        elif transport == "columns":
            upload, upload_type = _columnar.entities_columns(entity_df), _columnar.CONTENT_TYPE
        if transport != "json" and is_frame and upload is None:
            upload, upload_type = _arrow_io.entities_csv(entity_df), "text/csv"
        if upload is not None and transport == "columns":
            columns, order, snapshot, join_ms = self._historical_columns(body, upload,
                                                                         upload_type, stamps)
        elif upload is not None:
            columns, order, snapshot, join_ms = self._historical_csv(body, upload, stamps)
        else:
            columns, order, snapshot, join_ms = self._historical_json(
                body, entity_df, features, feature_service, full_feature_names, stamps)
        if entity_columns and set(entity_columns) <= set(order):
            # The entity columns in the caller's order (a JSON object's keys may come back
            # sorted), then the features in the server's order.
            order = entity_columns + [c for c in order if c not in entity_columns]
        result = pd.DataFrame({name: columns[name] for name in order}, columns=order)
        if is_frame and len(result) == len(entity_df):
            # Entity columns exactly as given (dtypes kept), except the timestamp in UTC.
            for name in entity_columns:
                if name in result.columns and name not in stamps:
                    result[name] = entity_df[name].to_numpy()
        result.attrs["cairn_snapshot"] = snapshot
        if join_ms is not None:
            result.attrs["cairn_join_ms"] = join_ms
        return result

    def _historical_json(self, body, entity_df, features, feature_service,
                         full_feature_names, stamps):
        """The historical request as JSON both ways: ({column: values}, column order,
        snapshot, join ms)."""
        body = {**body, "format": "json"}
        if isinstance(entity_df, pd.DataFrame):
            body["entities"] = _convert.frame_to_columns(entity_df)
        else:
            body["entities_csv"] = Path(entity_df).read_text()
        payload = self._call("POST", "/api/v1/features/historical", json=body)
        return self._historical_payload(payload, features, feature_service,
                                        full_feature_names, stamps)

    def _historical_payload(self, payload, features, feature_service, full_feature_names,
                            stamps):
        """The JSON answer of a historical request: ({column: values}, column order,
        snapshot, join ms)."""
        columns = payload.get("columns")
        if not isinstance(columns, dict):
            raise CairnError("BAD_RESPONSE", "historical response has no 'columns' object")
        order = payload.get("column_order") or list(columns)
        types = payload.get("column_types")
        stamps = set(stamps)
        if types is not None:
            stamps.update(name for name, kind in types.items() if kind == "timestamp")
        else:
            stamps.update(self._timestamp_features(features, feature_service,
                                                   full_feature_names))
        types = types or {}
        out = {}
        for name in order:
            if name in stamps:
                out[name] = _convert._parse_timestamps(columns[name])
            else:
                out[name] = _convert.typed_values(types.get(name), columns[name])
        return out, order, payload.get("snapshot"), payload.get("join_ms")

    @staticmethod
    def _query(body) -> list:
        """The request's fields as query parameters (for a CSV or columnar body)."""
        params = [(key, value) for key, value in body.items() if key != "features"]
        params = [(k, ("true" if v else "false") if isinstance(v, bool) else v)
                  for k, v in params]
        return params + [("features", f) for f in body.get("features", [])]

    def _historical_columns(self, body, upload: bytes, upload_type: str, stamps):
        """The historical request with the entity rows as a columnar (or CSV) body and the
        training set in the columnar form: ({column: values}, column order, snapshot, join
        ms). The snapshot record comes in the answer's footer."""
        params = self._query(body) + [("format", "columns")]
        response = self._send("POST", "/api/v1/features/historical", params=params,
                              data=upload, headers={"Content-Type": upload_type}, stream=True)
        # Read in pieces of 1 MiB (requests' default is 10 KiB: thousands of Python calls
        # for a large training set).
        content = b"".join(response.iter_content(chunk_size=1 << 20))
        if not response.headers.get("Content-Type", "").startswith(_columnar.CONTENT_TYPE):
            raise CairnError("BAD_RESPONSE", "historical answer: asked for "
                             f"{_columnar.CONTENT_TYPE}, got "
                             f"{response.headers.get('Content-Type')!r} (an older server?)")
        columns, order, meta = _columnar.training_set_columns(content, stamps)
        join_ms = meta.get("join_ms")
        return columns, order, meta.get("snapshot"), int(join_ms) if join_ms is not None else None

    def _historical_csv(self, body, upload: bytes, stamps):
        """The historical request with the entity rows as a CSV body and the training set
        as CSV, read by pyarrow: ({column: values}, column order, snapshot, join ms). The
        server answers JSON instead when the column types would make too long a header."""
        params = self._query(body) + [("format", "csv")]
        response = self._send("POST", "/api/v1/features/historical", params=params,
                               data=upload, headers={"Content-Type": "text/csv"})
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return self._historical_payload(response.json(), body.get("features"),
                                            body.get("feature_service"),
                                            body.get("full_feature_names", False), stamps)
        types_header = response.headers.get("X-Cairn-Column-Types")
        snapshot_id = response.headers.get("X-Cairn-Snapshot-Id")
        if types_header is None or snapshot_id is None:
            raise CairnError("BAD_RESPONSE", "historical CSV answer has no X-Cairn-Column-Types"
                             " or X-Cairn-Snapshot-Id header")
        types = _json.loads(types_header)
        stamps = set(stamps) | {name for name, kind in types.items() if kind == "timestamp"}
        columns, order = _arrow_io.training_set_columns(response.content, types, stamps)
        snapshot = self.get_training_set(snapshot_id)
        join_ms = response.headers.get("X-Cairn-Join-Ms")
        return columns, order, snapshot, int(join_ms) if join_ms is not None else None

    def get_online_features(self, features: Sequence[str] | None = None,
                            feature_service: str | None = None,
                            entity_rows: Sequence[Mapping[str, Any]] | None = None,
                            entities: Mapping[str, Sequence[Any]] | None = None,
                            full_feature_names: bool = False) -> OnlineResponse:
        """Latest feature values for some entities from the online store, Feast-style:
        `entity_rows=[{"customer_id": 1}, ...]` or `entities={"customer_id": [1, ...]}`.
        Returns an OnlineResponse (`.to_dict()`, `.to_df()`, `.statuses`)."""
        if (entity_rows is None) == (entities is None):
            raise ValueError("pass exactly one of entity_rows= or entities=")
        if entity_rows is not None:
            columns = _convert.rows_to_columns(entity_rows)
        else:
            columns = {str(k): _convert.values_to_json(v) for k, v in entities.items()}
        body = self._feature_selection(features, feature_service)
        body.update({"entities": columns, "full_feature_names": bool(full_feature_names)})
        return OnlineResponse(self._call("POST", "/get-online-features", json=body))

    def get_training_set(self, snapshot_id: str) -> dict:
        """The record of a training-set snapshot (hashes, view versions, rows)."""
        return self._call("GET", f"/api/v1/features/training-sets/{quote(snapshot_id, safe='')}")

    def training_set_dataset(self, training_set: pd.DataFrame | Mapping[str, Any],
                             name: str | None = None):
        """An MLflow dataset that stands for a training set, for `mlflow.log_input`: its
        digest is the snapshot's content hash (MLflow keeps at most 36 characters of it)
        and its source the snapshot's URL on this server. Needs `mlflow`."""
        from mlflow.data.http_dataset_source import HTTPDatasetSource
        from mlflow.data.meta_dataset import MetaDataset

        snapshot = (training_set.attrs.get("cairn_snapshot")
                    if isinstance(training_set, pd.DataFrame) else training_set)
        if not snapshot or "id" not in snapshot or "content_hash" not in snapshot:
            raise ValueError("no training-set snapshot: pass the DataFrame that "
                             "get_historical_features returned, or its snapshot dict")
        digest = str(snapshot["content_hash"])
        if ":" in digest:
            digest = digest.split(":", 1)[1]
        source = HTTPDatasetSource(
            url=f"{self.url}/api/v1/features/training-sets/{snapshot['id']}")
        return MetaDataset(source=source, name=name or f"training-set-{snapshot['id']}",
                           digest=digest[:_MLFLOW_MAX_DIGEST])

    # --- plumbing ----------------------------------------------------------------------

    def _timestamp_features(self, features, feature_service, full_feature_names) -> set:
        """Output names of the timestamp-typed features of the views referenced (the
        historical answer carries values, not types)."""
        refs = (list(features) if features is not None
                else self.get_feature_service(feature_service).get("features", []))
        names = set()
        for view in {str(ref).split(":", 1)[0] for ref in refs}:
            for feature in self.get_feature_view(view).get("features", []):
                if feature.get("type") == "timestamp":
                    names.add(f"{view}__{feature['name']}" if full_feature_names
                              else feature["name"])
        return names

    @staticmethod
    def _feature_selection(features, feature_service) -> dict:
        if (features is None) == (feature_service is None):
            raise ValueError("pass exactly one of features= or feature_service=")
        if feature_service is not None:
            return {"feature_service": feature_service}
        if isinstance(features, str):
            raise ValueError("features= is a list of 'view:feature' strings, not one string")
        return {"features": list(features)}

    @staticmethod
    def _columns(df, what: str) -> dict:
        if isinstance(df, pd.DataFrame):
            return _convert.frame_to_columns(df)
        if isinstance(df, Mapping):
            return {str(k): _convert.values_to_json(v) for k, v in df.items()}
        raise TypeError(f"{what} must be a pandas DataFrame or a dict of columns, "
                        f"not {type(df).__name__}")

    def _list(self, kind: str) -> list[dict]:
        payload = self._call("GET", f"/api/v1/features/{kind}")
        if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
            raise CairnError("BAD_RESPONSE", f"GET /api/v1/features/{kind}: no 'items' list")
        return payload["items"]

    def _get_object(self, kind: str, name: str, version: int | None) -> dict:
        path = f"/api/v1/features/{kind}/{quote(name, safe='')}"
        if version is not None:
            path += f"/versions/{int(version)}"
        return self._call("GET", path)


def _wire_time(value: Any) -> str:
    """A point in time as RFC 3339 UTC text with milliseconds."""
    if isinstance(value, str):
        return value
    millis = _convert.timestamp_to_ms(value)
    if millis is None:
        raise ValueError("a materialization bound cannot be null")
    moment = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(
        milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
