#!/usr/bin/env python3
"""CSV ingestion end to end over HTTP, measured as server CPU per row, for one or more
cairn binaries interleaved (A/B in the same minute on a shared machine).

The data is bench/features/run.py's first view: an int64 key, a timestamp in ms and four
doubles per row (pyarrow's CSV writer, no quoting). Per repetition and binary: a fresh
server and data directory, `apply` of the source + view, then one POST
/api/v1/features/sources/src_v1/ingest of the whole file through the Python SDK. Reported
per run: wall seconds, rows/s, and the server's CPU (user + sys from /proc/<pid>/stat,
before and after the request) in µs per row; the medians per binary at the end.

  python3 bench/features/ingest_ab.py --cairn old=/tmp/cairn-old --cairn new=build/x/cairn \
      --rows 10000000 --repeats 3
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(REPO / "python" / "tests"))
sys.path.insert(0, str(REPO / "python"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402

import cairn  # noqa: E402
import cairn_testing  # noqa: E402

T0_MS = 1_704_067_200_000
SPAN_MS = 30 * 86_400_000
FEATURES = [f"f1_{j}" for j in range(4)]

YAML = (
    "kind: Entity\nname: customer\njoin_keys: [{name: customer_id, type: int64}]\n---\n"
    "kind: Source\nname: src_v1\ntype: file\nformat: csv\ntimestamp_field: ts\nschema:\n"
    "  - {name: customer_id, type: int64, nullable: false}\n"
    "  - {name: ts, type: timestamp, nullable: false}\n"
    + "".join(f"  - {{name: {f}, type: double}}\n" for f in FEATURES)
    + "---\nkind: FeatureView\nname: v1\nentities: [customer]\nsource: src_v1\nttl: 0\n"
    "online: true\nfeatures:\n"
    + "".join(f"  - {{name: {f}, type: double}}\n" for f in FEATURES))


def generate(path: Path, rows: int, keys: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cols = {"customer_id": rng.integers(0, keys, rows, dtype=np.int64),
            "ts": T0_MS + rng.integers(0, SPAN_MS, rows, dtype=np.int64)}
    for name in FEATURES:
        cols[name] = rng.random(rows)
    pacsv.write_csv(pa.table(cols), path, pacsv.WriteOptions(quoting_style="none"))


def cpu_seconds(pid: int) -> tuple[float, int]:
    """(user + sys CPU seconds, minor page faults) of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[7])


def one_run(binary: Path, csv: Path, rows: int, work: Path, perf: Path | None = None) -> dict:
    os.environ["CAIRN_BINARY"] = str(binary)
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    server = cairn_testing.start_server(data, kind="cairn")
    try:
        store = cairn.FeatureStore(server.url)
        defs = work / "defs"
        defs.mkdir(exist_ok=True)
        (defs / "bench.yaml").write_text(YAML)
        store.apply(defs)
        pid = server.proc.pid
        recorder = None
        if perf is not None:
            recorder = subprocess.Popen(["perf", "record", "-g", "-q", "-o", str(perf), "-p",
                                         str(pid)], stderr=subprocess.DEVNULL)
            time.sleep(1)
        (cpu0, faults0), t0 = cpu_seconds(pid), time.perf_counter()
        answer = store.ingest("src_v1", csv)
        wall = time.perf_counter() - t0
        cpu1, faults1 = cpu_seconds(pid)
        cpu, faults = cpu1 - cpu0, faults1 - faults0
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait()
        assert answer["rows"] == rows, answer
        store.close()
    finally:
        server.stop() if hasattr(server, "stop") else server.kill9()
        shutil.rmtree(data, ignore_errors=True)
    return {"wall_s": wall, "rows_per_s": rows / wall, "server_cpu_s": cpu,
            "server_cpu_us_per_row": cpu / rows * 1e6, "page_faults_per_1k_rows": faults / rows * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cairn", action="append", required=True,
                        help="label=path of a cairn binary (repeat for A/B)")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="keep the CSV here (default: temp dir)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--perf-record", type=Path,
                        help="perf record -g the server during each ingest into FILE.<label>")
    args = parser.parse_args()
    binaries = []
    for item in args.cairn:
        label, _, path = item.rpartition("=")
        binaries.append((label or path, Path(path).resolve()))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cairn-ingest-ab-"))
    work.mkdir(parents=True, exist_ok=True)
    csv = work / f"v1-{args.rows}.csv"
    if not csv.exists():
        generate(csv, args.rows, args.keys, seed=1)
    print(f"{csv}: {args.rows:,} rows, {csv.stat().st_size / 1e6:.0f} MB", flush=True)
    results: dict[str, list[dict]] = {label: [] for label, _ in binaries}
    for rep in range(args.repeats):
        order = binaries if rep % 2 == 0 else list(reversed(binaries))
        for label, binary in order:
            perf = (args.perf_record.with_name(f"{args.perf_record.name}.{label}")
                    if args.perf_record else None)
            r = one_run(binary, csv, args.rows, work, perf)
            results[label].append(r)
            print(f"{time.strftime('%H:%M:%S')} {label}: {r['wall_s']:.2f} s, "
                  f"{r['rows_per_s'] / 1e6:.2f}M rows/s, server CPU {r['server_cpu_s']:.2f} s "
                  f"= {r['server_cpu_us_per_row']:.3f} µs/row, "
                  f"{r['page_faults_per_1k_rows']:.1f} page faults per 1k rows", flush=True)
    for label, runs in results.items():
        print(f"median {label}: "
              f"{statistics.median(r['rows_per_s'] for r in runs) / 1e6:.2f}M rows/s, "
              f"{statistics.median(r['server_cpu_us_per_row'] for r in runs):.3f} µs CPU/row")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
