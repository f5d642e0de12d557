"""Registry webhooks (issue 6 item 7) with the stock mlflow client: create, list, get,
update, test and delete through `MlflowClient`, and a real HTTP receiver that checks the
MLflow signature (X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">)
of every registry event MLflow's server sends (registered_model.created,
model_version.created, model_version_tag.set / .deleted, model_version_alias.created,
prompt.created), as a receiver written for MLflow does, with MLflow's exact payloads.

With CAIRN_TEST_TARGET=mlflow the same assertions run against a real `mlflow server` (it
needs the two environment variables below to call a loopback http:// receiver).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException

import cairn_testing

# MLflow's server refuses http:// and loopback receivers unless told otherwise; Cairn
# allows both (CI servers on the same network). Set before any server starts.
os.environ.setdefault("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
os.environ.setdefault("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")

SECRET = "s3cret-for-ci"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Receiver:
    """An HTTP server on 127.0.0.1:<free port> that records every POST and answers with the
    next status of `statuses` (the last one repeats)."""

    def __init__(self, statuses: tuple[int, ...] = (200,)):
        self.requests: list[dict] = []
        self._statuses = statuses
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8")
                with receiver._cond:
                    status = receiver._statuses[min(len(receiver.requests),
                                                    len(receiver._statuses) - 1)]
                    receiver.requests.append(
                        {"path": self.path, "headers": {k.lower(): v for k, v in
                                                        self.headers.items()}, "body": body})
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, predicate, timeout: float = 30.0) -> dict:
        """The first recorded request for which predicate(body as JSON) holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for request in self.requests:
                    if predicate(json.loads(request["body"])):
                        return request
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no matching delivery within {timeout} s; got {self.requests}")
                self._cond.wait(left)

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def verify_signature(request: dict, secret: str) -> dict:
    """MLflow's documented receiver check; returns the parsed body."""
    headers = request["headers"]
    delivery_id = headers["x-mlflow-delivery-id"]
    timestamp = headers["x-mlflow-timestamp"]
    signed = f"{delivery_id}.{timestamp}.{request['body']}".encode("utf-8")
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), signed,
                                         hashlib.sha256).digest()).decode("utf-8")
    assert headers["x-mlflow-signature"] == f"v1,{expected}"
    assert abs(time.time() - int(timestamp)) < 300  # replay window of a careful receiver
    assert headers["content-type"] == "application/json"
    return json.loads(request["body"])


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def client(tracking_uri):
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def test_webhook_crud_and_test_delivery(client, receiver):
    name = unique("ci")
    created = client.create_webhook(
        name=name, url=receiver.url,
        events=["model_version.created", WebhookEvent("model_version_alias", "created")],
        description="retrain on new versions", secret=SECRET)
    assert created.name == name
    assert created.url == receiver.url
    assert created.description == "retrain on new versions"
    assert created.status == WebhookStatus.ACTIVE
    assert [str(e) for e in created.events] == ["model_version.created",
                                               "model_version_alias.created"]
    assert created.creation_timestamp > 0
    assert created.secret is None  # never returned

    fetched = client.get_webhook(created.webhook_id)
    assert fetched.webhook_id == created.webhook_id
    assert fetched.name == name
    assert [w.webhook_id for w in client.list_webhooks(max_results=100)].count(
        created.webhook_id) == 1

    updated = client.update_webhook(created.webhook_id, description="updated",
                                    status="DISABLED")
    assert updated.description == "updated"
    assert updated.status == WebhookStatus.DISABLED
    assert updated.url == receiver.url
    client.update_webhook(created.webhook_id, status="ACTIVE")

    result = client.test_webhook(created.webhook_id,
                                 event=WebhookEvent("model_version_alias", "created"))
    assert result.success is True
    assert result.response_status == 200
    assert result.response_body == "ok"
    test_request = receiver.wait_for(lambda b: b["data"].get("alias") == "example_alias")
    body = verify_signature(test_request, SECRET)
    assert body["entity"] == "model_version_alias"
    assert body["action"] == "created"
    assert body["data"] == {"name": "example_model", "alias": "example_alias", "version": "1"}

    client.delete_webhook(created.webhook_id)
    with pytest.raises(MlflowException) as raised:
        client.get_webhook(created.webhook_id)
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert created.webhook_id not in [w.webhook_id for w in client.list_webhooks()]


def test_invalid_webhooks_are_refused(client, receiver):
    with pytest.raises(MlflowException) as raised:
        client.create_webhook(name="bad name!", url=receiver.url,
                              events=["model_version.created"])
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as raised:
        client.create_webhook(name=unique("ftp"), url="ftp://example.com/hook",
                              events=["model_version.created"])
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


def test_version_created_and_alias_moved_are_delivered_signed(client, receiver):
    hook = client.create_webhook(
        name=unique("registry"), url=receiver.url, secret=SECRET,
        events=["model_version.created", "model_version_alias.created"])
    model = unique("churn")
    try:
        client.create_registered_model(model)
        version = client.create_model_version(model, source="s3://ci-bucket/churn/model",
                                              run_id=None, tags={"team": "risk"},
                                              description="candidate")

        created = receiver.wait_for(lambda b: b["entity"] == "model_version"
                                    and b["data"]["name"] == model)
        body = verify_signature(created, SECRET)
        assert body["action"] == "created"
        assert body["data"]["version"] == str(version.version)
        assert body["data"]["source"] == "s3://ci-bucket/churn/model"
        assert body["data"]["tags"] == {"team": "risk"}
        assert body["data"]["description"] == "candidate"
        assert body["data"]["run_id"] is None
        assert body["timestamp"].endswith("+00:00")

        client.set_registered_model_alias(model, "production", version.version)
        moved = receiver.wait_for(lambda b: b["entity"] == "model_version_alias"
                                  and b["data"]["name"] == model)
        body = verify_signature(moved, SECRET)
        assert body["action"] == "created"
        assert body["data"] == {"name": model, "alias": "production",
                                "version": str(version.version)}
        assert moved["headers"]["x-mlflow-delivery-id"] != created["headers"][
            "x-mlflow-delivery-id"]
    finally:
        client.delete_webhook(hook.webhook_id)


def test_registered_model_and_tag_events_are_delivered_signed(client, receiver, http,
                                                             tracking_uri):
    hook = client.create_webhook(
        name=unique("tags"), url=receiver.url, secret=SECRET,
        events=["registered_model.created", "model_version_tag.set",
                "model_version_tag.deleted", "prompt.created"])
    model = unique("churn")
    plain = unique("plain")
    prompt = unique("greeting")
    try:
        client.create_registered_model(model, tags={"team": "risk", "tier": "1"},
                                       description="churn classifier")
        created = receiver.wait_for(lambda b: b["entity"] == "registered_model"
                                    and b["data"]["name"] == model)
        body = verify_signature(created, SECRET)
        assert body["action"] == "created"
        assert body["data"] == {"name": model, "tags": {"team": "risk", "tier": "1"},
                                "description": "churn classifier"}
        assert created["body"].startswith(
            '{"entity": "registered_model", "action": "created", "timestamp": "')

        # No description given: MLflow sends the request's empty string, not null.
        client.create_registered_model(plain)
        body = verify_signature(receiver.wait_for(
            lambda b: b["entity"] == "registered_model" and b["data"]["name"] == plain),
            SECRET)
        assert body["data"] == {"name": plain, "tags": {}, "description": ""}

        version = client.create_model_version(model, source="s3://ci-bucket/churn/model",
                                              run_id=None)
        client.set_model_version_tag(model, version.version, "validation", "passed")
        tag_set = receiver.wait_for(lambda b: b["entity"] == "model_version_tag"
                                    and b["action"] == "set" and b["data"]["name"] == model)
        assert verify_signature(tag_set, SECRET)["data"] == {
            "name": model, "version": str(version.version), "key": "validation",
            "value": "passed"}
        client.delete_model_version_tag(model, version.version, "validation")
        tag_deleted = receiver.wait_for(lambda b: b["entity"] == "model_version_tag"
                                        and b["action"] == "deleted"
                                        and b["data"]["name"] == model)
        assert verify_signature(tag_deleted, SECRET)["data"] == {
            "name": model, "version": str(version.version), "key": "validation"}

        # A registered model tagged as a prompt (what mlflow.genai.register_prompt sends;
        # the client's create_registered_model refuses the tag) is announced as
        # prompt.created, without the prompt registry's own tag.
        answer = http.post(f"{tracking_uri}/api/2.0/mlflow/registered-models/create", json={
            "name": prompt, "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"},
                                     {"key": "lang", "value": "en"}]}, timeout=30)
        assert answer.status_code == 200, answer.text
        body = verify_signature(receiver.wait_for(
            lambda b: b["entity"] == "prompt" and b["data"]["name"] == prompt), SECRET)
        assert body["action"] == "created"
        assert body["data"] == {"name": prompt, "tags": {"lang": "en"}, "description": ""}

        ids = [r["headers"]["x-mlflow-delivery-id"] for r in receiver.requests]
        assert len(ids) == len(set(ids))
        assert not [r for r in receiver.requests
                    if json.loads(r["body"])["entity"] == "model_version"]  # not subscribed
    finally:
        client.delete_webhook(hook.webhook_id)


@pytest.mark.skipif(cairn_testing.is_mlflow(), reason="Cairn's own webhook API (/api/v1)")
def test_cairn_api_subscribes_to_evaluations_and_lists_deliveries(cairn_server, http, receiver):
    created = http.post(f"{cairn_server.url}/api/v1/webhooks", json={
        "name": unique("gate"), "url": receiver.url, "secret": SECRET,
        "events": ["evaluation.finished"]}, timeout=30)
    assert created.status_code == 200, created.text
    webhook = created.json()["webhook"]
    assert webhook["events"] == ["evaluation.finished"]
    assert webhook["has_secret"] is True
    assert "secret" not in webhook

    tested = http.post(f"{cairn_server.url}/api/v1/webhooks/{webhook['id']}/test", json={},
                       timeout=60)
    assert tested.status_code == 200, tested.text
    assert tested.json()["result"]["success"] is True
    body = verify_signature(receiver.wait_for(lambda b: b["entity"] == "evaluation"), SECRET)
    assert body["action"] == "finished"
    assert set(body["data"]) == {"name", "version", "policy", "evaluation_id", "passed"}

    deliveries = http.get(f"{cairn_server.url}/api/v1/webhooks/{webhook['id']}/deliveries",
                          timeout=30)
    assert deliveries.status_code == 200, deliveries.text
    [delivery] = deliveries.json()["deliveries"]
    assert delivery["event"] == "evaluation.finished"
    assert delivery["test"] is True
    assert delivery["success"] is True
    assert delivery["http_status"] == 200

    # The stock client cannot represent Cairn's event: such a webhook is not in its list.
    listed = http.get(f"{cairn_server.url}/api/2.0/mlflow/webhooks", timeout=30).json()
    assert webhook["id"] not in [w["webhook_id"] for w in listed.get("webhooks", [])]
    assert http.delete(f"{cairn_server.url}/api/v1/webhooks/{webhook['id']}",
                       timeout=30).status_code == 200


@pytest.mark.skipif(cairn_testing.is_mlflow(),
                    reason="Cairn's outbox; MLflow keeps retries in memory")
def test_a_delivery_waiting_for_its_retry_survives_kill9(temp_root, http):
    receiver = Receiver(statuses=(503, 200))  # the first try fails: retried after 1 s
    data_dir = temp_root / f"webhooks-kill9-{uuid.uuid4().hex[:6]}"
    servers = [cairn_testing.start_server(data_dir)]
    try:
        client = MlflowClient(tracking_uri=servers[0].url, registry_uri=servers[0].url)
        hook = client.create_webhook(name=unique("kill9"), url=receiver.url, secret=SECRET,
                                     events=["model_version_tag.set"])
        model = unique("churn")
        client.create_registered_model(model)
        version = client.create_model_version(model, source="s3://ci-bucket/churn/model")
        client.set_model_version_tag(model, version.version, "validation", "passed")
        first = receiver.wait_for(lambda b: b["data"].get("name") == model)
        servers[0].kill9()  # before the retry is due

        servers.append(cairn_testing.start_server(data_dir))
        deadline = time.monotonic() + 60
        while len(receiver.requests) < 2:
            assert time.monotonic() < deadline, "the restarted server did not deliver"
            time.sleep(0.05)
        second = receiver.requests[1]
        assert second["headers"]["x-mlflow-delivery-id"] == first["headers"][
            "x-mlflow-delivery-id"]
        assert second["body"] == first["body"]
        body = verify_signature(second, SECRET)
        assert body["data"] == {"name": model, "version": str(version.version),
                                "key": "validation", "value": "passed"}

        outbox_url = f"{servers[1].url}/api/v1/webhooks/{hook.webhook_id}/outbox"
        while True:
            [entry] = http.get(outbox_url, timeout=30).json()["outbox"]
            if entry["state"] != "pending":
                break
            assert time.monotonic() < deadline, entry
            time.sleep(0.05)
        assert entry["state"] == "delivered"
        assert entry["delivery_id"] == first["headers"]["x-mlflow-delivery-id"]
    finally:
        for server in servers:
            if server.alive():
                server.stop()
        receiver.close()
