"""Acceptance test of issue 2 item 8: the stock `mlflow` client, unchanged, against the
server under test. A scikit-learn training script logs params, per-step metrics, tags and
artifacts; the test searches, registers, aliases, loads the model back and predicts, and
checks every value exactly.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from cairn_testing import unique

STEPS = 20
C_VALUES = [0.01, 0.1, 1.0, 10.0]


def loss_curve(c_value: float) -> list[float]:
    """A deterministic per-step 'training loss' whose values exercise float round trips."""
    return [1.0 / (step + 1) + c_value / 1000.0 + step * 1e-7 for step in range(STEPS)]


@pytest.fixture(scope="module")
def dataset():
    features, labels = make_classification(n_samples=400, n_features=8, n_informative=5,
                                           random_state=7)
    return train_test_split(features, labels, test_size=0.25, random_state=7)


def train_one(dataset, c_value: float, tmp_path: Path) -> tuple[str, float, LogisticRegression]:
    """The training script: one run per hyperparameter value."""
    x_train, x_test, y_train, y_test = dataset
    model = LogisticRegression(C=c_value, max_iter=200, solver="lbfgs")
    with mlflow.start_run(run_name=f"logreg-C{c_value}") as run:
        mlflow.log_params({"C": c_value, "solver": "lbfgs", "max_iter": 200})
        mlflow.set_tags({"team": "churn", "model_family": "linear"})
        for step, value in enumerate(loss_curve(c_value)):
            mlflow.log_metric("train_loss", value, step=step, timestamp=1_700_000_000_000 + step)
        model.fit(x_train, y_train)
        accuracy = float(model.score(x_test, y_test))
        mlflow.log_metric("accuracy", accuracy)
        notes = tmp_path / f"notes-{c_value}.txt"
        notes.write_text(f"C={c_value}\naccuracy={accuracy!r}\n")
        mlflow.log_artifact(str(notes))
        report_dir = tmp_path / f"report-{c_value}"
        (report_dir / "sub").mkdir(parents=True)
        (report_dir / "summary.json").write_text('{"c": %r}' % c_value)
        (report_dir / "sub" / "coef.csv").write_text(
            ",".join(repr(float(v)) for v in model.coef_.ravel()))
        mlflow.log_artifacts(str(report_dir), artifact_path="report")
        return run.info.run_id, accuracy, model


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset, cairn_server):
    """Runs the training script over a small grid in a fresh experiment."""
    import os

    os.environ["MLFLOW_TRACKING_URI"] = cairn_server.url
    mlflow.set_tracking_uri(cairn_server.url)
    mlflow.set_registry_uri(cairn_server.url)
    experiment_name = unique("sklearn-grid")
    experiment_id = mlflow.create_experiment(experiment_name, tags={"purpose": "acceptance"})
    mlflow.set_experiment(experiment_id=experiment_id)
    tmp_path = tmp_path_factory.mktemp("artifacts")
    runs = {}
    for c_value in C_VALUES:
        run_id, accuracy, model = train_one(dataset, c_value, tmp_path)
        runs[c_value] = {"run_id": run_id, "accuracy": accuracy, "model": model}
    while mlflow.active_run() is not None:
        mlflow.end_run()
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    return {"experiment_id": experiment_id, "experiment_name": experiment_name, "runs": runs}


def test_run_contents_exact(tracking_uri, trained):
    client = MlflowClient()
    for c_value, info in trained["runs"].items():
        run = client.get_run(info["run_id"])
        assert run.info.experiment_id == trained["experiment_id"]
        assert run.info.status == "FINISHED"
        assert run.info.lifecycle_stage == "active"
        assert run.info.run_name == f"logreg-C{c_value}"
        assert run.info.end_time is not None and run.info.end_time >= run.info.start_time
        assert run.data.params == {"C": str(c_value), "solver": "lbfgs", "max_iter": "200"}
        assert run.data.tags["team"] == "churn"
        assert run.data.tags["model_family"] == "linear"
        assert run.data.tags["mlflow.runName"] == f"logreg-C{c_value}"
        # runs/get shows the latest value of each metric (by timestamp, then step).
        assert run.data.metrics["train_loss"] == loss_curve(c_value)[-1]
        assert run.data.metrics["accuracy"] == info["accuracy"]
        assert set(run.data.metrics) == {"train_loss", "accuracy"}


def test_metric_history_exact(tracking_uri, trained):
    client = MlflowClient()
    for c_value, info in trained["runs"].items():
        history = client.get_metric_history(info["run_id"], "train_loss")
        assert [(m.step, m.value, m.timestamp) for m in history] == [
            (step, value, 1_700_000_000_000 + step)
            for step, value in enumerate(loss_curve(c_value))]
        assert all(m.key == "train_loss" for m in history)
    assert client.get_metric_history(trained["runs"][C_VALUES[0]]["run_id"], "no_such") == []


def test_search_runs_filters_and_ordering(tracking_uri, trained):
    experiment_id = trained["experiment_id"]
    runs = trained["runs"]
    by_accuracy = sorted(C_VALUES, key=lambda c: (-runs[c]["accuracy"], -c))

    frame = mlflow.search_runs([experiment_id], order_by=["metrics.accuracy DESC"])
    assert len(frame) == len(C_VALUES)
    assert list(frame["metrics.accuracy"]) == sorted(
        (runs[c]["accuracy"] for c in C_VALUES), reverse=True)

    # Param filter (string compare) and metric filter (numeric compare).
    frame = mlflow.search_runs([experiment_id], filter_string="params.C = '1.0'")
    assert list(frame["run_id"]) == [runs[1.0]["run_id"]]
    threshold = sorted(runs[c]["accuracy"] for c in C_VALUES)[1]
    expected = {runs[c]["run_id"] for c in C_VALUES if runs[c]["accuracy"] > threshold}
    frame = mlflow.search_runs(
        [experiment_id],
        filter_string=f"metrics.accuracy > {threshold!r} and params.solver = 'lbfgs'")
    assert set(frame["run_id"]) == expected
    frame = mlflow.search_runs([experiment_id],
                               filter_string="tags.team = 'churn' and params.C != '0.01'")
    assert set(frame["run_id"]) == {runs[c]["run_id"] for c in C_VALUES if c != 0.01}
    frame = mlflow.search_runs([experiment_id], filter_string="params.C LIKE '1%'")
    assert set(frame["run_id"]) == {runs[1.0]["run_id"], runs[10.0]["run_id"]}
    frame = mlflow.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'",
                               max_results=2, order_by=["params.C ASC"])
    # Params order as strings: "0.01" < "0.1" < "1.0" < "10.0".
    assert list(frame["params.C"]) == ["0.01", "0.1"]
    frame = mlflow.search_runs([experiment_id], filter_string="metrics.accuracy > 2")
    assert len(frame) == 0

    # Paging through MlflowClient.search_runs with page tokens.
    client = MlflowClient()
    seen = []
    page = client.search_runs([experiment_id], order_by=["metrics.accuracy DESC"],
                              max_results=3)
    assert len(page) == 3 and page.token
    seen.extend(run.info.run_id for run in page)
    page = client.search_runs([experiment_id], order_by=["metrics.accuracy DESC"],
                              max_results=3, page_token=page.token)
    assert len(page) == 1 and not page.token
    seen.extend(run.info.run_id for run in page)
    assert len(seen) == len(set(seen)) == len(C_VALUES)
    accuracies = [runs_by_id(runs)[run_id]["accuracy"] for run_id in seen]
    assert accuracies == sorted(accuracies, reverse=True)
    assert set(seen) == {runs[c]["run_id"] for c in by_accuracy}


def runs_by_id(runs: dict) -> dict:
    return {info["run_id"]: info for info in runs.values()}


def test_artifacts_list_and_download(tracking_uri, trained, tmp_path):
    client = MlflowClient()
    c_value = C_VALUES[1]
    run_id = trained["runs"][c_value]["run_id"]
    top = {(f.path, f.is_dir) for f in client.list_artifacts(run_id)}
    assert top == {(f"notes-{c_value}.txt", False), ("report", True)}
    report = {(f.path, f.is_dir) for f in client.list_artifacts(run_id, "report")}
    assert report == {("report/summary.json", False), ("report/sub", True)}
    sizes = {f.path: f.file_size for f in client.list_artifacts(run_id)}
    assert sizes[f"notes-{c_value}.txt"] == len(
        f"C={c_value}\naccuracy={trained['runs'][c_value]['accuracy']!r}\n")

    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="report",
                                                     dst_path=str(tmp_path / "dl")))
    assert (local / "summary.json").read_text() == '{"c": %r}' % c_value
    coef = trained["runs"][c_value]["model"].coef_.ravel()
    assert (local / "sub" / "coef.csv").read_text() == ",".join(repr(float(v)) for v in coef)
    whole = Path(mlflow.artifacts.download_artifacts(run_id=run_id,
                                                     dst_path=str(tmp_path / "all")))
    assert (whole / f"notes-{c_value}.txt").read_text().startswith(f"C={c_value}\n")
    assert sorted(p.relative_to(whole).as_posix() for p in whole.rglob("*") if p.is_file()) == [
        f"notes-{c_value}.txt", "report/sub/coef.csv", "report/summary.json"]


def test_register_alias_load_and_predict(tracking_uri, trained, dataset):
    x_train, x_test, _, _ = dataset
    runs = trained["runs"]
    best_c = max(C_VALUES, key=lambda c: (runs[c]["accuracy"], c))
    best = runs[best_c]
    model_name = unique("churn-logreg")
    client = MlflowClient()

    # Version 1 through log_model(registered_model_name=...) on the best run.
    with mlflow.start_run(run_id=best["run_id"]):
        info = mlflow.sklearn.log_model(best["model"], name="model",
                                        registered_model_name=model_name,
                                        pip_requirements=["scikit-learn"])
    assert str(info.registered_model_version) == "1"
    # Version 2 through mlflow.register_model on a second run's model.
    other_c = next(c for c in C_VALUES if c != best_c)
    with mlflow.start_run(run_id=runs[other_c]["run_id"]):
        other_info = mlflow.sklearn.log_model(runs[other_c]["model"], name="model",
                                              pip_requirements=["scikit-learn"])
    version2 = mlflow.register_model(other_info.model_uri, model_name)
    assert version2.version == "2"
    assert version2.run_id == runs[other_c]["run_id"]

    registered = client.get_registered_model(model_name)
    assert registered.name == model_name
    assert {v.version for v in client.search_model_versions(f"name = '{model_name}'")} == {
        "1", "2"}
    version1 = client.get_model_version(model_name, "1")
    assert version1.run_id == best["run_id"]
    assert version1.status == "READY"

    client.set_registered_model_alias(model_name, "production", "1")
    client.set_registered_model_alias(model_name, "challenger", "2")
    assert client.get_model_version_by_alias(model_name, "production").version == "1"
    assert client.get_registered_model(model_name).aliases == {"production": "1",
                                                               "challenger": "2"}

    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}@production")
    expected = best["model"].predict(x_test)
    np.testing.assert_array_equal(np.asarray(loaded.predict(x_test)), expected)
    np.testing.assert_array_equal(np.asarray(loaded.predict(x_train[:17])),
                                  best["model"].predict(x_train[:17]))

    # Moving the alias changes what models:/name@production resolves to.
    client.set_registered_model_alias(model_name, "production", "2")
    moved = mlflow.pyfunc.load_model(f"models:/{model_name}@production")
    np.testing.assert_array_equal(np.asarray(moved.predict(x_test)),
                                  runs[other_c]["model"].predict(x_test))
    client.delete_registered_model_alias(model_name, "challenger")
    assert client.get_registered_model(model_name).aliases == {"production": "2"}
    with pytest.raises(MlflowException) as error:
        client.get_model_version_by_alias(model_name, "challenger")
    # MLflow answers INVALID_PARAMETER_VALUE for an alias that is not set.
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_experiments_and_experiment_lifecycle(tracking_uri, trained):
    client = MlflowClient()
    experiment = mlflow.get_experiment_by_name(trained["experiment_name"])
    assert experiment.experiment_id == trained["experiment_id"]
    assert experiment.tags["purpose"] == "acceptance"
    assert experiment.lifecycle_stage == "active"
    default = client.get_experiment("0")
    assert default.name == "Default"

    found = mlflow.search_experiments(filter_string=f"name = '{trained['experiment_name']}'")
    assert [e.experiment_id for e in found] == [trained["experiment_id"]]

    prefix = unique("lifecycle")
    ids = [mlflow.create_experiment(f"{prefix}-{index}") for index in range(3)]
    found = mlflow.search_experiments(filter_string=f"name LIKE '{prefix}-%'",
                                      order_by=["name DESC"])
    assert [e.name for e in found] == [f"{prefix}-2", f"{prefix}-1", f"{prefix}-0"]
    with pytest.raises(MlflowException) as error:
        mlflow.create_experiment(f"{prefix}-0")
    assert error.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client.set_experiment_tag(ids[0], "owner", "alice")
    client.set_experiment_tag(ids[0], "owner", "bob")
    assert client.get_experiment(ids[0]).tags["owner"] == "bob"
    client.delete_experiment_tag(ids[0], "owner")
    assert "owner" not in client.get_experiment(ids[0]).tags

    client.delete_experiment(ids[1])
    assert client.get_experiment(ids[1]).lifecycle_stage == "deleted"
    active = mlflow.search_experiments(filter_string=f"name LIKE '{prefix}-%'")
    assert {e.experiment_id for e in active} == {ids[0], ids[2]}
    deleted = mlflow.search_experiments(view_type=ViewType.DELETED_ONLY,
                                        filter_string=f"name LIKE '{prefix}-%'")
    assert [e.experiment_id for e in deleted] == [ids[1]]
    every = mlflow.search_experiments(view_type=ViewType.ALL,
                                      filter_string=f"name LIKE '{prefix}-%'")
    assert {e.experiment_id for e in every} == set(ids)
    client.restore_experiment(ids[1])
    assert client.get_experiment_by_name(f"{prefix}-1").lifecycle_stage == "active"

    client.rename_experiment(ids[2], f"{prefix}-renamed")
    assert client.get_experiment(ids[2]).name == f"{prefix}-renamed"
    assert mlflow.get_experiment_by_name(f"{prefix}-2") is None

    # Paging through experiments.
    page = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", max_results=2,
                                     order_by=["name ASC"])
    assert [e.name for e in page] == [f"{prefix}-0", f"{prefix}-1"] and page.token
    page = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", max_results=2,
                                     order_by=["name ASC"], page_token=page.token)
    assert [e.name for e in page] == [f"{prefix}-renamed"] and not page.token


def test_run_tags_delete_and_restore(tracking_uri):
    client = MlflowClient()
    experiment_id = mlflow.create_experiment(unique("run-lifecycle"))
    keep = client.create_run(experiment_id, run_name="keep")
    drop = client.create_run(experiment_id, run_name="drop")
    client.set_tag(keep.info.run_id, "stage", "dev")
    client.set_tag(keep.info.run_id, "stage", "prod")
    client.set_tag(keep.info.run_id, "temp", "x" * 5000)
    assert client.get_run(keep.info.run_id).data.tags["stage"] == "prod"
    assert client.get_run(keep.info.run_id).data.tags["temp"] == "x" * 5000
    client.delete_tag(keep.info.run_id, "temp")
    assert "temp" not in client.get_run(keep.info.run_id).data.tags
    with pytest.raises(MlflowException):
        client.delete_tag(keep.info.run_id, "temp")

    client.log_param(keep.info.run_id, "lr", "0.1")
    client.log_param(keep.info.run_id, "lr", "0.1")  # the same value again is accepted
    with pytest.raises(MlflowException) as error:
        client.log_param(keep.info.run_id, "lr", "0.2")
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    client.set_terminated(keep.info.run_id, "KILLED")
    assert client.get_run(keep.info.run_id).info.status == "KILLED"

    client.delete_run(drop.info.run_id)
    assert client.get_run(drop.info.run_id).info.lifecycle_stage == "deleted"
    ids = lambda view: {r.info.run_id for r in client.search_runs([experiment_id],
                                                                  run_view_type=view)}
    assert ids(ViewType.ACTIVE_ONLY) == {keep.info.run_id}
    assert ids(ViewType.DELETED_ONLY) == {drop.info.run_id}
    assert ids(ViewType.ALL) == {keep.info.run_id, drop.info.run_id}
    frame = mlflow.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert list(frame["run_id"]) == [drop.info.run_id]
    client.restore_run(drop.info.run_id)
    assert client.get_run(drop.info.run_id).info.lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == {keep.info.run_id, drop.info.run_id}
    assert ids(ViewType.DELETED_ONLY) == set()

    with pytest.raises(MlflowException) as error:
        client.get_run("0" * 32)
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_batch_and_special_values(tracking_uri):
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient()
    experiment_id = mlflow.create_experiment(unique("batch"))
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    metrics = [Metric("m", float(step) * 0.5, 1_000 + step, step) for step in range(1000)]
    client.log_batch(run_id, metrics=metrics, params=[Param("p", "v")],
                     tags=[RunTag("t", "1")])
    client.log_batch(run_id, metrics=[Metric("special", math.inf, 5, 0),
                                      Metric("special", -math.inf, 6, 1),
                                      Metric("special", 1e308, 7, 2),
                                      Metric("special", -0.0, 8, 3),
                                      Metric("special", 2.5e-300, 9, 4)])
    history = client.get_metric_history(run_id, "m")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (step, float(step) * 0.5, 1_000 + step) for step in range(1000)]
    special = client.get_metric_history(run_id, "special")
    values = [m.value for m in special]
    # MLflow's SQL store keeps +-inf as +-DBL_MAX; storing infinities exactly is fine too.
    assert values[0] in (math.inf, sys.float_info.max)
    assert values[1] in (-math.inf, -sys.float_info.max)
    assert values[2:5] == [1e308, -0.0, 2.5e-300]
    assert [(m.step, m.timestamp) for m in special] == [(s, 5 + s) for s in range(5)]
    fetched = client.get_run(run_id)
    assert fetched.data.params == {"p": "v"}
    assert fetched.data.tags["t"] == "1"
    assert fetched.data.metrics["m"] == 999 * 0.5
    assert fetched.data.metrics["special"] == 2.5e-300
