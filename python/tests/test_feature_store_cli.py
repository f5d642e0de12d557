"""The feature store's CLI verbs run as real processes against a real server: apply,
ingest (a bad row named by file, line, column and value; quarantine), historical into a
CSV file, materialize with its progress bar, and the Feast-shaped online read."""

from __future__ import annotations

import csv
import re
import json

import pytest
import requests

from cairn_testing import cli
from features import server as feature_server

pytestmark = feature_server.skip_unless_cairn()

DEFS = """
kind: Entity
name: customer
join_keys: [{name: customer_id, type: int64}]
---
kind: Source
name: payments
timestamp_field: ts
schema:
  - {name: customer_id, type: int64, nullable: false}
  - {name: ts, type: timestamp, nullable: false}
  - {name: amount, type: double}
---
kind: FeatureView
name: pay
entities: [customer]
source: payments
features:
  - {name: amount, type: double}
  - {name: big, type: bool, expr: "amount > 100"}
  - {name: pay_2d, type: double, agg: sum, of: amount, window: 2d}
"""

GOOD = ("customer_id,ts,amount\n"
        "1,2024-03-01T00:00:00Z,50\n"
        "1,2024-03-02T00:00:00Z,150\n"
        "2,2024-03-01T12:00:00Z,7\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = feature_server.start(tmp_path_factory.mktemp("fs-cli"))
    yield s
    s.stop()


def test_apply_ingest_historical_materialize_online(server, tmp_path):
    defs = tmp_path / "defs.yaml"
    defs.write_text(DEFS)
    applied = cli(server, "apply", "-f", str(defs))
    assert applied.returncode == 0, applied.stderr
    assert "FeatureView" in applied.stdout and "pay" in applied.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD + "3,2024-03-01T00:00:00Z,lots\n")
    rejected = cli(server, "features", "ingest", "payments", str(bad))
    assert rejected.returncode == 1
    for part in ("bad.csv", "line 5", "amount", "lots"):
        assert part in rejected.stderr, rejected.stderr

    kept = cli(server, "features", "ingest", "payments", str(bad), "--quarantine", "--json")
    assert kept.returncode == 0, kept.stderr
    result = json.loads(kept.stdout)
    assert result["rows"] == 3 and result["quarantined"] == 1
    assert result["views"] == {"pay": 3}

    entities = tmp_path / "rows.csv"
    entities.write_text("customer_id,event_timestamp,label\n"
                        "1,2024-03-02T06:00:00Z,1\n"
                        "2,2024-03-01T00:00:00Z,0\n"
                        "1,2024-03-05T00:00:00Z,0\n")
    out = tmp_path / "train.csv"
    hist = cli(server, "features", "historical", "--entities", str(entities),
               "--features", "pay:amount,pay:big,pay:pay_2d", "-o", str(out))
    assert hist.returncode == 0, hist.stderr
    # The saved snapshot's id (batch prediction takes it: --training-set ID).
    snapshot = re.search(r"training set snapshot (\S+)", hist.stderr)
    assert snapshot, hist.stderr
    saved = requests.get(f"{server.url}/api/v1/features/training-sets/{snapshot.group(1)}",
                         timeout=10)
    assert saved.status_code == 200, saved.text
    rows = list(csv.DictReader(out.open()))
    assert [r["customer_id"] for r in rows] == ["1", "2", "1"]
    assert rows[0]["amount"] == "150" and rows[0]["big"] == "true" and rows[0]["pay_2d"] == "200"
    assert rows[1]["amount"] == ""            # customer 2's only row is 12 hours later
    assert rows[2]["amount"] == "150" and rows[2]["pay_2d"] == ""  # nothing in the last 2 days
    assert rows[0]["label"] == "1"            # entity columns are kept

    mat = cli(server, "features", "materialize", "--start", "2024-01-01", "--end",
              "2024-04-01")
    assert mat.returncode == 0, mat.stderr
    assert "pay: 2 keys" in mat.stdout
    assert "%" in mat.stderr                  # the progress bar

    online = requests.post(f"{server.url}/get-online-features", timeout=10, json={
        "features": ["pay:amount", "pay:pay_2d"], "entities": {"customer_id": [1, 9]}}).json()
    assert online["metadata"]["feature_names"] == ["customer_id", "amount", "pay_2d"]
    assert online["results"][1]["values"] == [150.0, None]
    assert online["results"][1]["statuses"] == ["PRESENT", "NOT_FOUND"]


def test_historical_without_features_or_service_is_a_usage_error(server, tmp_path):
    entities = tmp_path / "rows.csv"
    entities.write_text("customer_id,event_timestamp\n1,2024-03-02T06:00:00Z\n")
    result = cli(server, "features", "historical", "--entities", str(entities))
    assert result.returncode == 1
    assert "--service or --features" in result.stderr


@pytest.mark.parametrize("path,body,status,field", [
    ("/api/v1/features/materialize", {"start": "yesterday", "end": "2024-01-01"}, 400, "start"),
    ("/api/v1/features/materialize", {"start": 0}, 400, "end"),
    ("/api/v1/features/materialize", {"start": 0, "end": 10, "views": ["nope"]}, 404, "nope"),
    ("/api/v1/features/push", {"push_source_name": "payments", "to": "sideways",
                               "df": {"customer_id": [1], "ts": [0], "amount": [1.0]}}, 400, "to"),
    ("/api/v1/features/push", {"push_source_name": "payments",
                               "df": {"customer_id": [1], "ts": [0], "colour": ["red"]}},
     400, "colour"),
    ("/api/v1/features/push", {"push_source_name": "payments",
                               "df": {"customer_id": ["x"], "ts": [0]}}, 400, "df.customer_id[0]"),
    ("/api/v1/features/push", {"df": {}}, 400, "push_source_name"),
    ("/api/v1/features/historical", {"features": ["pay:amount"],
                                     "entities": {"customer_id": [1, 2],
                                                  "event_timestamp": [0]}}, 400, "entities"),
    ("/api/v1/features/historical", {"features": ["pay:amount"],
                                     "entities": {"customer_id": [1],
                                                  "event_timestamp": ["soon"]}},
     400, "entities.event_timestamp[0]"),
    ("/api/v1/features/historical", {"features": ["pay:amont"],
                                     "entities": {"customer_id": [1], "event_timestamp": [0]}},
     404, "did you mean 'amount'"),
])
def test_bad_feature_requests_are_4xx_naming_the_field(server, tmp_path, path, body, status, field):
    defs = tmp_path / "defs.yaml"
    defs.write_text(DEFS)
    assert cli(server, "apply", "-f", str(defs)).returncode == 0
    response = requests.post(f"{server.url}{path}", json=body, timeout=10)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error_code"] and field in error["message"], error


def test_unknown_training_set_is_404(server):
    response = requests.get(f"{server.url}/api/v1/features/training-sets/nope", timeout=10)
    assert response.status_code == 404
    assert "nope" in response.json()["message"]
