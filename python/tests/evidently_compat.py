"""Imports evidently 0.7.23 next to pandas 3.

evidently 0.7.23 (the oracle of the drift statistics, python/tests/test_drift_agreement.py)
imports `infer_dtype_from_object` from pandas.core.dtypes.common at package import time
(evidently/legacy/tests/data_integrity_tests.py, for its TestColumnsType check). pandas 3
removed that private helper, so `import evidently` fails with ImportError. Nothing the
agreement suite calls uses it — the drift stattests, DataDriftPreset and Report never reach
TestColumnsType — so a stand-in that raises if it is ever called lets the package import
while every number it computes stays evidently's own.

    from evidently_compat import evidently   # instead of `import evidently`
"""

from __future__ import annotations

import pandas.core.dtypes.common as _pandas_common

if not hasattr(_pandas_common, "infer_dtype_from_object"):

    def _infer_dtype_from_object(dtype):  # pragma: no cover - never called by the suite
        raise NotImplementedError(
            "pandas 3 removed infer_dtype_from_object; evidently's TestColumnsType is not "
            "supported by this test environment")

    _pandas_common.infer_dtype_from_object = _infer_dtype_from_object

import evidently  # noqa: E402

__all__ = ["evidently"]
