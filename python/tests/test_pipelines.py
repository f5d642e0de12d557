"""The pipeline suite against a real `cairn server`, once per executor: "local" always,
"slurm" when SLURM_CONF names a running cluster (scripts/run_tests starts one with
scripts/slurm_test_server; without it the slurm variant skips saying so).

Each variant applies pipelines over HTTP (the SDK) and the CLI and checks: DAG order,
parameter overrides, outputs passed between steps, failure messages with the step, the
reason and the last log lines, retries counted, cancellation stopping the whole process
group (a child the step spawned is gone), caching (a second run is all `cached`,
--no-cache reruns), a training step whose stock `mlflow` client logs into MLFLOW_RUN_ID,
timeouts, out of memory, a GPU step getting CUDA_VISIBLE_DEVICES, `cairn pipelines logs
--follow`, `cairn compute status`, validation errors at apply, versions and diffs, and a
server killed with SIGKILL mid-run that resumes the run on restart without running the
step twice. Nothing waits with fixed sleeps: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import cairn
import cairn_testing
from cairn_testing import unique
from pipelines import server as ps

pytestmark = ps.skip_unless_cairn()

PY = sys.executable


def yaml_for(text: str, executor: str, **subs: str) -> str:
    """A pipeline definition with @EXECUTOR@, @PY@ and @KEY@ (from subs) filled in."""
    text = text.replace("@EXECUTOR@", executor).replace("@PY@", PY)
    for key, value in subs.items():
        text = text.replace(f"@{key.upper()}@", str(value))
    return text


def step_of(run: dict, name: str) -> dict:
    for step in run.get("steps", []):
        if step["name"] == name:
            return step
    raise AssertionError(f"run {run.get('id')} has no step {name!r}: {json.dumps(run)[:2000]}")


@pytest.fixture(scope="module", params=ps.EXECUTORS)
def env(request, tmp_path_factory):
    """(executor, server, SDK client) for one variant of the suite."""
    executor = request.param
    if executor == "slurm":
        ps.slurm_conf_or_skip()
    server = ps.start(tmp_path_factory.mktemp(f"pipelines-{executor}"), executor)
    client = cairn.Pipelines(server.url)
    yield executor, server, client
    client.close()
    server.stop()


def apply(client, text: str) -> dict:
    plan = client.apply_text([{"path": "suite.yaml", "content": text}])
    return plan


def run_to_end(client, name: str, **kwargs) -> dict:
    return client.run(name, wait=True, timeout=ps.DEADLINE_S, **kwargs)


# ---------------------------------------------------------------------------------------

DAG = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
params:
  - {name: greeting, type: string, default: hello}
  - {name: trace, type: string}
steps:
  - name: first
    script: |
      echo first >> {{params.trace}}
      printf '%s' "{{params.greeting}}" > {{outputs.msg}}
    outputs: [{name: msg, path: msg.txt}]
  - name: upper
    script: |
      echo upper >> {{params.trace}}
      tr a-z A-Z < {{inputs.msg}} > {{outputs.loud}}
    inputs: [{name: msg, from: first.msg}]
    outputs: [{name: loud, path: loud.txt}]
  - name: count
    script: |
      echo count >> {{params.trace}}
      wc -c < "$CAIRN_INPUT_MSG" | tr -d ' \\n' > {{outputs.n}}
    inputs: [{name: msg, from: first.msg}]
    outputs: [{name: n, path: n.txt}]
  - name: last
    script: |
      echo last >> {{params.trace}}
      printf '%s/%s' "$(cat {{inputs.loud}})" "$(cat {{inputs.n}})" > {{outputs.result}}
    inputs: [{name: loud, from: upper.loud}, {name: n, from: count.n}]
    outputs: [{name: result, path: result.txt}]
"""


def test_dag_order_params_and_outputs_between_steps(env, tmp_path):
    executor, server, client = env
    name = unique("dag")
    plan = apply(client, yaml_for(DAG, executor, name=name))
    assert plan["applied"] is True
    assert [(c["kind"], c["name"], c["action"], c["new_version"]) for c in plan["changes"]] == [
        ("Pipeline", name, "added", 1)]

    trace = tmp_path / "trace.txt"
    run = run_to_end(client, name, params={"trace": str(trace)})
    assert run["state"] == "succeeded", run["message"]
    assert run["params"] == {"greeting": "hello", "trace": str(trace)}
    assert [s["name"] for s in run["steps"]] == ["first", "upper", "count", "last"] or \
        [s["name"] for s in run["steps"]] == ["first", "count", "upper", "last"]
    order = trace.read_text().split()
    assert order[0] == "first" and order[-1] == "last" and sorted(order[1:3]) == ["count", "upper"]
    assert len(order) == 4
    result = Path(step_of(run, "last")["outputs"]["result"])
    assert result.read_text() == "HELLO/5"
    for step in run["steps"]:
        assert step["state"] == "succeeded"
        assert len(step["attempts"]) == 1
        assert step["attempts"][0]["executor"] == executor
        assert step["attempts"][0]["exit_code"] == 0

    # Overrides reach templates; the CLI waits and prints the steps.
    trace2 = tmp_path / "trace2.txt"
    done = ps.cli(server, "pipelines", "run", name, "-p", "greeting=bonjour", "-p",
                  f"trace={trace2}", "--wait")
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    run_id = done.stdout.split("Started run ", 1)[1].split()[0]
    run2 = client.get_run(run_id)
    assert run2["params"]["greeting"] == "bonjour"
    assert Path(step_of(run2, "last")["outputs"]["result"]).read_text() == "BONJOUR/7"

    listed = client.list_runs(pipeline=name)
    assert [r["id"] for r in listed] == [run_id, run["id"]]
    text = ps.cli(server, "pipelines", "runs", "--pipeline", name)
    assert text.returncode == 0, text.stderr
    assert run_id in text.stdout and "succeeded" in text.stdout


FAILING = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
steps:
  - name: prepare
    command: ["true"]
  - name: boom
    script: |
      i=1
      while [ $i -le 40 ]; do echo "boom line $i"; i=$((i+1)); done
      exit 3
    depends_on: [prepare]
  - name: after
    command: ["true"]
    depends_on: [boom]
"""


def test_failure_names_the_step_the_reason_and_the_last_log_lines(env):
    executor, server, client = env
    name = unique("fail")
    apply(client, yaml_for(FAILING, executor, name=name))
    done = ps.cli(server, "pipelines", "run", name, "--wait")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "step 'boom'" in done.stderr
    assert "boom line 40" in done.stderr
    run_id = done.stdout.split("Started run ", 1)[1].split()[0]
    run = client.get_run(run_id)
    assert run["state"] == "failed"
    assert "step 'boom'" in run["message"]
    assert "code 3" in run["message"]
    assert "boom line 40" in run["message"]
    assert "boom line 1\n" not in run["message"]  # the tail, not the whole log
    boom = step_of(run, "boom")
    assert boom["state"] == "failed"
    assert boom["attempts"][0]["reason"] == "exit_code"
    assert boom["attempts"][0]["exit_code"] == 3
    assert "boom line 40" in boom["log_tail"]
    assert step_of(run, "prepare")["state"] == "succeeded"
    after = step_of(run, "after")
    assert after["state"] == "skipped"
    assert "boom" in after["message"]
    # The whole log over HTTP and the CLI.
    log = client.logs(run_id, "boom")
    assert log.splitlines()[0] == "boom line 1" and log.splitlines()[-1] == "boom line 40"
    text = ps.cli(server, "pipelines", "logs", run_id, "boom")
    assert text.returncode == 0 and text.stdout == log
    shown = ps.cli(server, "pipelines", "get", run_id)
    assert shown.returncode == 0 and "skipped" in shown.stdout and "boom line 40" in shown.stdout


RETRIED = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
params: [{name: counter, type: string}]
steps:
  - name: flaky
    script: |
      echo try >> {{params.counter}}
      n=$(wc -l < {{params.counter}})
      echo "attempt $n"
      [ "$n" -ge 3 ]
    retry: {attempts: 4, backoff: 100ms, factor: 2, max_backoff: 1s, jitter: 0.1}
"""


def test_retries_are_counted_with_every_attempt_recorded(env, tmp_path):
    executor, server, client = env
    name = unique("retry")
    apply(client, yaml_for(RETRIED, executor, name=name))
    run = run_to_end(client, name, params={"counter": str(tmp_path / "count")})
    assert run["state"] == "succeeded", run["message"]
    flaky = step_of(run, "flaky")
    attempts = flaky["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["state"] for a in attempts] == ["failed", "failed", "succeeded"]
    assert [a["reason"] for a in attempts[:2]] == ["exit_code", "exit_code"]
    assert all(a["started_ms"] > 0 and a["ended_ms"] >= a["started_ms"] for a in attempts)
    assert client.logs(run["id"], "flaky", attempt=1).strip() == "attempt 1"
    assert client.logs(run["id"], "flaky").strip() == "attempt 3"


CANCELLED = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
params: [{name: pidfile, type: string}]
steps:
  - name: spawner
    script: |
      sleep 300 &
      echo $! > {{params.pidfile}}.tmp
      mv {{params.pidfile}}.tmp {{params.pidfile}}
      wait
  - name: never
    command: ["true"]
    depends_on: [spawner]
"""


def test_cancel_stops_the_whole_process_group(env, tmp_path):
    executor, server, client = env
    name = unique("cancel")
    apply(client, yaml_for(CANCELLED, executor, name=name))
    pidfile = tmp_path / "child.pid"
    run = client.run(name, params={"pidfile": str(pidfile)})
    ps.wait_until("the step's child to write its pid", pidfile.exists)
    child = int(pidfile.read_text())
    assert not ps.pid_gone(child)
    done = ps.cli(server, "pipelines", "cancel", run["id"])
    assert done.returncode == 0, done.stderr
    ended = client.wait(run["id"], timeout=ps.DEADLINE_S)
    assert ended["state"] == "cancelled"
    assert step_of(ended, "spawner")["state"] == "cancelled"
    assert step_of(ended, "never")["state"] in ("cancelled", "skipped")
    ps.wait_until(f"the step's child {child} to be gone", lambda: ps.pid_gone(child))


CACHED = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
params: [{name: counter, type: string}]
steps:
  - name: make
    script: |
      echo make >> {{params.counter}}
      echo data > {{outputs.data}}
    outputs: [{name: data, path: data.txt}]
  - name: use
    script: |
      echo use >> {{params.counter}}
      cat {{inputs.data}} {{inputs.data}} > {{outputs.twice}}
    inputs: [{name: data, from: make.data}]
    outputs: [{name: twice, path: twice.txt}]
"""


def test_second_run_is_all_cached_and_no_cache_reruns(env, tmp_path):
    executor, server, client = env
    name = unique("cache")
    apply(client, yaml_for(CACHED, executor, name=name))
    counter = tmp_path / "count"
    params = {"counter": str(counter)}
    first = run_to_end(client, name, params=params)
    assert first["state"] == "succeeded", first["message"]
    assert counter.read_text().split() == ["make", "use"]

    second = run_to_end(client, name, params=params)
    assert second["state"] == "succeeded", second["message"]
    assert [s["state"] for s in second["steps"]] == ["cached", "cached"]
    assert all(s["cached_from"] == first["id"] for s in second["steps"])
    assert counter.read_text().split() == ["make", "use"]  # no work done
    assert Path(step_of(second, "use")["outputs"]["twice"]).read_text() == "data\ndata\n"

    done = ps.cli(server, "pipelines", "run", name, "-p", f"counter={counter}", "--no-cache",
                  "--wait")
    assert done.returncode == 0, done.stderr
    assert counter.read_text().split() == ["make", "use", "make", "use"]
    run_id = done.stdout.split("Started run ", 1)[1].split()[0]
    third = client.get_run(run_id)
    assert [s["state"] for s in third["steps"]] == ["succeeded", "succeeded"]


TRAINING = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
params: [{name: alpha, type: float, default: 0.5}]
steps:
  - name: train
    command: ["@PY@", "@SCRIPT@", "{{params.alpha}}"]
    resources: {timeout: 5m}
"""

TRAIN_SCRIPT = """
import sys
import mlflow

alpha = float(sys.argv[1])
with mlflow.start_run() as run:   # MLFLOW_RUN_ID: the step's child run
    mlflow.log_param("alpha", alpha)
    for step, value in enumerate([0.9, 0.5, 0.25]):
        mlflow.log_metric("rmse", value * alpha, step=step)
    print("logged into", run.info.run_id)
"""


def test_training_step_logs_with_the_stock_mlflow_client(env, tmp_path):
    from mlflow.tracking import MlflowClient

    executor, server, client = env
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    name = unique("train")
    apply(client, yaml_for(TRAINING, executor, name=name, script=script))
    run = run_to_end(client, name, params={"alpha": 2})
    assert run["state"] == "succeeded", run["message"]
    train = step_of(run, "train")
    child_id = train["tracking_run_id"]
    assert child_id and run["tracking_run_id"] and child_id != run["tracking_run_id"]
    assert f"logged into {child_id}" in client.logs(run["id"], "train")

    mlflow = MlflowClient(tracking_uri=server.url)
    child = mlflow.get_run(child_id)
    assert child.data.params["alpha"] == "2.0"
    assert child.data.metrics["rmse"] == pytest.approx(0.5)
    history = mlflow.get_metric_history(child_id, "rmse")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(
        [1.8, 1.0, 0.5])
    assert child.data.tags["mlflow.parentRunId"] == run["tracking_run_id"]
    parent = mlflow.get_run(run["tracking_run_id"])
    assert parent.data.params["alpha"] == "2"
    assert parent.data.tags["cairn.pipeline.name"] == name
    assert parent.data.tags["cairn.pipeline.version"] == "1"
    assert parent.data.tags["cairn.pipeline.trigger"] == "manual"
    experiment = mlflow.get_experiment(parent.info.experiment_id)
    assert experiment.name == f"pipelines/{name}"


TIMEOUT = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
steps:
  - name: slow
    script: |
      echo started
      sleep 120
    resources: {timeout: 2s}
"""


def test_timeout_fails_the_step_with_its_reason(env):
    executor, server, client = env
    name = unique("timeout")
    apply(client, yaml_for(TIMEOUT, executor, name=name))
    run = run_to_end(client, name)
    assert run["state"] == "failed"
    attempt = step_of(run, "slow")["attempts"][-1]
    assert attempt["reason"] == "timeout"
    assert "time limit" in attempt["message"]
    assert "step 'slow'" in run["message"] and "time limit" in run["message"]
    assert "started" in run["message"]  # the log tail


OOM = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
steps:
  - name: hog
    command: ["@PY@", "-c", "import time; b = bytearray(768 << 20); b[::4096] = b'x' * len(b[::4096]); print('allocated', flush=True); time.sleep(120)"]
    resources: {memory: 128Mi, timeout: 5m}
"""


def test_out_of_memory_is_the_reason(env):
    executor, server, client = env
    if executor == "slurm":
        pytest.skip("the test cluster runs without cgroups and JobAcctGather "
                    "(scripts/slurm_test_server), so Slurm does not enforce --mem; the local "
                    "variant checks the out-of-memory kill")
    name = unique("oom")
    apply(client, yaml_for(OOM, executor, name=name))
    run = run_to_end(client, name)
    assert run["state"] == "failed"
    attempt = step_of(run, "hog")["attempts"][-1]
    assert attempt["reason"] == "out_of_memory"
    assert "out of memory" in attempt["message"]
    assert "128Mi" in attempt["message"]
    assert "out of memory" in run["message"]


GPU = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
steps:
  - name: gpu
    script: |
      printf '%s' "$CUDA_VISIBLE_DEVICES" > {{outputs.devices}}
    outputs: [{name: devices, path: devices.txt}]
    resources: {gpus: 1}
  - name: cpu
    script: |
      printf '[%s]' "${CUDA_VISIBLE_DEVICES-unset}" > {{outputs.devices}}
    outputs: [{name: devices, path: devices.txt}]
"""


def test_gpu_step_gets_cuda_visible_devices(env):
    executor, server, client = env
    name = unique("gpu")
    apply(client, yaml_for(GPU, executor, name=name))
    run = run_to_end(client, name)
    assert run["state"] == "succeeded", run["message"]
    gpu = step_of(run, "gpu")
    devices = Path(gpu["outputs"]["devices"]).read_text()
    assert devices in ("0", "1"), devices
    if executor == "local":
        assert gpu["attempts"][0]["gpus"] == [int(devices)]
    # A step that asks for no GPU never sees one.
    cpu_devices = Path(step_of(run, "cpu")["outputs"]["devices"]).read_text()
    assert cpu_devices in ("[]", "[unset]"), cpu_devices

    # Asking for more GPUs than any node has is refused at apply, naming the step.
    too_many = GPU.replace("gpus: 1", "gpus: 8")
    with pytest.raises(cairn.CairnError) as error:
        apply(client, yaml_for(too_many, executor, name=name))
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "step gpu" in error.value.message and "GPU" in error.value.message


FOLLOWED = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
params: [{name: release, type: string}]
steps:
  - name: talk
    script: |
      echo "tick 1"
      while [ ! -f {{params.release}} ]; do sleep 0.05; done
      echo "tick 2"
"""


def test_logs_follow_streams_until_the_attempt_ends(env, tmp_path):
    executor, server, client = env
    name = unique("follow")
    apply(client, yaml_for(FOLLOWED, executor, name=name))
    release = tmp_path / "release"
    run = client.run(name, params={"release": str(release)})
    ps.wait_until("the step to start",
                  lambda: step_of(client.get_run(run["id"]), "talk")["state"] == "running")
    env_vars = dict(os.environ)
    env_vars.pop("CAIRN_URL", None)
    follower = subprocess.Popen(
        [str(cairn_testing.cairn_binary()), "pipelines", "logs", run["id"], "talk", "--follow",
         "--url", server.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env_vars)
    lines: list[str] = []

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        ps.wait_until("'tick 1' from logs --follow", lambda: "tick 1\n" in lines)
        assert follower.poll() is None  # still following: the attempt has not ended
        release.touch()
        follower.wait(timeout=ps.DEADLINE_S)
        reader.join(timeout=10)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, follower.stderr.read() if follower.stderr else ""
    assert lines == ["tick 1\n", "tick 2\n"]
    assert client.wait(run["id"], timeout=ps.DEADLINE_S)["state"] == "succeeded"


def test_compute_status_shows_capacity_use_and_queue(env):
    executor, server, client = env
    executors = {e["name"]: e for e in client.compute_status()}
    assert "local" in executors
    local = executors["local"]
    assert local["capacity"]["cpus"] == ps.LOCAL_CPUS
    assert local["capacity"]["gpus"] == 2
    assert local["capacity"]["memory"] == ps.LOCAL_MEMORY
    if executor == "slurm":
        assert "slurm" in executors
        assert executors["slurm"]["capacity"]["cpus"] >= 1
    text = ps.cli(server, "compute", "status")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("EXECUTOR")
    assert "local" in text.stdout and f"/{ps.LOCAL_CPUS}" in text.stdout
    as_json = ps.cli(server, "compute", "status", "--json")
    assert as_json.returncode == 0
    assert {e["name"] for e in json.loads(as_json.stdout)["executors"]} == set(executors)


def test_apply_refuses_bad_pipelines_naming_the_step_and_problem(env, tmp_path):
    executor, server, client = env
    name = unique("bad")
    cycle = yaml_for("""
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
steps:
  - {name: a, command: ["true"], depends_on: [c]}
  - {name: b, command: ["true"], depends_on: [a]}
  - {name: c, command: ["true"], depends_on: [b]}
""", executor, name=name)
    with pytest.raises(cairn.CairnError) as error:
        apply(client, cycle)
    assert error.value.status_code == 400
    assert "cycle" in error.value.message and "suite.yaml" in error.value.message

    unknown = yaml_for("""
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
steps:
  - {name: a, command: [echo, "{{params.nope}}"]}
  - {name: b, command: ["true"], depends_on: [missing]}
""", executor, name=name)
    with pytest.raises(cairn.CairnError) as error:
        apply(client, unknown)
    assert "nope" in error.value.message or "missing" in error.value.message

    # Through `cairn apply` (the CLI routes kind: Pipeline to /api/v1/pipelines/apply).
    path = tmp_path / "cycle.yaml"
    path.write_text(cycle)
    done = ps.cli(server, "apply", "-f", str(path))
    assert done.returncode == 1
    assert "cycle" in done.stderr and "cycle.yaml" in done.stderr
    assert all(p["name"] != name for p in client.list())


def test_versions_describe_and_diff(env, tmp_path):
    executor, server, client = env
    name = unique("ver")
    v1 = yaml_for("""
kind: Pipeline
name: @NAME@
description: first
executor: @EXECUTOR@
params: [{name: depth, type: int, default: 3}]
steps:
  - {name: a, command: [echo, "{{params.depth}}"]}
""", executor, name=name)
    path = tmp_path / "p.yaml"
    path.write_text(v1)
    done = ps.cli(server, "apply", "-f", str(path))
    assert done.returncode == 0, done.stderr
    assert f"+ Pipeline {name} (v1)" in done.stdout
    path.write_text(v1.replace("default: 3", "default: 4"))
    done = ps.cli(server, "apply", "-f", str(path))
    assert done.returncode == 0, done.stderr
    assert f"~ Pipeline {name} v1" in done.stdout

    assert [v["version"] for v in client.versions(name)] == [1, 2]
    diffs = client.diff(name, 1, 2)
    assert diffs and any("params" in d["path"] for d in diffs)
    text = ps.cli(server, "pipelines", "diff", name, "1", "2")
    assert text.returncode == 0, text.stderr
    assert "params" in text.stdout and "3" in text.stdout and "4" in text.stdout
    described = ps.cli(server, "pipelines", "describe", name)
    assert described.returncode == 0, described.stderr
    assert f"Pipeline {name}" in described.stdout and "depth" in described.stdout
    old = ps.cli(server, "pipelines", "describe", name, "--version", "1", "--json")
    assert json.loads(old.stdout)["pipeline"]["version"] == 1
    listed = ps.cli(server, "pipelines", "list")
    assert name in listed.stdout

    # A run pins the version it started on.
    run = run_to_end(client, name, version=1)
    assert run["version"] == 1 and run["params"]["depth"] == "3"
    missing = ps.cli(server, "pipelines", "describe", name, "--version", "9")
    assert missing.returncode == 1 and "RESOURCE_DOES_NOT_EXIST" in missing.stderr
    bad = ps.cli(server, "pipelines", "run", name, "-p", "depth=deep")
    assert bad.returncode == 1 and "depth" in bad.stderr


NOOP_JOIN = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
params: [{name: trace, type: string}]
steps:
  - {name: a, script: "echo a >> {{params.trace}}"}
  - {name: b, script: "echo b >> {{params.trace}}"}
  - {name: c, script: "echo c >> {{params.trace}}"}
  - {name: join, noop: true, depends_on: [a, b, c]}
  - {name: after, script: "echo after >> {{params.trace}}", depends_on: [join]}
"""


def test_a_noop_join_runs_nothing_and_succeeds_after_its_dependencies(env, tmp_path):
    from mlflow.tracking import MlflowClient

    executor, server, client = env
    name = unique("noop")
    text = yaml_for(NOOP_JOIN, executor, name=name)
    # v1: the join as an ordinary step; v2: the same as a no-op step (a new version).
    apply(client, text.replace("{name: join, noop: true,", '{name: join, command: ["true"],'))
    plan = apply(client, text)
    assert [(c["action"], c["new_version"]) for c in plan["changes"]] == [("changed", 2)]
    diffs = {d["path"]: (d["old"], d["new"]) for d in client.diff(name, 1, 2)}
    assert diffs["steps[3].noop"] == (None, True)
    shown = ps.cli(server, "pipelines", "diff", name, "1", "2")
    assert shown.returncode == 0, shown.stderr
    assert "steps[3].noop" in shown.stdout

    trace = tmp_path / "trace.txt"
    run = run_to_end(client, name, params={"trace": str(trace)}, no_cache=True)
    assert run["state"] == "succeeded", run["message"]
    order = trace.read_text().split()
    assert sorted(order[:3]) == ["a", "b", "c"] and order[3:] == ["after"]
    join = step_of(run, "join")
    assert join["state"] == "succeeded"
    assert join["attempts"] == []
    assert join["message"] == "noop: nothing to run"
    assert join["started_ms"] >= max(step_of(run, s)["ended_ms"] for s in "abc")
    assert step_of(run, "after")["started_ms"] >= join["ended_ms"]
    # Its child run exists under the pipeline's run, like every step's.
    child = MlflowClient(tracking_uri=server.url).get_run(join["tracking_run_id"])
    assert child.info.status == "FINISHED"
    assert child.data.tags["mlflow.parentRunId"] == run["tracking_run_id"]
    # The definition shows it; the CLI's describe names it.
    spec = client.get(name)["spec"]
    assert [s.get("noop", False) for s in spec["steps"]] == [False, False, False, True, False]
    described = ps.cli(server, "pipelines", "describe", name)
    assert described.returncode == 0, described.stderr
    assert "(noop: runs nothing)" in described.stdout
    shown = ps.cli(server, "pipelines", "get", run["id"])
    assert shown.returncode == 0, shown.stderr
    join_row = next(line for line in shown.stdout.splitlines() if line.startswith("join "))
    assert "succeeded" in join_row and "noop: nothing to run" in join_row

    # A failed upstream step skips it.
    apply(client, text.replace('"echo b >> {{params.trace}}"', '"exit 4"'))
    run = run_to_end(client, name, params={"trace": str(trace)})
    assert run["state"] == "failed"
    assert step_of(run, "join")["state"] == "skipped"
    assert step_of(run, "join")["message"] == "upstream step 'b' failed"
    assert step_of(run, "after")["state"] == "skipped"

    # A no-op step with a command is refused at apply, naming the step and the field.
    bad = text.replace("{name: join, noop: true,", '{name: join, noop: true, command: ["true"],')
    with pytest.raises(cairn.CairnError) as error:
        apply(client, bad)
    assert error.value.status_code == 400
    assert "step join" in error.value.message
    assert "'command'" in error.value.message and "noop: true" in error.value.message


RESUMED = """
kind: Pipeline
name: @NAME@
executor: @EXECUTOR@
params: [{name: dir, type: string}]
steps:
  - name: long
    script: |
      echo ran >> {{params.dir}}/count
      while [ ! -f {{params.dir}}/release ]; do sleep 0.05; done
      echo done > {{outputs.out}}
    outputs: [{name: out, path: out.txt}]
  - name: next
    script: |
      cat {{inputs.out}} > {{outputs.copy}}
    inputs: [{name: out, from: long.out}]
    outputs: [{name: copy, path: copy.txt}]
"""


def test_server_killed_mid_run_resumes_without_running_the_step_twice(env, tmp_path):
    executor, _, _ = env
    data_dir = tmp_path / "data"
    server = ps.start(data_dir, executor)
    try:
        client = cairn.Pipelines(server.url)
        name = unique("resume")
        apply(client, yaml_for(RESUMED, executor, name=name))
        work = tmp_path / "work"
        work.mkdir()
        run = client.run(name, params={"dir": str(work)})
        ps.wait_until("the step to start", lambda: (work / "count").exists())
        # A crash: SIGKILL to the server alone (its steps run in their own sessions).
        os.kill(server.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
        server = ps.start(data_dir, executor)
        client = cairn.Pipelines(server.url)
        release = work / "release"
        release.touch()
        ended = client.wait(run["id"], timeout=ps.DEADLINE_S)
        assert ended["state"] == "succeeded", ended["message"]
        assert (work / "count").read_text() == "ran\n"  # the step ran once
        assert step_of(ended, "long")["state"] == "succeeded"
        assert Path(step_of(ended, "next")["outputs"]["copy"]).read_text() == "done\n"
    finally:
        server.stop()


def test_server_killed_right_after_sbatch_follows_the_job_instead_of_a_second_one(
        tmp_path, monkeypatch):
    """The window between sbatch accepting a step's job and the server storing Slurm's job
    number: an `sbatch` first in PATH runs the real one, then SIGKILLs the server (its parent)
    before handing it the number. The restarted server has only the id it reserved before
    sbatch ran; it finds the job by name, follows it under Slurm's number, and the step runs
    once."""
    # Slurm only: a local job's id is the one reserved before it starts (the local crash is
    # test_server_killed_in_a_fan_out_runs_every_step_once).
    executor = "slurm"
    ps.slurm_conf_or_skip()
    real = shutil.which("sbatch")
    assert real, "sbatch is not in PATH"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "sbatch"
    wrapper.write_text(f"""#!/bin/sh
out=$("{real}" "$@") || {{ rc=$?; printf '%s\\n' "$out"; exit $rc; }}
kill -9 $PPID
printf '%s\\n' "$out"
""")
    wrapper.chmod(0o755)
    data_dir = tmp_path / "data"
    with monkeypatch.context() as patched:
        patched.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        server = ps.start(data_dir, executor)
    try:
        client = cairn.Pipelines(server.url)
        name = unique("sbatch-window")
        apply(client, yaml_for(RESUMED, executor, name=name))
        work = tmp_path / "work"
        work.mkdir()
        (work / "release").touch()  # the step ends as soon as it has run
        try:
            run_id = client.run(name, params={"dir": str(work)})["id"]
        except Exception:  # noqa: BLE001 - the server may die before it answers
            run_id = None
        server.proc.wait(timeout=60)  # killed by the wrapper, right after the real sbatch
        assert server.proc.returncode == -signal.SIGKILL, server.log_tail()
        server = ps.start(data_dir, executor)  # the real sbatch from now on
        client = cairn.Pipelines(server.url)
        if run_id is None:
            runs = client.list_runs(pipeline=name)
            assert len(runs) == 1, runs
            run_id = runs[0]["id"]
        ended = client.wait(run_id, timeout=ps.DEADLINE_S)
        assert ended["state"] == "succeeded", ended["message"]
        assert (work / "count").read_text() == "ran\n"  # one Slurm job, not two
        attempts = step_of(ended, "long")["attempts"]
        assert len(attempts) == 1, attempts
        assert attempts[0]["job_id"].isdigit(), attempts[0]  # Slurm's number, not the token
    finally:
        server.stop()


def fan_out_yaml(name: str, executor: str, width: int) -> str:
    """start → `width` steps → join, each appending its name to {{params.trace}}."""
    lines = ["kind: Pipeline", f"name: {name}", f"executor: {executor}",
             "params: [{name: trace, type: string}]", "steps:",
             "  - {name: start, script: 'echo start >> {{params.trace}}'}"]
    middle = [f"m{index:02d}" for index in range(width)]
    lines += [f"  - {{name: {m}, depends_on: [start], script: 'echo {m} >> {{{{params.trace}}}}'}}"
              for m in middle]
    lines.append(f"  - {{name: join, depends_on: [{', '.join(middle)}], "
                 "script: 'echo join >> {{params.trace}}'}")
    return "\n".join(lines) + "\n"


def test_server_killed_in_a_fan_out_runs_every_step_once(env, tmp_path):
    """The engine commits a fan-out's job reports together (group commit): reports it had
    handled but not yet committed when it was killed are learnt again on restart from the
    jobs themselves; no step runs twice and the finished ones stay finished."""
    executor, _, _ = env
    if executor != "local":
        pytest.skip("40 sbatch jobs take the test cluster ~1 s each; the slurm variant of a "
                    "crash mid-run is "
                    "test_server_killed_mid_run_resumes_without_running_the_step_twice")
    width = 40
    data_dir = tmp_path / "data"
    server = ps.start(data_dir, executor)
    try:
        client = cairn.Pipelines(server.url)
        name = unique("fan-resume")
        apply(client, fan_out_yaml(name, executor, width))
        trace = tmp_path / "trace"
        run = client.run(name, params={"trace": str(trace)}, no_cache=True)

        def some_succeeded():
            current = client.get_run(run["id"])
            done = [s for s in current["steps"] if s["state"] == "succeeded"]
            return current if len(done) >= 8 else None

        seen = ps.wait_until("8 steps to succeed", some_succeeded, interval_s=0.005)
        os.kill(server.pid, signal.SIGKILL)  # a crash, mid fan-out
        server.proc.wait(timeout=30)
        server = ps.start(data_dir, executor)
        client = cairn.Pipelines(server.url)
        ended = client.wait(run["id"], timeout=ps.DEADLINE_S)
        assert ended["state"] == "succeeded", ended["message"]
        lines = trace.read_text().split()
        expected = ["start", *[f"m{index:02d}" for index in range(width)], "join"]
        assert sorted(lines) == sorted(expected), "a step ran twice or not at all"
        for step in seen["steps"]:  # what a reader saw finished stayed finished, run once
            if step["state"] == "succeeded":
                assert step_of(ended, step["name"])["state"] == "succeeded"
                assert len(step_of(ended, step["name"])["attempts"]) == 1, step["name"]
    finally:
        server.stop()
