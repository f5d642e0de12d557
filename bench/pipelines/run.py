#!/usr/bin/env python3
"""Side-by-side pipeline benchmark: Cairn's pipeline engine (local executor) against
Prefect 3 and Dagster (both from pip, run locally), on the same machine, one after the
other (issue 4, "Performance").

Scenarios:
  overhead  Cairn only: a chain of no-op steps whose program (stamp.c, built statically)
            appends the wall-clock nanosecond at which it started and the one just before
            it exits. For every edge a -> b, b.start - a.end is the time from "b's
            dependency has finished" to "b's process is running" (it includes a's exit,
            the reaping, Cairn's bookkeeping, b's fork/exec and its loader). p50/p90/p99
            over every edge of --overhead-runs runs. Cross-checked with the engine's own
            attempt timestamps (milliseconds): b.attempt.started_ms - a.attempt.ended_ms.
  seq       N sequential no-op steps (`true`, one process per step) -> wall time.
  fanout    1 start -> N-2 parallel -> 1 end no-op steps -> wall time.
            Cairn: the run's time recorded by the server (started_ms -> ended_ms), the time
            seen by an HTTP client (POST .../runs -> the run is terminal), and the time of
            the command `cairn pipelines run NAME --no-cache --wait` against the running
            server. The client waits with the API's wait_ms (no polling). Prefect / Dagster: the measured flow/job from its call to its return
            (after a warm-up flow in the same process, so the ephemeral server and the
            imports are not counted: favourable to them), and the whole command
            `python <side>.py ...` (imports, Prefect's ephemeral server, warm-up included).
            Peers run in two variants, labelled: `subprocess` (every task/op runs `true` as
            a child process: the same work as a Cairn step) and `inprocess` (an empty task
            body, and for Dagster the in-process executor: more favourable to them).
            With --cairn-noop-fanout Cairn also runs the same DAG with every step
            `noop: true` (no process: the engine's own cost, the counterpart of the peers'
            `inprocess` variant), reported as "Cairn noop" with the server's CPU time
            (user+sys of the server process, /proc) per run next to the wall times.
  scale     A server holding --scale-pipelines pipelines, --scale-runs past runs and
            --scale-runs x --scale-steps step records: GET /api/v1/pipeline-runs (first
            page, a pipeline filter, a state filter, a deep page) and
            GET /api/v1/pipeline-runs/{id} (random runs, with their steps and attempts),
            p50/p99 over a keep-alive HTTP client. Seeding: see --scale-seed.

Usage:
  python3 bench/pipelines/run.py --cairn build/release/cairn \\
      --peer-python /tmp/bench-venv/bin/python [--skip-prefect] [--skip-dagster] \\
      [--skip-cairn] [--quick] [--json out.json] [--markdown out.md]

The peers need a virtualenv with bench/pipelines/requirements.txt installed:
  python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install -r \\
      bench/pipelines/requirements.txt
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))

TRUE = shutil.which("true") or "/bin/true"
TERMINAL = {"succeeded", "failed", "cancelled"}


# ---------------------------------------------------------------------------------------
# Small helpers

def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100.0 * len(ordered))))
    return ordered[rank - 1]


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def ratio(slow, fast) -> str:
    if not slow or not fast:
        return "n/a"
    return f"{slow / fast:,.1f}×"


def load_average() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


class Client:
    """A minimal keep-alive JSON client (http.client: little per-request overhead)."""

    def __init__(self, port: int, timeout: float = 900):
        self.port = port
        self.timeout = timeout
        self.connection = None

    def call(self, method: str, path: str, payload=None) -> tuple[int, bytes]:
        body = None if payload is None else json.dumps(payload).encode()
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                             timeout=self.timeout)
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                self.connection = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, payload=None) -> dict:
        status, raw = self.call(method, path, payload)
        if status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {raw[:500]!r}")
        return json.loads(raw) if raw else {}

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


# ---------------------------------------------------------------------------------------
# Pipeline YAML (format: src/pipelines/pipeline_spec.h). Flow style keeps 1,000 steps short.

STEP_CPUS: float | None = None  # --step-cpus: resources.cpus of every step (default 1)


def step_line(name: str, argv: list[str], depends_on: list[str]) -> str:
    deps = f", depends_on: [{', '.join(depends_on)}]" if depends_on else ""
    res = f", resources: {{cpus: {STEP_CPUS:g}}}" if STEP_CPUS else ""
    return f"  - {{name: {name}, command: {json.dumps(argv)}, cache: false{res}{deps}}}"


def seq_yaml(name: str, steps: int, argv: list[str], description: str = "") -> str:
    lines = ["kind: Pipeline", f"name: {name}",
             f"description: {json.dumps(description or f'{steps} sequential no-op steps')}",
             "steps:"]
    for index in range(steps):
        lines.append(step_line(f"s{index:03d}", argv, [f"s{index - 1:03d}"] if index else []))
    return "\n".join(lines) + "\n"


def fanout_yaml(name: str, steps: int, argv: list[str]) -> str:
    middle = [f"m{index:04d}" for index in range(steps - 2)]
    lines = ["kind: Pipeline", f"name: {name}",
             f"description: \"fan-out/fan-in of {steps} no-op steps\"", "steps:",
             step_line("start", argv, [])]
    lines += [step_line(m, argv, ["start"]) for m in middle]
    lines.append(step_line("end", argv, middle))
    return "\n".join(lines) + "\n"


def noop_fanout_yaml(name: str, steps: int) -> str:
    """fanout_yaml's DAG with every step `noop: true` (no process per step)."""
    def noop_line(step: str, depends_on: list[str]) -> str:
        deps = f", depends_on: [{', '.join(depends_on)}]" if depends_on else ""
        return f"  - {{name: {step}, noop: true{deps}}}"

    middle = [f"m{index:04d}" for index in range(steps - 2)]
    lines = ["kind: Pipeline", f"name: {name}",
             f"description: \"fan-out/fan-in of {steps} noop: true steps\"", "steps:",
             noop_line("start", [])]
    lines += [noop_line(m, ["start"]) for m in middle]
    lines.append(noop_line("end", middle))
    return "\n".join(lines) + "\n"


def parallel_yaml(name: str, steps: int, argv: list[str], description: str) -> str:
    lines = ["kind: Pipeline", f"name: {name}", f"description: {json.dumps(description)}",
             "steps:"]
    lines += [step_line(f"p{index:02d}", argv, []) for index in range(steps)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Cairn

def build_stamp(work: Path) -> Path:
    out = work / "stamp"
    cc = os.environ.get("CC", "cc")
    for flags in (["-O2", "-static"], ["-O2"]):
        done = subprocess.run([cc, *flags, "-o", str(out), str(HERE / "stamp.c")],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return out
    raise RuntimeError(f"cannot build stamp.c: {done.stderr}")


class Cairn:
    def __init__(self, binary: Path, data_dir: Path, extra_args: list[str] | None = None):
        import cairn_testing

        os.environ["CAIRN_BINARY"] = str(binary)
        self.binary = binary
        self.server = cairn_testing.start_server(data_dir, kind="cairn",
                                                 extra_args=extra_args or [])
        self.client = Client(self.server.port)
        self.wait_supported: bool | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self):
        self.client.close()
        self.server.stop()

    def apply(self, files: dict[str, str]) -> dict:
        return self.client.json("POST", "/api/v1/pipelines/apply", {
            "files": [{"path": path, "content": text} for path, text in files.items()],
            "dry_run": False, "prune": False})

    def start_run(self, pipeline: str, wait_ms: int = 0) -> dict:
        body = {"no_cache": True}
        if wait_ms:
            body["wait_ms"] = wait_ms
        return self.client.json("POST", f"/api/v1/pipelines/{pipeline}/runs", body)["run"]

    def get_run(self, run_id: str) -> dict:
        return self.client.json("GET", f"/api/v1/pipeline-runs/{run_id}")["run"]

    def run(self, pipeline: str, timeout_s: float = 900) -> dict:
        """Starts a run and waits for it with the API's own wait (POST .../runs and then
        GET .../pipeline-runs/{id} with wait_ms, at most 30 s each: the server answers when
        the run ends, so the client neither polls nor adds latency). Returns the final run
        record and client_s (POST sent -> the answer saying the run is terminal)."""
        t0 = time.perf_counter()
        run = self.start_run(pipeline, wait_ms=30_000)
        while run["state"] not in TERMINAL:
            if time.perf_counter() - t0 > timeout_s:
                raise RuntimeError(f"run {run['id']} of {pipeline} not done in {timeout_s} s")
            run = self.client.json("GET", f"/api/v1/pipeline-runs/{run['id']}?wait_ms=30000")[
                "run"]
        client_s = time.perf_counter() - t0
        if not run.get("steps"):
            run = self.get_run(run["id"])
        if run["state"] != "succeeded":
            raise RuntimeError(f"run {run['id']} of {pipeline} ended {run['state']}: "
                               f"{run.get('message', '')[:1000]}")
        run["client_s"] = client_s
        return run

    def cli_run(self, pipeline: str, timeout_s: float = 900) -> float:
        """Wall time of `cairn pipelines run NAME --no-cache --wait` against the server."""
        t0 = time.perf_counter()
        done = subprocess.run([str(self.binary), "pipelines", "run", pipeline, "--no-cache",
                               "--wait", "--url", self.url], capture_output=True, text=True,
                              timeout=timeout_s)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"cairn pipelines run {pipeline}: exit {done.returncode}: "
                               f"{(done.stdout + done.stderr)[-1000:]}")
        return wall


def server_s(run: dict) -> float | None:
    if run.get("started_ms") and run.get("ended_ms"):
        return (run["ended_ms"] - run["started_ms"]) / 1000.0
    return None


def created_s(run: dict) -> float | None:
    if run.get("created_ms") and run.get("ended_ms"):
        return (run["ended_ms"] - run["created_ms"]) / 1000.0
    return None


def last_attempt(step: dict) -> dict:
    attempts = step.get("attempts") or []
    return attempts[-1] if attempts else {}


def cairn_overhead(cairn: Cairn, work: Path, config) -> dict:
    stamp = build_stamp(work)
    stamps = work / "stamps.txt"
    name = "bench-chain"
    cairn.apply({"bench/chain.yaml": seq_yaml(name, config.overhead_steps,
                                              [str(stamp), str(stamps)])})
    cairn.run(name)  # warm-up (not counted)
    stamps.unlink(missing_ok=True)
    runs = [cairn.run(name) for _ in range(config.overhead_runs)]
    by_run: dict[str, dict[str, tuple[int, int]]] = {}
    for line in stamps.read_text().splitlines():
        start, end, run_id, step = line.split()
        by_run.setdefault(run_id, {})[step] = (int(start), int(end))
    gaps_ms, recorded_ms, engine_ms = [], [], []
    for run in runs:
        stamped = by_run.get(run["id"]) or {}
        steps = run["steps"]
        if len(stamped) != len(steps):
            raise RuntimeError(f"run {run['id']}: {len(stamped)} stamps for {len(steps)} "
                               f"steps (does the engine set CAIRN_PIPELINE_RUN_ID/CAIRN_STEP?)")
        order = sorted(stamped.items(), key=lambda item: item[1][0])
        for (_, (_, a_end)), (_, (b_start, _)) in zip(order, order[1:]):
            gaps_ms.append((b_start - a_end) / 1e6)
        by_name = {s["name"]: s for s in steps}
        for index in range(1, config.overhead_steps):
            a = last_attempt(by_name[f"s{index - 1:03d}"])
            b = last_attempt(by_name[f"s{index:03d}"])
            if a.get("ended_ms") and b.get("started_ms"):
                recorded_ms.append(b["started_ms"] - a["ended_ms"])
            # the engine's own view of its dispatch: queued (dependencies satisfied) -> started
            if b.get("queued_ms") and b.get("started_ms"):
                engine_ms.append(b["started_ms"] - b["queued_ms"])
    return {
        "steps": config.overhead_steps, "runs": config.overhead_runs, "edges": len(gaps_ms),
        "gap_p50_ms": pct(gaps_ms, 50), "gap_p90_ms": pct(gaps_ms, 90),
        "gap_p99_ms": pct(gaps_ms, 99), "gap_min_ms": min(gaps_ms) if gaps_ms else None,
        "gap_max_ms": max(gaps_ms) if gaps_ms else None,
        "recorded_p50_ms": pct(recorded_ms, 50), "recorded_p99_ms": pct(recorded_ms, 99),
        "queued_to_started_p50_ms": pct(engine_ms, 50),
        "queued_to_started_p99_ms": pct(engine_ms, 99),
        "run_server_s": [server_s(r) for r in runs],
    }


def process_cpu_s(pid: int) -> tuple[float, float]:
    """(user+sys of the process itself, of its reaped children) in seconds, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return ((int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick)


def cairn_dag(cairn: Cairn, name: str, yaml_text: str, repeats: int, config,
              server_cpu: bool = False) -> dict:
    cairn.apply({f"bench/{name}.yaml": yaml_text})
    cairn.run(name)  # warm-up (not counted)
    cpu = []  # per run: (server, its children) CPU seconds
    runs = []
    for _ in range(repeats):
        before = process_cpu_s(cairn.server.pid) if server_cpu else None
        runs.append(cairn.run(name))
        if server_cpu:
            after = process_cpu_s(cairn.server.pid)
            cpu.append((after[0] - before[0], after[1] - before[1]))
    steps = [len(r["steps"]) for r in runs]
    ok_steps = [sum(1 for s in r["steps"] if s["state"] == "succeeded") for r in runs]
    result = {
        "server_s": [server_s(r) for r in runs],
        "created_to_end_s": [created_s(r) for r in runs],
        "client_s": [r["client_s"] for r in runs],
        "steps": steps, "steps_succeeded": ok_steps,
    }
    if not config.skip_cli:
        try:
            result["cli_s"] = [cairn.cli_run(name) for _ in range(repeats)]
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
            result["cli_error"] = str(error)[:500]
    if server_cpu:
        result["server_cpu_s"] = [c[0] for c in cpu]
        result["children_cpu_s"] = [c[1] for c in cpu]
    for key in ("server_s", "created_to_end_s", "client_s", "cli_s", "server_cpu_s",
                "children_cpu_s"):
        if key in result:
            result[key + "_median"] = med(result[key])
    return result


# ----- scale -----------------------------------------------------------------------------

def scale_seed_api(cairn: Cairn, names: list[str], total_runs: int, in_flight: int,
                   budget_s: float) -> dict:
    """Seeds by running: every run is a real run of 10 no-op steps, --scale-in-flight at a
    time (the server's local executor limits how many steps run at once)."""
    t0 = time.perf_counter()
    pending: list[str] = []
    started = finished = failed = 0
    client = Client(cairn.server.port)
    while finished < total_runs and time.perf_counter() - t0 < budget_s:
        while len(pending) < in_flight and started < total_runs:
            name = names[started % len(names)]
            pending.append(client.json("POST", f"/api/v1/pipelines/{name}/runs",
                                       {"no_cache": True})["run"]["id"])
            started += 1
        still = []
        for index, run_id in enumerate(pending):
            # the oldest one with a short server-side wait, the others just looked at
            wait = "?wait_ms=200" if index == 0 else ""
            state = client.json("GET", f"/api/v1/pipeline-runs/{run_id}{wait}")["run"]["state"]
            if state in TERMINAL:
                finished += 1
                failed += state != "succeeded"
            else:
                still.append(run_id)
        pending = still
    client.close()
    return {"method": "api", "runs": finished, "failed": failed, "unfinished": len(pending),
            "seconds": time.perf_counter() - t0}


def scale_measure(cairn: Cairn, names: list[str], requests: int) -> dict:
    client = Client(cairn.server.port)
    ids: list[str] = []
    token = ""
    deep_token = ""
    pages = 0
    while True:  # every run id, by paging (also times a walk through all pages)
        query = "limit=1000" + (f"&page_token={token}" if token else "")
        page = client.json("GET", f"/api/v1/pipeline-runs?{query}")
        ids += [r["id"] for r in page.get("runs", [])]
        token = page.get("next_page_token", "")
        pages += 1
        if pages == 5:
            deep_token = token
        if not token:
            break

    def timed(paths: list[str]) -> dict:
        times = []
        sizes = []
        for path in paths:
            t0 = time.perf_counter()
            status, raw = client.call("GET", path)
            times.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status}: {raw[:300]!r}")
            sizes.append(len(raw))
        return {"n": len(times), "p50_ms": pct(times, 50), "p99_ms": pct(times, 99),
                "max_ms": max(times), "bytes_median": med(sizes)}

    rng = random.Random(7)
    result = {"runs_listed": len(ids)}
    result["list_first_page"] = timed(["/api/v1/pipeline-runs"] * requests)
    result["list_100"] = timed(["/api/v1/pipeline-runs?limit=100"] * requests)
    result["list_pipeline"] = timed([f"/api/v1/pipeline-runs?pipeline={rng.choice(names)}"
                                     for _ in range(requests)])
    result["list_state"] = timed(["/api/v1/pipeline-runs?state=succeeded"] * requests)
    if deep_token:
        result["list_deep_page"] = timed(
            [f"/api/v1/pipeline-runs?page_token={deep_token}"] * requests)
    result["open_run"] = timed([f"/api/v1/pipeline-runs/{rng.choice(ids)}"
                                for _ in range(requests)])
    client.close()
    return result


def rss_mb(pid: int) -> float | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def count_rows(db_path: Path) -> dict:
    counts = {}
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        for (table,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'pipeline%'"):
            counts[table] = connection.execute(f"SELECT COUNT(*) FROM \"{table}\"").fetchone()[0]
        connection.close()
    except sqlite3.Error as error:
        counts["error"] = str(error)
    return counts


def cairn_scale(binary: Path, work: Path, config) -> dict:
    data = work / "scale-data"
    names = [f"bench-scale-{index:03d}" for index in range(config.scale_pipelines)]
    cairn = Cairn(binary, data)
    try:
        files = {f"bench/scale/{name}.yaml": parallel_yaml(
            name, config.scale_steps, [TRUE], f"scale pipeline {name}") for name in names}
        cairn.apply(files)
        if config.scale_seed == "api":
            seed = scale_seed_api(cairn, names, config.scale_runs, config.scale_in_flight,
                                  config.scale_budget_s)
        else:
            # The SQL fast path: real runs for every pipeline through the API, then the
            # engine's own rows are cloned (new ids, same schema, values) to the target size
            # while the server is stopped (seed_runs.py; see its docstring).
            seed = scale_seed_api(cairn, names, len(names), config.scale_in_flight,
                                  config.scale_budget_s)
            cairn.stop()
            import seed_runs

            seed.update(seed_runs.clone_runs(data, config.scale_runs))
            seed["method"] = "sql"
            cairn = Cairn(binary, data)
        db = next(iter(sorted(data.rglob("*.db"))), None) or next(
            iter(sorted(data.rglob("*.sqlite*"))), None)
        rows = count_rows(db) if db else {"error": "no SQLite file found"}
        measured = scale_measure(cairn, names, config.scale_requests)
        return {"seed": seed, "rows": rows, "pipelines": len(names), **measured,
                "server_rss_mb": rss_mb(cairn.server.pid)}
    finally:
        cairn.stop()


# ---------------------------------------------------------------------------------------
# Peers

def run_peer(python: str, system: str, scenario: str, steps: int, variant: str,
             repeats: int, timeout_s: float, work: Path) -> dict:
    """One process: imports, a warm-up flow, then `repeats` measured flows. command_s is
    the process's wall time less flows 2..R and the read-back after each flow, i.e. the
    time of `python <side>.py` running one flow from the command to its exit."""
    home = Path(tempfile.mkdtemp(prefix=f"{system}-home-", dir=work))
    env = dict(os.environ)
    env.update({"BENCH_STEPS": str(steps), "BENCH_VARIANT": variant})
    if system == "prefect":
        env.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_LOGGING_LEVEL": "WARNING"})
        env.pop("PREFECT_API_URL", None)
    else:
        env.update({"DAGSTER_HOME": str(home)})
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    command = [python, str(HERE / f"{system}_side.py"), "--scenario", scenario, "--steps",
               str(steps), "--variant", variant, "--repeats", str(repeats)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=str(home), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        result = {"timeout": True, "command_s": timeout_s}
        if system == "dagster":
            result["steps_done_at_timeout"] = dagster_steps_done(home)
        shutil.rmtree(home, ignore_errors=True)
        return result
    wall = time.perf_counter() - t0
    shutil.rmtree(home, ignore_errors=True)
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            # Prefect's side reads back its task runs after the flow: not part of the command
            result["command_s"] = (wall - result.get("count_s", 0.0)
                                   - result.get("extra_flows_s", 0.0))
            return result
    return {"error": f"exit {proc.returncode}: {out[-1500:]}", "command_s": wall}


def dagster_steps_done(home: Path) -> int:
    """STEP_SUCCESS events in the run's event log (DAGSTER_HOME/history/runs/<run>.db)."""
    done = 0
    for db in (home / "history" / "runs").glob("*.db"):
        if db.name == "index.db":
            continue
        try:
            connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            done += connection.execute("SELECT COUNT(*) FROM event_logs WHERE "
                                       "dagster_event_type = 'STEP_SUCCESS'").fetchone()[0]
            connection.close()
        except sqlite3.Error:
            pass
    return done


def peer_version(python: str, module: str) -> str:
    done = subprocess.run([python, "-c", f"import {module}; print({module}.__version__)"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "?"


def bench_peers(config, work: Path) -> dict:
    results: dict = {}
    systems = [s for s in ("prefect", "dagster") if not getattr(config, f"skip_{s}")]
    for system in systems:
        results[system] = {"version": peer_version(config.peer_python, system)}
        for scenario, steps, repeats in (("seq", config.seq_steps, config.peer_repeats),
                                         ("fanout", config.fanout_steps, config.peer_fanout_repeats)):
            for variant in ("subprocess", "inprocess"):
                key = f"{scenario}_{variant}"
                print(f"{system} {scenario} {steps} steps, {variant}, {repeats}x ...",
                      flush=True)
                t = run_peer(config.peer_python, system, scenario, steps, variant, repeats,
                             config.peer_timeout_s, work)
                print("  " + json.dumps(t)[:600], flush=True)
                if t.get("timeout"):
                    t["steps"] = steps
                results[system][key] = {
                    "tries": [t], "flows_s": t.get("flows_s", []),
                    "flow_s_median": med(t.get("flows_s", [])),
                    "command_s_median": None if t.get("timeout") else t.get("command_s"),
                    "timeout": bool(t.get("timeout")), "error": t.get("error"),
                }
    return results


# ---------------------------------------------------------------------------------------
# Report

def report(info: dict, config, cairn: dict, peers: dict) -> str:
    lines: list[str] = []
    add = lines.append
    add(f"Machine: {info['nproc']} cores ({info['cpu']}), Linux {info['kernel']}, load "
        f"average at start {info['load']}; {info['date']}. Versions: {info['cairn']} (commit "
        f"{info['commit']}); Prefect {peers.get('prefect', {}).get('version', 'not run')}; "
        f"Dagster {peers.get('dagster', {}).get('version', 'not run')}; Python "
        f"{info['python']} (peers: {info.get('peer_python_version', '?')}).")
    add("")
    ov = cairn.get("overhead") or {}
    if ov:
        add(f"Scheduler overhead (chain of {ov['steps']} stamp steps × {ov['runs']} runs, "
            f"{ov['edges']} edges): upstream exit → downstream process running p50 "
            f"{fmt(ov['gap_p50_ms'], ' ms', 2)}, p90 {fmt(ov['gap_p90_ms'], ' ms', 2)}, p99 "
            f"{fmt(ov['gap_p99_ms'], ' ms', 2)} (min {fmt(ov['gap_min_ms'], ' ms', 2)}, max "
            f"{fmt(ov['gap_max_ms'], ' ms', 2)}); engine's recorded attempt end → next "
            f"attempt start p50 {fmt(ov['recorded_p50_ms'], ' ms', 0)}, p99 "
            f"{fmt(ov['recorded_p99_ms'], ' ms', 0)}; queued → started p50 "
            f"{fmt(ov['queued_to_started_p50_ms'], ' ms', 0)}.")
    for scenario, steps in (("seq", config.seq_steps), ("fanout", config.fanout_steps)):
        c = cairn.get(scenario) or {}
        add("")
        add(f"{scenario} ({steps} no-op steps):")
        if c:
            add(f"  Cairn: server {fmt(c.get('server_s_median'), ' s', 3)} (tries "
                f"{[round(x, 3) for x in c.get('server_s', []) if x]}), HTTP client "
                f"{fmt(c.get('client_s_median'), ' s', 3)}, CLI --wait "
                f"{fmt(c.get('cli_s_median'), ' s', 3)}{' ' + c['cli_error'] if c.get('cli_error') else ''}; "
                f"steps succeeded {c.get('steps_succeeded')}")
        n = cairn.get("fanout_noop") if scenario == "fanout" else None
        if n:
            add(f"  Cairn noop (every step noop: true): server "
                f"{fmt(n.get('server_s_median'), ' s', 3)} (tries "
                f"{[round(x, 3) for x in n.get('server_s', []) if x]}), HTTP client "
                f"{fmt(n.get('client_s_median'), ' s', 3)}, CLI --wait "
                f"{fmt(n.get('cli_s_median'), ' s', 3)}{' ' + n['cli_error'] if n.get('cli_error') else ''}; "
                f"server CPU per run {fmt(n.get('server_cpu_s_median'), ' s', 3)} (tries "
                f"{[round(x, 3) for x in n.get('server_cpu_s', [])]}); steps succeeded "
                f"{n.get('steps_succeeded')}")
            if c.get("server_cpu_s_median") is not None:
                add(f"  Cairn (true processes), same measure: server CPU per run "
                    f"{fmt(c.get('server_cpu_s_median'), ' s', 3)}, its children "
                    f"{fmt(c.get('children_cpu_s_median'), ' s', 3)}")
            for system in ("prefect", "dagster"):
                p = (peers.get(system) or {}).get("fanout_inprocess")
                if p and not p["timeout"]:
                    add(f"  {system} inprocess vs Cairn noop (client): flow "
                        f"{ratio(p['flow_s_median'], n.get('client_s_median'))}, command vs "
                        f"CLI {ratio(p['command_s_median'], n.get('cli_s_median'))}")
        for system in ("prefect", "dagster"):
            for variant in ("subprocess", "inprocess"):
                p = (peers.get(system) or {}).get(f"{scenario}_{variant}")
                if not p:
                    continue
                if p["timeout"]:
                    t = next(t for t in p["tries"] if t.get("timeout"))
                    add(f"  {system} {variant}: not done after {fmt(t['command_s'], ' s', 0)} "
                        f"(the limit; {t.get('steps_done_at_timeout', '?')} of {steps} steps "
                        f"done by then); vs Cairn (client): > "
                        f"{ratio(t['command_s'], c.get('client_s_median'))}")
                    continue
                add(f"  {system} {variant}: flow {fmt(p['flow_s_median'], ' s', 3)} "
                    f"{[round(x, 3) for x in p.get('flows_s', [])]}, command "
                    f"{fmt(p['command_s_median'], ' s', 2)}"
                    + (f" ERROR {p['error'][:300]}" if p["error"] else "")
                    + (f"; vs Cairn (client): flow {ratio(p['flow_s_median'], c.get('client_s_median'))}"
                       f", command vs CLI {ratio(p['command_s_median'], c.get('cli_s_median'))}"
                       if c else "")
                    + (f"; task runs recorded at each flow's return {p['tries'][0].get('task_runs_recorded')}"
                       if system == "prefect" else ""))

    sc = cairn.get("scale") or {}
    if sc:
        add("")
        add(f"scale: {sc['pipelines']} pipelines, seed {json.dumps(sc['seed'])}, rows "
            f"{json.dumps(sc['rows'])}, runs listed {sc['runs_listed']}, server RSS "
            f"{fmt(sc.get('server_rss_mb'), ' MB', 0)}")
        for key in ("list_first_page", "list_100", "list_pipeline", "list_state",
                    "list_deep_page", "open_run"):
            if key in sc:
                r = sc[key]
                add(f"  {key:16s} p50 {fmt(r['p50_ms'], ' ms', 2)} p99 "
                    f"{fmt(r['p99_ms'], ' ms', 2)} max {fmt(r['max_ms'], ' ms', 2)} "
                    f"({r['n']} requests, {fmt(r['bytes_median'], ' B', 0)})")
    return "\n".join(lines)


def machine_info(cairn: Path | None, peer_python: str | None) -> dict:
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break

    def first_line(command):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
            return ((done.stdout or done.stderr).strip().splitlines() or ["?"])[0]
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "python": platform.python_version(), "load": load_average(),
        "cairn": first_line([str(cairn), "--version"]) if cairn else "cairn not run",
        "commit": first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "peer_python_version": first_line([peer_python, "--version"]) if peer_python else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cairn", type=Path, default=REPO / "build" / "release" / "cairn")
    parser.add_argument("--peer-python", default="/tmp/bench-venv/bin/python")
    parser.add_argument("--skip-cairn", action="store_true")
    parser.add_argument("--skip-prefect", action="store_true")
    parser.add_argument("--skip-dagster", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--cairn-noop-fanout", action="store_true",
                        help="also run the fan-out with every Cairn step noop: true (no "
                             "process), next to the peers' in-process variants")
    parser.add_argument("--skip-cli", action="store_true",
                        help="do not time `cairn pipelines run --wait`")
    parser.add_argument("--peers-json", type=Path,
                        help="reuse the peers' results of an earlier --json instead of "
                             "running them again (the report says so)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seq-steps", type=int, default=10)
    parser.add_argument("--fanout-steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, help="repetitions (median)")
    parser.add_argument("--peer-repeats", type=int, help="peer repetitions of seq (median)")
    parser.add_argument("--peer-fanout-repeats", type=int)
    parser.add_argument("--peer-timeout-s", type=float, default=300,
                        help="one peer command's limit; a run past it is reported as a lower "
                             "bound, with the steps done by then")
    parser.add_argument("--step-cpus", type=float,
                        help="resources.cpus of every Cairn step (default: the spec's 1, so "
                             "the local executor runs as many steps at once as the machine "
                             "has CPUs)")
    parser.add_argument("--overhead-steps", type=int, default=21)
    parser.add_argument("--overhead-runs", type=int)
    parser.add_argument("--scale-pipelines", type=int)
    parser.add_argument("--scale-runs", type=int)
    parser.add_argument("--scale-steps", type=int, default=10)
    parser.add_argument("--scale-seed", choices=["api", "sql"], default="sql")
    parser.add_argument("--scale-in-flight", type=int, default=8)
    parser.add_argument("--scale-budget-s", type=float, default=1800)
    parser.add_argument("--scale-requests", type=int, default=300)
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--markdown", type=Path, help="write the text report here")
    config = parser.parse_args()
    q = config.quick
    for name, full, quick in (("repeats", 5, 2), ("peer_repeats", 3, 1), ("peer_fanout_repeats", 1, 1),
                              ("overhead_runs", 10, 3), ("scale_pipelines", 100, 10),
                              ("scale_runs", 10_000, 500)):
        if getattr(config, name) is None:
            setattr(config, name, quick if q else full)
    global STEP_CPUS
    STEP_CPUS = config.step_cpus
    if q and config.fanout_steps == 1000:
        config.fanout_steps = 100

    cairn_path = None if config.skip_cairn else config.cairn.resolve()
    if cairn_path and not cairn_path.exists():
        parser.error(f"{cairn_path} does not exist (build it or pass --cairn)")
    info = machine_info(cairn_path, None if (config.skip_prefect and config.skip_dagster)
                        else config.peer_python)
    info["command"] = " ".join(["python3 bench/pipelines/run.py", *[
        os.path.relpath(a, REPO) if a.startswith("/") and not a.startswith("/tmp") else a
        for a in sys.argv[1:]]])
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-pipelines-"))
    sys.path.insert(0, str(HERE))
    results: dict = {"info": info, "cairn": {}, "peers": {}}
    try:
        if cairn_path:
            cairn = Cairn(cairn_path, work / "cairn-data")
            try:
                print("Cairn: overhead ...", flush=True)
                results["cairn"]["overhead"] = cairn_overhead(cairn, work, config)
                print(json.dumps(results["cairn"]["overhead"]), flush=True)
                print("Cairn: seq ...", flush=True)
                results["cairn"]["seq"] = cairn_dag(
                    cairn, "bench-seq", seq_yaml("bench-seq", config.seq_steps, [TRUE]),
                    config.repeats, config)
                print(json.dumps(results["cairn"]["seq"]), flush=True)
                print("Cairn: fanout ...", flush=True)
                results["cairn"]["fanout"] = cairn_dag(
                    cairn, "bench-fanout", fanout_yaml("bench-fanout", config.fanout_steps,
                                                       [TRUE]), config.repeats, config,
                    server_cpu=config.cairn_noop_fanout)
                print(json.dumps(results["cairn"]["fanout"]), flush=True)
                if config.cairn_noop_fanout:
                    print("Cairn: fanout, noop: true steps ...", flush=True)
                    results["cairn"]["fanout_noop"] = cairn_dag(
                        cairn, "bench-fanout-noop",
                        noop_fanout_yaml("bench-fanout-noop", config.fanout_steps),
                        config.repeats, config, server_cpu=True)
                    print(json.dumps(results["cairn"]["fanout_noop"]), flush=True)
            finally:
                cairn.stop()
            if not config.skip_scale:
                print("Cairn: scale ...", flush=True)
                results["cairn"]["scale"] = cairn_scale(cairn_path, work, config)
        if config.peers_json:
            results["peers"] = json.loads(config.peers_json.read_text())["peers"]
            results["peers_from"] = str(config.peers_json)
        elif not (config.skip_prefect and config.skip_dagster):
            results["peers"] = bench_peers(config, work)
    finally:
        text = report(info, config, results["cairn"], results["peers"])
        results["report"] = text
        print(text)
        if config.json:
            config.json.write_text(json.dumps(results, indent=1, default=str))
        if config.markdown:
            config.markdown.write_text(text + "\n")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
