"""Data profiles and constraints against a real `cairn server` (the module's cairn_server
fixture): `cairn profiles create NAME -f data.csv` (profiled by the CLI, stored by the
server with inferred constraints), `list`, `show`, `check NAME -f new.csv` (exit 0 when
the data passes, 1 with a violation per column, 2 on errors), and the HTTP routes
(POST /api/v1/monitoring/profiles with JSON columns or CSV text, GET one/list/versions,
POST …/{name}/check, DELETE). The profile's numbers are checked against pandas.describe
and numpy.quantile (the profile's quantiles are exact below 400 values).
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
                                reason="profiles are Cairn's own API")

ROWS = 300
BASE = "/api/v1/monitoring/profiles"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cli(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(cairn_testing.cairn_binary()), *map(str, args), "--url",
                           server.url], capture_output=True, text=True, timeout=120)


def reference_frame(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(10, 0.5, ROWS), 2)
    income[::25] = np.nan  # 12 missing values
    return pd.DataFrame({
        "age": rng.integers(18, 90, ROWS),
        "income": income,
        "plan": rng.choice(["basic", "pro", "team"], ROWS, p=[0.5, 0.3, 0.2]),
    })


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    ref = reference_frame()
    ref.to_csv(root / "train.csv", index=False)
    reference_frame(2).to_csv(root / "same.csv", index=False)
    bad = reference_frame(3)
    bad.loc[0, "age"] = -4            # range_check (non-negative, below the min)
    bad.loc[1:30, "income"] = np.nan  # completeness_check
    bad.loc[2, "plan"] = "enterprise"  # categorical_values_check
    bad = bad.assign(region="eu")  # extra_column_check
    bad.to_csv(root / "bad.csv", index=False)
    return {"root": root, "ref": ref, "train": root / "train.csv",
            "same": root / "same.csv", "bad": root / "bad.csv"}


def get(server, path: str, **params) -> requests.Response:
    return requests.get(f"{server.url}{path}", params=params, timeout=60)


def post(server, path: str, body: dict) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, timeout=60)


def test_cli_create_stores_profile_matching_pandas(cairn_server, files):
    name = unique("train")
    created = cli(cairn_server, "profiles", "create", name, "-f", files["train"])
    assert created.returncode == 0, created.stderr
    assert f"profile {name} version 1: {ROWS} rows, 3 columns" in created.stdout
    assert "constraints (inferred):" in created.stdout

    detail = get(cairn_server, f"{BASE}/{name}").json()
    assert detail["source"] == "train.csv"
    columns = {c["name"]: c for c in detail["profile"]["columns"]}
    ref = files["ref"]
    for column in ("age", "income"):
        described = ref[column].describe()
        got = columns[column]
        assert got["count"] == int(described["count"])
        assert got["nulls"] == int(ref[column].isna().sum())
        assert got["mean"] == pytest.approx(described["mean"], rel=1e-12)
        assert got["std"] == pytest.approx(described["std"], rel=1e-9)
        assert got["min"] == described["min"] and got["max"] == described["max"]
        values = ref[column].dropna().to_numpy()
        for q in got["quantiles"]:
            assert q["value"] == pytest.approx(np.quantile(values, q["q"]), rel=1e-12), q
        assert got["quantile_rank_error"] == 0  # below k = 400 values: exact
        assert sum(got["histogram"]["counts"]) == got["count"]
    assert columns["age"]["inferred_type"] == "Integral"
    assert columns["income"]["inferred_type"] == "Fractional"
    counts = ref["plan"].value_counts()
    assert columns["plan"]["inferred_type"] == "String"
    assert columns["plan"]["top"][0] == {"value": counts.index[0], "count": int(counts.iloc[0])}

    features = {f["name"]: f for f in detail["constraints"]["features"]}
    assert features["age"]["num_constraints"]["is_non_negative"] is True
    assert features["income"]["completeness"] == pytest.approx((ROWS - 12) / ROWS)
    assert features["plan"]["string_constraints"]["domains"] == ["basic", "pro", "team"]

    listed = cli(cairn_server, "profiles", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert name in [p["name"] for p in json.loads(listed.stdout)["profiles"]]
    shown = cli(cairn_server, "profiles", "show", name)
    assert shown.returncode == 0, shown.stderr
    assert "Integral" in shown.stdout and "basic, pro, team" in shown.stdout


def test_cli_check_passes_same_distribution_and_reports_each_violation(cairn_server, files):
    name = unique("check")
    assert cli(cairn_server, "profiles", "create", name, "-f", files["train"]).returncode == 0

    same = cli(cairn_server, "profiles", "check", name, "-f", files["same"])
    assert same.returncode == 0, same.stdout + same.stderr
    assert f"{ROWS} rows pass the constraints of profile {name} version 1" in same.stdout

    bad = cli(cairn_server, "profiles", "check", name, "-f", files["bad"], "--json")
    assert bad.returncode == 1, bad.stderr
    report = json.loads(bad.stdout)
    assert report["passed"] is False
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in report["violations"]}
    assert ("age", "range_check") in kinds
    assert ("income", "completeness_check") in kinds
    assert ("plan", "categorical_values_check") in kinds
    assert ("region", "extra_column_check") in kinds
    plan = next(v for v in report["violations"] if v["feature_name"] == "plan")
    assert "'enterprise'" in plan["description"]

    # The same through the server's check route, with the CSV text.
    via_api = post(cairn_server, f"{BASE}/{name}/check", {"csv": files["bad"].read_text()})
    assert via_api.status_code == 200, via_api.text
    assert {(v["feature_name"], v["constraint_check_type"])
            for v in via_api.json()["violations"]} == kinds


def test_http_routes_versions_and_errors(cairn_server):
    name = unique("api")
    data = {"x": [1.5, 2.5, None, 4.0], "c": ["a", "b", "a", None]}
    first = post(cairn_server, BASE, {"name": name, "data": data})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    second = post(cairn_server, BASE, {"name": name, "csv": "x,c\n1,a\n2,b\n"})
    assert second.json()["version"] == 2
    versions = get(cairn_server, f"{BASE}/{name}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert get(cairn_server, f"{BASE}/{name}", version=1).json()["rows"] == 4

    passed = post(cairn_server, f"{BASE}/{name}/check", {"data": {"x": [1, 2], "c": ["a", "b"]}})
    assert passed.json() == {"name": name, "version": 2, "rows": 2, "passed": True,
                             "violations": []}

    missing = get(cairn_server, f"{BASE}/{unique('nope')}")
    assert missing.status_code == 404
    assert "does not exist" in missing.json()["message"]
    neither = post(cairn_server, BASE, {"name": name})
    assert neither.status_code == 400
    assert "give exactly one" in neither.json()["message"]
    bad_name = post(cairn_server, BASE, {"name": "has space", "data": data})
    assert bad_name.status_code == 400
    assert "'has space' is not a valid profile name" in bad_name.json()["message"]

    assert requests.delete(f"{cairn_server.url}{BASE}/{name}", timeout=30).status_code == 200
    assert get(cairn_server, f"{BASE}/{name}").status_code == 404


def test_cli_errors_exit_two(cairn_server, files):
    missing_file = cli(cairn_server, "profiles", "create", unique("x"), "-f",
                       files["root"] / "missing.csv")
    assert missing_file.returncode == 2
    assert "missing.csv" in missing_file.stderr
    missing_profile = cli(cairn_server, "profiles", "check", unique("nope"), "-f", files["same"])
    assert missing_profile.returncode == 2
    assert "does not exist" in missing_profile.stderr


def test_extreme_values_profile_like_exact_arithmetic(cairn_server, tmp_path):
    """Columns near the ends of the double range: numpy's std of 1e200-sized values
    overflows (x**2 → inf) and a 1e-300 column's underflows; Cairn scales by a power of two,
    so mean and std match numpy on the scaled column (times the scale) and Python's exact
    statistics module. The stored profile reads back (the server refused inf before)."""
    import statistics

    rng = np.random.default_rng(7)
    unit = rng.normal(3, 2, 5000)
    signs = np.where(rng.random(5000) < 0.5, -1.0, 1.0)
    columns = {
        "big": unit * 1e200,
        "huge": signs * rng.uniform(0.5, 1.0, 5000) * 1e300,
        "tiny": unit * 1e-300,
    }
    path = tmp_path / "extreme.csv"
    pd.DataFrame(columns).to_csv(path, index=False, float_format="%.17g")
    read = pd.read_csv(path, float_precision="round_trip")
    name = unique("extreme")
    created = cli(cairn_server, "profiles", "create", name, "-f", path)
    assert created.returncode == 0, created.stderr
    got = {c["name"]: c for c in get(cairn_server, f"{BASE}/{name}").json()["profile"]["columns"]}
    for column, scale in (("big", 1e200), ("huge", 1e300), ("tiny", 1e-300)):
        values = read[column].to_numpy()
        with np.errstate(over="ignore", under="ignore"):
            assert not np.isfinite(np.std(values, ddof=1)) or column == "tiny"
        assert got[column]["mean"] == pytest.approx(np.mean(values / scale) * scale, rel=1e-12)
        assert got[column]["std"] == pytest.approx(np.std(values / scale, ddof=1) * scale,
                                                   rel=1e-12)
        assert got[column]["std"] == pytest.approx(statistics.stdev(values.tolist()), rel=1e-12)
        assert got[column]["min"] == values.min() and got[column]["max"] == values.max()
