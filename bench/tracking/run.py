#!/usr/bin/env python3
"""Side-by-side tracking benchmark: `cairn server` against `mlflow server` (SQLite backend,
from pip, its default number of workers), on the same machine, driven by the same load
generators, one server at a time, each with a fresh temporary data directory.

Scenarios (issue 2, "Performance"):
  a. runs/log-batch with 1,000 metrics per request -> metric points/s (loadgen.py: client
     processes, fresh timestamps per request, drain-inclusive timing; its CPU use is
     reported so the generator is not the hidden bottleneck; every acknowledged point is
     counted back afterwards)
  b. runs/create -> runs/s (loadgen.py)
  c. runs/search with a metric-and-param filter over N runs x 20 metrics x 20 params
     -> p50/p95 latency (populated through runs/create + runs/log-batch; MLflow gets as
     many runs as it takes in --populate-budget-s, and Cairn is also timed on that count)
  d. metrics/get-history of one 1,000,000-point metric -> latency (same budget rule)
  e. server resident memory (VmRSS) after all of the above

Prints the ratios and writes docs/benchmarks.md. `--quick` scales everything down.
Usage: python3 bench/tracking/run.py --cairn build/release/cairn [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))

import cairn_testing  # noqa: E402

sys.path.insert(0, str(HERE))
import loadgen  # noqa: E402

API = "/api/2.0/mlflow"
POPULATE_RETRIES = 8


# ---------------------------------------------------------------------------------------
# A minimal keep-alive JSON client (http.client: far less per-request overhead than
# requests, so the Python side of the populate and latency phases stays cheap).

class Client:
    def __init__(self, port: int, timeout: float = 600):
        self.port = port
        self.timeout = timeout
        self.connection = None

    def _connect(self):
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                     timeout=self.timeout)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.connection is None:
                self._connect()
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError):
                self.connection.close()
                self.connection = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    # Answers that a client retries (the stock mlflow client retries them too), e.g.
    # MLflow's 503 "database is locked". Counted per process for the report.
    RETRYABLE = (429, 503)
    retried: dict[str, int] = {}
    retried_lock = threading.Lock()

    def post(self, suffix: str, payload, retries: int = 0) -> dict:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        for attempt in range(retries + 1):
            status, raw = self.call("POST", f"{API}/{suffix}", body)
            if status == 200:
                return json.loads(raw) if raw else {}
            if status not in self.RETRYABLE or attempt == retries:
                break
            reason = "database is locked" if b"database is locked" in raw else f"HTTP {status}"
            with Client.retried_lock:
                Client.retried[reason] = Client.retried.get(reason, 0) + 1
            time.sleep(min(0.1 * 2 ** attempt, 5.0))
        raise RuntimeError(f"POST {suffix}: HTTP {status}: {raw[:300]!r}")

    def get_raw(self, suffix: str, query: str) -> tuple[int, bytes]:
        return self.call("GET", f"{API}/{suffix}?{query}")

    def close(self):
        if self.connection is not None:
            self.connection.close()


# ---------------------------------------------------------------------------------------
# Servers

def process_tree_rss(root_pid: int) -> int:
    """VmRSS of a process and all its descendants, bytes."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total = 0
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
        stack.extend(children.get(pid, []))
    return total


def process_tree_cpu(root_pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [root_pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == root_pid:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def start(kind: str, root: Path, cairn: Path | None):
    data_dir = root / f"{kind}-data"
    if kind == "cairn":
        os.environ["CAIRN_BINARY"] = str(cairn)
    # mlflow: its default worker count (no --workers), SQLite backend.
    return cairn_testing.start_server(data_dir, kind=kind)


# ---------------------------------------------------------------------------------------
# Scenarios

def record_errors(result: dict, scenario: str, load: dict) -> None:
    """Failed requests under load are reported (not hidden, not fatal): only acknowledged
    requests count towards the rate."""
    if load["errors"]:
        errors = result.setdefault("load_errors", {}).setdefault(
            scenario, {"count": 0, "first": load["first_error"]})
        errors["count"] += load["errors"]


def scenario_log_batch(server, config, result: dict) -> None:
    client = Client(server.port)
    experiment_id = client.post("experiments/create", {"name": "bench-log-batch"})[
        "experiment_id"]
    run_ids = [client.post("runs/create", {"experiment_id": experiment_id})["run"]["info"][
        "run_id"] for _ in range(config.log_batch_runs)]
    rates, cpu, acked = [], [], 0
    for rep in range(config.reps):
        load = loadgen.drive(server.port, "log-batch", run_ids, config.clients,
                             config.seconds, salt=rep)
        record_errors(result, "log-batch", load)
        rates.append(load["requests_per_s"] * loadgen.POINTS_PER_BATCH)
        cpu.append(load["client_cpu_cores"])
        acked += load["requests"]
    # Every acknowledged point must be stored (the server is not allowed to drop them).
    stored = 0
    for run_id in run_ids:
        for key_index in range(loadgen.METRIC_KEYS):
            status, raw = client.get_raw("metrics/get-history",
                                         f"run_id={run_id}&metric_key=m{key_index}")
            if status != 200:
                raise RuntimeError(f"get-history: HTTP {status}: {raw[:300]!r}")
            stored += len(json.loads(raw).get("metrics", []))
    client.close()
    if stored != acked * loadgen.POINTS_PER_BATCH:
        raise RuntimeError(f"log-batch: {acked * loadgen.POINTS_PER_BATCH} points "
                           f"acknowledged, {stored} stored")
    result["log_batch_points_per_s"] = statistics.median(rates)
    result["log_batch_rates"] = rates
    result["log_batch_client_cpu_cores"] = statistics.median(cpu)
    result["log_batch_points_stored"] = stored


def scenario_create_run(server, config, result: dict) -> None:
    client = Client(server.port)
    experiment_id = client.post("experiments/create", {"name": "bench-create"})[
        "experiment_id"]
    client.close()
    rates, cpu = [], []
    for _ in range(config.reps):
        load = loadgen.drive(server.port, "create-run", [experiment_id], config.clients,
                             config.seconds)
        record_errors(result, "runs/create", load)
        rates.append(load["requests_per_s"])
        cpu.append(load["client_cpu_cores"])
    result["create_runs_per_s"] = statistics.median(rates)
    result["create_rates"] = rates
    result["create_client_cpu_cores"] = statistics.median(cpu)


def metric_value(run_index: int, metric_index: int) -> float:
    return ((run_index * 7919 + metric_index * 104729) % 10007) / 10007.0


def param_value(run_index: int, param_index: int) -> str:
    return f"v{(run_index * 31 + param_index * 17) % 10}"


SEARCH_FILTER = "metrics.m0 > 0.9 and params.p1 = 'v3'"


def populate_search_runs(server, config, experiment_id: str, target_runs: int,
                         budget_s: float) -> tuple[int, float]:
    """Creates runs 0, 1, 2, … (each with 20 metrics and 20 params through one log-batch)
    until target_runs or the budget; returns (runs created, seconds). The runs created
    are always exactly 0..n-1, so two servers can be compared on the same data."""
    started = time.monotonic()
    deadline = started + budget_s
    next_index = iter(range(target_runs))
    index_lock = threading.Lock()
    created = [0]

    def populate() -> None:
        worker_client = Client(server.port)
        try:
            while time.monotonic() < deadline:
                with index_lock:
                    run_index = next(next_index, None)
                if run_index is None:
                    return
                run_id = worker_client.post("runs/create", {
                    "experiment_id": experiment_id,
                    "start_time": 1_700_000_000_000 + run_index,
                    "run_name": f"run-{run_index}"}, retries=POPULATE_RETRIES)["run"][
                    "info"]["run_id"]
                worker_client.post("runs/log-batch", {
                    "run_id": run_id,
                    "metrics": [{"key": f"m{m}", "value": metric_value(run_index, m),
                                 "timestamp": 1_700_000_000_000, "step": 0}
                                for m in range(20)],
                    "params": [{"key": f"p{p}", "value": param_value(run_index, p)}
                               for p in range(20)]}, retries=POPULATE_RETRIES)
                with index_lock:
                    created[0] += 1
        finally:
            worker_client.close()

    with concurrent.futures.ThreadPoolExecutor(config.populate_threads) as pool:
        for future in [pool.submit(populate) for _ in range(config.populate_threads)]:
            future.result()
    return created[0], time.monotonic() - started


def time_search(server, config, experiment_id: str) -> dict:
    client = Client(server.port)
    body = json.dumps({"experiment_ids": [experiment_id], "filter": SEARCH_FILTER,
                       "max_results": 100}).encode()
    latencies = []
    query_deadline = time.monotonic() + config.search_budget_s
    matches = None
    for query_index in range(config.search_queries):
        begin = time.perf_counter()
        status, raw = client.call("POST", f"{API}/runs/search", body)
        latencies.append(time.perf_counter() - begin)
        if status != 200:
            raise RuntimeError(f"runs/search: HTTP {status}: {raw[:300]!r}")
        if matches is None:
            matches = len(json.loads(raw).get("runs", []))
        if time.monotonic() > query_deadline and query_index >= 2:
            break
    client.close()
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[min(len(latencies) - 1,
                                int(round(0.95 * (len(latencies) - 1))))] * 1000,
        "queries": len(latencies),
        "matches": matches,
    }


def scenario_search(server, config, result: dict, sizes: list[int], budget_s: float) -> None:
    """One experiment per size in `sizes`; result["search"] lists, per experiment, the
    runs it holds and the search latencies over it."""
    client = Client(server.port)
    result["search"] = []
    for target_runs in sizes:
        experiment_id = client.post("experiments/create",
                                    {"name": f"bench-search-{target_runs}"})["experiment_id"]
        runs, seconds = populate_search_runs(server, config, experiment_id, target_runs,
                                             budget_s)
        entry = {"target_runs": target_runs, "runs": runs, "populate_s": seconds}
        entry.update(time_search(server, config, experiment_id))
        result["search"].append(entry)
    client.close()


def history_body(run_id: str, batch: int) -> bytes:
    return json.dumps({"run_id": run_id, "metrics": [
        {"key": "loss", "value": (batch * 1000 + offset) * 1e-6,
         "timestamp": 1_700_000_000_000 + batch * 1000 + offset,
         "step": batch * 1000 + offset} for offset in range(1000)]}).encode()


def populate_history(server, config, run_id: str, points: int,
                     budget_s: float) -> tuple[int, float]:
    """Logs batches 0, 1, 2, … of 1,000 points each into metric "loss" until `points` or
    the budget; returns (points logged, seconds)."""
    started = time.monotonic()
    deadline = started + budget_s
    next_batch = iter(range(points // 1000))
    lock = threading.Lock()
    done = [0]

    def work() -> None:
        client = Client(server.port)
        try:
            while time.monotonic() < deadline:
                with lock:
                    batch = next(next_batch, None)
                if batch is None:
                    return
                client.post("runs/log-batch", history_body(run_id, batch),
                            retries=POPULATE_RETRIES)
                with lock:
                    done[0] += 1
        finally:
            client.close()

    with concurrent.futures.ThreadPoolExecutor(config.populate_threads) as pool:
        for future in [pool.submit(work) for _ in range(config.populate_threads)]:
            future.result()
    return done[0] * 1000, time.monotonic() - started


def time_history(server, config, run_id: str) -> dict:
    """Times GET metrics/get-history of the whole metric (one response, end to end)."""
    client = Client(server.port, timeout=config.history_timeout_s)
    entry: dict = {}
    latencies, server_cpu = [], []
    for _ in range(config.history_reps):
        cpu_before = process_tree_cpu(server.pid)
        begin = time.perf_counter()
        try:
            status, raw = client.get_raw("metrics/get-history",
                                         f"run_id={run_id}&metric_key=loss")
        except (TimeoutError, OSError) as error:
            entry["error"] = f"did not finish in {config.history_timeout_s:g} s"
            entry["exception"] = repr(error)
            break
        elapsed = time.perf_counter() - begin
        if status != 200:
            raise RuntimeError(f"get-history: HTTP {status}: {raw[:300]!r}")
        latencies.append(elapsed)
        server_cpu.append(process_tree_cpu(server.pid) - cpu_before)
        if "returned" not in entry:
            entry["returned"] = len(json.loads(raw).get("metrics", []))
            entry["response_mb"] = len(raw) / 1e6
        if elapsed > 10:
            break  # a slow server: a median of more tries would take minutes
    client.close()
    if latencies:
        entry["ms"] = statistics.median(latencies) * 1000
        entry["server_cpu_ms"] = statistics.median(server_cpu) * 1000
        entry["tries"] = len(latencies)
    return entry


def scenario_history(server, config, result: dict, sizes: list[int], budget_s: float) -> None:
    client = Client(server.port)
    experiment_id = client.post("experiments/create", {"name": "bench-history"})[
        "experiment_id"]
    result["history"] = []
    for points in sizes:
        run_id = client.post("runs/create", {"experiment_id": experiment_id})["run"][
            "info"]["run_id"]
        logged, seconds = populate_history(server, config, run_id, points, budget_s)
        entry = {"target_points": points, "points": logged, "populate_s": seconds}
        entry.update(time_history(server, config, run_id))
        result["history"].append(entry)
    client.close()


def bench_server(kind: str, root: Path, config, cairn: Path | None, search_sizes: list[int],
                 history_sizes: list[int]) -> dict:
    result: dict = {"kind": kind,
                    "load_at_start": " ".join(open("/proc/loadavg").read().split()[:3])}
    server = start(kind, root, cairn)
    result["pid"] = server.pid
    try:
        steps = [
            ("log-batch", lambda: scenario_log_batch(server, config, result)),
            ("runs/create", lambda: scenario_create_run(server, config, result)),
            ("runs/search", lambda: scenario_search(server, config, result, search_sizes,
                                                    config.populate_budget_s)),
            ("get-history", lambda: scenario_history(server, config, result, history_sizes,
                                                     config.populate_budget_s)),
        ]
        for name, step in steps:
            if config.scenarios and name not in config.scenarios:
                continue
            print(f"[{kind}] {name} ...", flush=True)
            began = time.monotonic()
            try:
                step()
            except Exception as error:  # one failing scenario must not hide the others
                traceback.print_exc()
                result.setdefault("failures", []).append(f"{name}: {error}")
            print(f"[{kind}] {name} done in {time.monotonic() - began:.1f} s", flush=True)
        with Client.retried_lock:
            result["populate_retries"] = dict(Client.retried)
            Client.retried.clear()
        result["rss_bytes"] = process_tree_rss(server.pid)
        result["alive"] = server.alive()
    finally:
        server.stop()
    return result


# ---------------------------------------------------------------------------------------
# Report

def version_of(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine_info(cairn: Path | None) -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import mlflow

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mlflow": mlflow.__version__,
        "cairn": version_of([str(cairn), "--version"]) if cairn else "not run",
        "commit": version_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "load": " ".join(open("/proc/loadavg").read().split()[:3]),
    }


def fmt(value, unit="", digits=0) -> str:
    if value is None:
        return "n/a"
    if digits == 0:
        return f"{value:,.0f}{unit}"
    return f"{value:,.{digits}f}{unit}"


def ratio(numerator, denominator) -> str:
    if not numerator or not denominator:
        return "n/a"
    return f"{numerator / denominator:,.1f}×"


def first(entries: list[dict] | None, **match) -> dict:
    for entry in entries or []:
        if all(entry.get(key) == value for key, value in match.items()):
            return entry
    return {}


def write_report(path: Path, command: str, info: dict, config, cairn: dict | None,
                 mlflow: dict | None) -> str:
    c = cairn or {}
    m = mlflow or {}
    lines: list[str] = []
    add = lines.append
    add("# Benchmarks")
    add("")
    add("## Tracking server: Cairn vs MLflow (`bench/tracking`)")
    add("")
    add("Measured with the command below (`make bench` runs it with "
        "`--cairn build/release/cairn`):")
    add("")
    add("```")
    add(command)
    add("```")
    add("")
    add(f"Machine: {info['nproc']} cores ({info['cpu']}), Linux {info['kernel']}, "
        f"load average at start {info['load']} (the machine is shared with other work); "
        f"{info['date']}. Versions: cairn `{info['cairn']}` (commit {info.get('commit', '?')}); mlflow {info['mlflow']} "
        f"(`mlflow server`, SQLite backend, its default worker count, job execution off); "
        f"Python {info['python']}.")
    add("")
    add("Method: each server runs alone with a fresh data directory (MLflow first, then "
        "Cairn) and gets exactly the same requests from the same generators. Throughput: "
        f"`bench/tracking/loadgen.py`, {config.clients} client processes with one "
        f"keep-alive connection each, closed loop for {config.seconds:g} s, "
        f"{config.reps} runs, median shown; the rate divides acknowledged requests by the "
        "time until the last answer (so a slow server's requests in flight are counted), "
        "and afterwards every acknowledged metric point is counted back through "
        "metrics/get-history. Latencies: one keep-alive Python client, sequential "
        "requests, timed from send to the last byte of the response. Read medians and "
        "ratios, not single absolute times."
        + (" **Quick mode (`--quick`): scaled-down sizes and durations.**"
           if config.quick else ""))
    add("")
    add("| scenario | Cairn | MLflow | Cairn vs MLflow | target |")
    add("|---|---|---|---|---|")
    add(f"| log-batch, 1,000 metrics per request: metric points/s | "
        f"{fmt(c.get('log_batch_points_per_s'))} | {fmt(m.get('log_batch_points_per_s'))} | "
        f"{ratio(c.get('log_batch_points_per_s'), m.get('log_batch_points_per_s'))} | "
        f"≥ 500,000/s and ≥ 50× |")
    add(f"| runs/create: runs/s | {fmt(c.get('create_runs_per_s'))} | "
        f"{fmt(m.get('create_runs_per_s'))} | "
        f"{ratio(c.get('create_runs_per_s'), m.get('create_runs_per_s'))} | ≥ 20× |")
    c_search_full = first(c.get("search"), target_runs=config.search_runs)
    m_search = (m.get("search") or [{}])[0]
    c_search_same = first(c.get("search"), target_runs=m_search.get("runs")) if m_search else {}
    same_size = not m or m_search.get("runs") == c_search_full.get("runs")
    add(f"| runs/search, metric + param filter, {fmt(config.search_runs)} runs × 20 metrics "
        f"× 20 params: p50 / p95 ms | {fmt(c_search_full.get('p50_ms'), '', 1)} / "
        f"{fmt(c_search_full.get('p95_ms'), '', 1)} | "
        + (f"{fmt(m_search.get('p50_ms'), '', 1)} / {fmt(m_search.get('p95_ms'), '', 1)} | "
           f"{ratio(m_search.get('p50_ms'), c_search_full.get('p50_ms'))} |"
           if same_size else "not populated (see below) | |")
        + " p50 ≤ 20 ms and ≥ 20× |")
    if m and not same_size:
        add(f"| runs/search, same filter, {fmt(m_search.get('runs'))} runs (all MLflow could "
            f"be given in {config.populate_budget_s:g} s): p50 / p95 ms | "
            f"{fmt(c_search_same.get('p50_ms'), '', 1)} / "
            f"{fmt(c_search_same.get('p95_ms'), '', 1)} | "
            f"{fmt(m_search.get('p50_ms'), '', 1)} / {fmt(m_search.get('p95_ms'), '', 1)} | "
            f"{ratio(m_search.get('p50_ms'), c_search_same.get('p50_ms'))} | ≥ 20× |")
    c_hist_full = first(c.get("history"), target_points=config.history_points)
    m_hist = (m.get("history") or [{}])[0]
    c_hist_same = first(c.get("history"), target_points=m_hist.get("points")) if m_hist else {}
    hist_same_size = not m or m_hist.get("points") == c_hist_full.get("points")

    def hist_cell(entry: dict) -> str:
        if entry.get("error"):
            return entry["error"]
        return fmt(entry.get("ms"), "", 0)

    add(f"| metrics/get-history of one {fmt(config.history_points)}-point metric: ms | "
        f"{hist_cell(c_hist_full)} | "
        + (f"{hist_cell(m_hist)} | {ratio(m_hist.get('ms'), c_hist_full.get('ms'))} |"
           if hist_same_size else "not populated (see below) | |")
        + " ≤ 200 ms |")
    if m and not hist_same_size:
        add(f"| metrics/get-history of a {fmt(m_hist.get('points'))}-point metric (what "
            f"MLflow took in {config.populate_budget_s:g} s): ms | {hist_cell(c_hist_same)} | "
            f"{hist_cell(m_hist)} | {ratio(m_hist.get('ms'), c_hist_same.get('ms'))} | |")
    c_rss = (c.get("rss_bytes") or 0) / 1e6 or None
    m_rss = (m.get("rss_bytes") or 0) / 1e6 or None
    add(f"| server resident memory after all of the above: MB | {fmt(c_rss)} | {fmt(m_rss)} | "
        f"{ratio(m_rss, c_rss) + ' less' if m_rss and c_rss else 'n/a'} | ≤ 200 MB |")
    add("")
    if c:
        def verdict(ok) -> str:
            return "n/a" if ok is None else ("met" if ok else "**missed**")

        def ge(value, bound):
            return None if value is None else value >= bound

        def le(value, bound):
            return None if value is None else value <= bound

        def times(numerator, denominator):
            return numerator / denominator if numerator and denominator else None

        lb = c.get("log_batch_points_per_s")
        same_search = c_search_full if same_size else c_search_same
        checks = [
            ("log-batch ≥ 500,000 points/s", ge(lb, 500_000)),
            ("log-batch ≥ 50× MLflow", ge(times(lb, m.get("log_batch_points_per_s")), 50)),
            ("runs/create ≥ 20× MLflow",
             ge(times(c.get("create_runs_per_s"), m.get("create_runs_per_s")), 20)),
            ("search p50 ≤ 20 ms", le(c_search_full.get("p50_ms"), 20)),
            ("search ≥ 20× MLflow (same data)",
             ge(times(m_search.get("p50_ms"), same_search.get("p50_ms")), 20)),
            ("get-history of 1,000,000 points ≤ 200 ms",
             le(c_hist_full.get("ms"), 200) if config.history_points >= 1_000_000 else None),
            ("resident memory ≤ 200 MB", le(c_rss, 200)),
        ]
        add("Against the issue's targets (this run): "
            + "; ".join(f"{name}: {verdict(ok)}" for name, ok in checks) + ".")
        add("")
    add("Details:")
    add("")
    for name, r in (("Cairn", c), ("MLflow", m)):
        if not r:
            add(f"- {name}: not run in this measurement.")
            continue
        add(f"- {name}: log-batch runs {[round(x) for x in r.get('log_batch_rates', [])]} "
            f"points/s, generator CPU {fmt(r.get('log_batch_client_cpu_cores'), ' cores', 2)}, "
            f"{fmt(r.get('log_batch_points_stored'))} points stored and counted back; "
            f"runs/create runs {[round(x) for x in r.get('create_rates', [])]} runs/s, "
            f"generator CPU {fmt(r.get('create_client_cpu_cores'), ' cores', 2)}.")
        for entry in r.get("search", []):
            add(f"  - search: {fmt(entry['runs'])} runs (target {fmt(entry['target_runs'])}) "
                f"populated in {fmt(entry['populate_s'], ' s')}; {entry['queries']} queries "
                f"of `{SEARCH_FILTER}` (max_results 100) → {entry['matches']} runs each; "
                f"p50 {fmt(entry['p50_ms'], ' ms', 1)}, p95 {fmt(entry['p95_ms'], ' ms', 1)}.")
        for entry in r.get("history", []):
            add(f"  - history: {fmt(entry['points'])} points (target "
                f"{fmt(entry['target_points'])}) populated in {fmt(entry['populate_s'], ' s')};"
                f" get-history returned {fmt(entry.get('returned'))} points in one "
                f"{fmt(entry.get('response_mb'), ' MB', 1)} response; "
                + (entry["error"] if entry.get("error") else
                   f"{fmt(entry.get('ms'), ' ms')} (median of {entry.get('tries')})")
                + (f", server CPU {fmt(entry['server_cpu_ms'], ' ms')} per request"
                   if entry.get("server_cpu_ms") is not None else "") + ".")
        add(f"  - load average when this server's measurement started: "
            f"{r.get('load_at_start', '?')}.")
        add(f"  - memory: VmRSS of the server process"
            f"{'es (parent and workers)' if name == 'MLflow' else ''} after all scenarios.")
        for scenario, errors in (r.get("load_errors") or {}).items():
            add(f"  - **{scenario} under load: {errors['count']} requests failed** (not "
                f"counted in the rate), first: `{errors['first'][:200]}`")
        if r.get("populate_retries"):
            add(f"  - while populating, requests answered 429/503 and were retried (as the "
                f"mlflow client does): "
                + ", ".join(f"{reason} × {count}"
                            for reason, count in r["populate_retries"].items()) + ".")
        if r.get("failures"):
            add(f"  - **failures**: {'; '.join(r['failures'])}")
    if m and not same_size:
        add(f"- MLflow's search ran over **{fmt(m_search.get('runs'))} runs, not "
            f"{fmt(config.search_runs)}**: populating it through its API stopped at the "
            f"{config.populate_budget_s:g} s budget. Cairn was measured on the same "
            f"{fmt(m_search.get('runs'))} runs (same values) for the like-for-like ratio, "
            f"and on the full {fmt(config.search_runs)}.")
    if m_search and c_search_same and m_search.get("matches") != c_search_same.get("matches"):
        add(f"- **The two servers returned different result counts for the same data**: "
            f"MLflow {m_search.get('matches')}, Cairn {c_search_same.get('matches')}.")
    if m and not hist_same_size:
        add(f"- MLflow did not finish populating the {fmt(config.history_points)}-point "
            f"metric in {config.populate_budget_s:g} s (it reached "
            f"{fmt(m_hist.get('points'))} points); both servers were timed on a metric of "
            f"that size, and Cairn also on the full one.")
    add("")
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(path.read_text() if path.exists() else "", text))
    return text


def replace_section(document: str, section: str) -> str:
    """`document` with its tracking section's main part replaced by `section`: from the
    section's "## " heading to its first dated "### Follow-up" subsection (kept) or the
    next "## " section (the other benchmarks' sections are kept); appended when absent."""
    heading = section.splitlines()[0]
    lines = document.splitlines(keepends=True)
    start = next((idx for idx, line in enumerate(lines) if line.rstrip("\n") == heading), None)
    if start is None:
        return (document.rstrip("\n") + "\n\n" if document.strip() else "") + section
    end = start + 1
    while end < len(lines) and not lines[end].startswith(("## ", "### Follow-up")):
        end += 1
    return "".join(lines[:start]) + section + ("\n" if end < len(lines) else "") + \
        "".join(lines[end:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cairn", type=Path, help="path of the cairn binary")
    parser.add_argument("--skip-cairn", action="store_true")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--seconds", type=float, help="load duration per throughput run")
    parser.add_argument("--reps", type=int, help="throughput runs per scenario (median)")
    parser.add_argument("--clients", type=int, default=8, help="load generator processes")
    parser.add_argument("--search-runs", type=int)
    parser.add_argument("--history-points", type=int)
    parser.add_argument("--populate-budget-s", type=float,
                        help="max seconds to populate one data set (per server)")
    parser.add_argument("--history-timeout-s", type=float)
    parser.add_argument("--scenarios", type=lambda text: [x for x in text.split(",") if x],
                        help="run only these, comma-separated: log-batch, runs/create, "
                        "runs/search, get-history (for follow-up measurements; the report "
                        "then has gaps)")
    parser.add_argument("--extra-history-points", type=int, action="append", default=[],
                        help="also time get-history on a metric of this many points "
                        "(repeatable)")
    config = parser.parse_args()
    quick = config.quick
    defaults = {
        "seconds": 3 if quick else 10,
        "reps": 1 if quick else 3,
        "search_runs": 1000 if quick else 10000,
        "history_points": 100_000 if quick else 1_000_000,
        "populate_budget_s": 45 if quick else 180,
        "history_timeout_s": 60 if quick else 180,
    }
    for name, value in defaults.items():
        if getattr(config, name) is None:
            setattr(config, name, value)
    config.log_batch_runs = 4
    config.populate_threads = 8
    config.search_queries = 20 if quick else 100
    config.search_budget_s = 20 if quick else 60
    config.history_reps = 3 if quick else 5

    cairn_path = None
    if not config.skip_cairn:
        if config.cairn is None:
            parser.error("--cairn PATH is required (or --skip-cairn)")
        cairn_path = config.cairn.resolve()
        if not cairn_path.exists():
            parser.error(f"{cairn_path} does not exist (make build)")
    shown, skip_next = [], False
    for arg in sys.argv[1:]:  # the command as run, less where the results were written
        if skip_next:
            skip_next = False
        elif arg in ("--json", "--out"):
            skip_next = True
        elif not arg.startswith(("--json=", "--out=")):
            shown.append(os.path.relpath(arg, REPO) if arg.startswith("/") else arg)
    command = " ".join(["python3 bench/tracking/run.py", *shown])
    info = machine_info(cairn_path)
    root = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    results: dict = {}
    try:
        search_sizes = [config.search_runs]
        history_sizes = [config.history_points, *config.extra_history_points]
        if not config.skip_mlflow:
            results["mlflow"] = bench_server("mlflow", root, config, None, search_sizes,
                                             history_sizes)
            # Cairn is also measured on exactly what MLflow could be given in the budget.
            m_search = (results["mlflow"].get("search") or [{}])[0].get("runs")
            if m_search and m_search < config.search_runs:
                search_sizes.append(m_search)
            m_hist = (results["mlflow"].get("history") or [{}])[0].get("points")
            if m_hist and m_hist < config.history_points:
                history_sizes.append(m_hist)
        if not config.skip_cairn:
            results["cairn"] = bench_server("cairn", root, config, cairn_path, search_sizes,
                                            history_sizes)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = write_report(config.out, command, info, config, results.get("cairn"),
                        results.get("mlflow"))
    print(text)
    if config.json:
        config.json.write_text(json.dumps({"info": info, "results": results}, indent=1))
    failed = any(r.get("failures") for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
