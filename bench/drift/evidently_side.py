#!/usr/bin/env python3
"""The Evidently side of bench/drift/run.py: Evidently's DataDriftPreset on the same two
CSV files. pandas reads the files first (not timed); then a warm-up report on the first
1,000 rows of each (not timed: imports and lazy set-up are not counted, which favours
Evidently); then --repeat timed reports, each `Report([DataDriftPreset()]).run(
current_data=current, reference_data=reference)` plus turning the snapshot into a dict
(the results), with time.perf_counter (and the process's CPU time, all threads, with
time.process_time: on a shared machine the CPU seconds compare better). Prints one JSON object: the times, the per-column
method and value, and the drifted-column count and share.

Needs evidently 0.7.23 with pandas < 3 (Evidently 0.7.23 does not import under pandas 3):
bench/drift/requirements.txt.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

import pandas as pd


def run_report(current: pd.DataFrame, reference: pd.DataFrame) -> dict:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    return snapshot.dict()


def summarize(result: dict) -> dict:
    columns = {}
    drifted = {}
    for metric in result["metrics"]:
        name = metric["metric_name"]
        m = re.match(r"ValueDrift\(column=(.*),method=(.*),threshold=(.*)\)$", name)
        if m:
            columns[m.group(1)] = {"method": m.group(2), "threshold": float(m.group(3)),
                                   "value": metric["value"]}
        elif name.startswith("DriftedColumnsCount"):
            drifted = metric["value"]
    return {"columns": columns, "drifted": drifted}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True)
    ap.add_argument("--current", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    reference = pd.read_csv(args.reference)
    current = pd.read_csv(args.current)
    read_s = time.perf_counter() - t0

    run_report(current.head(1000), reference.head(1000))  # warm-up, not timed

    times, cpu = [], []
    result = None
    for i in range(args.repeat):
        t = time.perf_counter()
        c = time.process_time()
        result = run_report(current, reference)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        print(f"evidently run {i + 1}: {times[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU",
              file=sys.stderr, flush=True)
    import evidently

    out = {"evidently": evidently.__version__, "pandas": pd.__version__,
           "csv_read_s": read_s, "report_s": times, "report_cpu_s": cpu, **summarize(result)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
