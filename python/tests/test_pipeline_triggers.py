"""Runs started by events, end to end through a real `cairn server`: a model version
registered with the stock `mlflow` client, rows ingested into a feature-store source with
`cairn features ingest`, and another pipeline's run finishing. Each trigger's `match`
must select only its events (a version of another model starts nothing), and its params
may take values from the event (`{{event.version}}`).

Waits poll a condition with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations


import pytest

import cairn
from cairn_testing import unique
from pipelines import server as ps

pytestmark = ps.skip_unless_cairn()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data = tmp_path_factory.mktemp("triggers") / "data"
    server = ps.start(data, "local")
    client = cairn.Pipelines(server.url)
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


def runs_of(client, name: str) -> list[dict]:
    return client.list_runs(pipeline=name)


def finished_run(client, name: str) -> dict:
    """The one run of `name`, once it has ended."""
    runs = ps.wait_until(f"a run of {name}", lambda: runs_of(client, name))
    assert len(runs) == 1, runs
    run = client.wait(runs[0]["id"])
    assert run["state"] == "succeeded", run.get("message")
    return run


ON_MODEL = """
kind: Pipeline
name: {name}
params: [{{name: version, type: string, default: none}}]
steps:
  - name: evaluate
    script: echo "evaluating version {{{{params.version}}}}"
triggers:
  - {{on: model_version_registered, match: {{model: {model}}}, params: {{version: "{{{{event.version}}}}"}}}}
"""


def test_a_registered_model_version_starts_its_pipeline_with_the_event_values(env):
    from mlflow.tracking import MlflowClient

    server, client = env
    name, model, other = unique("on-model"), unique("churn"), unique("other")
    client.apply_text(ON_MODEL.format(name=name, model=model))
    mlflow = MlflowClient(tracking_uri=server.url, registry_uri=server.url)

    # A version of another model matches nothing; then one of the watched model does.
    mlflow.create_registered_model(other)
    mlflow.create_model_version(other, source="s3://models/other/1")
    mlflow.create_registered_model(model)
    mlflow.create_model_version(model, source="s3://models/churn/1")

    run = finished_run(client, name)
    assert run["trigger"] == "event:model_version_registered"
    assert run["params"]["version"] == "1"
    assert model in run["trigger_detail"]
    assert "evaluating version 1" in client.logs(run["id"], "evaluate")
    # The other model's version started nothing (its event came first, so it was handled).
    assert len(runs_of(client, name)) == 1


ON_INGEST = """
kind: Entity
name: {entity}
join_key: user_id
---
kind: Source
name: {source}
type: file
format: csv
timestamp_field: ts
schema:
  - {{name: user_id, type: int64, nullable: false}}
  - {{name: ts, type: timestamp, nullable: false}}
  - {{name: clicks, type: int64}}
---
kind: Pipeline
name: {name}
params: [{{name: rows, type: string, default: "0"}}]
steps:
  - name: refresh
    script: echo "refreshing after {{{{params.rows}}}} new rows"
triggers:
  - {{on: source_ingested, match: {{source: {source}}}, params: {{rows: "{{{{event.rows}}}}"}}}}
"""


def test_ingested_rows_start_the_pipeline_watching_that_source(env, tmp_path):
    server, client = env
    name, source, entity = unique("on-ingest"), unique("clicks"), unique("user")
    source = source.replace("-", "_")
    definitions = tmp_path / "defs.yaml"
    definitions.write_text(ON_INGEST.format(name=name, source=source, entity=entity))
    applied = ps.cli(server, "apply", "-f", str(definitions))
    assert applied.returncode == 0, applied.stderr
    assert f"Pipeline {name}" in applied.stdout and f"Source {source}" in applied.stdout

    rows = tmp_path / "clicks.csv"
    rows.write_text("user_id,ts,clicks\n1,2024-01-01T00:00:00Z,3\n2,2024-01-01T00:05:00Z,4\n")
    ingested = ps.cli(server, "features", "ingest", source, str(rows))
    assert ingested.returncode == 0, ingested.stderr

    run = finished_run(client, name)
    assert run["trigger"] == "event:source_ingested"
    assert run["params"]["rows"] == "2"
    assert "refreshing after 2 new rows" in client.logs(run["id"], "refresh")


CHAIN = """
kind: Pipeline
name: {first}
steps:
  - name: build
    script: echo built
---
kind: Pipeline
name: {second}
steps:
  - name: deploy
    script: echo deployed
triggers:
  - {{on: pipeline_run_finished, match: {{pipeline: {first}, state: succeeded}}}}
"""


def test_a_finished_run_starts_the_pipeline_chained_to_it(env):
    server, client = env
    first, second = unique("first"), unique("second")
    client.apply_text(CHAIN.format(first=first, second=second))
    started = client.run(first, wait=True)
    assert started["state"] == "succeeded", started.get("message")

    run = finished_run(client, second)
    assert run["trigger"] == "event:pipeline_run_finished"
    assert started["id"] in run["trigger_detail"]
