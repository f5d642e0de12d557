#!/usr/bin/env python3
"""Side-by-side feature-store benchmark: Cairn against DuckDB's ASOF JOIN and Feast.

On one deterministic data set (N entity rows; 3 feature views of M rows each over K
distinct int64 keys, 30 days of event times; 4 + 3 + 3 = 10 double features):
  a. DuckDB: the point-in-time join as three chained ASOF LEFT JOINs into a table;
  b. Cairn (`cairn server`): apply the YAML, ingest the CSVs (rows/s), then
     get_historical_features through the Python SDK end to end, and the server alone
     (entities as CSV, answer as CSV), plus the join time if the server reports it;
  c. Feast (optional, --feast-python: a Python with `feast` installed, e.g.
     /tmp/feast-venv/bin/python): its local offline store on Parquet file sources, at the
     same size or at --feast-entities/--feast-rows when it cannot finish at full size;
  d. online: Cairn materializes every view (timed), then `wrk` drives
     POST /get-online-features with 1 entity x 10 features and 100 entities x 10 features;
     with Feast, `feast materialize` + `feast serve` (SQLite online store) side by side
     with the same Lua script.
Prints a table (medians over --repeats) and the ratios, and writes JSON (--out).

Quick run:  python3 bench/features/run.py --cairn build/release/cairn
Full size:  python3 bench/features/run.py --cairn build/release/cairn \
              --entities 1000000 --rows 10000000 --keys 100000 \
              --feast-python /tmp/feast-venv/bin/python --feast-entities 100000 \
              --feast-rows 1000000
Feast at several sizes, each side by side with Cairn's SDK at that size:
            python3 bench/features/run.py --cairn build/release/cairn --entities 200000 \
              --rows 2000000 --keys 100000 --repeats 1 --skip-online \
              --feast-python /tmp/feast-venv/bin/python \
              --feast-sizes 200000x2000000,500000x5000000
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
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))
sys.path.insert(0, str(REPO / "python"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import requests  # noqa: E402

import cairn  # noqa: E402
import cairn_testing  # noqa: E402

T0_MS = 1_704_067_200_000          # 2024-01-01T00:00:00Z
SPAN_MS = 30 * 86_400_000          # event times over 30 days
VIEW_FEATURES = [4, 3, 3]          # 10 features in all
VIEWS = [f"v{i + 1}" for i in range(len(VIEW_FEATURES))]


def feature_names(view_index: int) -> list[str]:
    return [f"f{view_index + 1}_{j}" for j in range(VIEW_FEATURES[view_index])]


ALL_REFS = [f"{VIEWS[i]}:{f}" for i in range(len(VIEWS)) for f in feature_names(i)]


# ---------------------------------------------------------------------------------------
# Data

def generate(folder: Path, entities: int, rows: int, keys: int, seed: int) -> dict:
    """Writes entities.{csv,parquet} and v{i}.{csv,parquet}; deterministic for a seed.
    Returns the paths and the arrow tables' sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {"views": {}}
    for i, view in enumerate(VIEWS):
        cols = {"customer_id": rng.integers(0, keys, rows, dtype=np.int64),
                "ts": T0_MS + rng.integers(0, SPAN_MS, rows, dtype=np.int64)}
        for name in feature_names(i):
            cols[name] = rng.random(rows)
        table = pa.table(cols)
        csv_path = folder / f"{view}.csv"
        pacsv.write_csv(table, csv_path, pacsv.WriteOptions(quoting_style="none"))
        parquet = table.set_column(1, "ts", pa.array(cols["ts"]).cast(pa.timestamp("ms", "UTC")))
        pq.write_table(parquet, folder / f"{view}.parquet")
        out["views"][view] = {"csv": csv_path, "parquet": folder / f"{view}.parquet",
                              "rows": rows, "csv_bytes": csv_path.stat().st_size}
    ent = {"customer_id": rng.integers(0, keys, entities, dtype=np.int64),
           "event_timestamp": T0_MS + rng.integers(0, SPAN_MS + 86_400_000, entities,
                                                   dtype=np.int64)}
    table = pa.table(ent)
    pacsv.write_csv(table, folder / "entities.csv", pacsv.WriteOptions(quoting_style="none"))
    stamped = table.set_column(1, "event_timestamp",
                               pa.array(ent["event_timestamp"]).cast(pa.timestamp("ms", "UTC")))
    pq.write_table(stamped, folder / "entities.parquet")
    out["entities"] = {"csv": folder / "entities.csv", "parquet": folder / "entities.parquet",
                       "rows": entities}
    return out


def cairn_yaml() -> str:
    docs = ["kind: Entity\nname: customer\njoin_keys: [{name: customer_id, type: int64}]\n"]
    for i, view in enumerate(VIEWS):
        schema = "".join(f"  - {{name: {f}, type: double}}\n" for f in feature_names(i))
        docs.append(f"kind: Source\nname: src_{view}\ntype: file\nformat: csv\n"
                    f"timestamp_field: ts\nschema:\n"
                    f"  - {{name: customer_id, type: int64, nullable: false}}\n"
                    f"  - {{name: ts, type: timestamp, nullable: false}}\n{schema}")
        docs.append(f"kind: FeatureView\nname: {view}\nentities: [customer]\n"
                    f"source: src_{view}\nttl: 0\nonline: true\nfeatures:\n{schema}")
    return "---\n".join(docs)


# ---------------------------------------------------------------------------------------
# a. DuckDB

def bench_duckdb(data: dict, repeats: int) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    for view, info in data["views"].items():
        con.execute(f"CREATE TABLE {view} AS SELECT * FROM read_parquet('{info['parquet']}')")
    con.execute("CREATE TABLE e AS SELECT row_number() OVER () AS row_id, * "
                f"FROM read_parquet('{data['entities']['parquet']}')")
    selects = ", ".join(f"{v}.{f}" for i, v in enumerate(VIEWS) for f in feature_names(i))
    joins = " ".join(f"ASOF LEFT JOIN {v} ON e.customer_id = {v}.customer_id "
                     f"AND e.event_timestamp >= {v}.ts" for v in VIEWS)
    sql = f"CREATE OR REPLACE TABLE result AS SELECT e.*, {selects} FROM e {joins}"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        con.execute(sql)
        times.append(time.perf_counter() - start)
    rows = con.execute("SELECT count(*) FROM result").fetchone()[0]
    assert rows == data["entities"]["rows"], rows
    return {"join_s": times, "version": duckdb.__version__}


# ---------------------------------------------------------------------------------------
# b. Cairn

def start_cairn(binary: Path, data_dir: Path, extra: list[str] | None = None):
    os.environ["CAIRN_BINARY"] = str(binary)
    return cairn_testing.start_server(data_dir, kind="cairn", extra_args=extra or [])


def bench_cairn_offline(server, data: dict, work: Path, repeats: int) -> dict:
    store = cairn.FeatureStore(server.url)
    defs = work / "defs"
    defs.mkdir(parents=True, exist_ok=True)
    (defs / "bench.yaml").write_text(cairn_yaml())
    store.apply(defs)
    result: dict = {"ingest": {}}
    for view, info in data["views"].items():
        start = time.perf_counter()
        answer = store.ingest(f"src_{view}", info["csv"])
        seconds = time.perf_counter() - start
        assert answer["rows"] == info["rows"], answer
        result["ingest"][view] = {"rows": info["rows"], "s": seconds,
                                  "rows_per_s": info["rows"] / seconds,
                                  "mb_per_s": info["csv_bytes"] / seconds / 1e6}

    entity_df = pd.read_parquet(data["entities"]["parquet"])
    sdk, raw, server_reported = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        frame = store.get_historical_features(entity_df, features=ALL_REFS)
        sdk.append(time.perf_counter() - start)
        if frame.attrs.get("cairn_join_ms") is not None:
            server_reported.append(frame.attrs["cairn_join_ms"] / 1000)
        assert len(frame) == len(entity_df)
    entities_csv = Path(data["entities"]["csv"]).read_text()
    session = requests.Session()
    for _ in range(repeats):
        body = {"entities_csv": entities_csv, "features": ALL_REFS, "format": "csv"}
        start = time.perf_counter()
        response = session.post(f"{server.url}/api/v1/features/historical", json=body,
                                timeout=3600)
        raw.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text[:500]
        if "X-Cairn-Join-Ms" in response.headers:
            server_reported.append(float(response.headers["X-Cairn-Join-Ms"]) / 1000)
    result.update({"historical_sdk_s": sdk, "historical_http_csv_s": raw,
                   "join_s_server_reported": server_reported,
                   "snapshot": frame.attrs.get("cairn_snapshot")})
    store.close()
    return result


def bench_cairn_materialize(server) -> dict:
    store = cairn.FeatureStore(server.url)
    start = time.perf_counter()
    answer = store.materialize(T0_MS, T0_MS + SPAN_MS + 1)
    seconds = time.perf_counter() - start
    rows = sum(v.get("rows_read", 0) for v in answer.get("views", {}).values())
    return {"s": seconds, "rows_read": rows, "rows_per_s": rows / seconds if seconds else None,
            "server_rss_mb": server.rss_bytes() / 2**20, "answer": answer.get("views")}


# ---------------------------------------------------------------------------------------
# c. Feast (in its own Python)

FEAST_REPO = '''
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float64

customer = Entity(name="customer", join_keys=["customer_id"])
VIEWS = {views!r}
views = []
for name, (path, features) in VIEWS.items():
    source = FileSource(name="src_" + name, path=path, timestamp_field="ts")
    views.append(FeatureView(name=name, entities=[customer], ttl=timedelta(0),
                             schema=[Field(name=f, dtype=Float64) for f in features],
                             source=source, online=True))
v1, v2, v3 = views
'''

FEAST_DRIVER = '''
import json, sys, time
from datetime import datetime, timezone
import pandas as pd
from feast import FeatureStore
repo, entities_path, refs, repeats, do_hist, do_mat = sys.argv[1:7]
store = FeatureStore(repo_path=repo)
out = {"historical_s": [], "version": __import__("feast").__version__}
if do_hist == "1":
    entity_df = pd.read_parquet(entities_path)
    for _ in range(int(repeats)):
        t = time.perf_counter()
        df = store.get_historical_features(entity_df=entity_df,
                                           features=refs.split(",")).to_df()
        out["historical_s"].append(time.perf_counter() - t)
        out["rows_out"], out["rows_in"] = len(df), len(entity_df)
if do_mat == "1":
    t = time.perf_counter()
    store.materialize(datetime(2023, 12, 1, tzinfo=timezone.utc),
                      datetime(2024, 3, 1, tzinfo=timezone.utc))
    out["materialize_s"] = time.perf_counter() - t
print("FEAST_RESULT " + json.dumps(out))
'''


def feast_repo(folder: Path, data: dict) -> Path:
    repo = folder / "feast_repo"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(textwrap.dedent(f"""\
        project: cairn_bench
        registry: {repo}/registry.db
        provider: local
        online_store:
          type: sqlite
          path: {repo}/online.db
        offline_store:
          type: file
        """))
    views = {v: (str(info["parquet"]), feature_names(i))
             for i, (v, info) in enumerate(data["views"].items())}
    (repo / "definitions.py").write_text(FEAST_REPO.format(views=views))
    # Outside the repo: `feast apply` imports every .py file of the repo.
    (folder / "feast_driver.py").write_text(FEAST_DRIVER)
    return repo


def feast_bin(python: str) -> str:
    candidate = Path(python).parent / "feast"
    return str(candidate) if candidate.exists() else "feast"


def bench_feast(python: str, data: dict, folder: Path, repeats: int, timeout: float,
                materialize: bool) -> dict:
    repo = feast_repo(folder, data)
    subprocess.run([feast_bin(python), "apply"], cwd=repo, check=True, capture_output=True,
                   timeout=600)
    command = [python, str(repo.parent / "feast_driver.py"), str(repo), str(data["entities"]["parquet"]),
               ",".join(ALL_REFS), str(repeats), "1", "1" if materialize else "0"]
    try:
        done = subprocess.run(command, cwd=repo, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("FEAST_RESULT "):
            result = json.loads(line.split(" ", 1)[1])
            result["repo"] = str(repo)
            return result
    return {"error": f"exit {done.returncode}: {done.stderr[-2000:]}"}


# ---------------------------------------------------------------------------------------
# d. online: wrk

WRK_LUA = r'''
-- POST /get-online-features with a different entity key per request (pre-built bodies).
local keys_per_request = tonumber(os.getenv("BENCH_KEYS_PER_REQUEST") or "1")
local key_space = tonumber(os.getenv("BENCH_KEY_SPACE") or "1000")
local features = os.getenv("BENCH_FEATURES")
local bodies = {}
local counter = 0
math.randomseed(42)
for i = 1, 1000 do
  local ids = {}
  for j = 1, keys_per_request do ids[j] = tostring(math.random(0, key_space - 1)) end
  bodies[i] = '{"features": [' .. features .. '], "entities": {"customer_id": [' ..
              table.concat(ids, ",") .. ']}}'
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter % 1000 + 1
  return wrk.format(nil, os.getenv("BENCH_PATH") or "/get-online-features", nil,
                    bodies[counter])
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


def run_wrk(url: str, lua: Path, keys_per_request: int, key_space: int, duration: int,
            threads: int, connections: int) -> dict:
    env = dict(os.environ, BENCH_KEYS_PER_REQUEST=str(keys_per_request),
               BENCH_KEY_SPACE=str(key_space),
               BENCH_FEATURES=",".join(f'"{r}"' for r in ALL_REFS))
    done = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d",
                           f"{duration}s", "-s", str(lua), url], capture_output=True,
                          text=True, env=env, timeout=duration + 60)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            result = json.loads(line.split(" ", 1)[1])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            result.update(threads=threads, connections=connections)
            return result
    return {"error": done.stdout[-1000:] + done.stderr[-1000:]}


def check_online(url: str) -> None:
    body = {"features": ALL_REFS, "entities": {"customer_id": [0, 1]}}
    response = requests.post(f"{url}/get-online-features", json=body, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"{url}/get-online-features -> {response.status_code}: "
                           f"{response.text[:500]}")


def online_scenarios(url: str, lua: Path, keys: int, config) -> dict:
    check_online(url)
    out = {}
    for name, per_request in (("1_entity", 1), ("100_entities", 100)):
        out[name] = run_wrk(url, lua, per_request, keys, config.wrk_duration,
                            config.wrk_threads, config.wrk_connections)
        # Latency at low load (1 connection): closer to an unloaded server's p99.
        out[name + "_1conn"] = run_wrk(url, lua, per_request, keys, config.wrk_duration,
                                       1, 1)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def feast_serve(python: str, repo: str, lua: Path, keys: int, config) -> dict:
    port = free_port()
    log = open(Path(repo) / "serve.log", "w")
    proc = subprocess.Popen([feast_bin(python), "serve", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=repo, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            return {"error": "feast serve did not become healthy in 120 s"}
        return online_scenarios(url, lua, keys, config)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------
# Report

def med(values):
    return statistics.median(values) if values else None


def fmt(value, unit="", digits=2):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def ratio(a, b):
    return f"{a / b:,.1f}x" if a and b else "—"


def report(results: dict) -> str:
    lines = []
    cfg = results["config"]
    lines.append(f"Point-in-time join: {cfg['entities']:,} entity rows x 3 views x "
                 f"{cfg['rows']:,} rows, {cfg['keys']:,} keys (medians of {cfg['repeats']})")
    duck = med(results.get("duckdb", {}).get("join_s"))
    c = results.get("cairn", {})
    sdk, raw = med(c.get("historical_sdk_s")), med(c.get("historical_http_csv_s"))
    lines.append(f"  DuckDB ASOF JOIN (into a table)        {fmt(duck, ' s', 3)}")
    lines.append(f"  Cairn, server only (CSV in, CSV out)  {fmt(raw, ' s', 3)}   "
                 f"{ratio(raw, duck)} DuckDB's time")
    lines.append(f"  Cairn, Python SDK end to end           {fmt(sdk, ' s', 3)}")
    join = med(c.get("join_s_server_reported"))
    if join is not None:
        lines.append(f"  Cairn, the join alone (server-reported) {fmt(join, ' s', 3)}   "
                     f"{ratio(join, duck)} DuckDB's time")
    feast = results.get("feast", {})
    if feast.get("historical_s"):
        f = med(feast["historical_s"])
        same = feast.get("same_size")
        lines.append(f"  Feast local offline store              {fmt(f, ' s', 3)}   "
                     f"({'same size' if same else 'at ' + feast.get('size', '?')})")
        if same:
            lines.append(f"  Feast / Cairn SDK                      {ratio(f, sdk)}")
        elif feast.get("cairn_sdk_s_same_size"):
            lines.append(f"  Feast / Cairn SDK (at Feast's size)    "
                         f"{ratio(f, med(feast['cairn_sdk_s_same_size']))}")
    elif feast:
        lines.append(f"  Feast: {feast.get('error', feast.get('skipped'))}")
    for f in results.get("feast_sizes", []):
        fs, cs = med(f.get("historical_s")), med(f.get("cairn_sdk_s"))
        lines.append(f"  at {f['size']}: Feast {fmt(fs, ' s', 2)} "
                     f"({f.get('rows_out', '?')} of {f['entities']:,} rows returned), Cairn SDK "
                     f"{fmt(cs, ' s', 3)}: {ratio(fs, cs)} faster"
                     + (f" — Feast: {f['error']}" if "error" in f else ""))
    for view, ing in c.get("ingest", {}).items():
        lines.append(f"  CSV ingest {view}: {ing['rows']:,} rows in {fmt(ing['s'], ' s', 2)} = "
                     f"{fmt(ing['rows_per_s'], ' rows/s', 0)} ({fmt(ing['mb_per_s'], ' MB/s', 0)})")
    mat = results.get("cairn_materialize")
    if mat:
        lines.append(f"  Materialize all views: {mat['rows_read']:,} rows in "
                     f"{fmt(mat['s'], ' s', 2)} ({fmt(mat['rows_per_s'], ' rows/s', 0)}); "
                     f"server RSS after {fmt(mat['server_rss_mb'], ' MB', 0)}")
    if feast.get("materialize_s"):
        lines.append(f"  Feast materialize (its size): {fmt(feast['materialize_s'], ' s', 2)}")
    online = results.get("online", {})
    for name in ("1_entity", "1_entity_1conn", "100_entities", "100_entities_1conn"):
        row = [f"  online {name:20s}"]
        for system in ("cairn", "feast"):
            r = online.get(system, {}).get(name)
            if r and "rps" in r:
                row.append(f"{system}: {fmt(r['rps'], ' req/s', 0)} p50 "
                           f"{fmt(r['p50_us'] / 1000, ' ms')} p99 "
                           f"{fmt(r['p99_us'] / 1000, ' ms')} errors {r['errors']}+"
                           f"{r['non2xx']}")
        c_r = online.get("cairn", {}).get(name, {})
        f_r = online.get("feast", {}).get(name, {})
        if c_r.get("rps") and f_r.get("rps"):
            row.append(f"ratio {ratio(c_r['rps'], f_r['rps'])}")
        if len(row) > 1:
            lines.append("   ".join(row))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cairn", required=True, type=Path, help="the cairn binary")
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=200_000, help="rows per view")
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--feast-python", help="a Python with feast installed")
    parser.add_argument("--feast-entities", type=int, help="smaller size for Feast")
    parser.add_argument("--feast-rows", type=int, help="smaller rows per view for Feast")
    parser.add_argument("--feast-timeout", type=float, default=1800)
    parser.add_argument("--feast-sizes",
                        help="several Feast sizes, each measured side by side with Cairn's SDK "
                             "at the same size: ENTITIESxROWS,... (e.g. 200000x2000000,"
                             "500000x5000000); replaces --feast-entities/--feast-rows")
    parser.add_argument("--skip-online", action="store_true")
    parser.add_argument("--wrk-duration", type=int, default=10)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--workdir", type=Path, help="keep data here (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=Path("bench-features.json"))
    config = parser.parse_args()
    config.cairn = config.cairn.resolve()

    work = config.workdir or Path(tempfile.mkdtemp(prefix="cairn-bench-features-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"config": {k: (str(v) if isinstance(v, Path) else v)
                                for k, v in vars(config).items()},
                     "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                     "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    lua = work / "online.lua"
    lua.write_text(WRK_LUA)
    try:
        print(f"generating data under {work} ...", flush=True)
        data = generate(work / "data", config.entities, config.rows, config.keys, config.seed)

        print("DuckDB ASOF JOIN ...", flush=True)
        results["duckdb"] = bench_duckdb(data, config.repeats)

        print("Cairn: apply, ingest, historical ...", flush=True)
        server = start_cairn(config.cairn, work / "cairn-data")
        try:
            results["cairn"] = bench_cairn_offline(server, data, work, config.repeats)
            if not config.skip_online:
                print("Cairn: materialize, wrk ...", flush=True)
                results["cairn_materialize"] = bench_cairn_materialize(server)
                results.setdefault("online", {})["cairn"] = online_scenarios(
                    server.url, lua, config.keys, config)
        finally:
            server.stop()

        if config.feast_python and config.feast_sizes:
            results["feast_sizes"] = []
            for item in config.feast_sizes.split(","):
                fe, fr = (int(x) for x in item.lower().split("x"))
                size = f"{fe:,} entities x 3 x {fr:,} rows"
                same = (fe, fr) == (config.entities, config.rows)
                print(f"Feast at {size} (and Cairn at that size) ...", flush=True)
                feast_data = data if same else generate(work / f"feast-data-{fe}-{fr}", fe, fr,
                                                        config.keys, config.seed)
                feast = bench_feast(config.feast_python, feast_data, work / f"feast-{fe}-{fr}",
                                    config.repeats, config.feast_timeout, False)
                feast.update(size=size, entities=fe, rows=fr)
                if same:
                    feast["cairn_sdk_s"] = results["cairn"]["historical_sdk_s"]
                else:
                    small = start_cairn(config.cairn, work / f"cairn-data-{fe}-{fr}")
                    try:
                        feast["cairn_sdk_s"] = bench_cairn_offline(
                            small, feast_data, work / f"cairn-{fe}-{fr}",
                            config.repeats)["historical_sdk_s"]
                    finally:
                        small.stop()
                results["feast_sizes"].append(feast)
                print(f"  Feast {fmt(med(feast.get('historical_s')), ' s', 2)}, Cairn SDK "
                      f"{fmt(med(feast['cairn_sdk_s']), ' s', 3)}"
                      + (f", {feast.get('error')}" if "error" in feast else ""), flush=True)
        elif config.feast_python:
            feast_data, size = data, "same size"
            shrink = config.feast_entities or config.feast_rows
            if shrink:
                fe, fr = config.feast_entities or config.entities, config.feast_rows or config.rows
                size = f"{fe:,} entities x 3 x {fr:,} rows"
                print(f"Feast at {size} (and Cairn at that size) ...", flush=True)
                feast_data = generate(work / "feast-data", fe, fr, config.keys, config.seed)
            else:
                print("Feast at the same size ...", flush=True)
            feast = bench_feast(config.feast_python, feast_data, work, config.repeats,
                                config.feast_timeout, not config.skip_online)
            feast.update(same_size=not shrink, size=size)
            if shrink and "error" not in feast:
                small = start_cairn(config.cairn, work / "cairn-data-small")
                try:
                    feast["cairn_sdk_s_same_size"] = bench_cairn_offline(
                        small, feast_data, work / "small", config.repeats)["historical_sdk_s"]
                finally:
                    small.stop()
            results["feast"] = feast
            if not config.skip_online and "repo" in feast:
                print("Feast: feast serve + wrk ...", flush=True)
                results.setdefault("online", {})["feast"] = feast_serve(
                    config.feast_python, feast["repo"], lua, config.keys, config)
        else:
            results["feast"] = {"skipped": "no --feast-python given"}
    finally:
        text = report(results) if "cairn" in results or "duckdb" in results else ""
        print(text)
        results["report"] = text
        config.out.write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {config.out}")
        if not config.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
