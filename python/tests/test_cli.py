"""The `cairn` CLI (experiments, runs, models) run as a real process against a server.

The binary is $CAIRN_BINARY, else build/release/cairn; the server is the module's
`cairn_server` fixture (conftest.py). Runs are created with raw HTTP so that the test
depends on nothing but the REST API.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

import cairn_testing
from cairn_testing import cli, unique


def api(server, method, path, **kwargs):
    response = requests.request(method, f"{server.url}/api/2.0/mlflow/{path}", timeout=30,
                                **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def experiment_with_runs(cairn_server):
    """An experiment with five finished runs: depth 1..5, auc 0.70..0.90."""
    name = unique("cli-exp")
    experiment_id = api(cairn_server, "POST", "experiments/create",
                        json={"name": name})["experiment_id"]
    now = int(time.time() * 1000)
    run_ids = {}
    for depth in range(1, 6):
        run = api(cairn_server, "POST", "runs/create",
                  json={"experiment_id": experiment_id, "run_name": f"depth-{depth}",
                        "start_time": now})["run"]
        run_id = run["info"]["run_id"]
        api(cairn_server, "POST", "runs/log-batch", json={
            "run_id": run_id,
            "params": [{"key": "depth", "value": str(depth)}],
            "metrics": [{"key": "auc", "value": 0.65 + 0.05 * depth, "timestamp": now,
                         "step": 0}],
        })
        api(cairn_server, "POST", "runs/update",
            json={"run_id": run_id, "status": "FINISHED", "end_time": now + 1500})
        run_ids[depth] = run_id
    return {"name": name, "id": experiment_id, "run_ids": run_ids}


def test_experiments_create_then_list(cairn_server):
    name = unique("cli-created")
    created = cli(cairn_server, "experiments", "create", name)
    assert created.returncode == 0, created.stderr
    assert f"Created experiment '{name}' with id " in created.stdout
    new_id = created.stdout.strip().rsplit(" ", 1)[1]

    listed = cli(cairn_server, "experiments", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:2] == ["ID", "NAME"]
    assert any(line.split()[:2] == [new_id, name] for line in lines[1:])
    assert any(line.split()[:2] == ["0", "Default"] for line in lines[1:])


def test_experiments_create_json_and_duplicate_is_an_error(cairn_server):
    name = unique("cli-json")
    created = cli(cairn_server, "experiments", "create", name, "--json")
    assert created.returncode == 0, created.stderr
    experiment_id = json.loads(created.stdout)["experiment_id"]
    assert api(cairn_server, "GET", "experiments/get",
               params={"experiment_id": experiment_id})["experiment"]["name"] == name

    again = cli(cairn_server, "experiments", "create", name)
    assert again.returncode == 1
    assert again.stdout == ""
    assert "RESOURCE_ALREADY_EXISTS" in again.stderr


def test_experiments_list_json_parses(cairn_server):
    listed = cli(cairn_server, "experiments", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [experiment["name"] for experiment in json.loads(listed.stdout)["experiments"]]
    assert "Default" in names


def test_runs_search_with_filter_and_order(cairn_server, experiment_with_runs):
    searched = cli(cairn_server, "runs", "search", "--experiment", experiment_with_runs["name"],
                   "--filter", "metrics.auc > 0.8", "--order-by", "metrics.auc DESC")
    assert searched.returncode == 0, searched.stderr
    lines = searched.stdout.splitlines()
    assert lines[0].split()[0:2] == ["RUN", "ID"]
    assert lines[0].split()[-1] == "auc"
    rows = [line.split() for line in lines[1:]]
    # auc 0.85 (depth 4) and 0.9 (depth 5), best first.
    assert [row[0] for row in rows] == [experiment_with_runs["run_ids"][5],
                                        experiment_with_runs["run_ids"][4]]
    assert [row[1] for row in rows] == ["depth-5", "depth-4"]
    assert rows[0][-1] == "0.9"


def test_runs_search_json_by_id_with_max(cairn_server, experiment_with_runs):
    searched = cli(cairn_server, "runs", "search", "--experiment", experiment_with_runs["id"],
                   "--filter", "params.depth != '3'", "--order-by", "metrics.auc ASC",
                   "--max", "2", "--json")
    assert searched.returncode == 0, searched.stderr
    body = json.loads(searched.stdout)
    assert [run["info"]["run_name"] for run in body["runs"]] == ["depth-1", "depth-2"]
    assert body.get("next_page_token")


def test_runs_list_and_get(cairn_server, experiment_with_runs):
    listed = cli(cairn_server, "runs", "list", "--experiment", experiment_with_runs["name"])
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1 + 5
    assert "FINISHED" in listed.stdout
    assert "1.5s" in listed.stdout  # duration from start_time/end_time

    run_id = experiment_with_runs["run_ids"][2]
    shown = cli(cairn_server, "runs", "get", run_id)
    assert shown.returncode == 0, shown.stderr
    assert f"run_id           {run_id}" in shown.stdout
    assert "PARAMS" in shown.stdout and "METRICS (latest)" in shown.stdout
    assert any(line.split() == ["depth", "2"] for line in shown.stdout.splitlines())

    as_json = cli(cairn_server, "runs", "get", run_id, "--json")
    assert json.loads(as_json.stdout)["run"]["info"]["run_id"] == run_id


def test_runs_get_unknown_run_exits_1_with_server_error(cairn_server):
    missing = cli(cairn_server, "runs", "get", "0" * 32)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert missing.stderr.startswith("cairn: RESOURCE_DOES_NOT_EXIST: ")


def test_runs_list_unknown_experiment_name(cairn_server):
    missing = cli(cairn_server, "runs", "list", "--experiment", unique("no-such"))
    assert missing.returncode == 1
    assert "RESOURCE_DOES_NOT_EXIST" in missing.stderr


def test_models_alias_set_get_history(cairn_server, experiment_with_runs):
    model = unique("cli-model")
    api(cairn_server, "POST", "registered-models/create", json={"name": model})
    for depth in (4, 5):
        run_id = experiment_with_runs["run_ids"][depth]
        api(cairn_server, "POST", "model-versions/create",
            json={"name": model, "source": f"runs:/{run_id}/model", "run_id": run_id})

    first = cli(cairn_server, "models", "alias", "set", model, "production", "1",
                "--reason", "first release", env_extra={"USER": "alice"})
    assert first.returncode == 0, first.stderr
    assert "now points at version 1" in first.stdout
    second = cli(cairn_server, "models", "alias", "set", model, "production", "2",
                 "--reason", "better auc", env_extra={"USER": "bob"})
    assert second.returncode == 0, second.stderr

    got = cli(cairn_server, "models", "alias", "get", model, "production")
    assert got.returncode == 0, got.stderr
    assert any(line.split() == ["version", "2"] for line in got.stdout.splitlines())
    got_json = json.loads(cli(cairn_server, "models", "alias", "get", model, "production",
                              "--json").stdout)
    assert got_json["model_version"]["version"] == "2"
    assert got_json["model_version"]["run_id"] == experiment_with_runs["run_ids"][5]

    versions = cli(cairn_server, "models", "versions", model)
    assert versions.returncode == 0, versions.stderr
    rows = [line.split() for line in versions.stdout.splitlines()[1:]]
    assert [row[0] for row in rows] == ["2", "1"]
    assert rows[0][1] == "production"

    listed = cli(cairn_server, "models", "list")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:3] == [model, "2", "production=v2"]
               for line in listed.stdout.splitlines())

    if cairn_testing.is_mlflow():
        return  # the alias audit trail is Cairn's own API
    history = cli(cairn_server, "models", "alias", "history", model)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "ALIAS", "FROM", "TO", "ACTOR", "REASON"]
    newest, oldest = lines[1].split(), lines[2].split()
    assert newest[2:] == ["production", "1", "2", "bob", "better", "auc"]
    assert oldest[2:] == ["production", "-", "1", "alice", "first", "release"]
    history_json = json.loads(cli(cairn_server, "models", "alias", "history", model,
                                  "--json").stdout)
    assert [change["actor"] for change in history_json["alias_changes"]] == ["bob", "alice"]


def test_models_alias_errors(cairn_server):
    unknown = cli(cairn_server, "models", "alias", "get", unique("nope"), "production")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("cairn: RESOURCE_DOES_NOT_EXIST")

    bad_version = cli(cairn_server, "models", "alias", "set", "m", "production", "x")
    assert bad_version.returncode == 2
    assert "VERSION must be a positive integer" in bad_version.stderr


def test_usage_errors_exit_2():
    assert cli(None, "runs", "search").returncode == 2  # --experiment missing
    assert cli(None, "no-such-noun").returncode == 2
    assert cli(None).returncode == 2
    assert cli(None, "--help").returncode == 0


def test_unreachable_server_exits_1():
    # A port nothing listens on: bind and close to get one that was just free.
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = cli(None, "experiments", "list", env_extra={"CAIRN_URL": url})
    assert result.returncode == 1
    assert result.stderr.startswith(f"cairn: cannot reach Cairn at {url}: ")
