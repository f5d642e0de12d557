"""Closed-loop HTTP load generator for the tracking benchmark.

Several client processes (one keep-alive connection each, so the GIL is no limit) send
requests back to back until a deadline, then finish the request in flight. Throughput is
the number of acknowledged requests divided by the time from the common start to the
last answer, so a slow server's in-flight requests are counted fairly instead of being
cut off at the deadline. Each process reports its own CPU time, so the report can show
that the generator is not the bottleneck.

Bodies are built from a template split at the timestamp positions: one bytes.join per
request, so a 1,000-metric log-batch costs the generator microseconds.
"""

from __future__ import annotations

import http.client
import multiprocessing
import resource
import time

API = "/api/2.0/mlflow"
METRIC_KEYS = 20
POINTS_PER_BATCH = 1000


def log_batch_parts(run_id: str) -> list[bytes]:
    """Pieces of a log-batch body with 1,000 metrics (20 keys × 50 steps); joining them
    with a timestamp gives a body whose points are all new (the timestamp differs)."""
    parts = []
    head = b'{"run_id":"' + run_id.encode() + b'","metrics":['
    chunk = head
    for index in range(POINTS_PER_BATCH):
        key = index % METRIC_KEYS
        step = index // METRIC_KEYS
        value = ((index * 7919) % 1000) / 1000.0
        chunk += b'{"key":"m%d","value":%r,"step":%d,"timestamp":' % (key, value, step)
        parts.append(chunk)
        chunk = b"}," if index < POINTS_PER_BATCH - 1 else b"}]}"
    parts.append(chunk)
    return parts


def _worker(port: int, kind: str, argument: str, client_index: int, salt: int,
            start_at: float, stop_at: float, results) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Content-Type": "application/json"}
    if kind == "log-batch":
        path = f"{API}/runs/log-batch"
        parts = log_batch_parts(argument)
    else:
        path = f"{API}/runs/create"
        static_body = b'{"experiment_id":"%s","start_time":1700000000000}' % argument.encode()
    completed = errors = 0
    first_error = ""
    counter = 0
    last_end = start_at
    while time.time() < start_at:
        time.sleep(0.001)
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    while time.time() < stop_at:
        counter += 1
        if kind == "log-batch":
            timestamp = b"%d" % (1_700_000_000_000 + salt * 1_000_000_000
                                 + client_index * 10_000_000 + counter)
            body = timestamp.join(parts)
        else:
            body = static_body
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            errors += 1
            first_error = first_error or repr(error)
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            continue
        last_end = time.time()
        if response.status == 200:
            completed += 1
        else:
            errors += 1
            first_error = first_error or f"HTTP {response.status}: {payload[:200]!r}"
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    connection.close()
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    results.put((completed, errors, first_error, last_end, cpu))


def drive(port: int, kind: str, arguments: list[str], clients: int, seconds: float,
          salt: int = 0) -> dict:
    """Runs `clients` processes for `seconds`; kind is "log-batch" (arguments: run ids,
    assigned round-robin) or "create-run" (arguments: [experiment_id]). Calls with
    different `salt` log different timestamps (so repeated runs log new points)."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 0.5
    stop_at = start_at + seconds
    processes = [context.Process(target=_worker, args=(
        port, kind, arguments[index % len(arguments)], index, salt, start_at, stop_at,
        results))
        for index in range(clients)]
    for process in processes:
        process.start()
    collected = [results.get(timeout=seconds + 900) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    completed = sum(item[0] for item in collected)
    errors = sum(item[1] for item in collected)
    end = max(item[3] for item in collected)
    elapsed = max(end - start_at, 1e-9)
    cpu = sum(item[4] for item in collected)
    return {
        "requests": completed,
        "errors": errors,
        "first_error": next((item[2] for item in collected if item[2]), ""),
        "seconds": elapsed,
        "requests_per_s": completed / elapsed,
        "client_cpu_cores": cpu / elapsed,
    }
