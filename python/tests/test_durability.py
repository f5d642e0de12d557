"""An acknowledged write survives kill -9.

Several clients log metrics (runs/log-metric and runs/log-batch, raw HTTP) as fast as they
can; the server is killed with SIGKILL in the middle of the burst, restarted on the same
data directory, and every metric point whose request got a 200 must be there.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

import cairn_testing
from cairn_testing import api_post, ok_json

THREADS = 8
BATCH_POINTS = 50
# Kill once this many requests were acknowledged (or after KILL_AFTER_S, whichever first).
KILL_AFTER_ACKS = 400
KILL_AFTER_S = 3.0
BURST_DEADLINE_S = 30.0


@pytest.fixture
def fresh_server(temp_root, request):
    data_dir = temp_root / f"durability-{request.node.name}"
    servers = []

    def start():
        server = cairn_testing.start_server(data_dir)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.alive():
            server.stop()


def test_acknowledged_metrics_survive_kill9(fresh_server):
    server = fresh_server()
    session = requests.Session()
    experiment_id = cairn_testing.create_experiment(session, server, "durability")
    run_ids = [cairn_testing.create_run(session, server, experiment_id, f"writer-{index}")
               for index in range(THREADS)]
    session.close()

    acknowledged: list[list[tuple]] = [[] for _ in range(THREADS)]  # (key, step, value, ts)
    ack_count = [0]
    ack_lock = threading.Lock()
    enough = threading.Event()
    stop = threading.Event()
    started = threading.Barrier(THREADS + 1)
    rejected: list[str] = []  # answers other than 200 (a dead server answers nothing)

    def writer(index: int) -> None:
        writer_session = requests.Session()
        run_id = run_ids[index]
        step = 0
        started.wait()
        deadline = time.monotonic() + BURST_DEADLINE_S
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                if step % 2 == 0:
                    points = [("single", step, step * 0.25, 1_000_000 + step)]
                    body = {"run_id": run_id, "key": "single", "value": step * 0.25,
                            "timestamp": 1_000_000 + step, "step": step}
                    path = "runs/log-metric"
                    step += 1
                else:
                    points = [("batch", step + offset, (step + offset) * 0.5,
                               2_000_000 + step + offset) for offset in range(BATCH_POINTS)]
                    body = {"run_id": run_id, "metrics": [
                        {"key": key, "step": point_step, "value": value, "timestamp": ts}
                        for key, point_step, value, ts in points]}
                    path = "runs/log-batch"
                    step += BATCH_POINTS
                try:
                    response = api_post(writer_session, server, path, body, timeout=10)
                except requests.RequestException:
                    return  # the server is gone: this request is not acknowledged
                if response.status_code != 200:
                    rejected.append(f"{path}: HTTP {response.status_code} {response.text[:200]}")
                    return
                acknowledged[index].extend(points)
                with ack_lock:
                    ack_count[0] += 1
                    if ack_count[0] >= KILL_AFTER_ACKS:
                        enough.set()
        finally:
            writer_session.close()

    threads = [threading.Thread(target=writer, args=(index,), daemon=True)
               for index in range(THREADS)]
    for thread in threads:
        thread.start()
    started.wait()
    enough.wait(timeout=KILL_AFTER_S)
    alive_writers = sum(thread.is_alive() for thread in threads)
    server.kill9()
    stop.set()
    for thread in threads:
        thread.join(timeout=BURST_DEADLINE_S)
    assert not any(thread.is_alive() for thread in threads)
    assert not rejected, f"requests rejected during the burst: {rejected[:3]}"
    # The kill really happened in the middle of the burst.
    assert alive_writers == THREADS, f"only {alive_writers} writers were still writing"
    total_acked = sum(len(points) for points in acknowledged)
    assert ack_count[0] > 0 and total_acked > 0

    restarted = fresh_server()
    session = requests.Session()
    missing = []
    for index, run_id in enumerate(run_ids):
        stored = set()
        for key in ("single", "batch"):
            for point in cairn_testing.metric_history(session, restarted, run_id, key):
                entry = (point["key"], int(point.get("step", 0)), float(point["value"]),
                         int(point["timestamp"]))
                stored.add(entry)
        for point in acknowledged[index]:
            if point not in stored:
                missing.append((run_id, point))
    session.close()
    assert not missing, (
        f"{len(missing)} of {total_acked} acknowledged points lost after kill -9, e.g. "
        f"{missing[:5]}")
