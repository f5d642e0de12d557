"""get_historical_features moves the rows in the binary columnar form (Arrow's buffers,
docs/formats/columns.md) when pyarrow imports, as CSV when told to (the CLI's form), else as
JSON: all three must give the same DataFrame (values bit for bit, nulls, dtypes, column
order, timestamps, attrs) and the same training-set snapshot, for every feature type and
every kind of entity frame."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn import _arrow_io, _columnar
from features import server

pytestmark = server.skip_unless_cairn()
pyarrow = pytest.importorskip("pyarrow")

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE = 60_000

YAML = """\
kind: Entity
name: account
join_keys: [{name: account_id, type: int64}]
---
kind: Source
name: acct_push
type: push
timestamp_field: ts
schema:
  - {name: account_id, type: int64, nullable: false}
  - {name: ts, type: timestamp, nullable: false}
  - {name: n, type: int64}
  - {name: x, type: double}
  - {name: label, type: string}
  - {name: flag, type: bool}
  - {name: seen, type: timestamp}
---
kind: FeatureView
name: acct
entities: [account]
source: acct_push
ttl: 0
online: false
features:
  - {name: n, type: int64}
  - {name: x, type: double}
  - {name: label, type: string}
  - {name: flag, type: bool}
  - {name: seen, type: timestamp}
---
kind: FeatureView
name: acct_dense
entities: [account]
source: acct_push
ttl: 0
online: false
features:
  - {name: n_dense, type: int64, expr: "coalesce(n, 0)"}
  - {name: whole, type: double, expr: "coalesce(x, 0.0) * 0.0 + 2.0"}
  - {name: flag_dense, type: bool, expr: "coalesce(flag, false)"}
"""

# A view so wide that its column types do not fit the CSV answer's header (8 KiB).
WIDE = [f"wide_feature_with_a_rather_long_name_{i:03d}" for i in range(300)]
YAML += """\
---
kind: FeatureView
name: acct_wide
entities: [account]
source: acct_push
ttl: 0
online: false
features:
""" + "".join(f"  - {{name: {name}, type: double, expr: \"coalesce(x, 0.0) + {i}.0\"}}\n"
              for i, name in enumerate(WIDE))

ALL = ["acct:n", "acct:x", "acct:label", "acct:flag", "acct:seen", "acct_dense:n_dense",
       "acct_dense:whole"]


@pytest.fixture(scope="module")
def fs(tmp_path_factory):
    root = tmp_path_factory.mktemp("transport")
    srv = server.start(root / "data")
    store = cairn.FeatureStore(srv.url)
    (root / "defs").mkdir()
    (root / "defs" / "defs.yaml").write_text(YAML)
    store.apply(root / "defs")
    rng = np.random.default_rng(3)
    rows = 400
    labels = ["a", "", "x,y", 'q"uote', "line\nbreak", "NA", "null", "nan", "é", " pad "]
    df = {
        "account_id": [int(k) for k in rng.integers(0, 60, rows)],
        "ts": [T0 + int(t) * MINUTE for t in rng.integers(0, 1000, rows)],
        "n": [None if i % 7 == 0 else int(v) for i, v in
              enumerate(rng.integers(-2**62, 2**62, rows))],
        "x": [None if i % 5 == 0 else [0.1, -0.0, 1e22, 5e-324, 3.0, 2.5][i % 6]
              * float(rng.random()) if i % 11 else 1.0 for i in range(rows)],
        "label": [None if i % 9 == 0 else labels[i % len(labels)] for i in range(rows)],
        "flag": [None if i % 13 == 0 else bool(i % 2) for i in range(rows)],
        "seen": [None if i % 4 == 0 else T0 - int(v) * 1000 for i, v in
                 enumerate(rng.integers(0, 10**6, rows))],
    }
    store.push("acct_push", df, to="offline")
    yield store
    store.close()
    srv.stop()


def _all(fs, monkeypatch, entity, **kwargs):
    """(via the columnar form, via CSV, via JSON), checking which transport each call
    used."""
    used = []
    for name in ("_historical_columns", "_historical_csv", "_historical_json"):
        real = getattr(fs, name)
        monkeypatch.setattr(fs, name, lambda *a, _real=real, _name=name, **k: used.append(
            _name.rsplit("_", 1)[1]) or _real(*a, **k))
    via_columns = fs.get_historical_features(entity, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(fs, "_historical_transport", "csv")
        via_csv = fs.get_historical_features(entity, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(_arrow_io, "pa", None)
        via_json = fs.get_historical_features(entity, **kwargs)
    return via_columns, via_csv, via_json, used


def _assert_all_same(via_columns, via_csv, via_json) -> None:
    _assert_same(via_columns, via_json)
    _assert_same(via_csv, via_json)
    assert via_columns.attrs.keys() == via_json.attrs.keys() == via_csv.attrs.keys()


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert [str(t) for t in a.dtypes] == [str(t) for t in b.dtypes]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for name in a.columns:  # NaN/None/NaT in the same places, same values bit for bit
        assert a[name].isna().tolist() == b[name].isna().tolist(), name
        if a[name].dtype.kind == "f":
            assert np.array_equal(a[name].to_numpy(), b[name].to_numpy(), equal_nan=True)
            assert (np.signbit(a[name].to_numpy()) == np.signbit(b[name].to_numpy())).all()
    sa, sb = a.attrs["cairn_snapshot"], b.attrs["cairn_snapshot"]
    assert sa["content_hash"] == sb["content_hash"]
    assert sa["entity_hash"] == sb["entity_hash"]
    assert {k: v for k, v in sa.items() if k not in ("id", "created_at", "uri")} == \
        {k: v for k, v in sb.items() if k not in ("id", "created_at", "uri")}


def _entities(rows=300, seed=5, **extra):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "account_id": rng.integers(0, 70, rows),
        "event_timestamp": pd.to_datetime(T0 + rng.integers(-10, 1100, rows) * MINUTE,
                                          unit="ms"),
    })
    for name, values in extra.items():
        df[name] = values
    return df


ALL_THREE = ["columns", "csv", "json"]


def test_every_feature_type_is_the_same_through_columns_csv_and_json(fs, monkeypatch):
    via_columns, via_csv, via_json, used = _all(fs, monkeypatch, _entities(), features=ALL)
    assert used == ALL_THREE
    _assert_all_same(via_columns, via_csv, via_json)
    assert via_columns["whole"].dtype == np.float64  # integral doubles stay doubles
    assert str(via_columns["seen"].dtype).endswith(", UTC]")
    assert via_columns["label"].isna().any() and (via_columns["label"] == "").any()
    assert (via_columns["label"] == "line\nbreak").any() and (via_columns["label"] == "NA").any()
    assert via_columns["n"].dtype == np.float64  # int64 with nulls, as JSON gives them
    assert via_columns.attrs["cairn_join_ms"] >= 0


def test_columns_without_nulls(fs, monkeypatch):
    # Keys that all have rows, at times after every row: no feature is null.
    entity = pd.DataFrame({"account_id": np.arange(60, dtype=np.int64),
                           "event_timestamp": pd.to_datetime([T0 + 2000 * MINUTE] * 60,
                                                             unit="ms")})
    via_columns, via_csv, via_json, used = _all(
        fs, monkeypatch, entity, features=["acct_dense:n_dense", "acct_dense:whole",
                                           "acct_dense:flag_dense"])
    assert used == ALL_THREE
    _assert_all_same(via_columns, via_csv, via_json)
    assert [str(t) for t in via_columns.dtypes[2:]] == ["int64", "float64", "bool"]


def test_full_feature_names_and_a_service_free_subset(fs, monkeypatch):
    via_columns, via_csv, via_json, used = _all(
        fs, monkeypatch, _entities(seed=6), features=["acct:x", "acct_dense:whole", "acct:seen"],
        full_feature_names=True)
    assert used == ALL_THREE
    _assert_all_same(via_columns, via_csv, via_json)
    assert list(via_columns.columns)[-3:] == ["acct__x", "acct__seen", "acct_dense__whole"]


def test_entity_frames_of_every_csv_kind(fs, monkeypatch):
    rows = 200
    rng = np.random.default_rng(8)
    stamps = pd.to_datetime(T0 + rng.integers(0, 1000, rows) * MINUTE, unit="ms")
    cases = {
        "tz-aware timestamps": _entities(rows).assign(
            event_timestamp=stamps.tz_localize("UTC").tz_convert("Europe/Paris")),
        "a null timestamp and extra int/bool/datetime columns": _entities(
            rows, weight=np.arange(rows, dtype=np.int64) * 3 - 100,
            active=np.arange(rows) % 3 == 0,
            signup=stamps - pd.Timedelta(days=30)),
        "int32 keys": _entities(rows).assign(
            account_id=lambda d: d["account_id"].astype(np.int32)),
        "columns in another order": _entities(rows)[["event_timestamp", "account_id"]],
        "no rows": _entities(0),
        "one row": _entities(1),
    }
    cases["a null timestamp and extra int/bool/datetime columns"].loc[
        5, "event_timestamp"] = pd.NaT
    for name, entity in cases.items():
        via_columns, via_csv, via_json, used = _all(fs, monkeypatch, entity, features=ALL)
        assert used == ALL_THREE, name
        _assert_all_same(via_columns, via_csv, via_json)
        assert len(via_columns) == len(entity), name


def test_entity_columns_csv_would_type_differently_go_as_json(fs, monkeypatch):
    entity = _entities(50, score=np.linspace(0, 1, 50), name=[f"n{i}" for i in range(50)])
    via_columns, via_csv, via_json, used = _all(fs, monkeypatch, entity, features=ALL)
    assert used == ["json", "json", "json"]
    _assert_all_same(via_columns, via_csv, via_json)


def test_an_entity_csv_file_is_sent_as_is(fs, monkeypatch, tmp_path):
    path = tmp_path / "entities.csv"
    path.write_text("account_id,event_timestamp,note\n"
                    "1,2024-01-01T05:00:00Z,a\n"
                    "2,2024-01-01T06:00:00.250Z,\n"
                    "3,1704081600000,\"c,d\"\n")
    via_columns, via_csv, via_json, used = _all(fs, monkeypatch, path, features=ALL)
    assert used == ALL_THREE
    _assert_all_same(via_columns, via_csv, via_json)
    assert via_columns["note"].tolist()[0] == "a"


def test_errors_name_the_field_every_way(fs, monkeypatch):
    entity = _entities(3)
    errors = []
    for transport, pa in (("columns", pyarrow), ("csv", pyarrow), ("columns", None)):
        with monkeypatch.context() as m:
            m.setattr(fs, "_historical_transport", transport)
            m.setattr(_arrow_io, "pa", pa)
            with pytest.raises(cairn.CairnError) as error:
                fs.get_historical_features(entity, features=["acct:nope"])
        errors.append((error.value.status_code, error.value.message))
    assert errors[0] == errors[1] == errors[2]
    assert "nope" in errors[0][1]


def test_a_training_set_too_wide_for_the_types_header(fs, monkeypatch):
    entity = _entities(rows=50, seed=9)
    via_columns, via_csv, via_json, used = _all(fs, monkeypatch, entity,
                                                features=["acct_wide"])
    assert used == ALL_THREE
    _assert_all_same(via_columns, via_csv, via_json)
    assert list(via_columns.columns)[-len(WIDE):] == WIDE
    # Asked for CSV, the server answered JSON, with the types in the body.
    upload = _arrow_io.entities_csv(entity)
    response = fs._send("POST", "/api/v1/features/historical",
                        params=[("features", "acct_wide"), ("format", "csv")], data=upload,
                        headers={"Content-Type": "text/csv"})
    assert response.headers["Content-Type"].startswith("application/json")
    assert "X-Cairn-Column-Types" not in response.headers
    assert len(response.json()["column_types"]) == len(WIDE) + 2


def _columns_request(fs, upload, content_type=_columnar.CONTENT_TYPE, features=ALL):
    return fs._session.post(f"{fs.url}/api/v1/features/historical",
                            params=[("format", "columns")] + [("features", f) for f in features],
                            data=upload, headers={"Content-Type": content_type})


def test_the_columnar_answer_is_arrow_buffers_behind_a_footer(fs):
    entity = _entities(rows=120, seed=11)
    response = _columns_request(fs, _columnar.entities_columns(entity))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.cairn.columns"
    body = response.content
    assert body[:8] == body[-8:] == b"CAIRNCOL"
    meta = _columnar.footer(body)
    assert meta["rows"] == 120 and meta["format"] == "cairn.columns"
    assert [c["name"] for c in meta["columns"]] == [
        "account_id", "event_timestamp", "n", "x", "label", "flag", "seen", "n_dense", "whole"]
    assert meta["snapshot"]["id"] == response.headers["X-Cairn-Snapshot-Id"]
    assert meta["snapshot"]["content_hash"] == response.headers["X-Cairn-Snapshot-Hash"]
    assert meta["join_ms"] == int(response.headers["X-Cairn-Join-Ms"])
    buffer = pyarrow.py_buffer(body)
    for spec in meta["columns"]:
        for key in ("validity", "values", "data"):
            if spec.get(key):
                assert spec[key][0] % 64 == 0, (spec["name"], key)
    # Arrow reads the buffers as they are, without a copy.
    x = next(c for c in meta["columns"] if c["name"] == "x")
    array = pyarrow.Array.from_buffers(
        pyarrow.float64(), 120, [buffer.slice(*x["validity"]), buffer.slice(*x["values"])],
        null_count=x["null_count"])
    assert array.buffers()[1].address == buffer.address + x["values"][0]
    via_json = fs.get_training_set(meta["snapshot"]["id"])
    assert via_json == meta["snapshot"]
    # The snapshot's rows in the columnar form: the same buffers.
    data = fs._session.get(f"{fs.url}/api/v1/features/training-sets/"
                           f"{meta['snapshot']['id']}/data", params={"format": "columns"})
    assert data.status_code == 200
    stored = _columnar.footer(data.content)
    assert stored["columns"] == meta["columns"]
    end = meta["columns"][-1]["values"][0] + meta["columns"][-1]["values"][1]
    assert data.content[:end] == body[:end]


def test_a_columnar_upload_is_read_as_the_csv_one(fs):
    entity = _entities(rows=80, seed=12, weight=np.arange(80, dtype=np.int64),
                       active=np.arange(80) % 2 == 0)
    via_columns = _columns_request(fs, _columnar.entities_columns(entity))
    via_csv = _columns_request(fs, _arrow_io.entities_csv(entity), "text/csv")
    assert via_columns.status_code == via_csv.status_code == 200
    a, b = _columnar.footer(via_columns.content), _columnar.footer(via_csv.content)
    assert a["snapshot"]["entity_hash"] == b["snapshot"]["entity_hash"]
    assert a["snapshot"]["content_hash"] == b["snapshot"]["content_hash"]


def test_a_malformed_columnar_upload_gets_a_400_naming_the_problem(fs):
    good = _columnar.entities_columns(_entities(rows=10))
    cases = {
        b"account_id,event_timestamp\n1,2\n": "body: not Cairn's columnar form",
        good[:-1]: "body: not Cairn's columnar form",
        good.replace(b'"version": 1', b'"version": 9'): "body: footer.version: 9",
        good.replace(b'"rows": 10', b'"rows": 11'): "body: footer.columns[0] ('account_id')"
                                                    ".values: 80 bytes, but 11 rows need 88",
    }
    for upload, message in cases.items():
        response = _columns_request(fs, upload)
        assert response.status_code == 400, (message, response.text)
        assert response.json()["message"].startswith(message), response.json()
    # A join key sent as a bool: the type it needs is named.
    wrong = _columnar.entities_columns(_entities(rows=3).assign(account_id=[True, False, True]))
    response = _columns_request(fs, wrong)
    assert response.status_code == 400
    assert response.json()["message"] == (
        "body: footer.columns[0] ('account_id').type: bool, but the column must be int64 "
        "(send it as int64)")



def _body(meta_text: bytes, buffers: bytes = b"") -> bytes:
    """A columnar body: the magic, 56 bytes of padding, `buffers`, the footer text."""
    return (_columnar.MAGIC + b"\0" * 56 + buffers + meta_text
            + len(meta_text).to_bytes(8, "little") + _columnar.MAGIC)


def test_uploads_that_would_overflow_or_amplify_are_400s_and_the_server_lives(fs):
    # A footer nested 200,000 levels deep once overflowed the server's stack.
    deep = _body(b'{"version":' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    response = _columns_request(fs, deep)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == (
        "body: the footer is not a JSON object (malformed JSON: nested deeper than 100 "
        "levels)")
    # 200 bool columns on one bitmap (1.76 GB decoded from 135 KB), then 2 of them.
    for count, rows, message in [
            (200, 1_000_000, "body: footer.rows: 1000000 rows of 200 columns are more than "
                             "67108864 cells"),
            (2, 8, "body: footer.columns[1] ('b1').values: [64, 1] starts before the end "
                   "(byte 65) of footer.columns[0].values")]:
        columns = [{"name": f"b{i}", "type": "bool", "values": [64, (rows + 7) // 8]}
                   for i in range(count)]
        meta = json.dumps({"version": 1, "rows": rows, "columns": columns}).encode()
        response = _columns_request(fs, _body(meta, b"\xff" * ((rows + 7) // 8)))
        assert response.status_code == 400, response.text
        assert response.json()["message"].startswith(message), response.json()
    # Still serving.
    good = _columnar.entities_columns(_entities(rows=10))
    assert _columns_request(fs, good).status_code == 200


@pytest.mark.parametrize("meta,message", [
    (b'{"version":1,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "the footer is nested too deeply"),
    (b'{"version":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "the footer is nested too deeply"),
    (b'{"version":1,"columns":[]}', "footer.rows is missing"),
    (b'{"version":1,"rows":-1,"columns":[]}', "footer.rows is -1"),
    (b'{"version":1,"rows":0}', "footer.columns is missing"),
    (b'{"version":1,"rows":0,"columns":[[[1]]]}', "footer.columns is a list, not a list"),
])
def test_a_malformed_footer_in_an_answer_is_a_bad_response(meta, message):
    with pytest.raises(cairn.CairnError) as error:
        _columnar.footer(_body(meta))
    assert error.value.error_code == "BAD_RESPONSE"
    assert message in str(error.value)


def test_a_validity_bitmap_without_its_null_count_is_a_bad_response():
    meta = {"version": 1, "rows": 2, "columns": [
        {"name": "n", "type": "int64", "validity": [64, 1], "values": [128, 16]}]}
    buffers = b"\x01" + b"\0" * 63 + (7).to_bytes(8, "little") + b"\0" * 8
    body = _body(json.dumps(meta).encode(), buffers)
    with pytest.raises(cairn.CairnError) as error:
        _columnar.training_set_columns(body, [])
    assert error.value.error_code == "BAD_RESPONSE"
    assert "column 'n' has null_count missing" in str(error.value)
    meta["columns"][0]["null_count"] = 1
    out, order, _ = _columnar.training_set_columns(_body(json.dumps(meta).encode(), buffers),
                                                   [])
    assert order == ["n"]
    assert out["n"][0] == 7 and np.isnan(out["n"][1])


@pytest.mark.parametrize("millis,text", [
    (0, "1970-01-01T00:00:00.000Z"),
    (-1, "1969-12-31T23:59:59.999Z"),
    (T0 + 86_399_999, "2024-01-01T23:59:59.999Z"),
    (951_782_400_000, "2000-02-29T00:00:00.000Z"),
    (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
    (-62_135_596_800_001, "0000-12-31T23:59:59.999Z"),
    (-62_198_755_200_000, "-001-01-01T00:00:00.000Z"),
    (253_402_300_800_000, "10000-01-01T00:00:00.000Z"),
])
def test_timestamps_outside_pandas_years_are_written_as_the_server_writes_them(millis, text):
    assert _columnar._timestamp_text(millis) == text
