"""MLflow 3 logged models through the stock client: a metric logged after log_model is
linked to the model, and the run reports the model among its outputs."""

from __future__ import annotations

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.linear_model import LogisticRegression


def test_metrics_link_to_the_logged_model_and_the_run_lists_it(tracking_uri):
    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.8, 0.1]])
    labels = np.array([0, 1, 0, 1])
    mlflow.set_experiment("logged-models-link")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(LogisticRegression().fit(features, labels), name="model")
        # The client links a metric to the models the run output at the same step (0 here)…
        mlflow.log_metric("accuracy", 0.75)
        # …or to the model it is given; a metric at another step stays the run's alone.
        mlflow.log_metrics({"f1": 0.5, "recall": 0.25}, step=4, model_id=info.model_id)
        mlflow.log_metric("loss", 0.1, step=7)

    model = mlflow.get_logged_model(info.model_id)
    linked = sorted((m.key, m.value, m.step, m.run_id) for m in model.metrics)
    assert linked == [
        ("accuracy", 0.75, 0, run.info.run_id),
        ("f1", 0.5, 4, run.info.run_id),
        ("recall", 0.25, 4, run.info.run_id),
    ]

    outputs = mlflow.MlflowClient().get_run(run.info.run_id).outputs
    assert [(o.model_id, o.step) for o in outputs.model_outputs] == [(info.model_id, 0)]

    # The same points are ordinary run metrics too.
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "accuracy")
    assert [(m.value, m.step) for m in history] == [(0.75, 0)]
    assert mlflow.MlflowClient().get_run(run.info.run_id).data.metrics["loss"] == 0.1


def test_metric_for_an_unknown_logged_model_is_a_404_naming_it(cairn_server):
    import requests

    api = f"{cairn_server.url}/api/2.0/mlflow"
    run_id = requests.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"][
        "info"]["run_id"]
    for path, body in [
        ("runs/log-metric", {"run_id": run_id, "key": "a", "value": 1, "timestamp": 5,
                             "model_id": "m-nope"}),
        ("runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "a", "value": 1, "timestamp": 5, "model_id": "m-nope"}]}),
    ]:
        response = requests.post(f"{api}/{path}", json=body)
        assert response.status_code == 404, path
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert "m-nope" in response.json()["message"]
