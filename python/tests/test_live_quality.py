"""Live model quality end to end on a real `cairn server` (issue 6 item 3): an XGBoost
endpoint's predictions are logged, ground-truth labels are posted later by request id
(POST /api/v1/endpoints/{name}/labels), and a monitor with a `quality:` section computes
the metrics on the labelled rows of its window.

- Too few labelled rows (below min_labels): the run reports "insufficient labels" and no
  alert is opened.
- Enough labels, and labels that the model ranks badly: the run fails its auc bound, the
  run record says which metric, value, bound and labelled-row count, and a "quality" alert
  is opened naming the metric (the same alert path as drift).
- `cairn monitors runs` shows the quality result.

Waits poll a condition with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

import cairn_testing
from cairn_testing import cli, ok, unique

pytestmark = pytest.mark.skipif(cairn_testing.is_mlflow(),
                                reason="endpoints and monitors are Cairn's own API")

xgb = pytest.importorskip("xgboost", reason="python xgboost (xgboost-cpu) is in "
                          "python/requirements-test.txt; scripts/bootstrap installs it")

DEADLINE_S = float(os.environ.get("CAIRN_TEST_SERVING_DEADLINE_S", "120"))
FEATURES = ["tenure", "spend", "calls", "age"]
ROWS = 150


def wait_until(what: str, predicate, deadline_s: float = DEADLINE_S, interval_s: float = 0.05):
    return cairn_testing.wait_until(what, predicate, deadline_s, interval_s)


def get(server, path: str, **params) -> dict:
    reply = requests.get(server.url + path, params=params, timeout=60)
    assert reply.status_code == 200, (reply.url, reply.status_code, reply.text)
    return reply.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import mlflow

    data = tmp_path_factory.mktemp("live-quality") / "data"
    s = cairn_testing.start_server(data, kind="cairn")
    saved = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(s.url)
    mlflow.set_registry_uri(s.url)
    try:
        yield s
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(saved[0])
        mlflow.set_registry_uri(saved[1])
        s.stop()


def serve_xgboost(server, tmp: Path) -> str:
    """An XGBoost model registered with the stock mlflow client, served by an endpoint on
    MODEL@production that takes raw feature values; returns the endpoint's name."""
    import mlflow
    import mlflow.xgboost
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    rng = np.random.default_rng(3)
    x = np.column_stack([rng.uniform(0, 60, 400), rng.uniform(0, 120, 400),
                         rng.integers(0, 10, 400).astype(float),
                         rng.integers(18, 81, 400).astype(float)])
    y = (x[:, 1] / 120 + x[:, 2] / 10 - x[:, 0] / 60 + rng.normal(0, 0.3, 400)) > 0.4
    frame = pd.DataFrame(x, columns=FEATURES)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3},
                        xgb.DMatrix(frame, label=y.astype(float)), num_boost_round=20)
    model = unique("churn").replace("-", "_")
    mlflow.set_experiment(unique("live-quality"))
    with mlflow.start_run():
        mlflow.log_metric("val_auc", 0.91)  # the live-quality baseline (model_metric)
        info = mlflow.xgboost.log_model(
            booster, name="model", registered_model_name=model, model_format="json",
            signature=infer_signature(frame, booster.predict(xgb.DMatrix(frame))),
            pip_requirements=["xgboost"])
    MlflowClient().set_registered_model_alias(model, "production",
                                              str(info.registered_model_version))
    endpoint = unique("churn")
    path = tmp / "endpoint.yaml"
    path.write_text(f"kind: Endpoint\nname: {endpoint}\nmodel: {model}@production\n"
                    "inference_log: {sample: 1.0, max_rows: 100000}\n")
    assert f"Endpoint {endpoint}" in ok(cli(server, "apply", "-f", str(path)))
    return endpoint


def test_posted_labels_drive_a_quality_monitor_to_an_alert_naming_the_metric(server, tmp_path):
    endpoint = serve_xgboost(server, tmp_path)
    url = f"{server.url}/api/v1/endpoints/{endpoint}"
    rng = np.random.default_rng(11)
    features = {"tenure": rng.uniform(0, 60, ROWS).round(3).tolist(),
                "spend": rng.uniform(0, 120, ROWS).round(3).tolist(),
                "calls": rng.integers(0, 10, ROWS).astype(float).tolist(),
                "age": rng.integers(18, 81, ROWS).astype(float).tolist()}
    reply = wait_until(f"endpoint {endpoint} to answer", lambda: (
        lambda r: r if r.status_code == 200 else None)(
            requests.post(f"{url}/predict", json={"features": features}, timeout=60)))
    answer = reply.json()
    ids, predictions = answer["ids"], answer["predictions"]
    assert len(ids) == ROWS

    def logged():
        page = get(server, f"/api/v1/endpoints/{endpoint}/inference-log", max_results=500)
        return len({r["id"] for r in page["records"]} & set(ids)) == ROWS
    wait_until("the predicted rows in the inference log", logged)

    # Ground truth the model gets backwards: label 1 exactly where it scored low.
    median = float(np.median(predictions))
    labels = [1 if p < median else 0 for p in predictions]
    assert 0 < sum(labels) < ROWS

    monitor = unique("churn-quality")
    path = tmp_path / "monitor.yaml"
    path.write_text(f"""kind: Monitor
name: {monitor}
target: {{endpoint: {endpoint}, window: 1h}}
quality:
  min_labels: 100
  metrics: [{{metric: auc, min: 0.7}}, {{metric: brier, max: 0.9}}]
  baseline: {{metric: auc, model_metric: val_auc, max_drop: 0.1}}
severity: critical
""")
    assert f"Monitor {monitor}" in ok(cli(server, "apply", "-f", str(path)))

    def post_labels(rows: range):
        body = {"labels": [{"id": ids[i], "label": labels[i]} for i in rows]}
        result = requests.post(f"{url}/labels", json=body, timeout=60)
        assert result.status_code == 200, result.text
        assert result.json()["labelled"] == len(rows), result.json()

    def run_monitor() -> dict:
        run = json.loads(ok(cli(server, "monitors", "run", monitor, "--json")))["run"]
        return get(server, f"/api/v1/monitoring/runs/{run['id']}")["run"]

    def alerts() -> list[dict]:
        return get(server, "/api/v1/monitoring/alerts", monitor=monitor)["alerts"]

    # 40 labels: not enough to judge, reported, no alert.
    post_labels(range(40))
    run = run_monitor()
    assert run["state"] == "succeeded", run
    assert run["quality_failed"] is False
    assert "insufficient labels (40 labelled of 150 rows, min_labels 100)" in run["message"], run
    assert run["result"]["quality"]["status"] == "insufficient_labels"
    assert alerts() == []

    # Every row labelled: the live auc is far below its bound.
    post_labels(range(40, ROWS))
    run = run_monitor()
    assert run["state"] == "succeeded", run
    assert run["quality_failed"] is True, run
    quality = run["result"]["quality"]
    assert quality["status"] == "failed"
    assert quality["labelled_rows"] == ROWS
    auc = quality["values"]["auc"]
    assert auc < 0.3, quality
    violation, baseline = quality["violations"]
    assert violation["metric"] == "auc" and violation["kind"] == "min"
    assert violation["bound"] == 0.7 and violation["labelled_rows"] == ROWS
    assert abs(violation["value"] - auc) < 1e-12
    # The baseline is the val_auc logged on the served version's training run (0.91).
    assert baseline["metric"] == "auc" and baseline["kind"] == "baseline", baseline
    assert abs(baseline["bound"] - (0.91 - 0.1)) < 1e-9, baseline
    [check] = [c for c in quality["checks"] if c["kind"] == "baseline"]
    assert check["baseline"] == 0.91 and " version 1, run " in check["baseline_source"], check
    brier = [c for c in quality["checks"] if c["metric"] == "brier"]
    assert brier and brier[0]["status"] == "passed", quality["checks"]
    assert f"quality on {ROWS} labelled rows: auc " in run["message"], run["message"]
    assert "< min 0.7" in run["message"], run["message"]

    [alert] = wait_until("the quality alert", lambda: alerts() or None)
    assert alert["kind"] == "quality", alert
    assert alert["severity"] == "critical", alert
    assert "auc" in alert["summary"] and "< min 0.7" in alert["summary"], alert

    # The CLI shows the run's quality result.
    runs = ok(cli(server, "monitors", "runs", monitor))
    assert f"quality on {ROWS} labelled rows: auc" in runs, runs
    assert "insufficient labels" in runs, runs
