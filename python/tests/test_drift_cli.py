"""`cairn drift` (no server) and POST /api/v1/monitoring/drift (a real server).

The CLI reads two CSV files written here: the per-column table and the data-set verdict,
--json (checked against scipy's ks_2samp for the KS p-value), --html (one self-contained
file: an inline SVG histogram per column, nothing loaded from elsewhere), the exit codes
(0 whatever the verdict; 1 on data-set drift with --fail-on-drift; 2 with a message naming
the flag, file, line or column for bad input). The HTTP route gets the same data as JSON
columns and must answer the same report as the CLI.
"""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest

import cairn_testing

pytestmark = pytest.mark.skipif(cairn_testing.is_mlflow(),
                                reason="cairn drift is Cairn's own command")

ROWS = 400


def make_data(shift: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "age": np.round(rng.normal(40 + shift, 10, ROWS), 3),
        "income": np.round(rng.lognormal(10, 0.5, ROWS), 2),
        "city": rng.choice(["Paris", "Oslo", "Rome", "Lima"], ROWS, p=[0.4, 0.3, 0.2, 0.1]),
    }


def write_csv(path, data: dict) -> None:
    names = list(data)
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in range(ROWS):
            f.write(",".join(str(data[name][row]) for name in names) + "\n")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    reference, current, same = make_data(0, 1), make_data(15, 2), make_data(0, 3)
    write_csv(root / "ref.csv", reference)
    write_csv(root / "cur.csv", current)
    write_csv(root / "same.csv", same)
    return {"root": root, "ref": root / "ref.csv", "cur": root / "cur.csv",
            "same": root / "same.csv", "reference": reference, "current": current}


def cairn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(cairn_testing.cairn_binary()), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_table_and_verdict(files):
    result = cairn("drift", "--reference", files["ref"], "--current", files["cur"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["COLUMN", "KIND", "TEST", "STATISTIC", "P-VALUE", "THRESHOLD",
                                "DRIFTED"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    # 400 reference rows: KS for the numeric columns, chi-squared for 4 categories.
    assert rows["age"][1:3] == ["numeric", "ks"] and rows["age"][-1] == "yes"
    assert rows["income"][1:3] == ["numeric", "ks"] and rows["income"][-1] == "no"
    assert rows["city"][1:3] == ["categorical", "chisquare"]
    assert "Data set drift: " in result.stdout
    assert f"reference {ROWS} rows, current {ROWS} rows" in result.stdout


def test_json_agrees_with_scipy(files):
    from scipy import stats

    result = cairn("drift", "--reference", files["ref"], "--current", files["cur"], "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["number_of_columns"] == 3
    columns = {c["column"]: c for c in report["columns"]}
    expected = stats.ks_2samp(files["reference"]["age"], files["current"]["age"])
    assert columns["age"]["statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert columns["age"]["p_value"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    assert columns["age"]["drifted"] is True
    assert columns["city"]["kind"] == "categorical"
    assert report["drifted_columns"] == sum(c["drifted"] for c in report["columns"])
    assert report["dataset_drift"] == (report["drifted_columns"] / 3 >= 0.5)


def test_html_report_is_self_contained(files):
    html_path = files["root"] / "report.html"
    result = cairn("drift", "--reference", files["ref"], "--current", files["cur"], "--json",
                   "--html", html_path)
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)  # stdout stays JSON; the note goes to stderr
    assert f"HTML report: {html_path}" in result.stderr
    html = html_path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 3
    assert ">Paris</text>" in html
    for outside in ("<script", "http://", "https://", "src=", "<link", "@import", "url("):
        assert outside not in html, outside


def test_fail_on_drift_exit_codes(files):
    drifted = cairn("drift", "--reference", files["ref"], "--current", files["cur"],
                    "--fail-on-drift", "--drift-share", "0.3")
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert "Data set drift: YES" in drifted.stdout
    # The same finding without the flag is not a failure.
    assert cairn("drift", "--reference", files["ref"], "--current", files["cur"],
                 "--drift-share", "0.3").returncode == 0
    calm = cairn("drift", "--reference", files["ref"], "--current", files["same"],
                 "--fail-on-drift", "--columns", "age,city")
    assert calm.returncode == 0, calm.stdout + calm.stderr
    assert "Data set drift: no" in calm.stdout


def test_bad_input_messages(files):
    root = files["root"]
    missing = cairn("drift", "--reference", root / "nope.csv", "--current", files["cur"])
    assert missing.returncode == 2
    assert f"--reference {root / 'nope.csv'}: cannot open the file" in missing.stderr

    (root / "bad.csv").write_text("age,income,city\n1,2,Paris\n3,4,Oslo,extra\n")
    bad = cairn("drift", "--reference", files["ref"], "--current", root / "bad.csv")
    assert bad.returncode == 2
    assert f"--current {root / 'bad.csv'}:3: this row has more fields than the 3 columns" \
        in bad.stderr

    (root / "quote.csv").write_text('age,income,city\n1,2,"Paris\n')
    quote = cairn("drift", "--reference", files["ref"], "--current", root / "quote.csv")
    assert quote.returncode == 2
    assert ":2: column 'city': a quoted field starts here" in quote.stderr

    unknown = cairn("drift", "--reference", files["ref"], "--current", files["cur"],
                    "--test", "wassersteinn")
    assert unknown.returncode == 2
    assert "--test: unknown test 'wassersteinn' (did you mean 'wasserstein'?)" in unknown.stderr

    column = cairn("drift", "--reference", files["ref"], "--current", files["cur"],
                   "--column-test", "agee=psi")
    assert column.returncode == 2
    assert "--column-test: no column 'agee'" in column.stderr and "did you mean 'age'" \
        in column.stderr

    (root / "text.csv").write_text("age,income,city\nold,2,Paris\n")
    kinds = cairn("drift", "--reference", files["ref"], "--current", root / "text.csv")
    assert kinds.returncode == 2
    assert "age" in kinds.stderr

    usage = cairn("drift", "--current", files["cur"])
    assert usage.returncode == 2
    assert "--reference is required" in usage.stderr


def as_json_columns(data: dict) -> dict:
    return {name: [v.item() if hasattr(v, "item") else v for v in values]
            for name, values in data.items()}


def test_http_route_answers_what_the_cli_computes(files, cairn_server, http):
    body = {"reference": as_json_columns(files["reference"]),
            "current": as_json_columns(files["current"]),
            "per_column": {"income": {"test": "psi", "threshold": 0.2}}}
    response = http.post(f"{cairn_server.url}/api/v1/monitoring/drift", json=body, timeout=60)
    assert response.status_code == 200, response.text
    served = response.json()
    cli = json.loads(cairn("drift", "--reference", files["ref"], "--current", files["cur"],
                           "--json", "--column-test", "income=psi:0.2").stdout)
    assert served["reference_rows"] == ROWS
    by_name = {c["column"]: c for c in cli["columns"]}
    for column in served["columns"]:
        mine = by_name[column["column"]]
        for key in ("kind", "test", "threshold", "drifted", "reference_count"):
            assert column[key] == mine[key], (column["column"], key)
        assert column["statistic"] == pytest.approx(mine["statistic"], rel=1e-12)
        if mine["p_value"] is not None:
            assert column["p_value"] == pytest.approx(mine["p_value"], rel=1e-12)
    assert {c["column"]: c["test"] for c in served["columns"]}["income"] == "psi"
    assert served["dataset_drift"] == cli["dataset_drift"]

    bad = http.post(f"{cairn_server.url}/api/v1/monitoring/drift",
                    json={"reference": body["reference"],
                          "current": {"age": [1, 2], "city": ["Oslo"]}},
                    timeout=60)
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "current.city: has 1 values but current.age has 2" in bad.json()["message"]

    unknown = http.post(f"{cairn_server.url}/api/v1/monitoring/drift",
                        json={**body, "test": "kss"}, timeout=60)
    assert unknown.status_code == 400
    assert "test: unknown test 'kss'" in unknown.json()["message"]
