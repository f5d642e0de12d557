"""`Pipelines`: the client of the Cairn server's pipelines (HTTP API /api/v1/pipelines...
and /api/v1/pipeline-runs...).

    import cairn
    pipes = cairn.Pipelines()                       # CAIRN_URL, else http://127.0.0.1:5000
    pipes.apply("pipelines/")                       # YAML (kind: Pipeline) -> plan
    run = pipes.run("churn-train", params={"max_depth": 8}, wait=True)
    run["state"], run["message"]                    # "failed", "step 'train' failed after ..."
    print(pipes.logs(run["id"], "train"))
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import quote

from cairn._client import DEFAULT_URL, Client  # noqa: F401 (DEFAULT_URL re-exported)
from cairn.errors import CairnError

TERMINAL_STATES = ("succeeded", "failed", "cancelled")
# The server answers a waiting request after at most 30 s; ask again until the run ends.
_WAIT_SLICE_MS = 20_000


def _q(name: str) -> str:
    return quote(str(name), safe="")


class Pipelines(Client):
    """A connection to a Cairn server's pipelines.

    `url` defaults to $CAIRN_URL, else http://127.0.0.1:5000. One keep-alive HTTP session
    is shared by all calls; the object can be used as a context manager. Every failure
    raises `CairnError` with the server's error code and message (which names the field,
    file, line, step or value at fault).

    Runs are dicts shaped like the server's JSON: {"id", "pipeline", "version", "params",
    "state", "message", "trigger", "tracking_run_id", "created_ms", "started_ms",
    "ended_ms", "steps": [{"name", "state", "message", "log_tail", "cached_from",
    "outputs", "attempts": [{"attempt", "state", "reason", "exit_code", "signal",
    "message", "executor", "job_id", "host", "gpus", ...}]}]}.
    """

    # --- definitions -------------------------------------------------------------------

    def apply(self, path: str | os.PathLike, dry_run: bool = False,
              prune: bool = False) -> dict:
        """Validates and applies the `kind: Pipeline` documents in `path` (one file, or
        every *.yaml / *.yml below a directory; other kinds are skipped) and returns the
        plan: {"changes": [{"kind": "Pipeline", "name", "action": "added" | "changed" |
        "unchanged" | "removed", "old_version", "new_version", "diffs", "file", "line"}],
        "applied": bool}. A bad pipeline raises CairnError naming the file, line, step
        and problem, and nothing is applied."""
        root = Path(path)
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")
                           and p.is_file())
            if not files:
                raise CairnError("INVALID_PARAMETER_VALUE",
                                 f"no *.yaml or *.yml files under {root}")
        elif root.is_file():
            files = [root]
        else:
            raise CairnError("INVALID_PARAMETER_VALUE", f"{root}: no such file or directory")
        documents = [{"path": str(p), "content": p.read_text()} for p in files]
        return self.apply_text(documents, dry_run=dry_run, prune=prune)

    def apply_text(self, files: list[Mapping[str, str]] | str, dry_run: bool = False,
                   prune: bool = False) -> dict:
        """Like apply, from text: a YAML string, or [{"path", "content"}, ...]."""
        if isinstance(files, str):
            files = [{"path": "<text>", "content": files}]
        body = {"files": list(files), "dry_run": bool(dry_run), "prune": bool(prune)}
        return self._call("POST", "/api/v1/pipelines/apply", json=body)

    def list(self) -> list[dict]:
        """The latest version of every pipeline: [{"name", "version", "content_hash",
        "description", "steps", "schedule", "created_ms"}, ...]."""
        return self._call("GET", "/api/v1/pipelines")["pipelines"]

    def get(self, name: str, version: int | None = None) -> dict:
        """One pipeline (the latest version, or `version`), with its "spec"."""
        path = f"/api/v1/pipelines/{_q(name)}"
        if version is not None:
            path += f"/versions/{int(version)}"
        return self._call("GET", path)["pipeline"]

    def versions(self, name: str) -> list[dict]:
        """Every version of a pipeline, oldest first."""
        return self._call("GET", f"/api/v1/pipelines/{_q(name)}/versions")["versions"]

    def diff(self, name: str, v1: int, v2: int) -> list[dict]:
        """What changed between two versions: [{"path", "old", "new"}, ...]."""
        return self._call("GET", f"/api/v1/pipelines/{_q(name)}/diff",
                          params={"v1": int(v1), "v2": int(v2)})["diffs"]

    # --- runs --------------------------------------------------------------------------

    def run(self, name: str, params: Mapping[str, Any] | None = None,
            version: int | None = None, no_cache: bool = False, wait: bool = False,
            timeout: float | None = None) -> dict:
        """Starts a run of pipeline `name` with parameter overrides and returns it. With
        `wait`, returns once it has ended (raising TimeoutError after `timeout` seconds,
        if given); check run["state"] — a failed run is returned, not raised."""
        body: dict[str, Any] = {"params": dict(params or {}), "no_cache": bool(no_cache)}
        if version is not None:
            body["version"] = int(version)
        run = self._call("POST", f"/api/v1/pipelines/{_q(name)}/runs", json=body)["run"]
        if wait:
            return self.wait(run["id"], timeout=timeout)
        return run

    def get_run(self, run_id: str, wait_ms: int = 0) -> dict:
        """A run with its steps and their attempts. `wait_ms` (at most 30000) lets the
        server answer as soon as the run ends, or after that long."""
        params = {"wait_ms": int(wait_ms)} if wait_ms else None
        return self._call("GET", f"/api/v1/pipeline-runs/{_q(run_id)}", params=params,
                          timeout=self.timeout + wait_ms / 1000.0)["run"]

    def wait(self, run_id: str, timeout: float | None = None) -> dict:
        """Blocks until the run has ended and returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            slice_ms = _WAIT_SLICE_MS
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    run = self.get_run(run_id)
                    if run["state"] in TERMINAL_STATES:
                        return run
                    raise TimeoutError(f"run {run_id} is still {run['state']} after "
                                       f"{timeout} s")
                slice_ms = max(1, min(slice_ms, int(left * 1000)))
            run = self.get_run(run_id, wait_ms=slice_ms)
            if run["state"] in TERMINAL_STATES:
                return run

    def list_runs(self, pipeline: str | None = None, state: str | None = None,
                  limit: int = 50) -> list[dict]:
        """Runs, newest first (without their steps); every page up to `limit` runs."""
        runs: list[dict] = []
        token = None
        while len(runs) < limit:
            params: dict[str, Any] = {"limit": min(1000, limit - len(runs))}
            if pipeline:
                params["pipeline"] = pipeline
            if state:
                params["state"] = state
            if token:
                params["page_token"] = token
            page = self._call("GET", "/api/v1/pipeline-runs", params=params)
            runs.extend(page.get("runs", []))
            token = page.get("next_page_token")
            if not token:
                break
        return runs

    def cancel(self, run_id: str) -> dict:
        """Cancels a run (its running steps' process groups are stopped)."""
        return self._call("POST", f"/api/v1/pipeline-runs/{_q(run_id)}/cancel", json={})["run"]

    def logs(self, run_id: str, step: str, attempt: int = 0) -> str:
        """A step's log so far (attempt 0: the latest attempt)."""
        return "".join(self._log_chunks(run_id, step, attempt, follow=False))

    def follow_logs(self, run_id: str, step: str, attempt: int = 0) -> Iterator[str]:
        """Yields a step's log as it is written, until the attempt ends."""
        return self._log_chunks(run_id, step, attempt, follow=True)

    def _log_chunks(self, run_id: str, step: str, attempt: int, follow: bool) -> Iterator[str]:
        path = f"/api/v1/pipeline-runs/{_q(run_id)}/steps/{_q(step)}/logs"
        offset = 0
        while True:
            params: dict[str, Any] = {"format": "json", "offset": offset, "attempt": attempt}
            if follow:
                params["follow"] = "true"
            reply = self._call("GET", path, params=params, timeout=self.timeout + 30)
            text = reply.get("text", "")
            if text:
                yield text
            offset = max(offset, int(reply.get("next_offset", offset)))
            if reply.get("done") or (not follow and not text):
                return

    # --- compute -----------------------------------------------------------------------

    def compute_status(self) -> list[dict]:
        """Each executor's capacity, use, running and queued jobs."""
        return self._call("GET", "/api/v1/compute/status")["executors"]
