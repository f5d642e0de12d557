#!/usr/bin/env python3
"""Side-by-side drift benchmark: `cairn drift` against Evidently 0.7.23's DataDriftPreset
on the same data (issue 5, "Performance": 1M rows x (20 numeric + 5 categorical) against a
1M-row reference with the default tests, <= 2 s wall on 2 cores and >= 50x faster than
Evidently).

Data: bench/drift/generate.py (reference.csv and current.csv, --rows rows each; shifts
in 6 numeric and 2 categorical columns; cached under --data).

Cairn: the whole command `cairn drift --reference reference.csv --current current.csv
--json`, timed from spawn to exit with time.perf_counter (process start, CSV parsing,
every test, JSON output) -- --repeat runs, median; CPU time (user + sys) and peak RSS
from wait4.
Evidently: bench/drift/evidently_side.py in --peer-python (a virtualenv with
bench/drift/requirements.txt): pandas.read_csv of both files (NOT timed), a warm-up report
on 1,000 rows (not timed), then --repeat timed `Report([DataDriftPreset()]).run(...)` +
`snapshot.dict()` -- the report only, which favours Evidently. Median.

The two results are compared column by column (test chosen, value, verdict) and the
drifted-column counts must agree.

Usage:
  python3 bench/drift/run.py --cairn build/release/cairn \\
      --peer-python build/bench-drift-venv/bin/python [--rows 1000000] [--repeat 3] \\
      [--skip-evidently | --evidently-json saved.json] [--json out.json] \
      [--markdown out.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# cairn test name -> Evidently's method display name (ValueDrift(method=...)).
METHODS = {
    "wasserstein": "Wasserstein distance (normed)",
    "jensenshannon": "Jensen-Shannon distance",
    "ks": "K-S p_value",
    "chisquare": "chi-square p_value",
    "z": "Z-test p_value",
}


def run_cairn(cairn: str, ref: str, cur: str) -> tuple[float, float, int, dict]:
    cmd = [cairn, "drift", "--reference", ref, "--current", cur, "--json"]
    out_path = os.path.join(os.path.dirname(ref), "cairn-drift.json")
    with open(out_path, "w") as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}: {err}")
    with open(out_path) as f:
        return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, json.load(f)


def compare(cairn: dict, evidently: dict) -> dict:
    rows = []
    worst = 0.0
    mismatched_tests = []
    mismatched_verdicts = []
    for col in cairn["columns"]:
        name = col["column"]
        ev = evidently["columns"].get(name)
        if ev is None:
            mismatched_tests.append(name)
            continue
        if METHODS.get(col["test"]) != ev["method"]:
            mismatched_tests.append(name)
        value = col["score"]
        rel = abs(value - ev["value"]) / max(abs(ev["value"]), 1e-300)
        worst = max(worst, rel)
        ev_drifted = (ev["value"] < ev["threshold"]) if "p_value" in ev["method"] \
            else (ev["value"] >= ev["threshold"])
        if ev_drifted != col["drifted"]:
            mismatched_verdicts.append(name)
        rows.append({"column": name, "test": col["test"], "cairn": value,
                     "evidently": ev["value"], "relative_difference": rel,
                     "drifted": col["drifted"]})
    return {"columns": rows, "max_relative_difference": worst,
            "test_mismatches": mismatched_tests, "verdict_mismatches": mismatched_verdicts,
            "drifted_cairn": cairn["drifted_columns"],
            "drifted_evidently": evidently["drifted"].get("count")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--peer-python", default="build/bench-drift-venv/bin/python")
    ap.add_argument("--data", default="build/bench-drift-data")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-evidently", action="store_true")
    ap.add_argument("--evidently-json",
                    help="use this saved output of evidently_side.py instead of running it "
                         "(Evidently needs minutes per report)")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    args = ap.parse_args()

    subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), "--out", args.data,
                    "--rows", str(args.rows)], check=True)
    ref = os.path.join(args.data, "reference.csv")
    cur = os.path.join(args.data, "current.csv")
    load = os.getloadavg()

    version = subprocess.run([args.cairn, "--version"], capture_output=True,
                             text=True).stdout.strip()
    times, cpus, rss, cairn_result = [], [], [], None
    for i in range(args.repeat):
        elapsed, cpu, peak, cairn_result = run_cairn(args.cairn, ref, cur)
        times.append(elapsed)
        cpus.append(cpu)
        rss.append(peak)
        print(f"cairn run {i + 1}: {elapsed:.3f} s wall, {cpu:.3f} s CPU, "
              f"peak RSS {peak / 1e6:.0f} MB", flush=True)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
        "load_average_at_start": [round(x, 2) for x in load],
        "rows": args.rows, "columns": "20 numeric + 5 categorical",
        "cairn": {"version": version, "wall_s": times, "median_s": statistics.median(times),
                  "cpu_s": cpus, "median_cpu_s": statistics.median(cpus),
                  "peak_rss_bytes": max(rss),
                  "drifted_columns": cairn_result["drifted_columns"],
                  "dataset_drift": cairn_result["dataset_drift"]},
    }
    if not args.skip_evidently:
        if args.evidently_json:
            with open(args.evidently_json) as f:
                ev = json.load(f)
        else:
            proc = subprocess.run([args.peer_python, os.path.join(HERE, "evidently_side.py"),
                                   "--reference", ref, "--current", cur,
                                   "--repeat", str(args.repeat)],
                                  stdout=subprocess.PIPE, check=True)
            ev = json.loads(proc.stdout)
        result["evidently"] = {"version": ev["evidently"], "pandas": ev["pandas"],
                               "report_s": ev["report_s"],
                               "median_s": statistics.median(ev["report_s"]),
                               "report_cpu_s": ev["report_cpu_s"],
                               "median_cpu_s": statistics.median(ev["report_cpu_s"]),
                               "csv_read_s_not_timed": ev["csv_read_s"],
                               "drifted": ev["drifted"]}
        result["speedup"] = result["evidently"]["median_s"] / result["cairn"]["median_s"]
        result["speedup_cpu"] = (result["evidently"]["median_cpu_s"] /
                                 result["cairn"]["median_cpu_s"])
        result["agreement"] = compare(cairn_result, ev)

    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(result))


def markdown(r: dict) -> str:
    c = r["cairn"]
    lines = [
        f"{r['date']}, {r['machine']}, load average at start "
        f"{' '.join(str(x) for x in r['load_average_at_start'])}.",
        "",
        "| | Cairn (`cairn drift --json`, end to end) | Evidently DataDriftPreset (report only) "
        "| ratio |",
        "|---|---|---|---|",
    ]
    if "evidently" in r:
        e = r["evidently"]
        lines.append(f"| median wall, s | {c['median_s']:.2f} | {e['median_s']:.1f} | "
                     f"{r['speedup']:.0f}x |")
        lines.append(f"| median CPU (user + sys), s | {c['median_cpu_s']:.2f} | "
                     f"{e['median_cpu_s']:.1f} | {r['speedup_cpu']:.0f}x |")
        lines.append(f"| runs, s | {', '.join(f'{x:.2f}' for x in c['wall_s'])} | "
                     f"{', '.join(f'{x:.1f}' for x in e['report_s'])} | |")
        a = r["agreement"]
        lines.append(f"| drifted columns | {c['drifted_columns']} | {a['drifted_evidently']} | |")
    else:
        lines.append(f"| median wall, s | {c['median_s']:.2f} | not run | |")
    lines.append(f"| peak RSS, MB | {c['peak_rss_bytes'] / 1e6:.0f} | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
