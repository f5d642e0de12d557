"""Model CI/CD end to end (issue 6 items 4 and 5) on a real `cairn server`: XGBoost
models trained with Python xgboost and logged with the stock mlflow client, a promotion
policy applied with `cairn apply`, `cairn ci check` (exit codes, text and Markdown
reports, stored evaluations), gated promotion, an override, approval under a manual
policy, and rollback — every alias move in the registry's alias history.

Cairn's own API: skipped with CAIRN_TEST_TARGET=mlflow.
"""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

import cairn_testing
from cairn_testing import unique

pytestmark = pytest.mark.skipif(cairn_testing.is_mlflow(),
                                reason="Cairn's CI/CD API; MLflow has no counterpart")

FEATURES = [f"f{i}" for i in range(5)]


def make_data(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    logit = 1.8 * x[:, 0] - 1.2 * x[:, 1] + 0.6 * x[:, 2] * x[:, 3]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def log_model(name: str, x, y, rounds: int, depth: int, shuffle_labels: bool = False) -> str:
    """Trains a booster, logs it with mlflow.xgboost (with its signature) and registers it
    as a new version of `name`; returns the version."""
    import mlflow
    import pandas as pd
    import xgboost as xgb
    from mlflow.models import infer_signature

    labels = np.random.default_rng(7).permutation(y) if shuffle_labels else y
    frame = pd.DataFrame(x, columns=FEATURES)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.3,
                         "nthread": 1, "seed": 1},
                        xgb.DMatrix(frame, label=labels), num_boost_round=rounds)
    with mlflow.start_run() as run:
        mlflow.log_metric("val_auc", 0.9 if not shuffle_labels else 0.5)
        info = mlflow.xgboost.log_model(booster, name="model",
                                        signature=infer_signature(frame))
    version = mlflow.register_model(info.model_uri, name)
    assert run.info.run_id
    return version.version


def cli(server, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CAIRN_URL=server.url, USER="ana")
    return subprocess.run([str(cairn_testing.cairn_binary()), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def production(name: str) -> str:
    from mlflow import MlflowClient

    return MlflowClient().get_model_version_by_alias(name, "production").version


POLICY = """kind: Policy
name: {policy}
model: {model}
mode: {mode}
evaluation:
  data: {{path: {data}}}
  label: label
  slices: [segment]
gates:
  - {{metric: auc, min: 0.75}}
  - {{metric: logloss, max: 0.65}}
  - {{metric: auc, min_absolute_change: -0.01, per_slice: true}}
  - {{check: loads}}
  - {{check: latency_p99_ms, max: 50}}
  - {{check: size_mb, max: 20}}
"""


@pytest.fixture
def setup(cairn_server, tracking_uri, tmp_path):
    model = unique("cicd")
    x, y = make_data(3000, seed=11)
    eval_x, eval_y = make_data(1500, seed=12)
    data = tmp_path / "eval.csv"
    with data.open("w") as out:
        out.write(",".join(FEATURES + ["segment", "label"]) + "\n")
        for row, label in zip(eval_x, eval_y):
            segment = "a" if row[4] > 0 else "b"
            out.write(",".join(f"{v:.6f}" for v in row) + f",{segment},{label}\n")
    policy_file = tmp_path / "policy.yaml"

    def apply(mode: str = "auto"):
        policy_file.write_text(POLICY.format(policy=f"{model}-gate", model=model, mode=mode,
                                             data=data))
        result = cli(cairn_server, "apply", "-f", str(policy_file))
        assert result.returncode == 0, result.stderr
        return result

    return {"model": model, "x": x, "y": y, "apply": apply, "server": cairn_server}


def test_gate_promotes_a_good_version_and_rejects_a_bad_one(setup, tmp_path, http):
    model, server = setup["model"], setup["server"]
    applied = setup["apply"]()
    assert f"+ Policy {model}-gate (v1)" in applied.stdout

    good = log_model(model, setup["x"], setup["y"], rounds=30, depth=3)
    result = cli(server, "ci", "check", model, good)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout
    assert "no baseline" in result.stdout  # nothing holds production yet
    assert production(model) == good  # mode auto: a passing version is promoted

    bad = log_model(model, setup["x"], setup["y"], rounds=1, depth=1, shuffle_labels=True)
    markdown = tmp_path / "report.md"
    result = cli(server, "ci", "check", model, bad, "--markdown", str(markdown))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout
    assert "auc >= 0.75" in result.stdout
    report = markdown.read_text()
    assert report.startswith("### ")
    assert "auc" in report and "| gate |" in report
    assert production(model) == good  # the failing version moved nothing

    # Both evaluations are stored with every gate's value and verdict.
    listed = http.get(f"{server.url}/api/v1/cicd/evaluations", params={"model": model}).json()
    evaluations = listed["evaluations"]
    assert [e["version"] for e in evaluations] == [int(bad), int(good)]  # newest first
    failed = [g for g in evaluations[0]["gates"] if g["verdict"] == "fail"]
    assert any(g["gate"] == "auc >= 0.75" for g in failed)
    assert evaluations[0]["baseline_version"] == int(good)
    comparison = [g for g in evaluations[0]["gates"] if g["gate"].startswith("auc vs")]
    assert {g["slice"] for g in comparison} == {"", "segment=a", "segment=b"}
    assert all(g["baseline"] is not None for g in comparison)
    one = http.get(f"{server.url}/api/v1/cicd/evaluations/{evaluations[0]['id']}",
                   params={"format": "markdown"})
    assert one.status_code == 200 and one.headers["content-type"].startswith("text/markdown")

    # Promotion without a passed evaluation is refused; an override is recorded.
    refused = http.post(f"{server.url}/api/v1/models/{model}/promote",
                        json={"version": bad, "actor": "ana"})
    assert refused.status_code == 409, refused.text
    assert "ci check" in refused.json()["message"]
    result = cli(server, "models", "promote", model, bad, "--override", "hotfix for the demo")
    assert result.returncode == 0, result.stderr
    assert production(model) == bad
    result = cli(server, "models", "rollback", model, "--reason", "the hotfix misbehaves")
    assert result.returncode == 0, result.stderr
    assert production(model) == good

    history = http.get(f"{server.url}/api/v1/models/{model}/alias-history").json()
    moves = history["alias_changes"]
    reasons = [m["reason"] for m in moves]  # newest first
    assert "rollback" in reasons[0] and "the hotfix misbehaves" in reasons[0]
    assert "override by ana: hotfix for the demo" in reasons[1]
    assert len(moves) == 3


def test_manual_policy_waits_for_approval(setup):
    model, server = setup["model"], setup["server"]
    setup["apply"]("manual")
    first = log_model(model, setup["x"], setup["y"], rounds=20, depth=3)
    result = cli(server, "ci", "check", model, first)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "approve" in result.stdout  # the next step is named
    with pytest.raises(Exception):
        production(model)  # nothing moved yet
    result = cli(server, "models", "approve", model, first)
    assert result.returncode == 0, result.stderr
    assert production(model) == first


def test_check_errors_exit_2(setup):
    model, server = setup["model"], setup["server"]
    result = cli(server, "ci", "check", model, "1")  # no policy governs it yet
    assert result.returncode == 2
    assert model in result.stderr
    setup["apply"]()
    result = cli(server, "ci", "check", model, "99")  # no such version
    assert result.returncode == 2
    result = cli(server, "ci", "check", model, "x")
    assert result.returncode == 2
