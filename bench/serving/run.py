#!/usr/bin/env python3
"""Side-by-side serving benchmark (issue 6 "Performance"): one XGBoost model of 100 trees
over 20 features, served

  a. by `cairn server` through an Endpoint (`kind: Endpoint`, model bench@production,
     runtime auto → the native XGBoost runtime) whose feature service fetches the 20
     features from the online store by entity key: each request carries one customer_id;
  b. by `mlflow models serve` (the pyfunc of the same model directory, MLflow's xgboost
     flavor; `--env-manager local`, --mlflow-workers uvicorn workers): each request
     carries the 20 feature values of one customer as dataframe_split (MLflow has no
     feature store, so it gets the features for free).

Both are driven by `wrk` with a Lua script cycling through 1,000 pre-built bodies (varying
customers):
  - max throughput: --threads threads, --connections connections, --duration seconds;
  - latency at about half that rate: wrk2 is not available, so each connection paces
    itself with wrk's delay() (connections = rate × 10 ms, each waits ~10 ms between
    requests); the achieved rate is reported next to p50/p99.
Each measurement is repeated --repeats times; the table shows medians, the JSON (--out) all
runs. Before measuring, the Cairn endpoint's and MLflow's predictions for the same
customers are compared (same model, same features: they must agree to 1e-5).

Needs: wrk, Python xgboost (pip install -r bench/serving/requirements.txt), mlflow.

Quick run:  python3 bench/serving/run.py --cairn build/release/cairn
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))
sys.path.insert(0, str(REPO / "python"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import requests  # noqa: E402

import cairn  # noqa: E402
import cairn_testing  # noqa: E402

FEATURES = [f"f{i}" for i in range(20)]
T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MODEL = "serving_bench"
ENDPOINT = "serving-bench"


# ---------------------------------------------------------------------------------------
# Data and model

def generate(work: Path, keys: int, seed: int) -> dict:
    """customers.csv (customer_id, ts, f0..f19) and the model directory: an XGBoost binary
    classifier of 100 trees (depth 6) trained on those rows, saved by mlflow.xgboost in
    JSON with a signature naming f0..f19."""
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    rng = np.random.default_rng(seed)
    values = rng.normal(size=(keys, len(FEATURES)))
    values[rng.random(values.shape) < 0.01] = np.nan
    frame = pd.DataFrame(values, columns=FEATURES)
    weights = rng.normal(size=len(FEATURES))
    score = np.nan_to_num(values) @ weights + rng.normal(scale=0.5, size=keys)
    label = (score > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1,
                         "seed": seed, "nthread": 2},
                        xgb.DMatrix(frame, label=label), num_boost_round=100)
    model_dir = work / "model"
    shutil.rmtree(model_dir, ignore_errors=True)
    sample = frame.head(100)
    mlflow.xgboost.save_model(booster, str(model_dir), model_format="json",
                              signature=infer_signature(sample, booster.predict(
                                  xgb.DMatrix(sample))))
    table = frame.copy()
    table.insert(0, "ts", T0_MS)
    table.insert(0, "customer_id", np.arange(keys, dtype=np.int64))
    csv = work / "customers.csv"
    table.to_csv(csv, index=False, na_rep="")
    return {"csv": csv, "model_dir": model_dir, "frame": frame, "keys": keys,
            "xgboost": xgb.__version__}


def feature_yaml() -> str:
    schema = "".join(f"  - {{name: {f}, type: double}}\n" for f in FEATURES)
    return "---\n".join([
        "kind: Entity\nname: customer\njoin_keys: [{name: customer_id, type: int64}]\n",
        "kind: Source\nname: customers\ntype: file\nformat: csv\ntimestamp_field: ts\n"
        "schema:\n  - {name: customer_id, type: int64, nullable: false}\n"
        f"  - {{name: ts, type: timestamp, nullable: false}}\n{schema}",
        "kind: FeatureView\nname: customer_features\nentities: [customer]\nsource: customers\n"
        f"ttl: 0\nonline: true\nfeatures:\n{schema}",
        "kind: FeatureService\nname: serving_bench\nfeatures: [customer_features]\n",
    ])


def endpoint_yaml(log_sample: float | None = None) -> str:
    text = (f"kind: Endpoint\nname: {ENDPOINT}\nmodel: {MODEL}@production\n"
            "feature_service: serving_bench\nruntime: auto\n")
    if log_sample is not None:  # absent: the endpoint's default (every row logged)
        text += f"inference_log: {{sample: {log_sample}}}\n"
    return text


# ---------------------------------------------------------------------------------------
# wrk

WRK_LUA = r'''
-- POSTs pre-built bodies (one per line of BENCH_BODIES) in turn to BENCH_PATH; with
-- BENCH_DELAY_MS > 0 every connection waits that long before each request (pacing).
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local counter = 0
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
init = function(args)
  counter = math.random(1, #bodies)
end
request = function()
  counter = counter % #bodies + 1
  return wrk.format(nil, os.getenv("BENCH_PATH"), nil, bodies[counter])
end
if pause > 0 then
  delay = function() return pause end
end
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
'''

PACING_PERIOD_MS = 10


def run_wrk(url: str, path: str, bodies: Path, lua: Path, threads: int, connections: int,
            duration: int, delay_ms: int = 0) -> dict:
    load_before = os.getloadavg()[0]
    env = dict(os.environ, BENCH_BODIES=str(bodies), BENCH_PATH=path,
               BENCH_DELAY_MS=str(delay_ms))
    done = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d",
                           f"{duration}s", "--timeout", "10s", "--latency", "-s", str(lua),
                           url],
                          capture_output=True, text=True, env=env, timeout=duration + 60)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            result = json.loads(line.split(" ", 1)[1])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            result.update(threads=threads, connections=connections, delay_ms=delay_ms,
                          load_before=load_before, load_after=os.getloadavg()[0])
            return result
    raise RuntimeError(f"wrk gave no result: {done.stdout[-1000:]} {done.stderr[-1000:]}")


def measure(url: str, path: str, bodies: Path, lua: Path, config) -> dict:
    """Max throughput (median of repeats), then paced runs at about half of it."""
    peak = [run_wrk(url, path, bodies, lua, config.threads, config.connections,
                    config.duration) for _ in range(config.repeats)]
    peak_rps = statistics.median(r["rps"] for r in peak)
    target = peak_rps / 2
    # Each paced connection sends one request per (delay + latency + wrk's timer slack):
    # a short probe measures the rate one setting gives, and the connections are scaled.
    connections = max(1, round(target * PACING_PERIOD_MS / 1000))
    probe = run_wrk(url, path, bodies, lua, min(config.threads, connections), connections,
                    3, PACING_PERIOD_MS)
    if probe["rps"] > 0:
        connections = max(1, round(connections * target / probe["rps"]))
    threads = min(config.threads, connections)
    half = [run_wrk(url, path, bodies, lua, threads, connections, config.duration,
                    PACING_PERIOD_MS) for _ in range(config.repeats)]
    return {"peak": peak, "probe": probe, "half": half, "peak_rps": peak_rps,
            "target_half_rps": target}


# ---------------------------------------------------------------------------------------
# a. Cairn

def start_cairn(binary: Path, data_dir: Path):
    os.environ["CAIRN_BINARY"] = str(binary)
    return cairn_testing.start_server(data_dir, kind="cairn")


def setup_cairn(server, data: dict, work: Path, log_sample: float | None = None) -> None:
    store = cairn.FeatureStore(server.url)
    defs = work / "defs"
    defs.mkdir(parents=True, exist_ok=True)
    (defs / "features.yaml").write_text(feature_yaml())
    store.apply(defs)
    answer = store.ingest("customers", data["csv"])
    assert answer["rows"] == data["keys"], answer
    store.materialize(T0_MS, T0_MS + 1)
    store.close()

    # The model directory becomes a run's artifacts (uploaded through the server), and the
    # registered version's source points at them, as a training job would leave it.
    import mlflow
    from mlflow.tracking import MlflowClient
    mlflow.set_tracking_uri(server.url)
    with mlflow.start_run(run_name="serving-bench") as run:
        mlflow.log_artifacts(str(data["model_dir"]), artifact_path="model")
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    client.create_registered_model(MODEL)
    version = client.create_model_version(MODEL, source=f"{run.info.artifact_uri}/model",
                                          run_id=run.info.run_id)
    client.set_registered_model_alias(MODEL, "production", version.version)

    body = {"files": [{"path": "endpoint.yaml", "content": endpoint_yaml(log_sample)}]}
    response = requests.post(f"{server.url}/api/v1/endpoints/apply", json=body, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"endpoints/apply -> {response.status_code}: {response.text[:500]}")


def cairn_predict(url: str, keys: list[int]) -> list[float]:
    """Predicts one key per request (as the benchmark does), retrying while the endpoint
    is still deploying."""
    out = []
    deadline = time.monotonic() + 60
    for key in keys:
        while True:
            response = requests.post(f"{url}/api/v1/endpoints/{ENDPOINT}/predict",
                                     json={"entities": {"customer_id": [key]}}, timeout=30)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if response.status_code != 200:
            raise RuntimeError(f"predict -> {response.status_code}: {response.text[:500]}")
        out.append(response.json()["predictions"][0])
    return out


# ---------------------------------------------------------------------------------------
# b. mlflow models serve

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mlflow_serve(model_dir: Path, workers: int, log: Path):
    port = free_port()
    handle = open(log, "w")
    process = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", str(model_dir), "-h", "127.0.0.1", "-p", str(port),
         "--env-manager", "local", "-w", str(workers)],
        stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow models serve exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"mlflow models serve did not start: {log.read_text()[-2000:]}")


def stop(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def mlflow_body(frame: pd.DataFrame, key: int) -> str:
    row = [None if np.isnan(v) else float(v) for v in frame.iloc[key]]
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": [row]}})


def mlflow_predict(url: str, frame: pd.DataFrame, keys: list[int]) -> list[float]:
    out = []
    for key in keys:
        response = requests.post(f"{url}/invocations", data=mlflow_body(frame, key),
                                 headers={"Content-Type": "application/json"}, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"invocations -> {response.status_code}: {response.text[:500]}")
        out.append(float(response.json()["predictions"][0]))
    return out


# ---------------------------------------------------------------------------------------
# Report

def median_of(runs: list[dict], field: str) -> float:
    return statistics.median(r[field] for r in runs)


def summarize(side: dict) -> dict:
    return {"peak_rps": side["peak_rps"],
            "peak_p99_ms": median_of(side["peak"], "p99_us") / 1000,
            "half_rps": median_of(side["half"], "rps"),
            "half_p50_ms": median_of(side["half"], "p50_us") / 1000,
            "half_p99_ms": median_of(side["half"], "p99_us") / 1000,
            "non2xx": sum(r["non2xx"] + r["errors"] for r in side["peak"] + side["half"]),
            "load": statistics.median(r["load_before"] for r in side["peak"] + side["half"])}


def report(results: dict) -> str:
    lines = [f"Serving benchmark — {results['machine']} (load: 1-minute load average before "
             "each wrk run, median)",
             f"model: XGBoost {results['trees']} trees x {len(FEATURES)} features "
             f"(Python xgboost {results['xgboost']}), {results['keys']:,} customers online; "
             f"wrk -t{results['config']['threads']} -c{results['config']['connections']} "
             f"-d{results['config']['duration']}s, median of {results['config']['repeats']}",
             f"{'':36}{'max req/s':>10}{'p99@max':>10}{'~half req/s':>12}{'p50':>9}"
             f"{'p99':>9}{'errors':>7}{'load':>6}"]
    for name, key in (("cairn endpoint (20 online features)", "cairn"),
                      ("mlflow models serve (features sent)", "mlflow")):
        if key not in results:
            continue
        s = results[key]["summary"]
        lines.append(f"{name:36}{s['peak_rps']:>10,.0f}{s['peak_p99_ms']:>8.1f}ms"
                     f"{s['half_rps']:>12,.0f}{s['half_p50_ms']:>7.2f}ms{s['half_p99_ms']:>7.2f}ms"
                     f"{s['non2xx']:>7}{s['load']:>6.1f}")
    if "cairn" in results and "mlflow" in results:
        ratio = results["cairn"]["summary"]["peak_rps"] / results["mlflow"]["summary"]["peak_rps"]
        lines.append(f"throughput ratio cairn / mlflow: {ratio:.1f}x")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cairn", type=Path, default=REPO / "build/release/cairn")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mlflow-workers", type=int, default=2)
    parser.add_argument("--log-sample", type=float, default=None,
                        help="the endpoint's inference_log sample (default: the endpoint's "
                             "default, every prediction logged)")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-cairn", action="store_true")
    parser.add_argument("--work", type=Path, default=None,
                        help="working folder (default: a fresh temporary one)")
    parser.add_argument("--out", type=Path, default=None, help="write all results as JSON")
    config = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2

    work = config.work or Path(tempfile.mkdtemp(prefix="cairn-bench-serving-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"generating {config.keys:,} customers and the model in {work} ...", flush=True)
    data = generate(work, config.keys, config.seed)
    lua = work / "bench.lua"
    lua.write_text(WRK_LUA)
    rng = np.random.default_rng(config.seed + 1)
    sample_keys = [int(k) for k in rng.integers(0, config.keys, 1000)]
    cairn_bodies = work / "cairn_bodies.txt"
    cairn_bodies.write_text("".join(
        json.dumps({"entities": {"customer_id": [k]}}) + "\n" for k in sample_keys))
    mlflow_bodies = work / "mlflow_bodies.txt"
    mlflow_bodies.write_text("".join(mlflow_body(data["frame"], k) + "\n" for k in sample_keys))

    results: dict = {"machine": f"{platform.node()}, {os.cpu_count()} cores",
                     "keys": config.keys, "trees": 100, "xgboost": data["xgboost"],
                     "config": vars(config) | {"cairn": str(config.cairn),
                                               "work": str(work), "out": str(config.out)}}
    check_keys = sample_keys[:20]
    cairn_answers = mlflow_answers = None
    if not config.skip_cairn:
        server = start_cairn(config.cairn.resolve(), work / "cairn-data")
        try:
            print("cairn: apply, ingest, materialize, register, endpoint ...", flush=True)
            setup_cairn(server, data, work, config.log_sample)
            cairn_answers = cairn_predict(server.url, check_keys)
            print("cairn: wrk ...", flush=True)
            side = measure(server.url, f"/api/v1/endpoints/{ENDPOINT}/predict", cairn_bodies,
                           lua, config)
            side["summary"] = summarize(side)
            results["cairn"] = side
        finally:
            server.stop()
    if not config.skip_mlflow:
        process, url = start_mlflow_serve(data["model_dir"], config.mlflow_workers,
                                          work / "mlflow-serve.log")
        try:
            mlflow_answers = mlflow_predict(url, data["frame"], check_keys)
            print("mlflow: wrk ...", flush=True)
            side = measure(url, "/invocations", mlflow_bodies, lua, config)
            side["summary"] = summarize(side)
            results["mlflow"] = side
        finally:
            stop(process)
    if cairn_answers and mlflow_answers:
        worst = max(abs(a - b) for a, b in zip(cairn_answers, mlflow_answers))
        results["max_abs_prediction_difference"] = worst
        print(f"same predictions: max |cairn - mlflow| over {len(check_keys)} customers = "
              f"{worst:.2e}", flush=True)
        if worst > 1e-5:
            print("cairn and mlflow disagree: not the same model or features", file=sys.stderr)
            return 1
    print(report(results))
    if config.out:
        config.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
