"""Definitions and data of the SDK tests (test_feature_store_sdk.py). Every object name
carries a suffix so that servers sharing one Redis never read each other's rows."""

from __future__ import annotations

YAML = """\
kind: Entity
name: customer{s}
description: a subscriber
owner: growth-ml
join_keys: [{{name: customer_id, type: int64}}]
---
kind: Source
name: txns{s}
type: file
format: csv
timestamp_field: ts
schema:
  - {{name: customer_id, type: int64, nullable: false}}
  - {{name: ts, type: timestamp, nullable: false}}
  - {{name: amount, type: double}}
  - {{name: channel, type: string}}
---
kind: Source
name: profile_push{s}
type: push
timestamp_field: ts
schema:
  - {{name: customer_id, type: int64, nullable: false}}
  - {{name: ts, type: timestamp, nullable: false}}
  - {{name: age, type: int64}}
  - {{name: score, type: double}}
  - {{name: tier, type: string}}
---
kind: FeatureView
name: profile{s}
entities: [customer{s}]
source: profile_push{s}
ttl: 1h
online: true
features:
  - {{name: age, type: int64}}
  - {{name: score, type: double}}
  - {{name: tier, type: string}}
---
kind: FeatureView
name: spend{s}
entities: [customer{s}]
source: txns{s}
ttl: {spend_ttl}
online: true
features:
  - {{name: amount, type: double}}
  - {{name: amount_log, type: double, expr: "log1p(amount)"}}
  - {{name: channel, type: string}}
---
kind: FeatureView
name: spend_windows{s}
entities: [customer{s}]
source: txns{s}
ttl: 0
online: false
features:
  - {{name: spend_1d, type: double, agg: sum, of: amount, window: 1d}}
  - {{name: txns_1d, type: int64, agg: count, window: 1d}}
---
kind: FeatureService
name: churn{s}
description: the churn model's inputs
features: ["profile{s}:age", "spend{s}:amount", "spend_windows{s}"]
---
kind: FeatureService
name: churn_online{s}
features: ["profile{s}:age", "spend{s}:amount"]
"""


def yaml_text(suffix: str = "", spend_ttl: str = "0") -> str:
    return YAML.format(s=suffix, spend_ttl=spend_ttl)


T0 = 1_717_200_000_000  # 2024-06-01T00:00:00Z
MINUTE = 60_000

# txns rows: (customer_id, ts, amount, channel)
TXNS = [
    (1, T0 + 1 * MINUTE, 10.0, "web"),
    (1, T0 + 2 * MINUTE, 20.0, "app"),
    (1, T0 + 30 * MINUTE, 5.5, "web"),
    (2, T0 + 3 * MINUTE, 100.0, "store"),
    (2, T0 + 40 * MINUTE, None, "app"),
    (3, T0 + 10 * MINUTE, 1.0, None),
]


def txns_csv(rows=TXNS) -> str:
    lines = ["customer_id,ts,amount,channel"]
    for key, ts, amount, channel in rows:
        lines.append(f"{key},{ts},{'' if amount is None else repr(amount)},"
                     f"{'' if channel is None else channel}")
    return "\n".join(lines) + "\n"
