#pragma once
// A fast path for the hottest request body, runs/log-batch: a single pass over the JSON
// text straight into metrics/params/tags, without building a JSON tree (nlohmann's tree of
// maps costs more than storing the points). It accepts only the well-formed common shape
// and returns nullopt for anything else (missing or mistyped fields, \u escapes, nulls,
// non-integral timestamps …); the caller then parses with the general path, which
// produces MLflow's error messages. Pure function; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tracking/types.h"

namespace cairn::api {

struct LogBatchBody {
  std::string run_id;  // run_id, else run_uuid; may be empty (the caller rejects it)
  std::vector<tracking::Metric> metrics;
  std::vector<tracking::Param> params;
  std::vector<tracking::RunTag> tags;
};

std::optional<LogBatchBody> FastParseLogBatch(std::string_view body);

}  // namespace cairn::api
