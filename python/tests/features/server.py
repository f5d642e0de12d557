"""Starting `cairn server` for the feature-store tests, with the embedded online store or
Redis (`--online redis://…`, from CAIRN_TEST_REDIS_URL)."""

from __future__ import annotations

import os
import uuid

import pytest

import cairn_testing

BACKENDS = ("embedded", "redis")


def skip_unless_cairn():
    """The feature store is Cairn's own API: nothing to compare against mlflow server."""
    return pytest.mark.skipif(cairn_testing.is_mlflow(),
                              reason="feature store tests need cairn server")


def redis_url_or_skip() -> str:
    """CAIRN_TEST_REDIS_URL (scripts/run_tests starts a redis-server on loopback). Unset:
    a skip on a developer machine, a failure under CI."""
    url = os.environ.get("CAIRN_TEST_REDIS_URL")
    if url:
        return url
    message = ("CAIRN_TEST_REDIS_URL is not set: run the suite through scripts/run_tests "
               "(make test), which starts redis-server on loopback")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def start(data_dir, backend: str = "embedded"):
    """A fresh server with its data under data_dir; online store per `backend`."""
    extra = []
    if backend == "redis":
        extra = ["--online", redis_url_or_skip()]
    return cairn_testing.start_server(data_dir, kind="cairn", extra_args=extra)


def unique_suffix() -> str:
    """Names in a shared Redis must not collide across servers and runs."""
    return uuid.uuid4().hex[:8]
