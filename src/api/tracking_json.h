#pragma once
// MLflow's JSON shapes for the tracking entities, written straight into a string (no
// intermediate JSON tree: runs/search and metric histories can be large). The output is
// what MLflow's server emits (message_to_json): snake_case fields, int64 as numbers,
// enums as strings, NaN/±inf as "NaN"/"Infinity"/"-Infinity", empty repeated fields
// omitted, run_info carrying both run_id and run_uuid, experiments with MLflow 3's
// "workspace": "default", runs with "inputs" and an empty "outputs".

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tracking/logged_model_store.h"
#include "tracking/types.h"

namespace cairn::api {

void AppendJsonString(std::string& out, std::string_view text);
void AppendJsonDouble(std::string& out, double value);
// Writes what AppendJsonDouble appends into `out`, which has room for at least
// kMaxJsonDoubleChars; returns the end of what it wrote.
inline constexpr size_t kMaxJsonDoubleChars = 32;
char* WriteJsonDouble(char* out, double value);

void AppendExperimentJson(std::string& out, const tracking::Experiment& experiment);
void AppendRunInfoJson(std::string& out, const tracking::RunInfo& info);
// `with_outputs`: runs/get and runs/search report "outputs"; runs/create does not.
// `model_outputs`: MLflow 3 logged models recorded as the run's outputs (runs/get).
void AppendRunJson(std::string& out, const tracking::Run& run, bool with_outputs = true,
                   std::span<const tracking::ModelOutput> model_outputs = {});
// An upper bound of what AppendRunJson appends for `run` when none of its strings needs
// escaping (a reserve hint: a response of many runs is then written without regrowing).
size_t RunJsonSizeHint(const tracking::Run& run);
// {"key":…,"value":…,"timestamp":…,"step":…}; `run_id` is added when not empty.
void AppendMetricJson(std::string& out, std::string_view key, double value, int64_t timestamp,
                      int64_t step, std::string_view run_id = {});

}  // namespace cairn::api
