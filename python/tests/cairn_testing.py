"""Starts and stops the tracking server under test.

By default the server under test is `cairn server` (the binary at $CAIRN_BINARY, else
build/release/cairn under the repository root). With CAIRN_TEST_TARGET=mlflow the same
tests run against a real `mlflow server` (SQLite backend, proxied artifacts), which
proves that what they assert is MLflow's behaviour.

Contract of `cairn server --host 127.0.0.1 --port 0 --data DIR`: it prints one line
`cairn server listening on http://127.0.0.1:PORT` on stdout once it accepts
connections, answers GET /healthz with 200 and stops gracefully on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
_LISTEN_LINE = re.compile(r"cairn server listening on (http://127\.0\.0\.1:(\d+))")

START_DEADLINE_S = float(os.environ.get("CAIRN_TEST_START_DEADLINE_S", "30"))
# mlflow server imports a lot of Python and migrates its schema: on a loaded 2-core
# machine that takes up to a minute.
MLFLOW_START_DEADLINE_S = float(os.environ.get("CAIRN_TEST_MLFLOW_START_DEADLINE_S", "180"))
STOP_DEADLINE_S = 20.0


def target() -> str:
    """The server under test: "cairn" (default) or "mlflow"."""
    value = os.environ.get("CAIRN_TEST_TARGET", "cairn").strip().lower()
    if value not in ("cairn", "mlflow"):
        raise ValueError(f"CAIRN_TEST_TARGET must be 'cairn' or 'mlflow', not {value!r}")
    return value


def is_mlflow() -> bool:
    return target() == "mlflow"


def cairn_binary() -> Path:
    value = os.environ.get("CAIRN_BINARY")
    path = Path(value) if value else REPO_ROOT / "build" / "release" / "cairn"
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


class ServerStartError(RuntimeError):
    pass


class Server:
    """A running server process. `url` has no trailing slash."""

    def __init__(self, kind: str, proc: subprocess.Popen, url: str, port: int,
                 data_dir: Path, log_path: Path):
        self.kind = kind
        self.proc = proc
        self.url = url
        self.port = port
        self.data_dir = Path(data_dir)
        self.log_path = log_path

    def __repr__(self) -> str:
        return f"Server({self.kind}, {self.url}, pid={self.proc.pid})"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, max_chars: int = 6000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text[-max_chars:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then waits; SIGKILL to the process group if it does not exit in time."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            if self.kind == "mlflow":
                # mlflow's CLI spawns uvicorn and worker processes in its process group.
                os.killpg(self.proc.pid, signal.SIGTERM)
            else:
                self.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None
        finally:
            self._reap_group()

    def kill9(self) -> None:
        """SIGKILL to the whole process group (the server and anything it spawned)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            pass
        self._reap_group()

    def _reap_group(self) -> None:
        # Worker processes of mlflow may outlive the parent; they share its group.
        if self.kind != "mlflow":
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def rss_bytes(self) -> int:
        """Resident memory of the server process (VmRSS), in bytes."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("VmRSS not found")


class _ExternalProcess:
    pid = -1
    returncode = None

    def poll(self):
        return None

    def wait(self, timeout=None):
        return None


class _ExternalServer(Server):
    def stop(self):
        return None

    def kill9(self):
        raise RuntimeError("cannot kill an external server")


def external_server(url: str) -> Server:
    """A server started by someone else (CAIRN_TEST_SERVER_URL); stop() does nothing."""
    url = url.rstrip("/")
    port = int(url.rsplit(":", 1)[1])
    return _ExternalServer(target(), _ExternalProcess(), url, port, Path("/nonexistent"),
                           Path("/nonexistent"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(server: Server, path: str, deadline: float) -> None:
    session = requests.Session()
    last_error = None
    while time.monotonic() < deadline:
        if not server.alive():
            raise ServerStartError(
                f"{server.kind} server exited with {server.proc.returncode} before it was "
                f"healthy; log:\n{server.log_tail()}")
        try:
            response = session.get(server.url + path, timeout=2)
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            last_error = repr(error)
        time.sleep(0.1)
    raise ServerStartError(
        f"{server.kind} server at {server.url} not healthy in time ({last_error}); "
        f"log:\n{server.log_tail()}")


def _start_cairn(data_dir: Path, log_path: Path, extra_args: list[str]) -> Server:
    binary = cairn_binary()
    if not binary.exists():
        raise ServerStartError(
            f"cairn binary not found at {binary} (set CAIRN_BINARY or run `make build`)")
    log_file = open(log_path, "ab")
    proc = subprocess.Popen(
        [str(binary), "server", "--host", "127.0.0.1", "--port", "0", "--data", str(data_dir),
         *extra_args],
        stdout=subprocess.PIPE, stderr=log_file, stdin=subprocess.DEVNULL,
        start_new_session=True)
    log_file.close()

    # Read stdout on a thread so the deadline holds even if the server prints nothing.
    found: dict[str, str] = {}
    seen_line = threading.Event()

    def read_stdout() -> None:
        assert proc.stdout is not None
        with open(log_path, "ab") as log:
            for raw in proc.stdout:
                log.write(b"[stdout] " + raw)
                log.flush()
                match = _LISTEN_LINE.search(raw.decode(errors="replace"))
                if match and not seen_line.is_set():
                    found["url"], found["port"] = match.group(1), match.group(2)
                    seen_line.set()
        seen_line.set()  # EOF: the process closed stdout (probably exited)

    threading.Thread(target=read_stdout, daemon=True).start()
    deadline = time.monotonic() + START_DEADLINE_S
    seen_line.wait(timeout=START_DEADLINE_S)
    server = Server("cairn", proc, found.get("url", ""), int(found.get("port", "0")),
                    data_dir, log_path)
    if "url" not in found:
        server.kill9()
        raise ServerStartError(
            f"cairn server printed no 'listening on' line within {START_DEADLINE_S} s "
            f"(exit code {proc.poll()}); log:\n{server.log_tail()}")
    try:
        _wait_healthy(server, "/healthz", deadline)
    except ServerStartError:
        server.kill9()
        raise
    return server


def _start_mlflow(data_dir: Path, log_path: Path, workers: int | None) -> Server:
    port = _free_port()
    db_path = data_dir / "mlflow.db"
    artifacts = data_dir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{db_path}",
            "--serve-artifacts", "--artifacts-destination", str(artifacts),
            "--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        args += ["--workers", str(workers)]
    env = dict(os.environ)
    # The job runner (huey consumers) is irrelevant to tracking and costs CPU at startup.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    env.pop("MLFLOW_TRACKING_URI", None)
    log_file = open(log_path, "ab")
    proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                            cwd=str(data_dir))
    log_file.close()
    server = Server("mlflow", proc, f"http://127.0.0.1:{port}", port, data_dir, log_path)
    try:
        _wait_healthy(server, "/health", time.monotonic() + MLFLOW_START_DEADLINE_S)
    except ServerStartError:
        server.kill9()
        raise
    return server


def start_server(data_dir, kind: str | None = None, extra_args: list[str] | None = None,
                 mlflow_workers: int | None = None) -> Server:
    """Starts the server under test on a free loopback port with its data under data_dir.

    Returns once the server answers its health check; raises ServerStartError (with the
    server's log) otherwise. The log goes to <data_dir>/../<name>-server.log.
    """
    kind = kind or target()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-{kind}-server.log"
    if kind == "cairn":
        return _start_cairn(data_dir, log_path, extra_args or [])
    if kind == "mlflow":
        if mlflow_workers is None and os.environ.get("CAIRN_TEST_MLFLOW_WORKERS"):
            mlflow_workers = int(os.environ["CAIRN_TEST_MLFLOW_WORKERS"])
        return _start_mlflow(data_dir, log_path, mlflow_workers)
    raise ValueError(f"unknown server kind {kind!r}")


# ---------------------------------------------------------------------------------------
# Small REST helpers shared by the raw-HTTP tests.

API = "/api/2.0/mlflow"


def api_post(session: requests.Session, server: Server, path: str, body: dict,
             timeout: float = 30) -> requests.Response:
    return session.post(f"{server.url}{API}/{path}", json=body, timeout=timeout)


def api_get(session: requests.Session, server: Server, path: str, params: dict,
            timeout: float = 30) -> requests.Response:
    return session.get(f"{server.url}{API}/{path}", params=params, timeout=timeout)


def ok_json(response: requests.Response) -> dict:
    assert response.status_code == 200, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text[:2000]}")
    return response.json() if response.content else {}


def create_experiment(session, server, name: str) -> str:
    return ok_json(api_post(session, server, "experiments/create", {"name": name}))[
        "experiment_id"]


def create_run(session, server, experiment_id: str, run_name: str | None = None) -> str:
    body = {"experiment_id": experiment_id, "start_time": int(time.time() * 1000)}
    if run_name:
        body["run_name"] = run_name
    return ok_json(api_post(session, server, "runs/create", body))["run"]["info"]["run_id"]


def metric_history(session, server, run_id: str, key: str) -> list[dict]:
    """Every point of a metric, following page tokens."""
    points: list[dict] = []
    page_token = None
    while True:
        params = {"run_id": run_id, "metric_key": key, "max_results": 25000}
        if page_token:
            params["page_token"] = page_token
        payload = ok_json(api_get(session, server, "metrics/get-history", params, timeout=120))
        points.extend(payload.get("metrics", []))
        page_token = payload.get("next_page_token")
        if not page_token:
            return points


# ---- helpers shared by the end-to-end suites ----------------------------------------------

def unique(prefix: str, sep: str = "-") -> str:
    """A name no other test (or earlier run against the same server) uses."""
    return f"{prefix}{sep}{uuid.uuid4().hex[:10]}"


def cli(server: Server | None, *args: str, timeout: float = 120,
        env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`cairn ARGS --url SERVER` as a process (CAIRN_URL unset, so --url wins; no --url
    when `server` is None). `env_extra` adds to the environment."""
    env = dict(os.environ)
    env.pop("CAIRN_URL", None)
    if env_extra:
        env.update(env_extra)
    command = [str(cairn_binary()), *args]
    if server is not None:
        command += ["--url", server.url]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> str:
    """The command's stdout; fails the test with its output when it did not exit 0."""
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done.stdout


def wait_until(what: str, predicate, deadline_s: float = 120, interval_s: float = 0.05):
    """Polls `predicate` until it returns something truthy (returned); fails after the
    deadline saying what was awaited and what was seen last. Never a fixed sleep."""
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what} (last: {last!r})")
