#pragma once
// Data drift over HTTP (Cairn's API; errors in the Cairn dialect: 400
// INVALID_PARAMETER_VALUE naming the field and value). The handler only turns JSON into
// DataFrames and DriftOptions and calls monitoring::ComputeDrift (drift.h) — the same
// computation as `cairn drift`, on data sent in the request instead of files.
//
//   POST /api/v1/monitoring/drift
//        {"reference": {"col": [values…], …}, "current": {…},
//         "columns": [names] (default: every column both share),
//         "categorical": [names] (read as categories whatever their values),
//         "test": NAME (every column; default: Evidently's choice per column),
//         "threshold": X (every column; default: the test's),
//         "per_column": {"col": {"test": NAME, "threshold": X}, …},
//         "drift_share": 0.5, "histograms": false}
//        → DriftReportToJson: {"dataset_drift", "drift_share", "share_threshold",
//           "drifted_columns", "number_of_columns", "reference_rows", "current_rows",
//           "columns": [{"column", "kind", "test", "statistic", "p_value", "threshold",
//           "drifted", "method", …, "histogram" (only with "histograms": true)}]}
//
// Values: numbers (numeric columns), strings or booleans (categorical), null (missing);
// every column of a data set has one value per row (monitoring::DataFrameFromJson).

#include "api/router.h"

namespace cairn::api {

// Needs nothing from ApiContext: stateless, runs on a worker thread.
void RegisterDriftRoutes(Router& router);

}  // namespace cairn::api
