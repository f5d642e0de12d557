"""metrics/get-history in MLflow 3.17's order, checked against MLflow's own SQL store.

MLflow's SqlAlchemyStore.get_metric_history orders a metric's points by (timestamp, step,
value) and pages by an offset into that order; get-history-bulk-interval orders by (step,
timestamp, value). The two differ when steps are logged out of time order (step 5 at
t=100, then step 1 at t=200). The same points are logged to the server under test and to
an in-process MLflow store on SQLite (the oracle), then read back through the stock
client, through the REST API by pages, and through get-history-bulk-interval.
"""

from __future__ import annotations

import math
import random
import sys

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

import cairn_testing


def _normalized(metrics):
    """(timestamp, step, value) with NaN spelled out and +-inf as MLflow's SQL store keeps
    them (+-DBL_MAX; FACTS.md: storing infinities exactly is fine too)."""
    out = []
    for metric in metrics:
        value = metric.value if isinstance(metric, Metric) else metric["value"]
        if isinstance(value, str):  # JSON's "NaN" / "Infinity"
            value = float(value)
        if math.isnan(value):
            value = "nan"
        elif math.isinf(value):
            value = math.copysign(sys.float_info.max, value)
        timestamp = metric.timestamp if isinstance(metric, Metric) else int(metric["timestamp"])
        step = metric.step if isinstance(metric, Metric) else int(metric["step"])
        out.append((timestamp, step, value))
    return out


def _log_same_points(client, oracle, key, batches):
    """Logs `batches` (lists of Metric; a one-point batch through log_metric) to a new run
    on each side; returns (run_id, oracle_run_id)."""
    runs = []
    for side in (client, oracle):
        experiment_id = side.create_experiment(cairn_testing.unique("history-order"))
        run_id = side.create_run(experiment_id).info.run_id
        for batch in batches:
            if len(batch) == 1:
                point = batch[0]
                side.log_metric(run_id, key, point.value, timestamp=point.timestamp,
                                step=point.step)
            else:
                side.log_batch(run_id, metrics=batch)
        runs.append(run_id)
    return runs[0], runs[1]


def _out_of_order_batches(key, seed, batches=25):
    """Points with steps out of time order, repeats of logged points, NaN, 0 / -0.0 and
    +-inf, in batches (no point twice within one batch) and single points."""
    rng = random.Random(seed)
    values = [0.0, -0.0, 1.5, -2.0, math.nan, math.inf, -math.inf, 7.25]
    logged = []
    out = []
    for batch_idx in range(batches):
        size = 1 if batch_idx % 4 == 0 else rng.randint(2, 60)
        batch, seen = [], set()
        while len(batch) < size:
            if logged and rng.random() < 0.15:
                step, timestamp, value = rng.choice(logged)
            else:
                step, timestamp = rng.randrange(40), rng.randrange(60)
                value = rng.choice(values)
            identity = (step, timestamp, "nan" if math.isnan(value) else value + 0.0)
            if identity in seen:
                continue
            seen.add(identity)
            batch.append(Metric(key, value, timestamp, step))
            logged.append((step, timestamp, value))
        out.append(batch)
    return out


@pytest.fixture
def oracle(tmp_path):
    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'oracle.db'}")


def _rest_pages(http, server, run_id, key, max_results):
    pages = []
    token = None
    while True:
        params = {"run_id": run_id, "metric_key": key, "max_results": max_results}
        if token:
            params["page_token"] = token
        body = cairn_testing.ok_json(cairn_testing.api_get(http, server, "metrics/get-history",
                                                           params))
        pages.append((_normalized(body.get("metrics", [])), body.get("next_page_token")))
        token = body.get("next_page_token")
        if not token:
            return pages
        assert len(pages) < 10_000


def _oracle_pages(oracle, run_id, key, max_results):
    store = oracle._tracking_client.store
    pages = []
    token = None
    while True:
        page = store.get_metric_history(run_id, key, max_results=max_results, page_token=token)
        token = page.token.decode() if isinstance(page.token, bytes) else page.token
        pages.append((_normalized(page), token))
        if not token:
            return pages


def test_out_of_time_order_history_matches_mlflow(tracking_uri, cairn_server, http, oracle,
                                                  monkeypatch):
    client = MlflowClient()
    batches = _out_of_order_batches("loss", seed=17)
    run_id, oracle_run = _log_same_points(client, oracle, "loss", batches)
    want = _normalized(oracle.get_metric_history(oracle_run, "loss"))
    # Steps really are out of time order here, so the two orders differ.
    assert want != sorted(want, key=lambda point: (point[1], point[0], str(point[2])))
    assert _normalized(client.get_metric_history(run_id, "loss")) == want
    # The stock client pages by 25,000; with small pages it follows our page tokens.
    import mlflow.tracking._tracking_service.client as tracking_client

    monkeypatch.setattr(tracking_client, "GET_METRIC_HISTORY_MAX_RESULTS", 7)
    assert _normalized(client.get_metric_history(run_id, "loss")) == want
    # The REST API page by page, tokens included, against the oracle store's pages.
    for max_results in (1, 7, 50, len(want), len(want) + 5):
        assert _rest_pages(http, cairn_server, run_id, "loss", max_results) == \
            _oracle_pages(oracle, oracle_run, "loss", max_results), max_results


def test_steps_logged_backwards_in_time(tracking_uri, cairn_server, http, oracle):
    """The issue's example: step 5 at t=100, then step 1 at t=200 (and more of both)."""
    client = MlflowClient()
    batches = [[Metric("acc", 0.5, 100, 5)], [Metric("acc", 0.1, 200, 1)],
               [Metric("acc", 0.9, 150, 9), Metric("acc", 0.2, 300, 2)],
               [Metric("acc", 0.3, 50, 3)]]
    run_id, oracle_run = _log_same_points(client, oracle, "acc", batches)
    got = _normalized(client.get_metric_history(run_id, "acc"))
    assert got == [(50, 3, 0.3), (100, 5, 0.5), (150, 9, 0.9), (200, 1, 0.1), (300, 2, 0.2)]
    assert got == _normalized(oracle.get_metric_history(oracle_run, "acc"))
    assert _rest_pages(http, cairn_server, run_id, "acc", 2) == \
        _oracle_pages(oracle, oracle_run, "acc", 2)


def test_in_order_history_and_bulk_interval_match_mlflow(tracking_uri, cairn_server, http,
                                                         oracle):
    """An in-order series (the fast path) and get-history-bulk-interval, which MLflow
    orders by step, on both kinds of series."""
    client = MlflowClient()
    in_order = [[Metric("m", step * 0.25, 1_000 + step // 3, step)
                 for step in range(begin, begin + 40)] for begin in range(0, 400, 40)]
    in_order += [[Metric("m", -1.0, 2_000, 400)]]
    run_id, oracle_run = _log_same_points(client, oracle, "m", in_order)
    want = _normalized(oracle.get_metric_history(oracle_run, "m"))
    assert _normalized(client.get_metric_history(run_id, "m")) == want
    for max_results in (3, 100):
        assert _rest_pages(http, cairn_server, run_id, "m", max_results) == \
            _oracle_pages(oracle, oracle_run, "m", max_results)

    mixed_run, mixed_oracle = _log_same_points(client, oracle, "loss",
                                               _out_of_order_batches("loss", seed=5))
    store = oracle._tracking_client.store
    for run, oracle_id, key in ((run_id, oracle_run, "m"), (mixed_run, mixed_oracle, "loss")):
        for max_results, steps in ((1000, None), (7, None), (10, (3, 20))):
            params = {"run_ids": run, "metric_key": key, "max_results": max_results}
            if steps:
                params["start_step"], params["end_step"] = steps
            body = cairn_testing.ok_json(cairn_testing.api_get(
                http, cairn_server, "metrics/get-history-bulk-interval", params))
            expected = store.get_metric_history_bulk_interval(
                [oracle_id], key, max_results=max_results,
                start_step=steps[0] if steps else None, end_step=steps[1] if steps else None)
            assert _normalized(body.get("metrics", [])) == \
                _normalized(expected), (key, max_results, steps)
