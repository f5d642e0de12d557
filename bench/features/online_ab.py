#!/usr/bin/env python3
"""Online reads over HTTP measured as the server's CPU per request, for one or more cairn
binaries interleaved (A/B in the same minute on a shared machine, where req/s is noise).

Per binary: its own data directory, prepared once with that binary (run.py's YAML and data
at a small size: 3 views, 10 double features, --keys keys, materialized). Per round and
binary: a fresh server on that directory, then `wrk -t2 -c32` (run.py's settings and Lua
script: one entity x 10 features, a different key per request) against GET /healthz and
POST /get-online-features, for --duration seconds each. Reported per run: req/s, p50/p99,
and the server's CPU (user + sys from /proc/<pid>/stat around the wrk run) in µs per
request; the medians per binary at the end.

  python3 bench/features/online_ab.py --cairn old=/tmp/cairn-old --cairn new=build/x/cairn \\
      --rounds 3 --duration 5 [--connections 1 --threads 1]
"""

from __future__ import annotations

import argparse
import os
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
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (bench/features/run.py: data, YAML, wrk script)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def prepare(binary: Path, data_dir: Path, work: Path, keys: int, rows: int) -> None:
    import cairn

    data = run.generate(work / "data", 1000, rows, keys, seed=7)
    server = run.start_cairn(binary, data_dir)
    try:
        store = cairn.FeatureStore(server.url)
        defs = work / "defs"
        defs.mkdir(parents=True, exist_ok=True)
        (defs / "bench.yaml").write_text(run.cairn_yaml())
        store.apply(defs)
        for view, info in data["views"].items():
            store.ingest(f"src_{view}", info["csv"])
        run.bench_cairn_materialize(server)
        run.check_online(server.url)
        store.close()
    finally:
        server.stop()


def start(binary: Path, data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(binary), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--data", str(data_dir)], stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab"), start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{binary} did not listen within 60 s; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cairn", action="append", required=True, help="NAME=BINARY")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--rows", type=int, default=200000, help="rows per view")
    parser.add_argument("--work", type=Path, help="working folder (default: a temp folder)")
    config = parser.parse_args()

    work = config.work or Path(tempfile.mkdtemp(prefix="cairn-online-ab-"))
    work.mkdir(parents=True, exist_ok=True)
    lua = work / "online.lua"
    lua.write_text(run.WRK_LUA)
    healthz_lua = work / "healthz.lua"
    # GET /healthz: wrk's default request, the same result line.
    healthz_lua.write_text(run.WRK_LUA[run.WRK_LUA.index("done = function"):])
    binaries = {}
    for spec in config.cairn:
        name, path = spec.split("=", 1)
        binaries[name] = Path(path).resolve()
        data_dir = work / f"data-{name}"
        if not data_dir.exists():
            print(f"preparing {data_dir} with {name} ...", flush=True)
            prepare(binaries[name], data_dir, work / f"prep-{name}", config.keys, config.rows)

    results: dict[tuple[str, str], list[dict]] = {}
    for round_idx in range(config.rounds):
        for name, binary in binaries.items():
            proc, url = start(binary, work / f"data-{name}", work / f"server-{name}.log")
            try:
                for what in ("healthz", "online"):
                    target = f"{url}/healthz" if what == "healthz" else url
                    script = healthz_lua if what == "healthz" else lua
                    before = server_cpu_s(proc.pid)
                    result = run.run_wrk(target, script, 1, config.keys, config.duration,
                                         config.threads, config.connections)
                    if "error" in result:
                        raise RuntimeError(result["error"])
                    result["cpu_us"] = ((server_cpu_s(proc.pid) - before) * 1e6 /
                                        max(1, result["requests"]))
                    results.setdefault((name, what), []).append(result)
                    print(f"round {round_idx} {name:>6} {what:8} {result['rps']:8.0f} req/s  "
                          f"p50 {result['p50_us'] / 1000:6.2f} ms  p99 "
                          f"{result['p99_us'] / 1000:7.2f} ms  server CPU "
                          f"{result['cpu_us']:6.1f} µs/request  non-2xx {result['non2xx']}",
                          flush=True)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    print("medians:")
    for (name, what), runs in sorted(results.items(), key=lambda item: (item[0][1], item[0][0])):
        print(f"  {name:>6} {what:8} {statistics.median(r['rps'] for r in runs):8.0f} req/s  "
              f"p99 {statistics.median(r['p99_us'] for r in runs) / 1000:7.2f} ms  server CPU "
              f"{statistics.median(r['cpu_us'] for r in runs):6.1f} µs/request")
    if config.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
