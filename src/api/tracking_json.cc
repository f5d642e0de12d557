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

// ,"field":[{"key":…,"value":…},…] — nothing for an empty list. `comma` false leaves out
// the leading comma (the first list of an object).
void AppendKeyValueList(std::string& out, std::string_view field, const auto& items,
                        bool comma = true) {  // items with .key/.value or pairs
  if (items.empty()) return;
  if (comma) out += ',';
  out += '"';
  out += field;
  out += "\":[";
  bool first = true;
  for (const auto& item : items) {
    out += first ? "{\"key\":" : ",{\"key\":";
    first = false;
    if constexpr (requires { item.first; }) {
      AppendJsonString(out, item.first);
      out += ",\"value\":";
      AppendJsonString(out, item.second);
    } else {
      AppendJsonString(out, item.key);
      out += ",\"value\":";
      AppendJsonString(out, item.value);
    }
    out += '}';
  }
  out += ']';
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  // Most keys and values need no escaping: one append of the whole text.
  bool plain = true;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) {
    const size_t size = out.size();
    out.resize(size + text.size() + 2);
    char* dest = out.data() + size;
    *dest = '"';
    std::memcpy(dest + 1, text.data(), text.size());
    dest[text.size() + 1] = '"';
    return;
  }
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
  out += "{\"key\":";
  AppendJsonString(out, key);
  // The numbers go straight into the string's spare room: ,"value":…,"timestamp":…,"step":…
  constexpr std::string_view kValue = ",\"value\":";
  constexpr std::string_view kTimestamp = ",\"timestamp\":";
  constexpr std::string_view kStep = ",\"step\":";
  const size_t size = out.size();
  out.resize(size + kValue.size() + kMaxJsonDoubleChars + kTimestamp.size() + 20 + kStep.size() +
             20 + 1);
  char* dest = out.data() + size;
  auto put = [&dest](std::string_view text) {
    std::memcpy(dest, text.data(), text.size());
    dest += text.size();
  };
  put(kValue);
  dest = WriteJsonDouble(dest, value);
  put(kTimestamp);
  dest = std::to_chars(dest, dest + 20, timestamp).ptr;
  put(kStep);
  dest = std::to_chars(dest, dest + 20, step).ptr;
  out.resize(dest - out.data());
  if (!run_id.empty()) {
    out += ",\"run_id\":";
    AppendJsonString(out, run_id);
  }
  out += '}';
}

size_t RunJsonSizeHint(const tracking::Run& run) {
  const tracking::RunInfo& info = run.info;
  size_t size = 320 + 2 * info.run_id.size() + info.experiment_id.size() + info.run_name.size() +
                info.user_id.size() + info.status.size() + info.artifact_uri.size() +
                info.lifecycle_stage.size();
  for (const tracking::Metric& metric : run.metrics) size += 120 + metric.key.size();
  for (const tracking::Param& param : run.params)
    size += 24 + param.key.size() + param.value.size();
  for (const tracking::RunTag& tag : run.tags) size += 24 + tag.key.size() + tag.value.size();
  for (const tracking::DatasetInput& input : run.inputs) {
    size += 160 + input.dataset.name.size() + input.dataset.digest.size() +
            input.dataset.source_type.size() + input.dataset.source.size() +
            input.dataset.schema.size() + input.dataset.profile.size();
    for (const tracking::InputTag& tag : input.tags) size += 24 + tag.key.size() + tag.value.size();
  }
  return size;
}

void AppendRunJson(std::string& out, const tracking::Run& run, bool with_outputs,
                   std::span<const tracking::ModelOutput> model_outputs) {
  out += "{\"info\":";
  AppendRunInfoJson(out, run.info);
  out += ",\"data\":{";
  // The first list written has no leading comma.
  if (!run.metrics.empty()) {
    out += "\"metrics\":[";
    for (size_t idx = 0; idx < run.metrics.size(); ++idx) {
      if (idx > 0) out += ',';
      const tracking::Metric& metric = run.metrics[idx];
      AppendMetricJson(out, metric.key, metric.value, metric.timestamp, metric.step);
    }
    out += ']';
  }
  AppendKeyValueList(out, "params", run.params, !run.metrics.empty());
  AppendKeyValueList(out, "tags", run.tags, !run.metrics.empty() || !run.params.empty());
  out += "},\"inputs\":{";
  if (!run.inputs.empty()) {
    out += "\"dataset_inputs\":[";
    for (size_t idx = 0; idx < run.inputs.size(); ++idx) {
      const tracking::DatasetInput& input = run.inputs[idx];
      if (idx > 0) out += ',';
      out += '{';
      if (!input.tags.empty()) {
        AppendKeyValueList(out, "tags", input.tags, /*comma=*/false);
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
