"""The fast path to a server with 10,000 past pipeline runs (bench/pipelines/run.py
--scale-seed sql).

Running 10,000 runs of 10 steps each for real takes a long time on a 2-core machine (and
also creates a tracking run per pipeline run and per step). Instead, run.py runs every
pipeline of the scale set once for real through the API, stops the server, and this module
clones those runs inside the server's own SQLite database until there are `target_runs`:
the rows are the engine's own rows (tables pipeline_runs, pipeline_steps and
pipeline_attempts of migration component "pipeline_runs", src/pipelines/run_store.cc),
copied with a new run id (32 lowercase hex digits, the shape of NewUuidHex) and their
times moved back by one second per clone, so every clone is an older run of one of the
pipelines with the same steps, attempts, states, messages and paths as a real run. What
is not cloned: the tracking runs (clones point at their template's tracking run ids) and
the per-step log files (clones point at their template's log paths).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path


def find_run_database(data_dir: Path) -> Path:
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or path.suffix in (".wal", ".shm") or path.name.endswith(
                ("-wal", "-shm", "-journal")):
            continue
        try:
            with open(path, "rb") as handle:
                if handle.read(16) != b"SQLite format 3\x00":
                    continue
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            found = connection.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                       "name='pipeline_runs'").fetchone()
            connection.close()
            if found:
                return path
        except (OSError, sqlite3.Error):
            continue
    raise RuntimeError(f"no SQLite database with a pipeline_runs table under {data_dir}")


def clone_runs(data_dir: Path, target_runs: int) -> dict:
    """Clones the finished runs in the database until it holds target_runs runs. The server
    must be stopped. Returns what was done."""
    t0 = time.perf_counter()
    db = find_run_database(data_dir)
    connection = sqlite3.connect(str(db))
    connection.row_factory = sqlite3.Row

    def columns(table: str) -> list[str]:
        return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]

    run_cols, step_cols, attempt_cols = (columns("pipeline_runs"), columns("pipeline_steps"),
                                         columns("pipeline_attempts"))
    templates = [dict(row) for row in connection.execute(
        "SELECT * FROM pipeline_runs WHERE state = 'succeeded' ORDER BY created_ms")]
    existing = connection.execute("SELECT COUNT(*) FROM pipeline_runs").fetchone()[0]
    if not templates:
        raise RuntimeError("no succeeded run to clone")
    steps_of = {t["id"]: [dict(r) for r in connection.execute(
        "SELECT * FROM pipeline_steps WHERE run_id = ?", (t["id"],))] for t in templates}
    attempts_of = {t["id"]: [dict(r) for r in connection.execute(
        "SELECT * FROM pipeline_attempts WHERE run_id = ?", (t["id"],))] for t in templates}
    oldest = min(t["created_ms"] for t in templates)
    to_add = max(0, target_runs - existing)

    def insert_sql(table: str, cols: list[str]) -> str:
        return (f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                f"({', '.join('?' for _ in cols)})")

    run_rows, step_rows, attempt_rows = [], [], []
    for index in range(to_add):
        template = templates[index % len(templates)]
        run_id = uuid.uuid4().hex
        # clone k is (to_add - k) seconds older than the oldest real run, so the real runs
        # stay the newest and the clones interleave pipelines like a real history
        shift = (oldest - (to_add - index) * 1000) - template["created_ms"]

        def moved(row: dict, keys: tuple[str, ...]) -> dict:
            out = dict(row)
            for key in keys:
                if out.get(key):
                    out[key] += shift
            return out

        run = moved(template, ("created_ms", "started_ms", "ended_ms"))
        run["id"] = run_id
        run_rows.append([run[c] for c in run_cols])
        for step in steps_of[template["id"]]:
            row = moved(step, ("started_ms", "ended_ms"))
            row["run_id"] = run_id
            step_rows.append([row[c] for c in step_cols])
        for attempt in attempts_of[template["id"]]:
            row = moved(attempt, ("queued_ms", "started_ms", "ended_ms"))
            row["run_id"] = run_id
            attempt_rows.append([row[c] for c in attempt_cols])
    with connection:
        connection.executemany(insert_sql("pipeline_runs", run_cols), run_rows)
        connection.executemany(insert_sql("pipeline_steps", step_cols), step_rows)
        connection.executemany(insert_sql("pipeline_attempts", attempt_cols), attempt_rows)
    counts = {table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
              for table in ("pipeline_runs", "pipeline_steps", "pipeline_attempts")}
    connection.close()
    return {"database": db.name, "real_runs": existing, "cloned_runs": to_add,
            "clone_s": time.perf_counter() - t0, "counts": counts}
