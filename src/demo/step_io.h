#pragma once
// The files the demo's pipeline steps hand each other (through the engine's step output
// directories): a feature matrix as CSV and small JSON documents. Pure functions over
// files; thread-safe.
//
// Dataset CSV: a header row `label,<feature>,…`, then one line per row; numbers in the
// shortest form that reads back exactly as float; a missing value (NaN) as an empty field.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/json.h"
#include "demo/churn_data.h"

namespace cairn::demo {

// Writes `data` to `path` (creating its directory). InvalidArgument naming the path when
// it cannot be written.
absl::Status WriteDatasetCsv(const Dataset& data, const std::string& path);

// Reads a file written by WriteDatasetCsv. InvalidArgument naming the path and line for
// a missing file, a header without `label` first, a row of the wrong width or a value
// that is not a number.
absl::StatusOr<Dataset> ReadDatasetCsv(const std::string& path);

// `value` as indented JSON, written to `path` (creating its directory).
absl::Status WriteJsonFile(const Json& value, const std::string& path);

// InvalidArgument naming the path for a missing file or invalid JSON.
absl::StatusOr<Json> ReadJsonFile(const std::string& path);

}  // namespace cairn::demo
