"""Random data for the point-in-time property test (test_feature_store_pit.py), its YAML
definitions, and the independent reference: the same join written in DuckDB SQL.

Two entities (customer: int64 key, store: string key) and three views:
  pit_a    customer, ttl 30m, a created-timestamp column (ties on event time broken by
           created time), int/double/string/bool features with nulls, one expression;
  pit_b    store, no ttl, no created timestamp ((key, event time) unique);
  pit_agg  store, trailing-window count/sum/mean/min/max over 1h, 1d and 7d.
Times lie on a 10-minute grid over 9 days, so event times repeat, entity rows land
exactly on TTL and window edges, and some keys of the entity rows have no feature rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
STEP_MS = 10 * 60 * 1000
SLOTS = 9 * 24 * 6           # 9 days of 10-minute slots
TTL_A_MS = 30 * 60 * 1000
HOUR, DAY = 3_600_000, 86_400_000
WINDOWS = {"1h": HOUR, "1d": DAY, "7d": 7 * DAY}
AGGS = ("count", "sum", "mean", "min", "max")

A_FEATURES = ["a_int", "a_dbl", "a_str", "a_flag", "a_dbl2"]
B_FEATURES = ["b_val", "b_cnt"]
AGG_FEATURES = [f"val_{fn}_{w}" for w in WINDOWS for fn in AGGS] + ["rows_7d", "cnt2_sum_1d"]

YAML = """\
kind: Entity
name: customer
description: a customer of the property test
join_keys: [{name: customer_id, type: int64}]
---
kind: Entity
name: store
join_keys: [{name: store_id, type: string}]
---
kind: Source
name: pit_src_a
type: file
format: csv
timestamp_field: event_ts
created_timestamp_field: created_ts
schema:
  - {name: customer_id, type: int64, nullable: false}
  - {name: event_ts, type: timestamp, nullable: false}
  - {name: created_ts, type: timestamp, nullable: false}
  - {name: a_int, type: int64}
  - {name: a_dbl, type: double}
  - {name: a_str, type: string}
  - {name: a_flag, type: bool}
---
kind: FeatureView
name: pit_a
entities: [customer]
source: pit_src_a
ttl: 30m
features:
  - {name: a_int, type: int64}
  - {name: a_dbl, type: double}
  - {name: a_str, type: string}
  - {name: a_flag, type: bool}
  - {name: a_dbl2, type: double, expr: "a_dbl * 2 + 1"}
---
kind: Source
name: pit_src_b
type: file
format: csv
timestamp_field: ts
schema:
  - {name: store_id, type: string, nullable: false}
  - {name: ts, type: timestamp, nullable: false}
  - {name: b_val, type: double}
  - {name: b_cnt, type: int64}
---
kind: FeatureView
name: pit_b
entities: [store]
source: pit_src_b
ttl: 0
features:
  - {name: b_val, type: double}
  - {name: b_cnt, type: int64}
---
kind: FeatureView
name: pit_agg
entities: [store]
source: pit_src_b
ttl: 0
features:
""" + "".join(
    f"  - {{name: val_{fn}_{w}, type: {'int64' if fn == 'count' else 'double'}, "
    f"agg: {fn}, of: b_val, window: {w}}}\n" for w in WINDOWS for fn in AGGS) + """\
  - {name: rows_7d, type: int64, agg: count, window: 7d}
  - {name: cnt2_sum_1d, type: double, agg: sum, of: "b_cnt * 2", window: 1d}
"""


@dataclass
class PitCase:
    seed: int
    rows_a: list = field(default_factory=list)   # dicts, in file order (shuffled)
    rows_b: list = field(default_factory=list)
    entities: pd.DataFrame = None                # customer_id, store_id, event_timestamp, label


def _maybe(rng: random.Random, value, p_null: float = 0.15):
    return None if rng.random() < p_null else value


def generate(seed: int, customers: int = 25, stores: int = 8, rows_a: int = 3000,
             rows_b: int = 2500, entity_rows: int = 2000) -> PitCase:
    """Deterministic for a seed. Customers >= customers-3 and stores s_{n-2}, s_{n-1} have
    no feature rows; entity rows use a few more keys that no view has."""
    rng = random.Random(seed)
    case = PitCase(seed)

    # pit_a: (key, event) pairs repeat with distinct created times.
    used = set()
    pairs = []
    while len(case.rows_a) < rows_a:
        if pairs and rng.random() < 0.3:
            key, event = rng.choice(pairs)
        else:
            key, event = rng.randrange(customers - 3), rng.randrange(SLOTS)
            pairs.append((key, event))
        created = event * STEP_MS + rng.randrange(0, 40) * 60_000 + rng.randrange(1000)
        if (key, event, created) in used:
            continue
        used.add((key, event, created))
        case.rows_a.append({
            "customer_id": key,
            "event_ts": BASE_MS + event * STEP_MS,
            "created_ts": BASE_MS + created,
            "a_int": _maybe(rng, rng.randrange(-10**12, 10**12)),
            "a_dbl": _maybe(rng, rng.uniform(-1e6, 1e6)),
            "a_str": _maybe(rng, rng.choice(["x", "y", "zz", "hello, world", 'q"uote'])),
            "a_flag": _maybe(rng, rng.random() < 0.5),
        })

    # pit_b / pit_agg: (key, event) unique (no created timestamp to break ties).
    store_ids = [f"s{i:02d}" for i in range(stores)]
    seen = set()
    while len(case.rows_b) < rows_b:
        key = rng.choice(store_ids[:-2])
        event = rng.randrange(SLOTS)
        if (key, event) in seen:
            continue
        seen.add((key, event))
        case.rows_b.append({
            "store_id": key,
            "ts": BASE_MS + event * STEP_MS,
            "b_val": _maybe(rng, round(rng.uniform(0, 500), 2)),
            "b_cnt": _maybe(rng, rng.randrange(0, 100)),
        })
    rng.shuffle(case.rows_a)
    rng.shuffle(case.rows_b)

    # Entity rows: on the grid, on TTL / window edges of real rows, off the grid, before
    # any data; unsorted, with duplicates.
    ents = []
    for i in range(entity_rows):
        customer = rng.randrange(customers + 2)
        store = rng.choice(store_ids + ["s_none"])
        r = rng.random()
        if r < 0.4:
            ts = BASE_MS + rng.randrange(SLOTS + 6) * STEP_MS
        elif r < 0.6:
            row = rng.choice(case.rows_a)
            customer = row["customer_id"]
            ts = row["event_ts"] + rng.choice([0, TTL_A_MS, TTL_A_MS + 1, TTL_A_MS - 1])
        elif r < 0.8:
            row = rng.choice(case.rows_b)
            store = row["store_id"]
            ts = row["ts"] + rng.choice([0, -1] + [w + d for w in WINDOWS.values()
                                                    for d in (-1, 0, 1)])
        elif r < 0.95:
            ts = BASE_MS + rng.randrange(SLOTS * STEP_MS)
        else:
            ts = BASE_MS - rng.randrange(1, 10) * DAY
        ents.append((customer, store, ts, i))
    ents += [ents[j] for j in rng.sample(range(len(ents)), k=min(20, len(ents)))]
    rng.shuffle(ents)
    case.entities = pd.DataFrame({
        "customer_id": pd.array([e[0] for e in ents], dtype="int64"),
        "store_id": [e[1] for e in ents],
        "event_timestamp": pd.to_datetime([e[2] for e in ents], unit="ms"),  # naive UTC
        "label": [e[3] % 2 for e in ents],
    })
    return case


def _rfc3339(ms: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def write_csv(rows: list, path: Path, timestamps: tuple = (), rfc3339: bool = False) -> Path:
    """Rows as CSV: nulls are empty fields, doubles in repr (exact), bools true/false,
    timestamp columns as RFC 3339 text or epoch milliseconds."""
    columns = list(rows[0])
    with open(path, "w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            cells = []
            for name in columns:
                value = row[name]
                if value is None:
                    cells.append("")
                elif name in timestamps:
                    cells.append(_rfc3339(value) if rfc3339 else str(value))
                elif isinstance(value, bool):
                    cells.append("true" if value else "false")
                elif isinstance(value, float):
                    cells.append(repr(value))
                else:
                    cells.append(str(value))
            writer.writerow(cells)
    return path


def write_files(case: PitCase, folder: Path) -> dict:
    """Each source in two CSV files (two ingests, two segments): {"pit_src_a": [...], ...}."""
    folder.mkdir(parents=True, exist_ok=True)
    half_a, half_b = len(case.rows_a) // 2, len(case.rows_b) // 3
    return {
        "pit_src_a": [
            write_csv(case.rows_a[:half_a], folder / "a1.csv", ("event_ts", "created_ts"), True),
            write_csv(case.rows_a[half_a:], folder / "a2.csv", ("event_ts", "created_ts")),
        ],
        "pit_src_b": [
            write_csv(case.rows_b[:half_b], folder / "b1.csv", ("ts",)),
            write_csv(case.rows_b[half_b:], folder / "b2.csv", ("ts",), True),
        ],
    }


def reference(case: PitCase) -> pd.DataFrame:
    """The expected features per entity row (in entity order), computed by DuckDB:
    row features with ASOF JOIN (on rows deduplicated to the latest created time per
    (key, event time)) plus the TTL predicate; windows by a range join, (ts - w, ts]."""
    import duckdb

    con = duckdb.connect()
    ents = pd.DataFrame({
        "row_id": range(len(case.entities)),
        "customer_id": case.entities["customer_id"].astype("int64"),
        "store_id": case.entities["store_id"],
        "ts": case.entities["event_timestamp"].values.astype("datetime64[ms]").astype("int64"),
    })
    a = pd.DataFrame(case.rows_a).astype({"a_int": "Int64", "a_dbl": "Float64",
                                          "a_flag": "boolean", "a_str": "string"})
    b = pd.DataFrame(case.rows_b).astype({"b_val": "Float64", "b_cnt": "Int64"})
    con.register("e", ents)
    con.register("a", a)
    con.register("b", b)
    row_sql = f"""
        WITH a_latest AS (
          SELECT * FROM a QUALIFY row_number() OVER (
            PARTITION BY customer_id, event_ts ORDER BY created_ts DESC) = 1),
        ja AS (
          SELECT e.row_id, (a.event_ts >= e.ts - {TTL_A_MS}) AS fresh, a.*
          FROM e ASOF LEFT JOIN a_latest a
            ON e.customer_id = a.customer_id AND e.ts >= a.event_ts),
        jb AS (
          SELECT e.row_id, b.b_val, b.b_cnt
          FROM e ASOF LEFT JOIN b ON e.store_id = b.store_id AND e.ts >= b.ts)
        SELECT ja.row_id,
          CASE WHEN fresh THEN a_int END AS a_int,
          CASE WHEN fresh THEN a_dbl END AS a_dbl,
          CASE WHEN fresh THEN a_str END AS a_str,
          CASE WHEN fresh THEN a_flag END AS a_flag,
          CASE WHEN fresh THEN a_dbl * 2 + 1 END AS a_dbl2,
          jb.b_val, jb.b_cnt
        FROM ja JOIN jb USING (row_id) ORDER BY ja.row_id"""
    rows = con.execute(row_sql).df()

    sql_fn = {"count": "count", "sum": "sum", "mean": "avg", "min": "min", "max": "max"}
    aggs = [f"{sql_fn[fn]}(b.b_val) FILTER (WHERE b.ts > e.ts - {ms}) AS val_{fn}_{w}"
            for w, ms in WINDOWS.items() for fn in AGGS]
    aggs.append(f"count(b.ts) FILTER (WHERE b.ts > e.ts - {7 * DAY}) AS rows_7d")
    aggs.append(f"sum(b.b_cnt * 2.0) FILTER (WHERE b.ts > e.ts - {DAY}) AS cnt2_sum_1d")
    agg_sql = f"""
        SELECT e.row_id, {', '.join(aggs)}
        FROM e LEFT JOIN b ON b.store_id = e.store_id AND b.ts <= e.ts
                          AND b.ts > e.ts - {7 * DAY}
        GROUP BY e.row_id ORDER BY e.row_id"""
    windows = con.execute(agg_sql).df()
    out = rows.merge(windows, on="row_id", how="inner").sort_values("row_id")
    assert len(out) == len(case.entities)
    return out.reset_index(drop=True)
