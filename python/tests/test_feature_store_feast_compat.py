"""Smoke test: Feast's own client (pip `feast`, its `remote` online store, which calls
POST /get-online-features of a feature server) reads online features from `cairn server`.

Feast is heavy and not in requirements-test.txt: the test runs when CAIRN_TEST_FEAST_PYTHON
names a Python that has feast installed (e.g. /tmp/feast-venv/bin/python), and is skipped
otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pandas as pd
import pytest

import cairn
from features import sdk_defs, server

pytestmark = server.skip_unless_cairn()

FEAST_CLIENT = textwrap.dedent('''
    import json, sys
    from datetime import timedelta
    import pyarrow as pa, pyarrow.parquet as pq
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    repo = sys.argv[1]
    # Feast reads the offline file's schema at apply; the rows live in Cairn.
    pq.write_table(pa.table({"customer_id": pa.array([], pa.int64()),
                             "ts": pa.array([], pa.timestamp("ms", "UTC")),
                             "age": pa.array([], pa.int64()),
                             "score": pa.array([], pa.float64()),
                             "tier": pa.array([], pa.string())}), repo + "/unused.parquet")
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    source = FileSource(name="profile_src", path=repo + "/unused.parquet",
                        timestamp_field="ts")
    profile = FeatureView(name="profile", entities=[customer], ttl=timedelta(hours=1),
                          schema=[Field(name="age", dtype=Int64),
                                  Field(name="score", dtype=Float64),
                                  Field(name="tier", dtype=String)],
                          source=source, online=True)
    store = FeatureStore(repo_path=repo)
    store.apply([customer, profile])
    got = store.get_online_features(
        features=["profile:age", "profile:score", "profile:tier"],
        entity_rows=[{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 99}]).to_dict()
    print("FEAST_RESULT " + json.dumps(got))
''')


@pytest.fixture
def feast_python():
    python = os.environ.get("CAIRN_TEST_FEAST_PYTHON")
    if not python:
        pytest.skip("CAIRN_TEST_FEAST_PYTHON is not set (a Python with pip feast installed)")
    return python


def test_feast_remote_online_store_reads_from_cairn(feast_python, tmp_path):
    srv = server.start(tmp_path / "data")
    try:
        store = cairn.FeatureStore(srv.url)
        (tmp_path / "defs").mkdir()
        (tmp_path / "defs" / "defs.yaml").write_text(sdk_defs.yaml_text())
        store.apply(tmp_path / "defs")
        now = pd.Timestamp.now(tz="UTC").floor("ms")
        store.push("profile_push", {"customer_id": [1, 2], "ts": [now, now],
                                    "age": [34, 51], "score": [0.25, None],
                                    "tier": ["gold", "silver"]})

        repo = tmp_path / "feast_repo"
        repo.mkdir()
        (repo / "feature_store.yaml").write_text(textwrap.dedent(f"""\
            project: cairn_compat
            registry: {repo}/registry.db
            provider: local
            online_store:
              type: remote
              path: {srv.url}
            entity_key_serialization_version: 3
            """))
        (repo / "client.py").write_text(FEAST_CLIENT)
        done = subprocess.run([feast_python, str(repo / "client.py"), str(repo)], cwd=repo,
                              capture_output=True, text=True, timeout=300)
        lines = [l for l in done.stdout.splitlines() if l.startswith("FEAST_RESULT ")]
        assert lines, f"feast client failed ({done.returncode}):\n{done.stderr[-4000:]}"
        got = json.loads(lines[0].split(" ", 1)[1])
        assert got["customer_id"] == [1, 2, 99]
        assert got["age"] == [34, 51, None]
        assert got["score"] == [0.25, None, None]
        assert got["tier"] == ["gold", "silver", None]
    finally:
        srv.stop()
