"""Numerical agreement of Cairn's drift statistics with scipy and evidently 0.7.23.

Randomized fixtures (normal, skewed, heavy-tailed, discrete, few values, binary,
categorical, with NaN and ±inf, tiny and large samples; fixed seeds so a failure
reproduces) are written to CSV and run through the real binary — `cairn drift --reference
ref.csv --current cur.csv --json --test NAME` — once per statistic. The same CSV files are
read back with pandas and handed to

- evidently's own stattest objects (evidently.legacy.calculations.stattests: what
  DataDriftPreset calls per column), after evidently's cleaning (±inf → NaN, NaN dropped):
  Cairn's `score` (the p-value of a p-value test, else the statistic) must equal
  evidently's `drift_score`, and the verdicts must match;
- scipy directly, for the statistics evidently does not report (KS D, Anderson–Darling A²,
  Cramér–von Mises T, Mann–Whitney U, t, chi², the raw Wasserstein distance…) and as a
  second oracle of the p-values;
- DataDriftPreset itself on multi-column data sets (large and small references): the test
  evidently picks per column, its value, the drifted-column count and share, and the
  data-set verdict.

"Equal" means within 1e-6 relative (math.isclose, abs_tol 1e-15 for values that are 0 up
to rounding). Where Cairn and an oracle legitimately differ, the case says why in
EXPLAINED and asserts the explained relation instead.

evidently 0.7.23 does not import under pandas 3 without evidently_compat (see there).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cairn_testing  # noqa: E402
from evidently_compat import evidently  # noqa: E402,F401

from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.legacy.calculations import stattests as ev  # noqa: E402
from evidently.legacy.calculations.stattests import registry as ev_registry  # noqa: E402
from evidently.legacy.calculations.stattests.cramer_von_mises_stattest import (  # noqa: E402
    _cvm_2samp, cramer_von_mises)
from evidently.legacy.calculations.stattests.tvd_stattest import (  # noqa: E402
    _total_variation_distance)
from evidently.legacy.calculations.stattests.z_stattest import (  # noqa: E402
    proportions_diff_z_stat_ind)
from evidently.legacy.core import ColumnType  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

REL = 1e-6
ABS = 1e-15

# Cairn's test name → evidently's StatTest object (the registry's "ed" and "TVD" are
# Cairn's energy_dist and tvd; Cairn accepts both spellings).
EVIDENTLY_TESTS = {
    "ks": ev.ks_stat_test,
    "chisquare": ev.chi_stat_test,
    "z": ev.z_stat_test,
    "wasserstein": ev.wasserstein_stat_test,
    "jensenshannon": ev.jensenshannon_stat_test,
    "psi": ev.psi_stat_test,
    "kl_div": ev.kl_div_stat_test,
    "hellinger": ev.hellinger_stat_test,
    "tvd": ev.tvd_test,
    "anderson": ev.anderson_darling_test,
    "cramer_von_mises": cramer_von_mises,
    "mannw": ev.mann_whitney_u_stat_test,
    "t_test": ev.t_test,
    "energy_dist": ev.energy_dist_test,
}
NUMERIC_TESTS = list(EVIDENTLY_TESTS)
CATEGORICAL_TESTS = ["chisquare", "z", "jensenshannon", "psi", "kl_div", "hellinger", "tvd"]
# evidently's TVD p-value is a 1000-round permutation test in pure Python: keep it to the
# fixtures small enough to finish in a few seconds.
TVD_MAX_VALUES = 5000


# --- fixtures ---------------------------------------------------------------------------

def _with_gaps(rng, values, nan_share=0.0, inf_share=0.0):
    values = np.asarray(values, dtype=float).copy()
    n = len(values)
    if nan_share:
        values[rng.choice(n, int(n * nan_share), replace=False)] = np.nan
    if inf_share:
        where = rng.choice(n, int(n * inf_share), replace=False)
        values[where] = np.where(rng.random(len(where)) < 0.5, np.inf, -np.inf)
    return values


def _labels(rng, names, probabilities, n, missing_share=0.0):
    values = rng.choice(np.array(names, dtype=object), size=n, p=probabilities)
    if missing_share:
        values[rng.choice(n, int(n * missing_share), replace=False)] = None
    return values


def make_fixtures():
    """name → (kind, reference values, current values). Seeds fixed per fixture."""
    f = {}
    rng = np.random.default_rng(101)
    f["normal_small"] = ("numeric", rng.normal(0, 1, 300), rng.normal(0.25, 1, 260))
    rng = np.random.default_rng(102)
    # max(n, m) > 10000: KS asymptotic, Mann–Whitney and CvM asymptotic.
    f["normal_large"] = ("numeric", rng.normal(10, 2, 12000), rng.normal(10.05, 2, 11000))
    rng = np.random.default_rng(103)
    f["skewed"] = ("numeric", rng.lognormal(0, 1, 3000), rng.lognormal(0.1, 1.1, 2500))
    rng = np.random.default_rng(104)
    f["heavy_tailed"] = ("numeric", rng.standard_t(1.5, 2000), 1.2 * rng.standard_t(1.5, 1900))
    rng = np.random.default_rng(105)
    # Ties everywhere; fewer than 20 distinct reference values: one bin per value.
    f["discrete"] = ("numeric", rng.poisson(3, 1500), rng.poisson(3.4, 1200))
    rng = np.random.default_rng(106)
    f["few_values"] = ("numeric", rng.choice([0, 1, 2, 3], 800, p=[0.4, 0.3, 0.2, 0.1]),
                       rng.choice([0, 1, 2, 3], 700, p=[0.3, 0.3, 0.25, 0.15]))
    rng = np.random.default_rng(107)
    f["binary"] = ("numeric", rng.choice([0, 1], 500, p=[0.7, 0.3]),
                   rng.choice([0, 1], 450, p=[0.6, 0.4]))
    rng = np.random.default_rng(108)
    f["nan_inf"] = ("numeric", _with_gaps(rng, rng.normal(0, 1, 1300), 0.05, 0.01),
                    _with_gaps(rng, rng.normal(0.1, 1.2, 1100), 0.08, 0.02))
    rng = np.random.default_rng(109)
    # Exact paths: KS exact, CvM exact (<= 20 values), Mann–Whitney exact.
    f["tiny"] = ("numeric", rng.normal(0, 1, 6), rng.normal(1, 1, 8))
    rng = np.random.default_rng(110)
    f["categorical"] = (
        "categorical",
        _labels(rng, ["red", "green", "blue", "cyan"], [0.4, 0.3, 0.2, 0.1], 2500, 0.03),
        _labels(rng, ["red", "green", "blue", "cyan", "magenta"],
                [0.3, 0.3, 0.2, 0.15, 0.05], 2200, 0.05))
    rng = np.random.default_rng(111)
    f["categorical_small"] = (
        "categorical", _labels(rng, ["low", "mid", "high"], [0.5, 0.3, 0.2], 400),
        _labels(rng, ["low", "mid", "high"], [0.4, 0.35, 0.25], 300))
    rng = np.random.default_rng(112)
    f["categorical_binary"] = (
        "categorical", _labels(rng, ["yes", "no"], [0.8, 0.2], 900, 0.02),
        _labels(rng, ["yes", "no"], [0.7, 0.3], 800))
    return f


FIXTURES = make_fixtures()

# Cases where Cairn and evidently legitimately differ: (fixture, test) → why. The test
# then asserts the explained relation (explain_*) instead of equality with evidently; the
# scipy comparisons still apply.
TVD_ALL_DISTINCT = (
    "every value occurs once (continuous data), so the total variation distance is exactly 1 "
    "for the observed split and for every permutation, and the exact permutation p-value is "
    "1. evidently sums the shares of a permuted split in dictionary order and gets 1 ± a few "
    "ulps, so its p-value (share of permutations with TVD >= observed) counts the rounding "
    "noise (0.86 here); Cairn's sums round differently. Cairn must say TVD 1 (to 1e-12) and "
    "p 1.")
CVM_EXACT_NUMPY2 = (
    "evidently ships its own copy of the two-sample Cramér–von Mises test; its exact p-value "
    "(both samples <= 20 values) adds int64 into a uint16 array, which numpy 2 refuses "
    "(_UFuncOutputCastingError), so evidently has no answer here. Cairn's p-value is compared "
    "with scipy.stats.cramervonmises_2samp (evidently's source of the algorithm).")
EXPLAINED = {
    ("heavy_tailed", "tvd"): TVD_ALL_DISTINCT,
    ("nan_inf", "tvd"): TVD_ALL_DISTINCT,
    ("normal_small", "tvd"): TVD_ALL_DISTINCT,
    ("tiny", "tvd"): TVD_ALL_DISTINCT,
    ("tiny", "cramer_von_mises"): CVM_EXACT_NUMPY2,
}


def explain(why, column, reference, current, column_type, test):
    if why is TVD_ALL_DISTINCT:
        assert reference.nunique() + current.nunique() == len(reference) + len(current)
        assert math.isclose(column["statistic"], 1.0, rel_tol=1e-12)
        assert column["p_value"] == 1.0
        assert column["drifted"] is False
    elif why is CVM_EXACT_NUMPY2:
        assert max(len(reference), len(current)) <= 20
        with pytest.raises(np._core._exceptions._UFuncOutputCastingError):
            EVIDENTLY_TESTS[test](reference.copy(), current.copy(), column_type, None)
        res = stats.cramervonmises_2samp(reference.to_numpy(), current.to_numpy())
        assert_close(column["p_value"], res.pvalue, "CvM exact p-value vs scipy")
    else:
        raise AssertionError(f"no check for explanation {why!r}")


@pytest.fixture(scope="module")
def csv_dir(temp_root):
    directory = temp_root / "drift-agreement"
    directory.mkdir(parents=True, exist_ok=True)
    for name, (kind, reference, current) in FIXTURES.items():
        for side, values in (("reference", reference), ("current", current)):
            frame = pd.DataFrame({"x": pd.Series(values, dtype=object if kind == "categorical"
                                                 else float)})
            frame.to_csv(directory / f"{name}-{side}.csv", index=False)
    return directory


def read_side(csv_dir, fixture, side, categorical):
    """The column as pandas reads the CSV Cairn reads (round-trip float parsing)."""
    dtype = {"x": object} if categorical else {"x": float}
    frame = pd.read_csv(csv_dir / f"{fixture}-{side}.csv", dtype=dtype,
                        float_precision="round_trip", keep_default_na=True)
    return frame["x"]


def clean(series):
    """evidently's get_one_column_drift cleaning: ±inf → NaN, then NaN dropped."""
    return series.replace([-np.inf, np.inf], np.nan).dropna()


def run_cairn(csv_dir, fixture, test=None, categorical=False, extra=()):
    args = [str(cairn_testing.cairn_binary()), "drift",
            "--reference", str(csv_dir / f"{fixture}-reference.csv"),
            "--current", str(csv_dir / f"{fixture}-current.csv"), "--json"]
    if test:
        args += ["--test", test]
    if categorical:
        args += ["--categorical", "x"]
    args += list(extra)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(args)} → {proc.returncode}: {proc.stderr}"
    return json.loads(proc.stdout)


def assert_close(actual, expected, what):
    if not math.isfinite(expected):
        # JSON has no infinity or NaN: Cairn writes null (e.g. chi² when the current sample
        # holds a value the reference never had: expected count 0, statistic inf, p 0).
        assert actual is None, f"{what}: Cairn {actual!r} vs oracle {expected!r}"
        return
    assert actual is not None, f"{what}: Cairn gave null, oracle {expected!r}"
    assert math.isclose(actual, expected, rel_tol=REL, abs_tol=ABS), (
        f"{what}: Cairn {actual!r} vs oracle {expected!r} "
        f"(relative difference {abs(actual - expected) / max(abs(expected), 1e-300):.3g})")


# --- scipy: the statistics evidently does not report -------------------------------------

def scipy_statistic(test, reference, current, categorical):
    """(statistic, p-value or None) as scipy computes them on the cleaned samples, for the
    tests where Cairn's `statistic` is a scipy quantity; None when scipy has none."""
    r = reference.to_numpy()
    c = current.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if test == "ks":
            res = stats.ks_2samp(r, c)
            return res.statistic, res.pvalue
        if test == "anderson":
            res = stats.anderson_ksamp([r, c])
            return res.statistic, res.significance_level
        if test == "cramer_von_mises":
            res = stats.cramervonmises_2samp(r, c)
            return res.statistic, res.pvalue
        if test == "mannw":
            res = stats.mannwhitneyu(r, c, alternative="less")
            return res.statistic, res.pvalue
        if test == "t_test":
            res = stats.ttest_ind(r, c)
            return res.statistic, res.pvalue
        if test == "energy_dist":
            return stats.energy_distance(r, c), None
        if test == "wasserstein":
            return stats.wasserstein_distance(r, c) / max(float(np.std(r)), 0.001), None
        if test == "chisquare":
            keys = list(set(r) | set(c))
            ref_counts = pd.Series(r).value_counts()
            cur_counts = pd.Series(c).value_counts()
            k_norm = len(c) / len(r)
            f_exp = [ref_counts.get(k, 0) * k_norm for k in keys]
            f_obs = [cur_counts.get(k, 0) for k in keys]
            res = stats.chisquare(f_obs, f_exp)
            return res.statistic, res.pvalue
        if test == "z":
            keys = sorted(set(r) | set(c))
            if len(keys) == 1:
                return 0.0, 1.0
            z = proportions_diff_z_stat_ind(pd.Series(r).apply(lambda x: 0 if x == keys[0] else 1),
                                            pd.Series(c).apply(lambda x: 0 if x == keys[0] else 1))
            return abs(z), None
        if test == "tvd":
            return _total_variation_distance(pd.Series(r), pd.Series(c)), None
    return None


# --- per statistic -----------------------------------------------------------------------

CASES = [(fixture, test)
         for fixture, (kind, reference, current) in FIXTURES.items()
         for test in (CATEGORICAL_TESTS if kind == "categorical" else NUMERIC_TESTS)
         if not (test == "tvd" and len(reference) + len(current) > TVD_MAX_VALUES)]


@pytest.mark.parametrize("fixture,test", CASES, ids=[f"{f}-{t}" for f, t in CASES])
def test_statistic_agrees_with_evidently_and_scipy(csv_dir, fixture, test):
    kind = FIXTURES[fixture][0]
    categorical = kind == "categorical"
    column_type = ColumnType.Categorical if categorical else ColumnType.Numerical
    reference = clean(read_side(csv_dir, fixture, "reference", categorical))
    current = clean(read_side(csv_dir, fixture, "current", categorical))

    report = run_cairn(csv_dir, fixture, test, categorical)
    (column,) = report["columns"]
    assert column["column"] == "x"
    assert column["kind"] == kind
    assert column["test"] == test
    # Cairn drops the same values evidently does.
    assert column["reference_count"] == len(reference)
    assert column["current_count"] == len(current)

    why = EXPLAINED.get((fixture, test))
    if why is not None:
        explain(why, column, reference, current, column_type, test)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            oracle = EVIDENTLY_TESTS[test](reference.copy(), current.copy(), column_type, None)
        assert_close(column["score"], float(oracle.drift_score),
                     f"{fixture}/{test} score vs evidently")
        assert column["threshold"] == oracle.actual_threshold
        if not math.isclose(column["score"], oracle.actual_threshold, rel_tol=1e-9):
            assert column["drifted"] == bool(oracle.drifted), f"{fixture}/{test} verdict"

    expected = scipy_statistic(test, reference, current, categorical)
    if expected is not None:
        statistic, p_value = expected
        actual = abs(column["statistic"]) if test == "z" else column["statistic"]
        assert_close(actual, float(statistic), f"{fixture}/{test} statistic vs scipy")
        if p_value is not None and test != "cramer_von_mises":
            assert_close(column["p_value"], float(p_value), f"{fixture}/{test} p-value vs scipy")


def test_cramer_von_mises_matches_scipy_and_evidentlys_own_copy(csv_dir):
    """evidently ships its own copy of the two-sample CvM (_cvm_2samp); Cairn computes
    scipy's cramervonmises_2samp. On every numeric fixture the two oracles and Cairn agree
    on T; the p-values agree with both."""
    for fixture, (kind, _, _) in FIXTURES.items():
        if kind != "numeric":
            continue
        reference = clean(read_side(csv_dir, fixture, "reference", False))
        current = clean(read_side(csv_dir, fixture, "current", False))
        (column,) = run_cairn(csv_dir, fixture, "cramer_von_mises")["columns"]
        scipy_result = stats.cramervonmises_2samp(reference.to_numpy(), current.to_numpy())
        assert_close(column["statistic"], scipy_result.statistic, f"{fixture} T vs scipy")
        assert_close(column["p_value"], scipy_result.pvalue, f"{fixture} p vs scipy")
        if max(len(reference), len(current)) <= 20:
            continue  # evidently's exact path fails under numpy 2: CVM_EXACT_NUMPY2
        evidently_result = _cvm_2samp(reference.to_numpy(), current.to_numpy())
        assert_close(column["statistic"], evidently_result.statistic, f"{fixture} T vs evidently")
        assert_close(column["p_value"], float(evidently_result.pvalue), f"{fixture} p vs evidently")


# --- the default test per column and DataDriftPreset ----------------------------------------

def _evidently_name(display_or_name):
    for name, stat_test in EVIDENTLY_TESTS.items():
        if display_or_name in (stat_test.display_name, stat_test.name):
            return name
    raise AssertionError(f"unknown evidently test {display_or_name!r}")


def make_dataset(rng, n, shift):
    """One data set of every column kind, with NaN and ±inf in some columns."""
    return pd.DataFrame({
        "normal": rng.normal(shift, 1, n),
        "normal_steady": rng.normal(0, 1, n),
        "skewed": rng.lognormal(shift / 2, 1, n),
        "heavy": _with_gaps(rng, rng.standard_t(2, n) + shift, 0.02, 0.01),
        "discrete": rng.poisson(3 + shift, n).astype(float),
        "few": rng.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.4, 0.3, 0.2, 0.1]),
        "flag": rng.choice([0.0, 1.0], n, p=[0.7 - shift / 4, 0.3 + shift / 4]),
        "city": _labels(rng, ["Paris", "Oslo", "Rome", "Lima"],
                        [0.4 - shift / 4, 0.3, 0.2, 0.1 + shift / 4], n, 0.02),
        "segment": _labels(rng, ["a", "b"], [0.5, 0.5], n),
    })


CATEGORICAL_COLUMNS = ["city", "segment"]


@pytest.mark.parametrize("size", [3000, 600], ids=["large-reference", "small-reference"])
def test_default_tests_and_verdict_match_data_drift_preset(temp_root, size):
    rng = np.random.default_rng(200 + size)
    reference = make_dataset(rng, size, 0.0)
    current = make_dataset(rng, int(size * 0.9), 0.4)
    directory = temp_root / f"drift-preset-{size}"
    directory.mkdir(parents=True, exist_ok=True)
    reference.to_csv(directory / "reference.csv", index=False)
    current.to_csv(directory / "current.csv", index=False)

    args = [str(cairn_testing.cairn_binary()), "drift",
            "--reference", str(directory / "reference.csv"),
            "--current", str(directory / "current.csv"), "--json",
            "--categorical", ",".join(CATEGORICAL_COLUMNS)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    cairn = json.loads(proc.stdout)
    by_column = {c["column"]: c for c in cairn["columns"]}

    # evidently on the same CSV files, with the column kinds stated (evidently would
    # otherwise infer them on its own: e.g. integer columns with <= 10 values become
    # categorical; Cairn's CSV inference is pandas' numeric/non-numeric one).
    ref_frame = pd.read_csv(directory / "reference.csv", float_precision="round_trip")
    cur_frame = pd.read_csv(directory / "current.csv", float_precision="round_trip")
    numeric_columns = [c for c in ref_frame.columns if c not in CATEGORICAL_COLUMNS]
    definition = DataDefinition(numerical_columns=numeric_columns,
                                categorical_columns=CATEGORICAL_COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # include_tests: the preset's data-set verdict is its test on the share of drifted
        # columns ("Share of Drifted Columns: Less 0.500"; FAIL = data-set drift).
        snapshot = Report([DataDriftPreset()], include_tests=True).run(
            Dataset.from_pandas(cur_frame, data_definition=definition),
            Dataset.from_pandas(ref_frame, data_definition=definition))
    metrics = snapshot.dict()["metrics"]
    share_tests = [t for t in snapshot.dict()["tests"]
                   if t["metric_config"]["params"]["type"]
                   == "evidently:metric_v2:DriftedColumnsCount"]
    assert len(share_tests) == 1, snapshot.dict()["tests"]
    evidently_dataset_drift = str(share_tests[0]["status"].value) == "FAIL"

    seen = set()
    for metric in metrics:
        config = metric["config"]
        if config["type"] == "evidently:metric_v2:ValueDrift":
            name, method, threshold = config["column"], config["method"], config["threshold"]
            column = by_column[name]
            assert column["test"] == _evidently_name(method), name
            assert column["threshold"] == threshold, name
            assert_close(column["score"], float(metric["value"]), f"{name} ({method})")
            # evidently's default choice, computed again from its registry on the cleaned
            # columns, names the same test.
            ref_clean = clean(ref_frame[name])
            cur_clean = clean(cur_frame[name])
            kind = ColumnType.Categorical if name in CATEGORICAL_COLUMNS else ColumnType.Numerical
            chosen = ev_registry.get_stattest(ref_clean, cur_clean, kind, None)
            assert column["test"] == _evidently_name(chosen.name), name
            seen.add(name)
        elif config["type"] == "evidently:metric_v2:DriftedColumnsCount":
            assert cairn["drifted_columns"] == int(metric["value"]["count"])
            assert_close(cairn["drift_share"], float(metric["value"]["share"]), "drift share")
    assert seen == set(reference.columns)
    assert cairn["dataset_drift"] == evidently_dataset_drift, share_tests[0]["description"]
    assert cairn["number_of_columns"] == len(reference.columns)
    # The fixtures exercise both verdicts per column.
    assert 0 < cairn["drifted_columns"] < len(reference.columns)


# --- integer columns: numpy's Sturges width >= 1 -----------------------------------------

INTEGER_TESTS = ["psi", "jensenshannon", "kl_div"]  # hellinger bins distinct values: 21, no clamp


@pytest.fixture(scope="module")
def integer_csv_dir(temp_root):
    """An int64 column with 21 distinct values and 840k values in all: the Sturges width
    (20 / (log2(840000) + 1) = 0.97) is clamped to 1 for integer arrays, so numpy (and
    Evidently) cut 20 bins where a float column gets 21."""
    directory = temp_root / "drift-agreement-integer"
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(21)
    reference = rng.integers(0, 21, 420_000)
    reference[:21] = np.arange(21)
    current = np.clip(rng.binomial(20, 0.52, 420_000), 0, 20)
    current[:21] = np.arange(21)
    pd.DataFrame({"x": reference}).to_csv(directory / "ints-reference.csv", index=False)
    pd.DataFrame({"x": current}).to_csv(directory / "ints-current.csv", index=False)
    return directory


@pytest.mark.parametrize("test", INTEGER_TESTS)
def test_integer_column_bins_agree_with_evidently(integer_csv_dir, test):
    reference = pd.read_csv(integer_csv_dir / "ints-reference.csv")["x"]
    current = pd.read_csv(integer_csv_dir / "ints-current.csv")["x"]
    assert reference.dtype == np.int64 and current.dtype == np.int64
    edges = np.histogram_bin_edges(list(reference) + list(current), bins="sturges")
    assert len(edges) - 1 == 20  # the clamp is in play (a float column: 21 bins)
    report = run_cairn(integer_csv_dir, "ints", test)
    (column,) = report["columns"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = EVIDENTLY_TESTS[test](reference.copy(), current.copy(),
                                       ColumnType.Numerical, None)
    assert_close(column["score"], float(oracle.drift_score), f"ints/{test} score vs evidently")
