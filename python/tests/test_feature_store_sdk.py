"""The Python SDK (`cairn.FeatureStore`) against a real `cairn server`: definitions and
their plan, ingestion errors and quarantine, push and online reads with every status, on
the embedded online store and on Redis (CAIRN_TEST_REDIS_URL), materialization, feature
services, and the training-set snapshot as an MLflow dataset input."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest

import cairn
from features import sdk_defs, server
from features.sdk_defs import MINUTE, T0

pytestmark = server.skip_unless_cairn()


def _write_defs(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "defs.yaml").write_text(text)
    return folder


def _plan_entries(plan: dict, action: str) -> dict:
    """{(kind, name): change} of one action ("added", "changed", "unchanged", "removed")."""
    return {(c["kind"], c["name"]): c for c in plan["changes"] if c["action"] == action}


@pytest.fixture(scope="module")
def fs(tmp_path_factory):
    """A server with the SDK definitions applied."""
    root = tmp_path_factory.mktemp("sdk")
    srv = server.start(root / "data")
    store = cairn.FeatureStore(srv.url)
    store.apply(_write_defs(root / "defs", sdk_defs.yaml_text()))
    yield store
    store.close()
    srv.stop()


@pytest.fixture(scope="module")
def txns(fs, tmp_path_factory):
    """`fs` with the txns rows ingested."""
    path = tmp_path_factory.mktemp("txns") / "txns.csv"
    path.write_text(sdk_defs.txns_csv())
    result = fs.ingest("txns", path)
    assert result == {"source": "txns", "rows": len(sdk_defs.TXNS), "quarantined": 0,
                      "views": {"spend": len(sdk_defs.TXNS),
                                "spend_windows": len(sdk_defs.TXNS)}}
    return fs


# --- definitions --------------------------------------------------------------------------


def test_apply_prints_added_then_unchanged_then_a_field_diff(tmp_path):
    srv = server.start(tmp_path / "data")
    try:
        store = cairn.FeatureStore(srv.url)
        defs = _write_defs(tmp_path / "defs", sdk_defs.yaml_text())

        dry = store.apply(defs, dry_run=True)
        assert ("FeatureView", "spend") in _plan_entries(dry, "added")
        assert dry["applied"] is False
        assert store.list_feature_views() == []

        first = store.apply(defs)
        assert first["applied"] is True
        added = _plan_entries(first, "added")
        assert set(added) == {("Entity", "customer"), ("Source", "txns"),
                              ("Source", "profile_push"), ("FeatureView", "profile"),
                              ("FeatureView", "spend"), ("FeatureView", "spend_windows"),
                              ("FeatureService", "churn"),
                              ("FeatureService", "churn_online")}
        assert added[("FeatureView", "spend")]["new_version"] == 1
        assert {v["name"] for v in store.list_feature_views()} == {
            "profile", "spend", "spend_windows"}

        again = store.apply(defs)
        assert again["applied"] is False
        assert len(_plan_entries(again, "unchanged")) == 8 == len(again["changes"])

        _write_defs(tmp_path / "defs", sdk_defs.yaml_text(spend_ttl="2h"))
        changed = store.apply(defs)
        entry = _plan_entries(changed, "changed")[("FeatureView", "spend")]
        assert entry["diffs"] == [{"path": "ttl_ms", "old": 0, "new": 7_200_000}], entry
        assert (entry["old_version"], entry["new_version"]) == (1, 2)
        assert len(_plan_entries(changed, "unchanged")) == 7
        # Both versions stay readable.
        assert store.get_feature_view("spend", version=1)["ttl_ms"] == 0
        assert store.get_feature_view("spend", version=2)["ttl_ms"] == 7_200_000
        assert [v["version"] for v in store.get_feature_view("spend")["versions"]] == [1, 2]
    finally:
        srv.stop()


def test_a_typo_in_yaml_is_an_error_naming_file_line_and_the_nearest_field(fs, tmp_path):
    text = sdk_defs.yaml_text("_typo").replace("ttl: 1h", "ttll: 1h")
    bad = _write_defs(tmp_path / "bad", text)
    with pytest.raises(cairn.CairnError) as info:
        fs.apply(bad)
    error = info.value
    assert error.status_code == 400
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    line = text.splitlines().index("ttll: 1h") + 1
    assert "defs.yaml" in error.message and f":{line}" in error.message, error.message
    assert "ttll" in error.message and "'ttl'" in error.message, error.message


# --- ingestion ----------------------------------------------------------------------------


BAD_CSV = ("customer_id,ts,amount,channel\n"
           f"50,{T0},1.5,web\n"
           f"51,{T0},abc,web\n"
           f"52,{T0},2.5,app\n")


def test_a_bad_row_rejects_the_file_and_names_file_line_column_value(fs, tmp_path):
    path = tmp_path / "bad_rows.csv"
    path.write_text(BAD_CSV)
    with pytest.raises(cairn.CairnError) as info:
        fs.ingest("txns", path)
    error = info.value
    assert error.status_code == 400
    for part in ("bad_rows.csv", "line 3", "'amount'", "'abc'"):
        assert part in error.message, error.message
    # Nothing was written: customer 50 (a good row of the rejected file) has no value.
    got = fs.get_historical_features(
        pd.DataFrame({"customer_id": [50], "event_timestamp": [T0 + MINUTE]}),
        features=["spend:amount"])
    assert pd.isna(got["amount"][0])


def test_quarantine_keeps_the_good_rows_and_counts_the_bad(fs, tmp_path):
    path = tmp_path / "quarantine_rows.csv"
    path.write_text(BAD_CSV.replace("50,", "60,").replace("51,", "61,").replace("52,", "62,"))
    result = fs.ingest("txns", path, quarantine=True)
    assert result["rows"] == 2
    assert result["quarantined"] == 1
    assert result["views"]["spend"] == 2
    got = fs.get_historical_features(
        pd.DataFrame({"customer_id": [60, 61, 62],
                      "event_timestamp": pd.to_datetime([T0 + MINUTE] * 3, unit="ms")}),
        features=["spend:amount"])
    assert got["amount"].tolist()[0] == 1.5 and pd.isna(got["amount"][1])
    assert got["amount"].tolist()[2] == 2.5


def test_ingest_into_an_unknown_source_is_a_404_naming_it(fs, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(sdk_defs.txns_csv())
    with pytest.raises(cairn.CairnError) as info:
        fs.ingest("no_such_source", path)
    assert info.value.status_code == 404
    assert "no_such_source" in info.value.message


# --- historical ---------------------------------------------------------------------------


def test_historical_features_with_a_service_and_a_snapshot(txns):
    fs = txns
    entity_df = pd.DataFrame({
        "customer_id": [1, 2, 1, 3, 4],
        "event_timestamp": pd.to_datetime(
            [T0 + 25 * MINUTE, T0 + 41 * MINUTE, T0, T0 + 10 * MINUTE, T0 + 10 * MINUTE],
            unit="ms", utc=True),
    })
    got = fs.get_historical_features(entity_df, features=["spend:amount", "spend:amount_log",
                                                          "spend_windows:spend_1d"])
    assert list(got.columns) == ["customer_id", "event_timestamp", "amount", "amount_log",
                                 "spend_1d"]
    assert isinstance(got["event_timestamp"].dtype, pd.DatetimeTZDtype)
    assert str(got["event_timestamp"].dtype.tz) == "UTC"
    assert got["event_timestamp"].tolist() == entity_df["event_timestamp"].tolist()
    amount = got["amount"].tolist()
    assert amount[0] == 20.0 and pd.isna(amount[1]) and pd.isna(amount[2])
    assert amount[3] == 1.0 and pd.isna(amount[4])
    assert math.isclose(got["amount_log"][0], math.log1p(20.0))
    assert got["spend_1d"].tolist()[0] == 30.0

    by_service = fs.get_historical_features(entity_df, feature_service="churn")
    assert list(by_service.columns) == ["customer_id", "event_timestamp", "age", "amount",
                                        "spend_1d", "txns_1d"]
    assert by_service["txns_1d"].tolist() == [2, 2, 0, 1, 0]

    snapshot = by_service.attrs["cairn_snapshot"]
    assert snapshot["rows"] == 5
    assert set(snapshot["feature_views"]) == {"profile", "spend", "spend_windows"}
    record = fs.get_training_set(snapshot["id"])
    assert record["content_hash"] == snapshot["content_hash"]
    assert record["entity_hash"] == snapshot["entity_hash"]


def test_unknown_feature_is_an_error_naming_it(fs):
    with pytest.raises(cairn.CairnError) as info:
        fs.get_historical_features(
            pd.DataFrame({"customer_id": [1], "event_timestamp": [T0]}),
            features=["spend:amonut"])
    assert info.value.status_code in (400, 404)
    assert "amonut" in info.value.message


def test_training_set_is_logged_as_an_mlflow_dataset_input(txns):
    fs = txns
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    train = fs.get_historical_features(
        pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [T0 + 5 * MINUTE] * 2}),
        feature_service="churn")
    snapshot = train.attrs["cairn_snapshot"]
    dataset = fs.training_set_dataset(train)

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(fs.url)
    try:
        experiment = MlflowClient(fs.url).create_experiment(f"fs-lineage-{time.time_ns()}")
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_input(dataset, context="training")
    finally:
        mlflow.set_tracking_uri(previous)

    got = fs._session.get(f"{fs.url}/api/2.0/mlflow/runs/get",
                          params={"run_id": run.info.run_id}).json()
    inputs = got["run"]["inputs"]["dataset_inputs"]
    assert len(inputs) == 1
    logged = inputs[0]["dataset"]
    digest = snapshot["content_hash"].split(":")[-1]
    assert logged["digest"] == digest[:36]
    assert snapshot["id"] in logged["source"]
    assert logged["name"] == f"training-set-{snapshot['id']}"


# --- online -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=server.BACKENDS)
def online(request, tmp_path_factory):
    """(store, suffix) on a server with the embedded online store, then on Redis."""
    root = tmp_path_factory.mktemp(f"online-{request.param}")
    suffix = "_" + server.unique_suffix() if request.param == "redis" else ""
    srv = server.start(root / "data", backend=request.param)
    store = cairn.FeatureStore(srv.url)
    store.apply(_write_defs(root / "defs", sdk_defs.yaml_text(suffix)))
    yield store, suffix
    store.close()
    srv.stop()


def test_push_online_then_read_every_status(online):
    store, s = online
    now = pd.Timestamp.now(tz="UTC").floor("ms")
    rows = pd.DataFrame({
        "customer_id": [1, 2, 3],
        "ts": [now - pd.Timedelta(minutes=1), now - pd.Timedelta(minutes=2),
               now - pd.Timedelta(hours=2)],  # customer 3: older than the 1h ttl
        "age": [34, 51, 27],
        "score": [0.25, None, 0.75],
        "tier": ["gold", "silver", None],
    })
    assert store.push(f"profile_push{s}", rows, to="online")["rows"] == 3

    response = store.get_online_features(
        features=[f"profile{s}:age", f"profile{s}:score", f"profile{s}:tier"],
        entity_rows=[{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 3},
                     {"customer_id": 99}])
    values, statuses = response.to_dict(), response.statuses
    assert values["age"][:2] == [34, 51] and values["age"][3] is None
    assert values["score"][0] == 0.25 and values["score"][1] is None
    assert values["tier"][:2] == ["gold", "silver"]
    assert statuses["age"] == ["PRESENT", "PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert statuses["score"] == ["PRESENT", "NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    # A null value is NULL_VALUE even when the row is too old (Feast's Go server's order);
    # a stale value is returned as stored.
    assert statuses["tier"] == ["PRESENT", "PRESENT", "NULL_VALUE", "NOT_FOUND"]
    assert values["age"][2] == 27
    stamp = pd.Timestamp(response.event_timestamps["age"][0])
    assert stamp == now - pd.Timedelta(minutes=1)

    frame = response.to_df()
    assert len(frame) == 4 and frame["age"].tolist()[0] == 34

    full = store.get_online_features(features=[f"profile{s}:age"],
                                     entities={"customer_id": [2]}, full_feature_names=True)
    assert full.to_dict()[f"profile{s}__age"] == [51]


def test_an_older_push_does_not_replace_a_newer_row(online):
    store, s = online
    now = pd.Timestamp.now(tz="UTC").floor("ms")
    store.push(f"profile_push{s}", {"customer_id": [10], "ts": [now], "age": [40],
                                    "score": [1.0], "tier": ["new"]})
    store.push(f"profile_push{s}", {"customer_id": [10], "ts": [now - pd.Timedelta(minutes=5)],
                                    "age": [39], "score": [0.5], "tier": ["old"]})
    got = store.get_online_features(features=[f"profile{s}:age", f"profile{s}:tier"],
                                     entity_rows=[{"customer_id": 10}]).to_dict()
    assert got["age"] == [40] and got["tier"] == ["new"]


def test_push_offline_reaches_training_sets_only(online):
    store, s = online
    stamp = pd.Timestamp("2024-06-01T00:00:00Z")
    store.push(f"profile_push{s}", pd.DataFrame({
        "customer_id": [20], "ts": [stamp], "age": [70], "score": [0.1], "tier": ["x"]}),
        to="offline")
    online_now = store.get_online_features(features=[f"profile{s}:age"],
                                           entity_rows=[{"customer_id": 20}])
    assert online_now.statuses["age"] == ["NOT_FOUND"]
    train = store.get_historical_features(
        pd.DataFrame({"customer_id": [20, 20], "event_timestamp": [
            stamp + pd.Timedelta(minutes=30), stamp + pd.Timedelta(minutes=61)]}),
        features=[f"profile{s}:age"])
    assert train["age"][0] == 70 and pd.isna(train["age"][1])  # ttl 1h


def test_materialize_then_materialize_incremental(online, tmp_path):
    store, s = online
    csv = tmp_path / "txns.csv"
    csv.write_text(sdk_defs.txns_csv())
    store.ingest(f"txns{s}", csv)

    result = store.materialize(T0, T0 + 20 * MINUTE, views=[f"spend{s}"])
    stats = result["views"][f"spend{s}"]
    assert stats["keys_written"] == 3  # customers 1, 2, 3 have rows before T0+20m
    features = [f"spend{s}:amount", f"spend{s}:channel", f"spend{s}:amount_log"]
    keys = {"customer_id": [1, 2, 3, 4]}
    got = store.get_online_features(features=features, entities=keys)
    assert got.to_dict()["amount"] == [20.0, 100.0, 1.0, None]
    assert got.statuses["channel"] == ["PRESENT", "PRESENT", "NULL_VALUE", "NOT_FOUND"]
    assert math.isclose(got.to_dict()["amount_log"][0], math.log1p(20.0))

    store.materialize_incremental(T0 + 60 * MINUTE, views=[f"spend{s}"])
    got = store.get_online_features(features=features, entities=keys)
    assert got.to_dict()["amount"][:2] == [5.5, None]
    assert got.statuses["amount"] == ["PRESENT", "NULL_VALUE", "PRESENT", "NOT_FOUND"]


def test_online_read_through_a_feature_service(online):
    store, s = online
    now = pd.Timestamp.now(tz="UTC").floor("ms")
    store.push(f"profile_push{s}", {"customer_id": [30], "ts": [now], "age": [22],
                                    "score": [0.9], "tier": ["t"]})
    got = store.get_online_features(feature_service=f"churn_online{s}",
                                    entity_rows=[{"customer_id": 30}, {"customer_id": 31}])
    assert got.to_dict()["age"] == [22, None]
    assert got.statuses["age"] == ["PRESENT", "NOT_FOUND"]
    assert "amount" in got.to_dict()


def test_sdk_errors_before_any_request():
    store = cairn.FeatureStore("http://127.0.0.1:1")
    with pytest.raises(ValueError):
        store.get_online_features(entity_rows=[{"customer_id": 1}])
    with pytest.raises(ValueError):
        store.push("src", pd.DataFrame({"a": [1]}), to="nowhere")
    with pytest.raises(cairn.CairnError) as info:
        store.list_feature_views()
    assert info.value.error_code == "UNAVAILABLE"
