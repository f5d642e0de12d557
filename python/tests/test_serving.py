"""Serving end to end on a real `cairn server` (issue 6 items 1, 2, 3, 6): real clients,
real data, real models.

- An XGBoost booster trained here with Python xgboost on the names of online features,
  logged and registered with the stock mlflow client, served by a `kind: Endpoint` bound
  to NAME@production with a feature service: predictions by entity key (features looked
  up in the online store after `cairn features ingest` + `materialize`) and by raw values
  equal the booster's own; a missing input is a 400 naming it; an unknown endpoint a 404.
  Batch prediction over a CSV file gives the same; over a saved training set (the
  point-in-time join's snapshot) it equals /predict on the same rows sent raw. Batch
  files lie under the server's data directory; paths outside it are 400s.
- Moving the alias with MlflowClient.set_registered_model_alias redeploys the endpoint
  with no failed request on the way.
- The inference log holds what was predicted; labels are posted by id, unknown ids named.
- A canary started by hand: both variants answer, a rollback ends it; rollouts and
  events show it. A shadow's answers are logged, never returned. A canary whose guard
  passes promotes itself, and a restarted server serves the promoted version.
- A scikit-learn model in the Python worker runtime (replicas 1..2, max_queue 1): its
  predictions equal sklearn's; a burst of concurrent requests gets some HTTP 429 with
  Retry-After and nothing else fails; the pool's scaling is recorded. A pyfunc model that
  outlives the endpoint's `timeout` is a 504 naming the endpoint and the timeout; its
  worker is killed and replaced (recorded), and the next request is answered.
- `cairn endpoints list | describe | predict | log` print what the API holds.

Waits poll a condition with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

import cairn_testing
from cairn_testing import cli, ok, unique

pytestmark = pytest.mark.skipif(cairn_testing.is_mlflow(),
                                reason="serving endpoints are Cairn's own API")

xgb = pytest.importorskip("xgboost", reason="python xgboost (xgboost-cpu) is in "
                          "python/requirements-test.txt; scripts/bootstrap installs it")

DEADLINE_S = float(os.environ.get("CAIRN_TEST_SERVING_DEADLINE_S", "120"))
FEATURES = ["tenure", "spend", "calls", "age"]
CUSTOMERS = list(range(1, 21))
TOLERANCE = 1e-6


# ---- helpers -----------------------------------------------------------------------------


def wait_until(what: str, predicate, deadline_s: float = DEADLINE_S, interval_s: float = 0.05):
    return cairn_testing.wait_until(what, predicate, deadline_s, interval_s)


def endpoint_url(server, name: str, suffix: str = "") -> str:
    return f"{server.url}/api/v1/endpoints/{name}{suffix}"


def predict(server, name: str, body: dict) -> requests.Response:
    return requests.post(endpoint_url(server, name, "/predict"), json=body, timeout=60)


def get_json(server, name: str, suffix: str, **params) -> dict:
    reply = requests.get(endpoint_url(server, name, suffix), params=params, timeout=60)
    assert reply.status_code == 200, (reply.url, reply.status_code, reply.text)
    return reply.json()


def post_json(server, name: str, suffix: str, body: dict) -> dict:
    reply = requests.post(endpoint_url(server, name, suffix), json=body, timeout=60)
    assert reply.status_code == 200, (reply.url, reply.status_code, reply.text)
    return reply.json()


def apply_yaml(server, tmp: Path, text: str, expect: str) -> str:
    path = tmp / f"{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(text)
    out = ok(cli(server, "apply", "-f", str(path)))
    assert expect in out, out
    return out


def assert_close(got, expected, what: str):
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, (what, got, expected)
    worst = float(np.max(np.abs(got - expected))) if got.size else 0.0
    assert worst <= TOLERANCE, f"{what}: max |difference| {worst} > {TOLERANCE}: " \
                               f"{got.tolist()} vs {expected.tolist()}"


class MlflowPointer:
    """Points the mlflow client's globals (and env) at a server for a module; restores."""

    def __init__(self, url: str):
        import mlflow

        self.mlflow = mlflow
        self.saved_env = os.environ.get("MLFLOW_TRACKING_URI")
        self.saved_uris = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
        os.environ["MLFLOW_TRACKING_URI"] = url
        mlflow.set_tracking_uri(url)
        mlflow.set_registry_uri(url)

    def close(self):
        while self.mlflow.active_run() is not None:
            self.mlflow.end_run()
        if self.saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = self.saved_env
        self.mlflow.set_tracking_uri(self.saved_uris[0])
        self.mlflow.set_registry_uri(self.saved_uris[1])
        try:
            import mlflow.tracking.fluent as fluent

            fluent._active_experiment_id = None  # an experiment of the other server
        except (ImportError, AttributeError):
            pass
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
        os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)


# ---- the world: a server, online features, two XGBoost versions, an endpoint --------------

FEATURE_DEFS = """
kind: Entity
name: {entity}
join_keys: [{{name: customer_id, type: int64}}]
---
kind: Source
name: {source}
timestamp_field: ts
schema:
  - {{name: customer_id, type: int64, nullable: false}}
  - {{name: ts, type: timestamp, nullable: false}}
  - {{name: tenure, type: double}}
  - {{name: spend, type: double}}
  - {{name: calls, type: double}}
  - {{name: age, type: double}}
---
kind: FeatureView
name: {view}
entities: [{entity}]
source: {source}
features:
  - {{name: tenure, type: double}}
  - {{name: spend, type: double}}
  - {{name: calls, type: double}}
  - {{name: age, type: double}}
---
kind: FeatureService
name: {service}
features: ["{view}"]
"""

ENDPOINT = """
kind: Endpoint
name: {name}
description: the e2e serving test's XGBoost model
model: {model}
feature_service: {service}
inference_log: {{sample: 1.0, max_rows: 100000}}
"""


def feature_rows(rng: random.Random) -> tuple[str, dict[int, list[float]]]:
    """Two rows per customer (an older and a newer one); returns the CSV and the newest
    values per customer, which materialization puts online."""
    lines = ["customer_id,ts,tenure,spend,calls,age"]
    newest: dict[int, list[float]] = {}
    for day in (1, 2):
        for customer in CUSTOMERS:
            values = [round(rng.uniform(0, 60), 3), round(rng.uniform(0, 120), 3),
                      float(rng.randint(0, 9)), float(rng.randint(18, 80))]
            lines.append(f"{customer},2024-03-0{day}T{customer % 24:02d}:00:00Z,"
                         + ",".join(repr(v) for v in values))
            newest[customer] = values
    return "\n".join(lines) + "\n", newest


def train_booster(seed: int, rounds: int):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.uniform(0, 60, 400), rng.uniform(0, 120, 400),
                         rng.integers(0, 10, 400).astype(float),
                         rng.integers(18, 81, 400).astype(float)])
    y = ((x[:, 1] / 120 + x[:, 2] / 10 - x[:, 0] / 60 + rng.normal(0, 0.3, 400)) > 0.4)
    frame = pd.DataFrame(x, columns=FEATURES)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3,
                         "seed": seed},
                        xgb.DMatrix(frame, label=y.astype(float)), num_boost_round=rounds)
    return booster, frame


def booster_predict(booster, rows: list[list[float]]) -> list[float]:
    return booster.predict(xgb.DMatrix(pd.DataFrame(rows, columns=FEATURES))).tolist()


def log_xgb_version(model_name: str, booster, frame, model_format: str) -> int:
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    signature = infer_signature(frame, booster.predict(xgb.DMatrix(frame)))
    with mlflow.start_run():
        info = mlflow.xgboost.log_model(booster, name="model", signature=signature,
                                        registered_model_name=model_name,
                                        model_format=model_format,
                                        pip_requirements=["xgboost"])
    return int(info.registered_model_version)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("serving") / "data"
    # Enough request threads for a burst to outnumber a python pool's capacity (2 workers
    # + 2 queued) whatever the machine's core count.
    s = cairn_testing.start_server(data, kind="cairn", extra_args=["--workers", "16"])
    pointer = MlflowPointer(s.url)
    try:
        yield s
    finally:
        pointer.close()
        s.stop()


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
    """Online features for CUSTOMERS, model versions 1 and 2 of an XGBoost model
    (production → 1), and an endpoint following MODEL@production with the feature service."""
    import mlflow
    from mlflow import MlflowClient

    tmp = tmp_path_factory.mktemp("serving-world")
    names = {k: unique(k, "_")
             for k in ("customer", "payments", "profile", "churn_svc")}
    apply_yaml(server, tmp, FEATURE_DEFS.format(entity=names["customer"],
                                                source=names["payments"],
                                                view=names["profile"],
                                                service=names["churn_svc"]),
               f"FeatureService {names['churn_svc']}")
    csv_text, online = feature_rows(random.Random(7))
    rows = tmp / "rows.csv"
    rows.write_text(csv_text)
    ok(cli(server, "features", "ingest", names["payments"], str(rows)))
    ok(cli(server, "features", "materialize", "--start", "2024-01-01", "--end", "2024-04-01"))

    model = unique("churn_xgb", "_")
    mlflow.set_experiment(unique("serving", "_"))
    booster1, frame1 = train_booster(seed=1, rounds=20)
    booster2, frame2 = train_booster(seed=2, rounds=35)
    # The stock client's default format (UBJSON) for version 1, JSON for version 2.
    assert log_xgb_version(model, booster1, frame1, "ubj") == 1
    assert log_xgb_version(model, booster2, frame2, "json") == 2
    client = MlflowClient()
    client.set_registered_model_alias(model, "production", "1")

    endpoint = unique("churn")
    apply_yaml(server, tmp, ENDPOINT.format(name=endpoint, model=f"{model}@production",
                                            service=names["churn_svc"]),
               f"Endpoint {endpoint}")
    world = {"model": model, "endpoint": endpoint, "online": online,
             "boosters": {1: booster1, 2: booster2}, "service": names["churn_svc"],
             "tmp": tmp, "client": client}
    wait_until(f"endpoint {endpoint} to answer", lambda: predict(
        server, endpoint, {"entities": {"customer_id": [1]}}).status_code == 200)
    return world


def current_version(server, world) -> int:
    reply = predict(server, world["endpoint"], {"entities": {"customer_id": [1]}})
    assert reply.status_code == 200, reply.text
    return reply.json()["model_version"]


# ---- 1. XGBoost with online features ----------------------------------------------------

def test_xgboost_predictions_by_entity_key_and_raw_values_equal_the_boosters(server, world):
    endpoint, online = world["endpoint"], world["online"]
    version = current_version(server, world)
    booster = world["boosters"][version]
    keys = [3, 1, 17, 20, 8]
    reply = predict(server, endpoint, {"entities": {"customer_id": keys}})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model"] == world["model"]
    assert body["model_version"] == version
    assert body["variant"] == "champion"
    assert len(body["ids"]) == len(keys) and len(set(body["ids"])) == len(keys)
    expected = booster_predict(booster, [online[k] for k in keys])
    assert_close(body["predictions"], expected, "predictions by entity key")

    # Raw values (columnar), no entities: the same rows give the same predictions.
    columns = {name: [online[k][i] for k in keys] for i, name in enumerate(FEATURES)}
    raw = predict(server, endpoint, {"features": columns})
    assert raw.status_code == 200, raw.text
    assert raw.json()["model_version"] == version
    assert_close(raw.json()["predictions"], expected, "predictions by raw values")

    # Raw values win over looked-up ones.
    changed = [list(online[k]) for k in keys]
    for row in changed:
        row[1] = 500.0
    mixed = predict(server, endpoint, {"entities": {"customer_id": keys},
                                       "features": {"spend": [500.0] * len(keys)}})
    assert mixed.status_code == 200, mixed.text
    assert_close(mixed.json()["predictions"], booster_predict(booster, changed),
                 "raw spend over the online one")

    # A key the online store does not hold: its features are missing (NaN), which the
    # booster handles as it does in Python.
    nan = float("nan")
    absent = predict(server, endpoint, {"entities": {"customer_id": [999, 3]}})
    assert absent.status_code == 200, absent.text
    assert_close(absent.json()["predictions"],
                 booster_predict(booster, [[nan] * len(FEATURES), online[3]]),
                 "a key with no online features")

    # Values of our own (not in the online store) for a direct check of the model.
    own = [[1.5, 99.25, 7.0, 30.0], [55.0, 3.5, 0.0, 71.0]]
    mine = predict(server, endpoint, {
        "features": {name: [row[i] for row in own] for i, name in enumerate(FEATURES)}})
    assert mine.status_code == 200, mine.text
    assert_close(mine.json()["predictions"], booster_predict(booster, own), "own values")


def test_missing_input_is_a_400_naming_it_and_unknown_endpoint_a_404(server, world):
    endpoint = world["endpoint"]
    missing = predict(server, endpoint, {"features": {"tenure": [1.0], "spend": [2.0],
                                                      "calls": [3.0]}})
    assert missing.status_code == 400, missing.text
    assert "age" in missing.text, missing.text

    unknown = predict(server, "no-such-endpoint", {"features": {"tenure": [1.0]}})
    assert unknown.status_code == 404, unknown.text
    assert "no-such-endpoint" in unknown.text, unknown.text

    # A value the model cannot read: the column and the row named.
    text = {name: [1.0, 2.0] for name in FEATURES}
    text["age"] = [30.0, "old"]
    wrong = predict(server, endpoint, {"features": text})
    assert wrong.status_code == 400, wrong.text
    assert "'age'" in wrong.text and "row 1" in wrong.text and "old" in wrong.text, wrong.text

    # Lists of different lengths.
    ragged = predict(server, endpoint, {"features": {**text, "age": [30.0]}})
    assert ragged.status_code == 400 and "features.age" in ragged.text, ragged.text

    # Nothing to predict from: a 400 that says what to send.
    empty = predict(server, endpoint, {})
    assert empty.status_code == 400, empty.text
    assert "entities" in empty.text or "features" in empty.text, empty.text


def test_batch_prediction_over_a_csv_file(server, world, tmp_path):
    keys = [1, 2, 3, 999, 20]
    # Batch files lie under the server's data directory: relative paths resolve there.
    batch_dir = server.data_dir / "batch-csv"
    batch_dir.mkdir(exist_ok=True)
    source = batch_dir / "score-me.csv"
    # Entity keys looked up online, and one raw feature column that wins over the store.
    source.write_text("customer_id,calls\n" + "".join(f"{k},{k % 4}\n" for k in keys))
    output = batch_dir / "scored.csv"
    done = post_json(server, world["endpoint"], "/predict-batch",
                     {"input": "batch-csv/score-me.csv", "output": "batch-csv/scored.csv"})
    assert done["rows"] == len(keys), done
    lines = output.read_text().splitlines()
    assert lines[0] == "id,prediction", lines[:2]
    got = [float(line.split(",")[1]) for line in lines[1:]]
    nan = float("nan")
    rows = []
    for k in keys:
        row = list(world["online"].get(k, [nan] * len(FEATURES)))
        row[2] = float(k % 4)
        rows.append(row)
    booster = world["boosters"][current_version(server, world)]
    assert_close(got, booster_predict(booster, rows), "batch predictions")

    # An absolute path inside the data directory is taken as well.
    again = post_json(server, world["endpoint"], "/predict-batch",
                      {"input": str(source), "output": str(batch_dir / "again.csv")})
    assert again["rows"] == len(keys), again

    missing = requests.post(endpoint_url(server, world["endpoint"], "/predict-batch"),
                            json={"input": "batch-csv/absent.csv",
                                  "output": "batch-csv/scored.csv"}, timeout=60)
    assert missing.status_code == 404 and "absent.csv" in missing.text, missing.text

    # Paths outside the data directory are refused, naming the field, the path and the
    # directory; nothing is written there.
    outside = tmp_path / "scored.csv"
    refused = requests.post(endpoint_url(server, world["endpoint"], "/predict-batch"),
                            json={"input": "batch-csv/score-me.csv", "output": str(outside)},
                            timeout=60)
    assert refused.status_code == 400, refused.text
    message = refused.json()["message"]
    assert f"output: '{outside}' is outside the server's data directory" in message, message
    assert str(server.data_dir.resolve()) in message or str(server.data_dir) in message, message
    assert not outside.exists()
    escape = requests.post(endpoint_url(server, world["endpoint"], "/predict-batch"),
                           json={"input": "../outside.csv", "output": "x.csv"}, timeout=60)
    assert escape.status_code == 400 and "input: '../outside.csv'" in escape.text, escape.text


def test_batch_prediction_over_a_training_set_snapshot(server, world):
    """ingest (the world) → a training set saved by the point-in-time join → predict-batch
    over it: one output row per snapshot row, keyed by its entity columns, each prediction
    equal to /predict on the same row's features sent raw."""
    endpoint = world["endpoint"]
    # Each customer late on day 1 (sees day 1's row) and on day 3 (sees day 2's row).
    entities = {"customer_id": [], "event_timestamp": []}
    for customer in CUSTOMERS:
        for when in ("2024-03-01T23:59:00Z", "2024-03-03T00:00:00Z"):
            entities["customer_id"].append(customer)
            entities["event_timestamp"].append(when)
    reply = requests.post(f"{server.url}/api/v1/features/historical",
                          json={"entities": entities, "feature_service": world["service"]},
                          timeout=120)
    assert reply.status_code == 200, reply.text
    historical = reply.json()
    snapshot_id = historical["snapshot"]["id"]
    columns = historical["columns"]
    rows = historical["snapshot"]["rows"]
    assert rows == len(entities["customer_id"]), historical["snapshot"]
    assert all(name in columns for name in FEATURES), historical["column_order"]

    (server.data_dir / "scored").mkdir(exist_ok=True)
    done = post_json(server, endpoint, "/predict-batch",
                     {"training_set": snapshot_id, "output": "scored/snapshot.csv"})
    assert done == {"rows": rows, "output": "scored/snapshot.csv",
                    "training_set": snapshot_id}, done
    scored = pd.read_csv(server.data_dir / "scored" / "snapshot.csv")
    assert list(scored.columns) == ["id", "customer_id", "event_timestamp", "prediction"]
    assert len(scored) == rows
    assert scored["customer_id"].tolist() == entities["customer_id"]
    assert scored["id"].nunique() == rows

    # The same rows through /predict with their features sent raw.
    raw = predict(server, endpoint, {"features": {name: columns[name] for name in FEATURES}})
    assert raw.status_code == 200, raw.text
    assert_close(scored["prediction"].tolist(), raw.json()["predictions"],
                 "snapshot batch vs /predict")

    # Through the CLI as well.
    out = ok(cli(server, "endpoints", "predict-batch", endpoint, "--training-set", snapshot_id,
                 "--output", "scored/cli.csv"))
    assert f"Predicted {rows} rows of training set {snapshot_id}" in out, out
    assert (server.data_dir / "scored" / "cli.csv").read_text().count("\n") == rows + 1

    # An unknown snapshot is a 404 naming it; no source or both sources are 400s.
    unknown = requests.post(endpoint_url(server, endpoint, "/predict-batch"),
                            json={"training_set": "f" * 32, "output": "scored/x.csv"},
                            timeout=60)
    assert unknown.status_code == 404 and "f" * 32 in unknown.text, unknown.text
    both = requests.post(endpoint_url(server, endpoint, "/predict-batch"),
                         json={"training_set": snapshot_id, "input": "a.csv",
                               "output": "scored/x.csv"}, timeout=60)
    assert both.status_code == 400 and "input, training_set" in both.text, both.text


# ---- 2. alias move redeploys -----------------------------------------------------------

def test_alias_move_through_the_mlflow_client_redeploys(server, world):
    client, model = world["client"], world["model"]
    client.set_registered_model_alias(model, "production", "1")
    wait_until("version 1 in production",
               lambda: current_version(server, world) == 1)
    # A client predicting all along: no request fails while the endpoint redeploys, and
    # once version 2 answers, version 1 never answers again.
    answers: list[tuple[int, int]] = []
    stop = threading.Event()

    def steady_client():
        session = requests.Session()
        while not stop.is_set():
            reply = session.post(endpoint_url(server, world["endpoint"], "/predict"),
                                 json={"entities": {"customer_id": [4]}}, timeout=60)
            answers.append((reply.status_code,
                            reply.json().get("model_version", 0)
                            if reply.status_code == 200 else reply.text))
        session.close()

    steady = threading.Thread(target=steady_client, daemon=True)
    steady.start()
    try:
        wait_until("the steady client's first answers", lambda: len(answers) >= 3)
        client.set_registered_model_alias(model, "production", "2")
        wait_until("the endpoint to answer with version 2 after the alias moved",
                   lambda: answers and answers[-1] == (200, 2))
        count = len(answers)
        wait_until("a few more answers", lambda: len(answers) >= count + 3)
    finally:
        stop.set()
        steady.join(timeout=60)
    failed = [a for a in answers if a[0] != 200]
    assert not failed, failed[:5]
    versions = [v for _, v in answers]
    first_v2 = versions.index(2)
    assert set(versions[:first_v2]) == {1} and set(versions[first_v2:]) == {2}, versions
    assert current_version(server, world) == 2
    keys = [2, 4, 6]
    reply = predict(server, world["endpoint"], {"entities": {"customer_id": keys}})
    assert reply.status_code == 200, reply.text
    assert reply.json()["model_version"] == 2
    assert_close(reply.json()["predictions"],
                 booster_predict(world["boosters"][2], [world["online"][k] for k in keys]),
                 "version 2's predictions")
    deployed = get_json(server, world["endpoint"], "/events", kind="deployed")["events"]
    assert any(e["detail"].get("version") == 2 for e in deployed), deployed


# ---- 3. inference log and labels ---------------------------------------------------------

def logged_records(server, endpoint: str, **params) -> list[dict]:
    """Every logged record of the endpoint (following page tokens)."""
    records: list[dict] = []
    token = None
    while True:
        query = dict(params, max_results=500)
        if token:
            query["page_token"] = token
        page = get_json(server, endpoint, "/inference-log", **query)
        records.extend(page["records"])
        token = page.get("next_page_token")
        if not token:
            return records


def test_inference_log_holds_features_predictions_versions_and_labels(server, world):
    endpoint, online = world["endpoint"], world["online"]
    start_ms = int(time.time() * 1000) - 1
    keys = [5, 9, 11]
    reply = predict(server, endpoint, {"entities": {"customer_id": keys}})
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    ids = answer["ids"]

    def logged():
        by_id = {r["id"]: r for r in logged_records(server, endpoint, from_ms=start_ms)}
        return by_id if all(i in by_id for i in ids) else None

    by_id = wait_until("the predicted rows in the inference log", logged)
    for i, key in zip(ids, keys):
        record = by_id[i]
        assert record["endpoint"] == endpoint
        assert record["model"] == world["model"]
        assert record["model_version"] == answer["model_version"]
        assert record["variant"] == "champion"
        assert record["error"] is False
        assert record["label"] is None
        assert record["features"] == dict(zip(FEATURES, online[key])), record
        assert abs(record["prediction"] - answer["predictions"][ids.index(i)]) <= TOLERANCE

    labels = {"labels": [{"id": ids[0], "label": 1}, {"id": ids[1], "label": 0},
                         {"id": "no-such-row", "label": 1}]}
    result = post_json(server, endpoint, "/labels", labels)
    assert result["labelled"] == 2, result
    by_result = {r["id"]: r for r in result["results"]}
    assert by_result[ids[0]]["ok"] is True and by_result[ids[1]]["ok"] is True
    assert by_result["no-such-row"]["ok"] is False
    assert "no-such-row" in by_result["no-such-row"]["error"], by_result["no-such-row"]

    after = {r["id"]: r for r in logged_records(server, endpoint, from_ms=start_ms)}
    assert after[ids[0]]["label"] == 1 and after[ids[1]]["label"] == 0
    assert after[ids[2]]["label"] is None
    assert after[ids[0]]["label_time_ms"] >= start_ms

    # A window that ends before the request holds none of them.
    before = logged_records(server, endpoint, from_ms=0, to_ms=start_ms)
    assert not any(r["id"] in ids for r in before)

    bad = requests.post(endpoint_url(server, endpoint, "/labels"),
                        json={"labels": [{"id": ids[0]}]}, timeout=60)
    assert bad.status_code == 400 and "label" in bad.text, bad.text


# ---- 4. a canary by hand -------------------------------------------------------------------

def test_canary_by_hand_both_variants_answer_then_rollback(server, world):
    # An endpoint pinned to version 2, so version 1 can be its canary whatever production is.
    endpoint = unique("canary")
    apply_yaml(server, world["tmp"], ENDPOINT.format(
        name=endpoint, model=f"{world['model']}/2", service=world["service"]),
        f"Endpoint {endpoint}")
    wait_until(f"endpoint {endpoint} to answer", lambda: predict(
        server, endpoint, {"entities": {"customer_id": [1]}}).status_code == 200)

    # Refused rollouts: the champion itself, a version that does not exist, a typo.
    for bad, status, words in (
            ({"mode": "canary", "version": 2, "percent": 50, "on_pass": "none"}, 409,
             ["version 2", "champion"]),
            ({"mode": "canary", "version": 9, "percent": 50, "on_pass": "none"}, 404,
             ["version=9"]),
            ({"mode": "canery", "version": 1, "percent": 50, "on_pass": "none"}, 400,
             ["mode", "canary"]),
            ({"mode": "canary", "version": 1, "percent": 150, "on_pass": "none"}, 400,
             ["percent"]),
            # A pinned endpoint has no alias a passing canary could move.
            ({"mode": "canary", "version": 1, "percent": 50}, 400, ["on_pass", "pinned"])):
        refused = requests.post(endpoint_url(server, endpoint, "/rollouts"), json=bad,
                                timeout=60)
        assert refused.status_code == status, (bad, refused.status_code, refused.text)
        assert all(w in refused.text for w in words), (bad, refused.text)
    assert get_json(server, endpoint, "/rollouts")["rollouts"] == []

    started = post_json(server, endpoint, "/rollouts", {
        "mode": "canary", "version": 1, "percent": 50, "on_pass": "none",
        "guard": {"window": "1s", "min_requests": 20},
        "actor": "e2e-test", "reason": "canary by hand"})["rollout"]
    assert started["state"] == "running", started
    assert started["version"] == 1 and started["mode"] == "canary"
    assert started["percent"] == 50
    rollout_id = started["id"]

    # Fewer than min_requests (20) single-row requests in all, so the guard cannot judge
    # (and promote) before the rollback: with 50% each, both variants answer long before.
    seen: dict[str, dict] = {}
    online = world["online"]
    for n in range(19):
        key = CUSTOMERS[n % len(CUSTOMERS)]
        reply = predict(server, endpoint, {"entities": {"customer_id": [key]}})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        expected_version = {"champion": 2, "canary": 1}[body["variant"]]
        assert body["model_version"] == expected_version, body
        assert_close(body["predictions"],
                     booster_predict(world["boosters"][expected_version], [online[key]]),
                     f"{body['variant']} prediction")
        seen[body["variant"]] = body
        if len(seen) == 2:
            break
    assert set(seen) == {"champion", "canary"}, seen

    described = get_json(server, endpoint, "")
    assert described["rollout"] is not None and described["rollout"]["id"] == rollout_id

    stopped = post_json(server, endpoint, f"/rollouts/{rollout_id}/rollback",
                        {"actor": "e2e-test", "reason": "seen enough"})["rollout"]
    assert stopped["id"] == rollout_id
    assert stopped["state"] == "rolled_back", stopped
    assert stopped["ended_ms"] >= stopped["started_ms"] > 0

    # After the rollback only the champion answers.
    for key in CUSTOMERS[:6]:
        body = predict(server, endpoint, {"entities": {"customer_id": [key]}}).json()
        assert (body["variant"], body["model_version"]) == ("champion", 2), body

    # The log tells the variants apart: the canary's rows were made by version 1.
    def canary_rows():
        rows = logged_records(server, endpoint, variant="canary")
        return rows if any(r["id"] == seen["canary"]["ids"][0] for r in rows) else None

    rows = wait_until("the canary's rows in the inference log", canary_rows)
    assert {(r["variant"], r["model_version"]) for r in rows} == {("canary", 1)}, rows
    champion_rows = logged_records(server, endpoint, variant="champion")
    assert champion_rows and {r["model_version"] for r in champion_rows} == {2}

    rollouts = get_json(server, endpoint, "/rollouts")["rollouts"]
    assert [(r["id"], r["state"]) for r in rollouts] == [(rollout_id, "rolled_back")]
    assert rollouts[0]["actor"] == "e2e-test"
    kinds = [e["kind"] for e in get_json(server, endpoint, "/events")["events"]]
    assert "rollout_started" in kinds and "rollout_finished" in kinds, kinds

    again = requests.post(endpoint_url(server, endpoint, f"/rollouts/{rollout_id}/rollback"),
                          json={"actor": "e2e-test"}, timeout=60)
    assert again.status_code in (400, 404, 409), again.text


def test_shadow_mirrors_requests_and_logs_the_challengers_answers_only(server, world):
    endpoint = unique("shadow")
    apply_yaml(server, world["tmp"], ENDPOINT.format(
        name=endpoint, model=f"{world['model']}/2", service=world["service"]),
        f"Endpoint {endpoint}")
    wait_until(f"endpoint {endpoint} to answer", lambda: predict(
        server, endpoint, {"entities": {"customer_id": [1]}}).status_code == 200)
    started = post_json(server, endpoint, "/rollouts", {
        "mode": "shadow", "version": 1, "percent": 100, "actor": "e2e-test", "on_pass": "none",
        "guard": {"window": "1h", "min_requests": 1000}})["rollout"]
    assert (started["mode"], started["state"]) == ("shadow", "running"), started

    online, boosters = world["online"], world["boosters"]
    answered: dict[str, int] = {}
    for key in CUSTOMERS[:8]:
        body = predict(server, endpoint, {"entities": {"customer_id": [key]}}).json()
        # The champion always answers; the shadow's answer is never returned.
        assert (body["variant"], body["model_version"]) == ("champion", 2), body
        assert_close(body["predictions"], booster_predict(boosters[2], [online[key]]),
                     "champion under a shadow")
        answered[body["ids"][0]] = key

    def shadow_rows():
        rows = {r["id"]: r for r in logged_records(server, endpoint, variant="shadow")}
        return rows if all(i in rows for i in answered) else None

    rows = wait_until("the shadow's answers in the inference log", shadow_rows)
    for row_id, key in answered.items():
        row = rows[row_id]
        assert (row["variant"], row["model_version"], row["error"]) == ("shadow", 1, False)
        assert abs(row["prediction"] - booster_predict(boosters[1], [online[key]])[0]) \
            <= TOLERANCE, row
    stopped = post_json(server, endpoint, f"/rollouts/{started['id']}/rollback",
                        {"actor": "e2e-test", "reason": "shadow seen"})["rollout"]
    assert stopped["state"] == "rolled_back"


def test_canary_guard_promotes_by_itself_and_the_server_restarts_serving_it(tmp_path):
    """On a server of its own: a canary whose guard passes moves the alias (recorded as the
    guard's promotion in the alias history) and the endpoint serves the new version; after
    a restart the endpoint comes back serving it, its rollout on record."""
    from mlflow import MlflowClient
    import mlflow

    own = cairn_testing.start_server(tmp_path / "data", kind="cairn")
    pointer = MlflowPointer(own.url)
    try:
        mlflow.set_experiment(unique("guard", "_"))
        model = unique("guarded", "_")
        boosters = {}
        for version, (seed, rounds) in ((1, (3, 10)), (2, (4, 15))):
            booster, frame = train_booster(seed=seed, rounds=rounds)
            assert log_xgb_version(model, booster, frame, "json") == version
            boosters[version] = booster
        MlflowClient().set_registered_model_alias(model, "production", "1")
        endpoint = "guarded"
        (tmp_path / "endpoint.yaml").write_text(
            f"kind: Endpoint\nname: {endpoint}\nmodel: {model}@production\n")
        ok(cli(own, "apply", "-f", str(tmp_path / "endpoint.yaml")))
        row = [12.0, 80.0, 3.0, 40.0]
        body = {"features": {name: [row[i]] for i, name in enumerate(FEATURES)}}
        wait_until("the endpoint to answer",
                   lambda: predict(own, endpoint, body).status_code == 200)

        # Latency is not what this test is about: the ratio allowed is generous.
        rollout = post_json(own, endpoint, "/rollouts", {
            "mode": "canary", "version": 2, "percent": 50, "actor": "e2e-test",
            "guard": {"window": "1s", "min_requests": 20, "max_p99_latency_ratio": 1000}})
        rollout_id = rollout["rollout"]["id"]

        def judged():
            reply = predict(own, endpoint, body)
            assert reply.status_code == 200, reply.text
            rollouts = get_json(own, endpoint, "/rollouts")["rollouts"]
            return rollouts[0] if rollouts[0]["state"] != "running" else None

        finished = wait_until("the guard's verdict", judged)
        assert finished["id"] == rollout_id
        assert finished["state"] == "promoted", finished
        assert finished["verdict"]["passed"] is True, finished["verdict"]
        assert finished["verdict"]["details"]["challenger"]["requests"] >= 20
        assert MlflowClient().get_model_version_by_alias(model, "production").version == "2"
        history = requests.get(f"{own.url}/api/v1/models/{model}/alias-history",
                               timeout=60).json()["alias_changes"]
        assert (history[0]["from_version"], history[0]["to_version"]) == (1, 2), history
        assert rollout_id in history[0]["reason"] or "rollout" in history[0]["reason"], history
        def champion_version():
            answer = predict(own, endpoint, body).json()
            return (answer["model_version"], answer["variant"]) == (2, "champion")

        wait_until("version 2 to answer as champion", champion_version)
        answer = predict(own, endpoint, body).json()
        assert_close(answer["predictions"], booster_predict(boosters[2], [row]),
                     "the promoted version's prediction")

        own.stop()
        own = cairn_testing.start_server(tmp_path / "data", kind="cairn")
        wait_until("the endpoint to answer after the restart",
                   lambda: predict(own, endpoint, body).status_code == 200)
        again = predict(own, endpoint, body).json()
        assert (again["model_version"], again["variant"]) == (2, "champion"), again
        assert_close(again["predictions"], answer["predictions"], "after the restart")
        kept = get_json(own, endpoint, "/rollouts")["rollouts"]
        assert [(r["id"], r["state"]) for r in kept] == [(rollout_id, "promoted")]
    finally:
        pointer.close()
        own.stop()


# ---- 5. the Python runtime: sklearn, a bounded queue, autoscaling ------------------------

PY_FEATURES = ["a", "b", "c"]

PY_ENDPOINT = """
kind: Endpoint
name: {name}
model: {model}@production
runtime: python
replicas: {{min: 1, max: 2}}
max_queue: 1
inference_log: {{sample: 0.0}}
"""


@pytest.fixture(scope="module")
def python_endpoint(server, world):
    """A brute-force nearest-neighbours regressor (slow enough per request that a burst
    overlaps), logged with mlflow.sklearn, served by the python runtime."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.neighbors import KNeighborsRegressor

    rng = np.random.default_rng(11)
    x = pd.DataFrame(rng.uniform(-1, 1, (20_000, 3)), columns=PY_FEATURES)
    y = x["a"] * 2 - x["b"] + 0.5 * x["c"] ** 2
    model = KNeighborsRegressor(n_neighbors=5, algorithm="brute").fit(x, y)
    name = unique("knn", "_")
    mlflow.set_experiment(unique("serving-python", "_"))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model",
                                        signature=infer_signature(x, model.predict(x[:10])),
                                        registered_model_name=name,
                                        pip_requirements=["scikit-learn"])
    MlflowClient().set_registered_model_alias(name, "production",
                                              str(info.registered_model_version))
    endpoint = unique("knn")
    apply_yaml(server, world["tmp"], PY_ENDPOINT.format(name=endpoint, model=name),
               f"Endpoint {endpoint}")
    probe = {"features": {c: [0.0] for c in PY_FEATURES}}
    wait_until(f"python endpoint {endpoint} to answer",
               lambda: predict(server, endpoint, probe).status_code == 200)
    return {"endpoint": endpoint, "model": model, "name": name}


def test_python_runtime_predictions_equal_sklearns(server, python_endpoint):
    rng = np.random.default_rng(5)
    rows = pd.DataFrame(rng.uniform(-1, 1, (50, 3)), columns=PY_FEATURES)
    reply = predict(server, python_endpoint["endpoint"],
                    {"features": {c: rows[c].tolist() for c in PY_FEATURES}})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model"] == python_endpoint["name"] and body["model_version"] == 1
    assert_close(body["predictions"], python_endpoint["model"].predict(rows),
                 "python runtime vs sklearn")

    missing = predict(server, python_endpoint["endpoint"], {"features": {"a": [0.1]}})
    assert missing.status_code == 400, missing.text
    assert "'b'" in missing.text and "'c'" in missing.text, missing.text


def test_python_runtime_burst_gets_429_with_retry_after_and_scales_up(server, python_endpoint):
    endpoint = python_endpoint["endpoint"]
    rng = np.random.default_rng(9)
    rows = pd.DataFrame(rng.uniform(-1, 1, (100, 3)), columns=PY_FEATURES)
    body = json.dumps({"features": {c: rows[c].tolist() for c in PY_FEATURES}})
    expected = python_endpoint["model"].predict(rows)
    url = endpoint_url(server, endpoint, "/predict")
    threads = 24
    statuses: list[int] = []
    rejected: list[requests.Response] = []

    def burst() -> list[requests.Response]:
        barrier = threading.Barrier(threads)

        def one(_):
            session = requests.Session()
            barrier.wait(timeout=60)
            try:
                return session.post(url, data=body, timeout=120,
                                    headers={"Content-Type": "application/json"})
            finally:
                session.close()

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, range(threads)))

    # The pool's size before the burst: from 1 worker, the burst must scale it up.
    replicas_before = get_json(server, endpoint, "")["runtime"]["replicas"]
    burst_start_ms = int(time.time() * 1000) - 1
    deadline = time.monotonic() + DEADLINE_S
    while not rejected and time.monotonic() < deadline:
        for reply in burst():
            statuses.append(reply.status_code)
            if reply.status_code == 429:
                rejected.append(reply)
                continue
            assert reply.status_code == 200, (reply.status_code, reply.text)
            assert_close(reply.json()["predictions"], expected, "burst answer")
    assert rejected, f"no request was turned away in bursts of {threads}: {statuses}"
    assert all(s in (200, 429) for s in statuses), statuses
    assert statuses.count(200) > 0, statuses
    for reply in rejected:
        assert reply.headers.get("Retry-After", "").isdigit(), dict(reply.headers)
        assert int(reply.headers["Retry-After"]) >= 1
        assert "busy" in reply.text or "queue" in reply.text, reply.text

    def scaled_up():
        events = get_json(server, endpoint, "/events", kind="scaling")["events"]
        return [e for e in events if e["detail"].get("to", 0) > e["detail"].get("from", 0)
                and e["detail"].get("to") == 2
                and (replicas_before == 2 or e["time_ms"] >= burst_start_ms)]

    ups = wait_until("a scaling event from 1 to 2 workers", scaled_up)
    assert ups[0]["detail"]["from"] == 1 and ups[0]["detail"]["reason"], ups[0]

    described = get_json(server, endpoint, "")
    assert described["spec"]["runtime"] == "python"
    assert described["runtime"]["rejected"] >= len(rejected), described["runtime"]


# A pyfunc model from code (MLflow's models-from-code: the worker imports this file, so
# nothing is pickled by reference to the test module): it sleeps `delay` seconds per row.
SLOW_MODEL_CODE = """
import time

import mlflow.pyfunc
from mlflow.models import set_model


class Slow(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        time.sleep(float(model_input["delay"].max()))
        return [float(x) * 2 for x in model_input["x"]]


set_model(Slow())
"""

SLOW_ENDPOINT = """
kind: Endpoint
name: {name}
model: {model}@production
runtime: python
replicas: {{min: 1, max: 1}}
timeout: 2s
inference_log: {{sample: 0.0}}
"""


def test_python_runtime_timeout_is_a_504_naming_the_endpoint_and_the_worker_is_replaced(
        server, tmp_path):
    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient

    code = tmp_path / "slow_model.py"
    code.write_text(SLOW_MODEL_CODE)
    name = unique("slow", "_")
    mlflow.set_experiment(unique("serving-timeout", "_"))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=str(code),
                                       registered_model_name=name,
                                       input_example=pd.DataFrame({"x": [1.0], "delay": [0.0]}))
    MlflowClient().set_registered_model_alias(name, "production",
                                              str(info.registered_model_version))
    endpoint = unique("slow")
    apply_yaml(server, tmp_path, SLOW_ENDPOINT.format(name=endpoint, model=name),
               f"Endpoint {endpoint}")
    quick = {"features": {"x": [21.0], "delay": [0.0]}}
    wait_until(f"python endpoint {endpoint} to answer",
               lambda: predict(server, endpoint, quick).status_code == 200)
    assert get_json(server, endpoint, "")["spec"]["timeout_ms"] == 2000

    # A model that outlives the endpoint's timeout: 504 with a JSON body naming both.
    hung = predict(server, endpoint, {"features": {"x": [1.0], "delay": [3600.0]}})
    assert hung.status_code == 504, (hung.status_code, hung.text)
    body = hung.json()
    assert body["error_code"] == "DEADLINE_EXCEEDED", body
    assert f"endpoint '{endpoint}'" in body["message"], body
    assert "timeout of 2s" in body["message"], body
    assert "killed and replaced" in body["message"], body

    # The stuck worker was replaced: the next request is answered, and the scaling events
    # name the kill and the replacement.
    answer = wait_until("the replacement worker to answer",
                        lambda: (r := predict(server, endpoint, quick)).status_code == 200 and r)
    assert answer.json()["predictions"] == [42.0], answer.text

    def replaced():
        events = get_json(server, endpoint, "/events", kind="scaling")["events"]
        reasons = [e["detail"].get("reason", "") for e in events]
        return [r for r in reasons if "killed after the request timeout of 2s" in r]

    reasons = wait_until("the kill and the replacement in the scaling events",
                         lambda: (found := replaced()) and len(found) >= 2 and found)
    assert any(r.startswith("worker ") for r in reasons), reasons
    assert any("replaces worker" in r for r in reasons), reasons


# ---- 6. the CLI -------------------------------------------------------------------------------

def test_cli_endpoints_list_describe_predict_log(server, world):
    endpoint, model = world["endpoint"], world["model"]
    version = current_version(server, world)

    listed = ok(cli(server, "endpoints", "list"))
    line = next((l for l in listed.splitlines() if l.startswith(endpoint + " ")), None)
    assert line is not None, listed
    assert "serving" in line and f"{model}@production" in line and f"v{version}" in line, line
    as_json = json.loads(ok(cli(server, "endpoints", "list", "--json")))
    api = requests.get(f"{server.url}/api/v1/endpoints", timeout=60).json()
    assert as_json == api

    described = ok(cli(server, "endpoints", "describe", endpoint))
    assert f"Endpoint:  {endpoint}" in described, described
    assert f"Model:     {model}@production" in described, described
    assert f"serving version {version}" in described, described
    assert f"Features:  {world['service']}" in described, described
    api_described = get_json(server, endpoint, "")
    requests_line = f"Traffic:   {api_described['traffic']['requests']}"
    # The CLI's own describe is not a prediction: the request counter cannot move between.
    assert requests_line in described, (requests_line, described)

    predicted = cli(server, "endpoints", "predict", endpoint, "--entity", "customer_id=7",
                    "--json")
    answer = json.loads(ok(predicted))
    assert answer["model_version"] == version and answer["variant"] == "champion"
    expected = booster_predict(world["boosters"][version], [world["online"][7]])
    assert_close(answer["predictions"], expected, "cairn endpoints predict --json")

    text = ok(cli(server, "endpoints", "predict", endpoint, "--entity", "customer_id=7"))
    assert f"Model {model} version {version} (champion)" in text, text
    id_and_value = [l.split() for l in text.splitlines()[1:] if l.strip()][-1]
    assert abs(float(id_and_value[-1]) - expected[0]) <= 1e-5 * max(1, abs(expected[0])), text
    printed_id = id_and_value[0]

    features = ["--feature", f"tenure={world['online'][7][0]}",
                "--feature", f"spend={world['online'][7][1]}",
                "--feature", f"calls={world['online'][7][2]}",
                "--feature", f"age={world['online'][7][3]}"]
    raw = json.loads(ok(cli(server, "endpoints", "predict", endpoint, *features, "--json")))
    assert_close(raw["predictions"], expected, "cairn endpoints predict --feature")

    missing = cli(server, "endpoints", "predict", endpoint, "--feature", "tenure=1")
    assert missing.returncode != 0 and "spend" in missing.stderr, missing

    def logged_by_cli():
        out = ok(cli(server, "endpoints", "log", endpoint, "--since", "1h", "--max", "500"))
        return out if printed_id in out else None

    log_text = wait_until("the CLI's prediction in `cairn endpoints log`", logged_by_cli)
    row = next(l for l in log_text.splitlines() if printed_id in l)
    assert str(version) in row.split() and "champion" in row, row
    records = {r["id"]: r for r in json.loads(ok(cli(
        server, "endpoints", "log", endpoint, "--since", "1h", "--max", "500",
        "--json")))["records"]}
    assert printed_id in records
    assert abs(records[printed_id]["prediction"] - expected[0]) <= TOLERANCE

    unknown = cli(server, "endpoints", "describe", "no-such-endpoint")
    assert unknown.returncode != 0 and "no-such-endpoint" in unknown.stderr, unknown
