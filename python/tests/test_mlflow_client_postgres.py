"""The acceptance test of the stock mlflow client again, with `cairn server --metadata
postgresql://…` (the scale-out metadata backend) instead of the embedded SQLite."""

from test_mlflow_client import *  # noqa: F401,F403 — the same tests, collected here again

METADATA_BACKEND = "postgresql"
