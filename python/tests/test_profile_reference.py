"""Monitors against a stored profile through a real `cairn server`: `cairn profiles create`
sends the rows with the profile, so a monitor with `reference: {profile: NAME}` tests drift
on them — the same drift JSON, byte for byte, as the same monitor against the CSV file the
profile was made from. A profile stored without rows (its JSON alone) checks constraints
only and the run says so. A column that stopped arriving counts as drifted.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import numpy as np
import pandas as pd
import pytest
import requests

import cairn_testing

pytestmark = pytest.mark.skipif(cairn_testing.is_mlflow(),
                                reason="profiles and monitors are Cairn's own API")


def cli(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(cairn_testing.cairn_binary()), *map(str, args), "--url",
                           server.url], capture_output=True, text=True, timeout=120)


def frame(seed: int, shift: float, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = np.round(rng.normal(50 + shift, 12, rows), 3)
    amount[::23] = np.nan
    return pd.DataFrame({
        "amount": amount,
        "visits": rng.integers(0, 7, rows),
        "plan": rng.choice(["basic", "pro", "team"], rows, p=[0.5, 0.3, 0.2]),
    })


def run_monitor(server, tmp_path, name: str, reference: str, extra: str = "") -> dict:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(f"kind: Monitor\nname: {name}\ntarget: {{path: {tmp_path / 'cur.csv'}}}\n"
                    f"reference: {reference}\n{extra}")
    applied = cli(server, "apply", "-f", spec)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    done = cli(server, "monitors", "run", name, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads(done.stdout)["run"]
    got = requests.get(f"{server.url}/api/v1/monitoring/runs/{run['id']}", timeout=60).json()
    return got.get("run", got)


def test_drift_against_a_profile_equals_drift_against_its_csv(cairn_server, tmp_path):
    frame(1, 0, 2500).to_csv(tmp_path / "train.csv", index=False)
    frame(2, 5, 700).to_csv(tmp_path / "cur.csv", index=False)
    profile = f"ref-{uuid.uuid4().hex[:8]}"
    created = cli(cairn_server, "profiles", "create", profile, "-f", tmp_path / "train.csv")
    assert created.returncode == 0, created.stderr
    listed = requests.get(f"{cairn_server.url}/api/v1/monitoring/profiles/{profile}/versions",
                          timeout=60).json()["versions"]
    assert listed[0]["has_rows"] is True

    for extra in ("", "tests: {default: tvd}\n"):
        tag = uuid.uuid4().hex[:6]
        by_profile = run_monitor(cairn_server, tmp_path, f"p-{tag}", f"{{profile: {profile}}}",
                                 extra)
        by_csv = run_monitor(cairn_server, tmp_path, f"c-{tag}",
                             f"{{path: {tmp_path / 'train.csv'}}}", extra)
        assert by_profile["state"] == "succeeded", by_profile["message"]
        assert by_csv["state"] == "succeeded", by_csv["message"]
        assert json.dumps(by_profile["result"]["drift"], sort_keys=True) == \
            json.dumps(by_csv["result"]["drift"], sort_keys=True)
        assert by_profile["result"]["reference"]["profile_version"] == 1
        assert by_profile["result"]["constraints"] is not None


def test_a_profile_without_rows_checks_constraints_only_and_says_so(cairn_server, tmp_path):
    frame(1, 0, 300).to_csv(tmp_path / "train.csv", index=False)
    frame(2, 0, 300).to_csv(tmp_path / "cur.csv", index=False)
    profile = f"bare-{uuid.uuid4().hex[:8]}"
    made = cli(cairn_server, "profiles", "create", profile, "-f", tmp_path / "train.csv",
               "--json")
    assert made.returncode == 0, made.stderr
    # The same profile again, as JSON alone (no rows): version 2.
    alone = requests.post(f"{cairn_server.url}/api/v1/monitoring/profiles",
                          json={"name": profile, "profile": json.loads(made.stdout)["profile"]},
                          timeout=60)
    assert alone.status_code == 200, alone.text
    assert alone.json()["has_rows"] is False
    run = run_monitor(cairn_server, tmp_path, f"b-{uuid.uuid4().hex[:6]}",
                      f"{{profile: {profile}}}")
    assert run["state"] == "succeeded", run["message"]
    assert run["result"]["drift"] is None
    assert f"drift not checked: reference.profile '{profile}' version 2 was stored without " \
           "its rows" in run["message"]


def test_a_feature_that_stopped_arriving_is_drift(cairn_server, tmp_path):
    frame(1, 0, 300).to_csv(tmp_path / "train.csv", index=False)
    current = frame(2, 0, 300)
    current["amount"] = np.nan
    current.to_csv(tmp_path / "cur.csv", index=False)
    run = run_monitor(cairn_server, tmp_path, f"g-{uuid.uuid4().hex[:6]}",
                      f"{{path: {tmp_path / 'train.csv'}}}")
    assert run["state"] == "succeeded", run["message"]
    assert "amount (no values in the current data)" in run["message"]
    amount = [c for c in run["result"]["drift"]["columns"] if c["column"] == "amount"][0]
    assert amount["drifted"] is True and amount["reason"] == "no values in the current data"
    # The same through POST /api/v1/monitoring/drift (JSON columns; null is missing).
    via_api = requests.post(f"{cairn_server.url}/api/v1/monitoring/drift",
                            json={"reference": {"x": [1, 2, 3, 4, 5, 6],
                                                "amount": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]},
                                  "current": {"x": [1, 2, 3, 4, 5, 6],
                                              "amount": [None] * 6}},
                            timeout=60)
    assert via_api.status_code == 200, via_api.text
    columns = {c["column"]: c for c in via_api.json()["columns"]}
    assert columns["amount"]["drifted"] is True
    assert columns["amount"]["reason"] == "no values in the current data"
    assert "reason" not in columns["x"]
