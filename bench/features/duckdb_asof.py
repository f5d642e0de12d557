#!/usr/bin/env python3
"""DuckDB's ASOF JOIN on the shape of bench/features/pit_join_bench.cc: the reference
figure for Cairn's point-in-time join (issue 3: within 2x of DuckDB on the same machine).

  python3 bench/features/duckdb_asof.py [--entities 1000000] [--view-rows 10000000]
                                        [--keys 100000] [--views 3] [--repeat 3]

Views: `keys` int64 keys, rows spread evenly over them, event times uniform over ~11.6
days (ms), created = event + 1 s, three double features. Entities: keys uniform over
keys * 1.01 (1% absent), times uniform over the same range. Timed: the 3-way ASOF LEFT
JOIN materialized into a temporary table (DuckDB's in-memory result), with and without
restoring the entity input order (Cairn's join keeps it). DuckDB uses every core; its
ASOF cannot break event-time ties by created time or apply a TTL, so the query is a
little simpler than Cairn's join.
"""

import argparse
import time

import duckdb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--view-rows", type=int, default=10_000_000)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0 = DuckDB's default (all cores)")
    args = ap.parse_args()

    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    time_range = 1_000_000_000
    t0 = time.perf_counter()
    con.execute("SELECT setseed(0.42)")
    for v in range(args.views):
        con.execute(
            f"""CREATE TABLE view{v} AS
                SELECT (i * {args.keys} // {args.view_rows})::BIGINT AS driver_id,
                       ts AS event_ts, ts + 1000 AS created_ts,
                       random() * 100 AS f0, random() * 100 AS f1, random() * 100 AS f2
                FROM (SELECT i, (random() * {time_range})::BIGINT AS ts
                      FROM range({args.view_rows}) t(i))""")
    con.execute(
        f"""CREATE TABLE entities AS
            SELECT i AS row_id,
                   (random() * {args.keys + args.keys // 100})::BIGINT AS driver_id,
                   (random() * {time_range})::BIGINT AS event_timestamp
            FROM range({args.entities}) t(i)""")
    print(f"generated in {time.perf_counter() - t0:.1f} s; DuckDB {duckdb.__version__}, "
          f"threads={threads}")

    cols = ", ".join(f"v{v}.f{f} AS view{v}__f{f}" for v in range(args.views) for f in range(3))
    joins = " ".join(
        f"ASOF LEFT JOIN view{v} v{v} ON e.driver_id = v{v}.driver_id "
        f"AND e.event_timestamp >= v{v}.event_ts" for v in range(args.views))
    query = f"SELECT e.*, {cols} FROM entities e {joins}"

    for label, sql in (("asof join", query), ("asof join, input order", query + " ORDER BY e.row_id")):
        times, cpu = [], []
        for _ in range(args.repeat):
            con.execute("DROP TABLE IF EXISTS result")
            t, c = time.perf_counter(), time.process_time()
            con.execute(f"CREATE TEMP TABLE result AS {sql}")
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        rows = con.execute("SELECT count(*), count(view0__f0) FROM result").fetchone()
        print(f"{label}: best {min(times) * 1000:.0f} ms, median "
              f"{sorted(times)[len(times) // 2] * 1000:.0f} ms wall, best CPU (all threads) "
              f"{min(cpu) * 1000:.0f} ms, over {args.repeat} "
              f"({rows[0]} rows, {rows[1]} with view0 values)")


if __name__ == "__main__":
    main()
