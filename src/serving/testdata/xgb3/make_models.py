#!/usr/bin/env python3
"""Writes the Python-xgboost models the XGBoost runtime's tests load (xgb_runtime_test.cc).

Run with Python xgboost ≥ 2 (pip install xgboost-cpu) from this directory:
    python3 make_models.py
It trains small boosters on fixed data, saves each in JSON and UBJSON, and writes
expected.json: the input rows (null = missing) and Python xgboost's own predictions, which
libxgboost 1.7.4 must reproduce after Cairn normalizes the files.
"""

import json
import math

import numpy as np
import pandas as pd
import xgboost as xgb

FEATURES = ["a", "b", "c", "d"]


def main() -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(400, 4)), columns=FEATURES)
    binary_label = ((frame.a + 0.5 * frame.b - 0.3 * frame.c) > 0.2).astype(int)
    regression_label = 3.0 + 2.0 * frame.a - frame.d + rng.normal(scale=0.1, size=400)
    class_label = np.digitize(frame.a + frame.b, [-0.7, 0.7])

    rows = rng.normal(size=(6, 4))
    rows[1, 2] = np.nan
    rows[4, 0] = np.nan
    test = pd.DataFrame(rows, columns=FEATURES)

    models = {
        "binary": ({"objective": "binary:logistic", "max_depth": 3}, binary_label),
        "regression": ({"objective": "reg:squarederror", "max_depth": 3}, regression_label),
        "softmax": ({"objective": "multi:softmax", "num_class": 3, "max_depth": 3}, class_label),
    }
    expected = {
        "xgboost_version": xgb.__version__,
        "columns": FEATURES,
        "rows": [[None if math.isnan(v) else float(v) for v in row] for row in rows],
        "predictions": {},
    }
    for name, (params, label) in models.items():
        booster = xgb.train({**params, "seed": 1}, xgb.DMatrix(frame, label=label), 10)
        booster.save_model(f"{name}.json")
        booster.save_model(f"{name}.ubj")
        expected["predictions"][name] = [float(v) for v in booster.predict(xgb.DMatrix(test))]
    with open("expected.json", "w") as out:
        json.dump(expected, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
