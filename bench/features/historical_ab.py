#!/usr/bin/env python3
"""The point-in-time join request end to end, measured as CPU, for one or more cairn
binaries interleaved (A/B in the same minute on a shared machine).

The data is bench/features/run.py's (3 views of 4 + 3 + 3 doubles over --keys int64 keys,
--entities entity rows). The views are ingested once into a template data directory (by
the first binary); every run copies it and starts a fresh server on the copy. Per run
and binary:
  raw:  POST /api/v1/features/historical with the entity CSV and format=csv (what the
        CLI does), answer read as bytes;
  sdk:  FeatureStore.get_historical_features(entity DataFrame) -> DataFrame, in a child
        Python with the SDK paired with that binary (label=BINARY:SDK_DIR; an SDK from
        before 2026-11-29 moves the rows as CSV, a newer one in the binary columnar form,
        docs/formats/columns.md, so an old/new pair measures the transports too).
Reported: wall seconds, the server's CPU (user + sys from /proc/<pid>/stat around the
request), this process's CPU for the SDK call, and the join time the server reports.
With --check, the training set's content hash, the CSV bytes (raw) and the DataFrame
(sdk: a hash of its values and index, and its dtypes) must be equal across binaries.

  python3 bench/features/historical_ab.py --cairn old=/tmp/cairn-old --cairn new=build/x/cairn \
      --entities 200000 --rows 2000000 --repeats 3 --workdir /tmp/hist-ab
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "python" / "tests"))
sys.path.insert(0, str(REPO / "python"))

import pandas as pd  # noqa: E402
import requests  # noqa: E402

import cairn  # noqa: E402
import cairn_testing  # noqa: E402
import run as bench_run  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def start(binary: Path, data: Path):
    os.environ["CAIRN_BINARY"] = str(binary)
    return cairn_testing.start_server(data, kind="cairn")


def prepare(binary: Path, data: dict, work: Path) -> Path:
    template = work / "template"
    if (template / ".ready").exists():
        return template
    shutil.rmtree(template, ignore_errors=True)
    server = start(binary, template)
    try:
        store = cairn.FeatureStore(server.url)
        defs = work / "defs"
        defs.mkdir(parents=True, exist_ok=True)
        (defs / "bench.yaml").write_text(bench_run.cairn_yaml())
        store.apply(defs)
        for view, info in data["views"].items():
            t = time.perf_counter()
            store.ingest(f"src_{view}", info["csv"])
            print(f"  ingested {view}: {time.perf_counter() - t:.1f} s", flush=True)
        store.close()
    finally:
        server.stop()
    (template / ".ready").write_text("ok")
    return template


# The SDK call in a child process, so that each binary can be paired with its own SDK
# (argv: sdk dir, url, entity parquet, feature refs); prints one JSON line.
SDK_CHILD = r"""
import hashlib, json, os, sys, time
sys.path.insert(0, sys.argv[1])
import pandas as pd
import cairn
entity_df = pd.read_parquet(sys.argv[3])
store = cairn.FeatureStore(sys.argv[2])
t = os.times(); c0, t0 = t.user + t.system, time.perf_counter()
frame = store.get_historical_features(entity_df, features=sys.argv[4].split(","))
wall = time.perf_counter() - t0
t = os.times(); c1 = t.user + t.system
assert len(frame) == len(entity_df)
print(json.dumps({"wall_s": wall, "client_cpu_s": c1 - c0,
                  "join_s": frame.attrs.get("cairn_join_ms", float("nan")) / 1e3,
                  "content_hash": frame.attrs["cairn_snapshot"]["content_hash"],
                  "entity_hash": frame.attrs["cairn_snapshot"]["entity_hash"],
                  "attrs": sorted(frame.attrs), "columns": [str(c) for c in frame.columns],
                  "frame_sha256": hashlib.sha256(pd.util.hash_pandas_object(
                      frame, index=True).values.tobytes()).hexdigest(),
                  "dtypes": [str(d) for d in frame.dtypes]}))
"""


def one_run(binary: Path, template: Path, data: dict, work: Path, mode: str,
            perf: Path | None, sdk: Path | None = None) -> dict:
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(template, run_dir)
    server = start(binary, run_dir)
    out: dict = {}
    try:
        pid = server.proc.pid
        recorder = None
        if perf is not None:
            recorder = subprocess.Popen(["perf", "record", *os.environ.get("PERF_ARGS", "-g").split(), "-q", "-o", str(perf), "-p",
                                         str(pid)], stderr=subprocess.DEVNULL)
            time.sleep(1)
        if mode in ("raw", "both"):
            entities_csv = Path(data["entities"]["csv"]).read_text()
            body = {"entities_csv": entities_csv, "features": bench_run.ALL_REFS,
                    "format": "csv"}
            session = requests.Session()
            c0, t0 = cpu_seconds(pid), time.perf_counter()
            response = session.post(f"{server.url}/api/v1/features/historical", json=body,
                                    timeout=3600)
            wall = time.perf_counter() - t0
            c1 = cpu_seconds(pid)
            assert response.status_code == 200, response.text[:500]
            out["raw"] = {"wall_s": wall, "server_cpu_s": c1 - c0,
                          "join_s": float(response.headers.get("X-Cairn-Join-Ms", "nan")) / 1e3,
                          "csv_sha256": hashlib.sha256(response.content).hexdigest(),
                          "content_hash": response.headers.get("X-Cairn-Snapshot-Hash")}
            session.close()
        if mode in ("sdk", "both"):
            c0 = cpu_seconds(pid)
            child = subprocess.run(
                [sys.executable, "-c", SDK_CHILD, str(sdk or (REPO / "python")), server.url,
                 str(data["entities"]["parquet"]), ",".join(bench_run.ALL_REFS)],
                capture_output=True, text=True, timeout=3600)
            c1 = cpu_seconds(pid)
            if child.returncode != 0:
                raise RuntimeError(child.stderr[-3000:])
            out["sdk"] = json.loads(child.stdout.strip().splitlines()[-1])
            out["sdk"]["server_cpu_s"] = c1 - c0
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait()
    finally:
        server.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cairn", action="append", required=True,
                        help="label=path of a cairn binary (repeat for A/B); "
                             "label=BINARY:SDK_DIR pairs it with the Python SDK in SDK_DIR "
                             "(a folder holding cairn/; default: this checkout's python/)")
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows per view")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", choices=("raw", "sdk", "both"), default="both")
    parser.add_argument("--workdir", type=Path, help="keep data here (default: temp dir)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--perf-record", type=Path,
                        help="perf record -g the server during each run into FILE.<label>")
    parser.add_argument("--check", action="store_true",
                        help="fail unless every binary returns the same hash and bytes")
    args = parser.parse_args()
    binaries = []
    for item in args.cairn:
        label, _, path = item.partition("=")
        path, _, sdk = path.partition(":")
        binaries.append((label or path, Path(path).resolve(),
                         Path(sdk).resolve() if sdk else None))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cairn-historical-ab-"))
    work = work / f"e{args.entities}-r{args.rows}-k{args.keys}"
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "data" / "entities.parquet").exists():
        print(f"generating data under {work} ...", flush=True)
    data = bench_run.generate(work / "data", args.entities, args.rows, args.keys, 1) \
        if not (work / "data" / "entities.parquet").exists() else {
            "views": {v: {"csv": work / "data" / f"{v}.csv"} for v in bench_run.VIEWS},
            "entities": {"csv": work / "data" / "entities.csv",
                         "parquet": work / "data" / "entities.parquet"}}
    template = prepare(binaries[0][1], data, work)
    results: dict[str, list[dict]] = {label: [] for label, _, _ in binaries}
    for rep in range(args.repeats):
        order = binaries if rep % 2 == 0 else list(reversed(binaries))
        for label, binary, sdk in order:
            perf = (args.perf_record.with_name(f"{args.perf_record.name}.{label}")
                    if args.perf_record else None)
            r = one_run(binary, template, data, work, args.mode, perf, sdk)
            results[label].append(r)
            parts = [f"{time.strftime('%H:%M:%S')} {label}:"]
            for kind in ("raw", "sdk"):
                if kind in r:
                    x = r[kind]
                    parts.append(f"{kind} wall {x['wall_s']:.2f} s server CPU "
                                 f"{x['server_cpu_s']:.2f} s join {x['join_s']:.3f} s" +
                                 (f" client CPU {x['client_cpu_s']:.2f} s"
                                  if "client_cpu_s" in x else ""))
            print("  ".join(parts), flush=True)
    for label, runs in results.items():
        for kind in ("raw", "sdk"):
            xs = [r[kind] for r in runs if kind in r]
            if not xs:
                continue
            line = (f"median {label} {kind}: wall {statistics.median(x['wall_s'] for x in xs):.2f} s"
                    f", server CPU {statistics.median(x['server_cpu_s'] for x in xs):.2f} s"
                    f", join {statistics.median(x['join_s'] for x in xs):.3f} s")
            if "client_cpu_s" in xs[0]:
                line += f", client CPU {statistics.median(x['client_cpu_s'] for x in xs):.2f} s"
            print(line)
    if args.check:
        for kind, keys in (("raw", ("csv_sha256", "content_hash")),
                           ("sdk", ("content_hash", "entity_hash", "frame_sha256", "dtypes",
                                    "attrs", "columns"))):
            for key in keys:
                seen = {json.dumps(r[kind][key]) for runs in results.values() for r in runs
                        if kind in r}
                if len(seen) > 1:
                    raise SystemExit(f"MISMATCH {kind}.{key}: {seen}")
        print("check: every binary returned the same bytes and hashes")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    if not args.workdir:
        shutil.rmtree(work.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
