"""pytest fixtures: a tracking server under test per module, and the mlflow client
pointed at it with its global state reset for every test.

CAIRN_TEST_TARGET=cairn (default) starts `cairn server`; CAIRN_TEST_TARGET=mlflow starts a
real `mlflow server` instead, to prove the tests assert MLflow's own behaviour.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cairn_testing  # noqa: E402

# The client must never talk to a server it was not pointed at by a fixture.
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLFLOW_REGISTRY_URI", None)
os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)
os.environ.pop("MLFLOW_RUN_ID", None)
# Keep the client quiet and fast: no asynchronous logging, no environment inference
# through pip when a test passes its requirements explicitly.
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
# A failing request must fail the test quickly instead of being retried for minutes.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def pytest_report_header(config):
    kind = cairn_testing.target()
    detail = str(cairn_testing.cairn_binary()) if kind == "cairn" else "mlflow server (pip)"
    return f"tracking server under test: {kind} ({detail})"


@pytest.fixture(scope="session")
def temp_root():
    root = Path(tempfile.mkdtemp(prefix="cairn-pytest-"))
    yield root
    if os.environ.get("CAIRN_TEST_KEEP_DATA") != "1":
        shutil.rmtree(root, ignore_errors=True)


_mlflow_shared: dict = {}


@pytest.fixture(scope="session")
def _shared_mlflow_server(temp_root):
    """mlflow server takes up to a minute to start here; against mlflow the modules share
    one server (every test uses names of its own). Cairn gets a fresh one per module."""
    server = None
    external = os.environ.get("CAIRN_TEST_SERVER_URL")
    if external:
        # Development aid: reuse a server that is already running (never stopped here).
        yield cairn_testing.external_server(external)
        return
    if cairn_testing.is_mlflow():
        server = cairn_testing.start_server(temp_root / "mlflow-shared")
    yield server
    if server is not None:
        server.stop()


@pytest.fixture(scope="module")
def cairn_server(request, temp_root, _shared_mlflow_server):
    """The server under test, with a fresh temporary data directory for this module."""
    if _shared_mlflow_server is not None:
        yield _shared_mlflow_server
        return
    data_dir = temp_root / f"data-{request.module.__name__}"
    extra_args = None
    if getattr(request.module, "METADATA_BACKEND", "sqlite") == "postgresql":
        extra_args = ["--metadata", _fresh_postgres_database(request.module.__name__)]
    server = cairn_testing.start_server(data_dir, extra_args=extra_args)
    yield server
    server.stop()


def _fresh_postgres_database(module_name: str) -> str:
    """A new database on the throw-away PostgreSQL that scripts/run_tests starts
    (CAIRN_TEST_POSTGRES_URL), for a module that sets METADATA_BACKEND = "postgresql"."""
    import subprocess
    import uuid

    server_url = os.environ.get("CAIRN_TEST_POSTGRES_URL")
    if not server_url:
        pytest.fail("CAIRN_TEST_POSTGRES_URL is not set: run the suite through "
                    "scripts/run_tests (make test), which starts PostgreSQL on loopback")
    name = f"cairn_pytest_{module_name.replace('.', '_')}_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", server_url, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def tracking_uri(cairn_server, monkeypatch):
    """Points the mlflow client (env and globals) at the server under test and resets the
    client's global state before and after the test."""
    import mlflow

    def reset():
        while mlflow.active_run() is not None:
            mlflow.end_run()
        try:
            import mlflow.tracking.fluent as fluent

            fluent._active_experiment_id = None
        except (ImportError, AttributeError):
            pass
        # mlflow.set_experiment also exports the experiment through the environment.
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
        os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)

    reset()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cairn_server.url)
    mlflow.set_tracking_uri(cairn_server.url)
    mlflow.set_registry_uri(cairn_server.url)
    yield cairn_server.url
    reset()


@pytest.fixture
def http():
    import requests

    session = requests.Session()
    yield session
    session.close()
