"""get_historical_features moves the rows as CSV through pyarrow when it can, else as JSON:
both must give the same DataFrame (values, nulls, dtypes, column order, timestamps) and
the same training-set snapshot, for every feature type and every kind of entity frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn import _arrow_io
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


def _both(fs, monkeypatch, entity, **kwargs):
    """(via CSV, via JSON), checking which transport each call used."""
    used = []
    real_csv, real_json = fs._historical_csv, fs._historical_json
    monkeypatch.setattr(fs, "_historical_csv",
                        lambda *a, **k: used.append("csv") or real_csv(*a, **k))
    monkeypatch.setattr(fs, "_historical_json",
                        lambda *a, **k: used.append("json") or real_json(*a, **k))
    via_csv = fs.get_historical_features(entity, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(_arrow_io, "pa", None)
        via_json = fs.get_historical_features(entity, **kwargs)
    return via_csv, via_json, used


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


def test_every_feature_type_is_the_same_through_csv_and_json(fs, monkeypatch):
    via_csv, via_json, used = _both(fs, monkeypatch, _entities(), features=ALL)
    assert used == ["csv", "json"]
    _assert_same(via_csv, via_json)
    assert via_csv["whole"].dtype == np.float64  # integral doubles stay doubles
    assert str(via_csv["seen"].dtype).endswith(", UTC]")
    assert via_csv["label"].isna().any() and (via_csv["label"] == "").any()
    assert (via_csv["label"] == "line\nbreak").any() and (via_csv["label"] == "NA").any()


def test_full_feature_names_and_a_service_free_subset(fs, monkeypatch):
    via_csv, via_json, used = _both(fs, monkeypatch, _entities(seed=6),
                                    features=["acct:x", "acct_dense:whole", "acct:seen"],
                                    full_feature_names=True)
    assert used == ["csv", "json"]
    _assert_same(via_csv, via_json)
    assert list(via_csv.columns)[-3:] == ["acct__x", "acct__seen", "acct_dense__whole"]


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
        "columns in another order": _entities(rows)[["event_timestamp", "account_id"]],
        "no rows": _entities(0),
        "one row": _entities(1),
    }
    cases["a null timestamp and extra int/bool/datetime columns"].loc[
        5, "event_timestamp"] = pd.NaT
    for name, entity in cases.items():
        via_csv, via_json, used = _both(fs, monkeypatch, entity, features=ALL)
        assert used == ["csv", "json"], name
        _assert_same(via_csv, via_json)
        assert len(via_csv) == len(entity), name


def test_entity_columns_csv_would_type_differently_go_as_json(fs, monkeypatch):
    entity = _entities(50, score=np.linspace(0, 1, 50), name=[f"n{i}" for i in range(50)])
    via_csv, via_json, used = _both(fs, monkeypatch, entity, features=ALL)
    assert used == ["json", "json"]
    _assert_same(via_csv, via_json)


def test_an_entity_csv_file_is_sent_as_is(fs, monkeypatch, tmp_path):
    path = tmp_path / "entities.csv"
    path.write_text("account_id,event_timestamp,note\n"
                    "1,2024-01-01T05:00:00Z,a\n"
                    "2,2024-01-01T06:00:00.250Z,\n"
                    "3,1704081600000,\"c,d\"\n")
    via_csv, via_json, used = _both(fs, monkeypatch, path, features=ALL)
    assert used == ["csv", "json"]
    _assert_same(via_csv, via_json)
    assert via_csv["note"].tolist()[0] == "a"


def test_errors_name_the_field_either_way(fs, monkeypatch):
    entity = _entities(3)
    with pytest.raises(cairn.CairnError) as via_csv:
        fs.get_historical_features(entity, features=["acct:nope"])
    with monkeypatch.context() as m:
        m.setattr(_arrow_io, "pa", None)
        with pytest.raises(cairn.CairnError) as via_json:
            fs.get_historical_features(entity, features=["acct:nope"])
    assert via_csv.value.status_code == via_json.value.status_code
    assert via_csv.value.message == via_json.value.message
    assert "nope" in via_csv.value.message


def test_a_training_set_too_wide_for_the_types_header_comes_back_as_json(fs, monkeypatch):
    entity = _entities(rows=50, seed=9)
    via_csv, via_json, used = _both(fs, monkeypatch, entity, features=["acct_wide"])
    assert used == ["csv", "json"]
    _assert_same(via_csv, via_json)
    assert list(via_csv.columns)[-len(WIDE):] == WIDE
    # Asked for CSV, the server answered JSON, with the types in the body.
    upload = _arrow_io.entities_csv(entity)
    response = fs._send("POST", "/api/v1/features/historical",
                        params=[("features", "acct_wide"), ("format", "csv")], data=upload,
                        headers={"Content-Type": "text/csv"})
    assert response.headers["Content-Type"].startswith("application/json")
    assert "X-Cairn-Column-Types" not in response.headers
    assert len(response.json()["column_types"]) == len(WIDE) + 2
