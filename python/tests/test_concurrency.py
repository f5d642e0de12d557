"""32 concurrent clients log to their own runs and to one shared run (log-batch and
log-metric, plus params and tags): every request succeeds ("database is locked" never
appears) and every point is stored exactly once.
"""

from __future__ import annotations

import threading
import time

import requests

import cairn_testing
from cairn_testing import api_get, api_post, ok_json

CLIENTS = 32
ROUNDS = 8
BATCH_POINTS = 25
DEADLINE_S = 120.0


def own_points(client: int) -> list[tuple[int, float, int]]:
    """(step, value, timestamp) of every point a client logs to its own run's "own" key."""
    points = []
    for round_index in range(ROUNDS):
        for offset in range(BATCH_POINTS):
            step = round_index * BATCH_POINTS + offset
            points.append((step, client + step / 1000.0, 10_000 + step))
    return points


def test_concurrent_clients_no_errors_no_lost_or_duplicated_points(cairn_server):
    server = cairn_server
    setup = requests.Session()
    experiment_id = cairn_testing.create_experiment(
        setup, server, f"concurrency-{time.time_ns()}")
    own_runs = [cairn_testing.create_run(setup, server, experiment_id, f"client-{client}")
                for client in range(CLIENTS)]
    shared_run = cairn_testing.create_run(setup, server, experiment_id, "shared")

    failures: list[str] = []
    failures_lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)
    deadline = time.monotonic() + DEADLINE_S

    def record(what: str) -> None:
        with failures_lock:
            failures.append(what)

    def client_loop(client: int) -> None:
        session = requests.Session()
        run_id = own_runs[client]
        own = own_points(client)
        barrier.wait()
        try:
            for round_index in range(ROUNDS):
                if time.monotonic() > deadline:
                    record(f"client {client}: deadline passed in round {round_index}")
                    return
                chunk = own[round_index * BATCH_POINTS:(round_index + 1) * BATCH_POINTS]
                requests_to_send = [
                    ("runs/log-batch", {"run_id": run_id, "metrics": [
                        {"key": "own", "step": step, "value": value, "timestamp": ts}
                        for step, value, ts in chunk]}),
                    ("runs/log-metric", {"run_id": run_id, "key": "own_single",
                                         "value": float(round_index), "step": round_index,
                                         "timestamp": 20_000 + round_index}),
                    ("runs/log-batch", {"run_id": shared_run, "metrics": [
                        {"key": "shared", "step": client * 1000 + round_index * 10 + offset,
                         "value": float(client), "timestamp": 30_000 + round_index}
                        for offset in range(10)],
                        "params": [{"key": f"c{client}_r{round_index}", "value": str(client)}],
                        "tags": [{"key": f"client_{client}", "value": str(round_index)}]}),
                    ("runs/log-metric", {"run_id": shared_run, "key": "shared_single",
                                         "value": client + round_index / 100.0,
                                         "step": client * 100 + round_index,
                                         "timestamp": 40_000 + round_index}),
                ]
                for path, body in requests_to_send:
                    try:
                        response = api_post(session, server, path, body, timeout=60)
                    except requests.RequestException as error:
                        record(f"client {client} {path}: {error!r}")
                        return
                    if response.status_code != 200 or "locked" in response.text.lower():
                        record(f"client {client} {path}: HTTP {response.status_code} "
                               f"{response.text[:300]}")
        finally:
            session.close()

    threads = [threading.Thread(target=client_loop, args=(client,), daemon=True)
               for client in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE_S + 30)
    assert not any(thread.is_alive() for thread in threads), "clients still running"
    assert not failures, f"{len(failures)} failed requests, e.g. {failures[:5]}"

    def history(run_id: str, key: str) -> list[tuple]:
        return [(int(point.get("step", 0)), float(point["value"]), int(point["timestamp"]))
                for point in cairn_testing.metric_history(setup, server, run_id, key)]

    for client in range(CLIENTS):
        stored = history(own_runs[client], "own")
        assert sorted(stored) == own_points(client), f"client {client}: own run differs"
        singles = history(own_runs[client], "own_single")
        assert sorted(singles) == [(r, float(r), 20_000 + r) for r in range(ROUNDS)]

    shared = history(shared_run, "shared")
    expected_shared = sorted(
        (client * 1000 + round_index * 10 + offset, float(client), 30_000 + round_index)
        for client in range(CLIENTS) for round_index in range(ROUNDS) for offset in range(10))
    assert len(shared) == len(expected_shared), "lost or duplicated points in the shared run"
    assert sorted(shared) == expected_shared
    shared_single = history(shared_run, "shared_single")
    assert sorted(shared_single) == sorted(
        (client * 100 + round_index, client + round_index / 100.0, 40_000 + round_index)
        for client in range(CLIENTS) for round_index in range(ROUNDS))

    run = ok_json(api_get(setup, server, "runs/get", {"run_id": shared_run}))["run"]
    params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
    assert params == {f"c{client}_r{round_index}": str(client)
                      for client in range(CLIENTS) for round_index in range(ROUNDS)}
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    for client in range(CLIENTS):
        assert tags[f"client_{client}"] == str(ROUNDS - 1)
    setup.close()
