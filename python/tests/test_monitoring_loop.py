"""The monitoring loop end to end through a real `cairn server` (issue 5 item 7): a feature
source and view, a reference CSV, a Monitor with `on_alert.pipeline`, rows ingested with
`cairn features ingest`, and the alert that follows —

- retraining that helps: drift → alert opened → retraining run succeeds → the next monitor
  run (triggered by new, healthy rows) finds no drift → alert resolved;
- retraining that fails: alert escalated to critical, retried, then retraining stops and
  the team is paged;
- retraining that succeeds but does not help: the next run still finds drift → escalated
  and paged once the attempts are used up.

Every notification goes to a real local webhook receiver whose timestamped HMAC-SHA256
signature is checked with cairn.webhooks.verify_signature. Waits poll a condition with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import http.server
import json
import random
import threading
import uuid

import pytest
import requests

from cairn.webhooks import SignatureError, verify_signature
from pipelines import server as ps

pytestmark = ps.skip_unless_cairn()

SECRET = "loop-secret"
ROWS = 200  # rows per ingested batch; the monitor looks at the last ROWS rows


class Receiver:
    """A webhook receiver on 127.0.0.1: records every POST (headers, body)."""

    def __init__(self):
        self.posts: list[tuple[dict, bytes]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with outer.lock:
                    outer.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def events(self, monitor: str) -> list[dict]:
        """The notifications about `monitor`'s alerts, in arrival order; each signature
        is checked against the exact body."""
        out = []
        with self.lock:
            posts = list(self.posts)
        for headers, body in posts:
            # t=<unix s>,v1=HMAC("<t>." + body), within the 5-minute tolerance (replays fail).
            signed_at = verify_signature(headers.get("x-cairn-signature"), SECRET, body)
            with pytest.raises(SignatureError, match="beyond the tolerance"):
                verify_signature(headers.get("x-cairn-signature"), SECRET, body,
                                 now=signed_at + 301)
            note = json.loads(body)
            if note["alert"]["monitor"] == monitor:
                out.append(note)
        return out

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data = tmp_path_factory.mktemp("monitoring-loop") / "data"
    server = ps.start(data, "local")
    receiver = Receiver()
    try:
        yield server, receiver
    finally:
        receiver.close()
        server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


DEFINITIONS = """
kind: Entity
name: {entity}
join_key: customer_id
---
kind: Source
name: {source}
type: file
format: csv
timestamp_field: ts
schema:
  - {{name: customer_id, type: int64, nullable: false}}
  - {{name: ts, type: timestamp, nullable: false}}
  - {{name: amount, type: double}}
  - {{name: plan, type: string}}
---
kind: FeatureView
name: {view}
entities: [{entity}]
source: {source}
features:
  - {{name: amount, type: double}}
  - {{name: plan, type: string}}
---
kind: Pipeline
name: {pipeline}
steps:
  - name: train
    script: |
      echo "retraining for alert {{{{params.alert}}}}"
      exit {exit_code}
params: [{{name: alert, type: string, default: none}}]
---
kind: Monitor
name: {monitor}
description: spend inputs of the churn model
target: {{feature_view: {view}, rows: {rows}}}
reference: {{path: {reference}}}
columns: [amount, plan]
{trigger}
severity: warning
on_alert: {{pipeline: {pipeline}, params: {{alert: "{{{{alert.id}}}}"}}, max_attempts: {attempts}}}
sinks: [{{webhook: "{hook}", secret: "{secret}"}}, {{log: true}}]
"""


def rows_csv(seed: int, mean: float, start_minute: int, count: int = ROWS) -> str:
    rng = random.Random(seed)
    lines = ["customer_id,ts,amount,plan"]
    for i in range(count):
        minute = start_minute + i
        ts = f"2024-03-{1 + minute // 1440:02d}T{(minute // 60) % 24:02d}:{minute % 60:02d}:00Z"
        # Plans in a fixed cycle (the same shares in every batch): only amount can drift.
        plan = ("basic", "plus", "pro")[i % 3]
        lines.append(f"{i % 50},{ts},{rng.gauss(mean, 10):.4f},{plan}")
    return "\n".join(lines) + "\n"


class Loop:
    """One monitored view with its own names, on the shared server."""

    def __init__(self, server, receiver, tmp_path, *, exit_code: int, attempts: int,
                 triggered: bool):
        self.server = server
        self.tmp = tmp_path
        self.entity, self.source = unique("customer"), unique("payments")
        self.view, self.pipeline = unique("spend"), unique("retrain").replace("_", "-")
        self.monitor = unique("spend-drift").replace("_", "-")
        reference = tmp_path / "reference.csv"
        reference.write_text(rows_csv(seed=1, mean=50, start_minute=0, count=2 * ROWS))
        text = DEFINITIONS.format(
            entity=self.entity, source=self.source, view=self.view, pipeline=self.pipeline,
            monitor=self.monitor, rows=ROWS, reference=reference, hook=receiver.url,
            secret=SECRET, exit_code=exit_code, attempts=attempts,
            trigger="trigger: {on: source_ingested}" if triggered else "")
        path = tmp_path / "loop.yaml"
        path.write_text(text)
        applied = ps.cli(server, "apply", "-f", str(path))
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert f"Monitor {self.monitor}" in applied.stdout, applied.stdout
        self.batches = 0

    def ingest(self, mean: float, seed: int):
        """A batch of ROWS rows, later than every earlier batch."""
        self.batches += 1
        path = self.tmp / f"batch{self.batches}.csv"
        path.write_text(rows_csv(seed=seed, mean=mean, start_minute=10_000 * self.batches))
        done = ps.cli(self.server, "features", "ingest", self.source, str(path))
        assert done.returncode == 0, done.stdout + done.stderr

    def get(self, path: str, **params):
        reply = requests.get(self.server.url + path, params=params, timeout=60)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def runs(self) -> list[dict]:
        return self.get(f"/api/v1/monitoring/monitors/{self.monitor}/runs")["runs"]

    def alerts(self) -> list[dict]:
        return self.get("/api/v1/monitoring/alerts", monitor=self.monitor)["alerts"]

    def alert(self, alert_id: str) -> dict:
        return self.get(f"/api/v1/monitoring/alerts/{alert_id}")["alert"]

    def run_monitor(self) -> dict:
        done = ps.cli(self.server, "monitors", "run", self.monitor, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)["run"]

    def wait_alert(self, what: str, predicate) -> dict:
        def check():
            alerts = self.alerts()
            if len(alerts) != 1:
                return None
            alert = self.alert(alerts[0]["id"])
            return alert if predicate(alert) else None
        return ps.wait_until(what, check)


def kinds(alert: dict) -> list[str]:
    return [event["kind"] for event in alert["timeline"]]


def test_retraining_that_helps_resolves_the_alert(env, tmp_path):
    server, receiver = env
    loop = Loop(server, receiver, tmp_path, exit_code=0, attempts=2, triggered=True)

    # Healthy rows: the triggered run finds no drift and raises nothing.
    loop.ingest(mean=50, seed=2)
    runs = ps.wait_until("the first triggered run", loop.runs)
    assert runs[0]["trigger"] == "source_ingested"
    assert runs[0]["trigger_detail"] == loop.source
    assert runs[0]["state"] == "succeeded", runs[0]["message"]
    assert runs[0]["drift_found"] is False
    assert runs[0]["target_rows"] == ROWS
    assert loop.alerts() == []

    # Shifted rows: drift, an alert, a retraining run that succeeds.
    loop.ingest(mean=90, seed=3)
    alert = loop.wait_alert("the alert awaiting verification after retraining",
                            lambda a: a["retrain"]["phase"] == "awaiting_verification")
    assert alert["kind"] == "drift"
    assert alert["state"] == "open"
    assert alert["severity"] == "warning"
    assert "amount" in alert["summary"]
    assert alert["retrain"]["attempts"] == 1
    retrain_run = alert["retrain"]["run"]
    run = requests.get(f"{server.url}/api/v1/pipeline-runs/{retrain_run}", timeout=60).json()["run"]
    assert run["pipeline"] == loop.pipeline
    assert run["state"] == "succeeded"
    assert run["params"]["alert"] == alert["id"]
    drift_run = loop.runs()[0]
    assert drift_run["drift_found"] is True
    assert alert["first_monitor_run"] == drift_run["id"]
    detail = loop.get(f"/api/v1/monitoring/runs/{drift_run['id']}")["run"]
    amount = [c for c in detail["result"]["drift"]["columns"] if c["column"] == "amount"][0]
    assert amount["drifted"] is True and amount["test"] == "ks"
    report = requests.get(f"{server.url}/api/v1/monitoring/runs/{drift_run['id']}/report",
                          timeout=60)
    assert report.status_code == 200
    assert report.headers["Content-Type"].startswith("text/html")
    assert "amount" in report.text

    # New healthy rows after the retraining: the next run finds no drift → resolved.
    loop.ingest(mean=50, seed=4)
    alert = loop.wait_alert("the alert resolved", lambda a: a["state"] == "resolved")
    assert alert["resolved_by"] == "cairn"
    timeline = kinds(alert)
    for kind in ("opened", "retrain_started", "retrain_succeeded", "resolved"):
        assert kind in timeline, timeline
    assert "escalated" not in timeline
    resolved = [e for e in alert["timeline"] if e["kind"] == "resolved"][0]
    assert retrain_run in resolved["message"]

    notes = ps.wait_until("opened and resolved notifications", lambda: (
        [n["event"] for n in receiver.events(loop.monitor)]
        if {"opened", "resolved"} <= {n["event"] for n in receiver.events(loop.monitor)}
        else None))
    assert notes.index("opened") < notes.index("resolved")


def test_failing_retraining_escalates_and_pages(env, tmp_path):
    server, receiver = env
    loop = Loop(server, receiver, tmp_path, exit_code=3, attempts=2, triggered=False)
    loop.ingest(mean=90, seed=5)
    run = loop.run_monitor()
    assert run["state"] == "succeeded", run["message"]
    assert run["drift_found"] is True
    assert run["trigger"] == "manual"

    alert = loop.wait_alert("retraining exhausted after two failed runs",
                            lambda a: a["retrain"]["phase"] == "exhausted")
    assert alert["severity"] == "critical"
    assert alert["state"] == "open"
    assert alert["retrain"]["attempts"] == 2
    assert len(alert["retrain"]["runs"]) == 2
    timeline = kinds(alert)
    assert timeline.count("retrain_failed") == 2, timeline
    assert "escalated" in timeline and "retrain_exhausted" in timeline
    assert timeline.index("opened") < timeline.index("escalated") < timeline.index(
        "retrain_exhausted")

    notes = ps.wait_until("opened, escalated and paged notifications", lambda: (
        [n["event"] for n in receiver.events(loop.monitor)]
        if {"opened", "escalated", "paged"} <= {n["event"] for n in receiver.events(loop.monitor)}
        else None))
    assert notes.index("opened") < notes.index("escalated") < notes.index("paged")
    paged = [n for n in receiver.events(loop.monitor) if n["event"] == "paged"][0]
    assert paged["alert"]["severity"] == "critical"


def test_retraining_that_does_not_help_escalates_on_the_next_run(env, tmp_path):
    server, receiver = env
    loop = Loop(server, receiver, tmp_path, exit_code=0, attempts=1, triggered=False)
    loop.ingest(mean=90, seed=6)
    assert loop.run_monitor()["drift_found"] is True
    loop.wait_alert("the retraining run finished",
                    lambda a: a["retrain"]["phase"] == "awaiting_verification")

    # The retraining changed nothing: the next run still finds drift.
    second = loop.run_monitor()
    assert second["drift_found"] is True
    alert = loop.wait_alert("the alert escalated and retraining exhausted",
                            lambda a: a["retrain"]["phase"] == "exhausted")
    assert alert["severity"] == "critical"
    assert alert["occurrences"] == 2
    assert alert["last_monitor_run"] == second["id"]
    timeline = kinds(alert)
    assert "escalated" in timeline and "retrain_exhausted" in timeline, timeline
    ps.wait_until("the page", lambda: any(
        n["event"] == "paged" for n in receiver.events(loop.monitor)))

    # The CLI shows the runs newest first with their verdicts.
    listed = ps.cli(server, "monitors", "runs", loop.monitor)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("drift") >= 2
