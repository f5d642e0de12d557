#include "api/tracking_json.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace cairn::api {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendKey(std::string& out, std::string_view key) {
  out += '"';
  out += key;
  out += "\":";
}

void AppendInt(std::string& out, int64_t value) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void AppendStringField(std::string& out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  AppendJsonString(out, value);
}

void AppendKeyValueList(std::string& out, std::string_view field,
                        const auto& items) {  // items with .key/.value or pairs
  if (items.empty()) return;
  out += ",";
  AppendKey(out, field);
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    out += '{';
    if constexpr (requires { item.first; }) {
      AppendStringField(out, "key", item.first);
      out += ',';
      AppendStringField(out, "value", item.second);
    } else {
      AppendStringField(out, "key", item.key);
      out += ',';
      AppendStringField(out, "value", item.value);
    }
    out += '}';
  }
  out += ']';
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  size_t run_start = 0;
  for (size_t idx = 0; idx < text.size(); ++idx) {
    unsigned char c = static_cast<unsigned char>(text[idx]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run_start, idx - run_start);
    run_start = idx + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
  }
  out.append(text.data() + run_start, text.size() - run_start);
  out += '"';
}

char* WriteJsonDouble(char* out, double value) {
  auto copy = [out](std::string_view text) {
    std::memcpy(out, text.data(), text.size());
    return out + text.size();
  };
  if (std::isnan(value)) return copy("\"NaN\"");
  if (std::isinf(value)) return copy(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  return std::to_chars(out, out + kMaxJsonDoubleChars, value).ptr;
}

void AppendJsonDouble(std::string& out, double value) {
  char buffer[kMaxJsonDoubleChars];
  out.append(buffer, WriteJsonDouble(buffer, value));
}

void AppendExperimentJson(std::string& out, const tracking::Experiment& experiment) {
  out += '{';
  AppendStringField(out, "experiment_id", experiment.experiment_id);
  out += ',';
  AppendStringField(out, "name", experiment.name);
  out += ',';
  AppendStringField(out, "artifact_location", experiment.artifact_location);
  out += ',';
  AppendStringField(out, "lifecycle_stage", experiment.lifecycle_stage);
  out += ",";
  AppendKey(out, "last_update_time");
  AppendInt(out, experiment.last_update_time);
  out += ",";
  AppendKey(out, "creation_time");
  AppendInt(out, experiment.creation_time);
  AppendKeyValueList(out, "tags", experiment.tags);
  // MLflow 3 reports the workspace; always "default" without workspaces.
  out += ",\"workspace\":\"default\"}";
}

void AppendRunInfoJson(std::string& out, const tracking::RunInfo& info) {
  out += '{';
  AppendStringField(out, "run_uuid", info.run_id);
  out += ',';
  AppendStringField(out, "experiment_id", info.experiment_id);
  out += ',';
  AppendStringField(out, "run_name", info.run_name);
  out += ',';
  AppendStringField(out, "user_id", info.user_id);
  out += ',';
  AppendStringField(out, "status", info.status);
  out += ',';
  AppendKey(out, "start_time");
  AppendInt(out, info.start_time);
  if (info.end_time) {
    out += ',';
    AppendKey(out, "end_time");
    AppendInt(out, *info.end_time);
  }
  out += ',';
  AppendStringField(out, "artifact_uri", info.artifact_uri);
  out += ',';
  AppendStringField(out, "lifecycle_stage", info.lifecycle_stage);
  out += ',';
  AppendStringField(out, "run_id", info.run_id);
  out += '}';
}

void AppendMetricJson(std::string& out, std::string_view key, double value, int64_t timestamp,
                      int64_t step, std::string_view run_id) {
  out += '{';
  AppendStringField(out, "key", key);
  out += ",\"value\":";
  AppendJsonDouble(out, value);
  out += ",\"timestamp\":";
  AppendInt(out, timestamp);
  out += ",\"step\":";
  AppendInt(out, step);
  if (!run_id.empty()) {
    out += ',';
    AppendStringField(out, "run_id", run_id);
  }
  out += '}';
}

void AppendRunJson(std::string& out, const tracking::Run& run, bool with_outputs,
                   std::span<const tracking::ModelOutput> model_outputs) {
  out += "{\"info\":";
  AppendRunInfoJson(out, run.info);
  out += ",\"data\":{";
  // The first list written must not start with a comma: write into a scratch buffer.
  std::string data;
  if (!run.metrics.empty()) {
    data += ",\"metrics\":[";
    for (size_t idx = 0; idx < run.metrics.size(); ++idx) {
      if (idx > 0) data += ',';
      const tracking::Metric& metric = run.metrics[idx];
      AppendMetricJson(data, metric.key, metric.value, metric.timestamp, metric.step);
    }
    data += ']';
  }
  AppendKeyValueList(data, "params", run.params);
  AppendKeyValueList(data, "tags", run.tags);
  if (!data.empty()) out.append(data, 1, std::string::npos);
  out += "},\"inputs\":{";
  if (!run.inputs.empty()) {
    out += "\"dataset_inputs\":[";
    for (size_t idx = 0; idx < run.inputs.size(); ++idx) {
      const tracking::DatasetInput& input = run.inputs[idx];
      if (idx > 0) out += ',';
      out += '{';
      std::string tags;
      AppendKeyValueList(tags, "tags", input.tags);
      if (!tags.empty()) {
        out.append(tags, 1, std::string::npos);
        out += ',';
      }
      out += "\"dataset\":{";
      AppendStringField(out, "name", input.dataset.name);
      out += ',';
      AppendStringField(out, "digest", input.dataset.digest);
      out += ',';
      AppendStringField(out, "source_type", input.dataset.source_type);
      out += ',';
      AppendStringField(out, "source", input.dataset.source);
      if (!input.dataset.schema.empty()) {
        out += ',';
        AppendStringField(out, "schema", input.dataset.schema);
      }
      if (!input.dataset.profile.empty()) {
        out += ',';
        AppendStringField(out, "profile", input.dataset.profile);
      }
      out += "}}";
    }
    out += ']';
  }
  if (!with_outputs) {
    out += "}}";
    return;
  }
  out += "},\"outputs\":{";
  if (!model_outputs.empty()) {
    out += "\"model_outputs\":[";
    for (size_t idx = 0; idx < model_outputs.size(); ++idx) {
      if (idx > 0) out += ',';
      out += '{';
      AppendStringField(out, "model_id", model_outputs[idx].model_id);
      out += ",\"step\":";
      out += std::to_string(model_outputs[idx].step);
      out += '}';
    }
    out += ']';
  }
  out += "}}";
}

}  // namespace cairn::api
