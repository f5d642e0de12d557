#!/usr/bin/env python3
"""Data for the drift benchmark (bench/drift/run.py): a reference and a current CSV of
--rows rows each, 20 numeric columns (num_00..num_19) and 5 categorical ones
(cat_0..cat_4), with a shift in some columns of the current file:

  num_00..num_04  mean shifted by 0.3 standard deviations      (drift)
  num_05          scale x1.5                                    (drift)
  num_06..num_19  the reference's distribution, fresh draws     (no drift)
  cat_0           probabilities of the first and last labels swapped   (drift)
  cat_1           a new label "new" in 20% of the rows                 (drift)
  cat_2..cat_4    the reference's distribution                         (no drift)

Numeric distributions cycle through normal, lognormal, uniform, exponential and a
Student t with 3 degrees of freedom; categorical columns have 3, 8, 20, 50 and 200 labels
("c<column>_<k>") with Zipf-like probabilities. Values are written with 7 significant
digits. Deterministic for a --seed; files are rewritten only when --force or when
bench/drift's stamp of (rows, seed, format version) differs.

Usage: python3 bench/drift/generate.py --out build/bench-drift-data [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

VERSION = 1
N_NUMERIC = 20
CAT_SIZES = [3, 8, 20, 50, 200]


def numeric(rng: np.random.Generator, kind: int, rows: int) -> np.ndarray:
    if kind == 0:
        return rng.normal(10.0, 2.0, rows)
    if kind == 1:
        return rng.lognormal(0.0, 0.6, rows)
    if kind == 2:
        return rng.uniform(-5.0, 5.0, rows)
    if kind == 3:
        return rng.exponential(3.0, rows)
    return rng.standard_t(3, rows)


def zipf_probs(k: int) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1)
    return p / p.sum()


def frame(rng: np.random.Generator, rows: int, shifted: bool) -> pd.DataFrame:
    cols = {}
    for i in range(N_NUMERIC):
        x = numeric(rng, i % 5, rows)
        if shifted and i < 5:
            x = x + 0.3 * np.std(x)
        if shifted and i == 5:
            x = (x - x.mean()) * 1.5 + x.mean()
        cols[f"num_{i:02d}"] = x
    for j, k in enumerate(CAT_SIZES):
        labels = np.array([f"c{j}_{v}" for v in range(k)], dtype=object)
        p = zipf_probs(k)
        if shifted and j == 0:
            p[0], p[-1] = p[-1], p[0]
        codes = rng.choice(k, size=rows, p=p)
        values = labels[codes]
        if shifted and j == 1:
            values = np.where(rng.random(rows) < 0.2, "new", values)
        cols[f"cat_{j}"] = values
    return pd.DataFrame(cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    stamp_path = os.path.join(args.out, "stamp.json")
    stamp = {"rows": args.rows, "seed": args.seed, "version": VERSION}
    ref_path = os.path.join(args.out, "reference.csv")
    cur_path = os.path.join(args.out, "current.csv")
    if not args.force and os.path.exists(stamp_path) and os.path.exists(cur_path):
        with open(stamp_path) as f:
            if json.load(f) == stamp:
                print(f"data up to date in {args.out} ({args.rows} rows, seed {args.seed})")
                return
    t0 = time.time()
    rng = np.random.default_rng(args.seed)
    for path, shifted in ((ref_path, False), (cur_path, True)):
        frame(rng, args.rows, shifted).to_csv(path, index=False, float_format="%.7g")
    with open(stamp_path, "w") as f:
        json.dump(stamp, f)
    size = (os.path.getsize(ref_path) + os.path.getsize(cur_path)) / 1e6
    print(f"wrote {ref_path} and {cur_path} ({args.rows} rows each, {size:.0f} MB) "
          f"in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
