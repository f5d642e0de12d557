"""Starting `cairn server` for the pipeline suite on one executor: "local" (always; fake
GPUs 0,1 through --local-gpus) or "slurm" (when SLURM_CONF names a running cluster, as
scripts/run_tests provides with scripts/slurm_test_server: partitions `cpu` and `gpu`,
two fake GPUs)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

import cairn_testing

EXECUTORS = ("local", "slurm")
# The local executor's capacity in the tests: small and fixed, whatever the machine.
LOCAL_CPUS = 4
LOCAL_MEMORY = "4Gi"
FAKE_GPUS = "0,1"

DEADLINE_S = float(os.environ.get("CAIRN_TEST_PIPELINE_DEADLINE_S", "120"))


def skip_unless_cairn():
    return pytest.mark.skipif(cairn_testing.is_mlflow(), reason="pipelines need cairn server")


def slurm_conf_or_skip() -> str:
    """SLURM_CONF, or a skip saying how to get a cluster (the slurm variant only)."""
    conf = os.environ.get("SLURM_CONF")
    if conf:
        return conf
    pytest.skip("SLURM_CONF is not set: the slurm variant of the pipeline suite runs under "
                "scripts/run_tests (make test), which starts a single-node Slurm cluster "
                "with scripts/slurm_test_server; the local variant ran")


def server_args(executor: str) -> list[str]:
    """`cairn server` flags for a suite on `executor`."""
    args = ["--local-cpus", str(LOCAL_CPUS), "--local-memory", LOCAL_MEMORY,
            "--local-gpus", FAKE_GPUS]
    if executor == "slurm":
        slurm_conf_or_skip()
        args += ["--slurm", "--slurm-partition", "cpu", "--slurm-gpu-partition", "gpu"]
    return args


def start(data_dir: Path, executor: str) -> cairn_testing.Server:
    return cairn_testing.start_server(data_dir, kind="cairn", extra_args=server_args(executor))


def cli(server, *args, timeout: float = 300, input_text: str | None = None):
    """`cairn ARGS --url SERVER` as a process; returns the CompletedProcess."""
    env = dict(os.environ)
    env.pop("CAIRN_URL", None)
    return subprocess.run([str(cairn_testing.cairn_binary()), *args, "--url", server.url],
                          capture_output=True, text=True, env=env, timeout=timeout,
                          input=input_text)


def wait_until(what: str, predicate: Callable[[], object], deadline_s: float = DEADLINE_S,
               interval_s: float = 0.05):
    """Polls `predicate` until it returns something truthy (returned); fails after the
    deadline saying what was awaited."""
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    pytest.fail(f"timed out after {deadline_s} s waiting for {what} (last: {last!r})")


def pid_gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")
