// The JSON writers against the writer they replaced (kept below, verbatim, as `old_writer`):
// the same bytes for randomized runs, experiments and metrics — strings that need every kind
// of escaping, doubles of every length and class (NaN, ±Infinity, -0.0, subnormals), extreme
// integers, and every combination of empty and non-empty lists.

#include "api/tracking_json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cairn::api {
namespace old_writer {

constexpr size_t kOldMaxJsonDoubleChars = 32;

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
  return std::to_chars(out, out + kOldMaxJsonDoubleChars, value).ptr;
}

void AppendJsonDouble(std::string& out, double value) {
  char buffer[kOldMaxJsonDoubleChars];
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
                      int64_t step, std::string_view run_id = {}) {
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


}  // namespace old_writer

namespace {

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int Int(int below) { return static_cast<int>(rng_() % static_cast<uint32_t>(below)); }

  std::string String() {
    static const std::vector<std::string> kPieces = {
        "m0", "v3", "loss", "a", "\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x01", "\x1f",
        "/", "\xc3\xa9", "\xe2\x82\xac", " ", "0123456789abcdef0123456789abcdef", "\x7f", "}"};
    std::string out;
    const int pieces = Int(4) == 0 ? 0 : Int(6);
    for (int idx = 0; idx < pieces; ++idx) {
      const std::string& piece = kPieces[Int(static_cast<int>(kPieces.size()))];
      const auto first = static_cast<unsigned char>(piece[0]);
      if (plain && (first == '"' || first == '\\' || first < 0x20)) continue;
      out += piece;
    }
    return out;
  }

  bool plain = false;  // String() leaves out the pieces that need escaping

  // Mostly plain identifiers (the fast path), sometimes anything.
  std::string Key() { return Int(3) == 0 ? String() : absl::StrCat("k", Int(1000)); }

  double Double() {
    switch (Int(12)) {
      case 0: return std::nan("");
      case 1: return std::numeric_limits<double>::infinity();
      case 2: return -std::numeric_limits<double>::infinity();
      case 3: return -0.0;
      case 4: return 0.0;
      case 5: return std::numeric_limits<double>::denorm_min();
      case 6: return std::numeric_limits<double>::max();
      case 7: return std::numeric_limits<double>::lowest();
      case 8: return static_cast<double>(Int(100000)) / 10007.0;
      case 9: return 1e-7 * Int(1000);
      default: {
        uint64_t bits = (static_cast<uint64_t>(rng_()) << 32) | rng_();
        double value;
        std::memcpy(&value, &bits, sizeof(value));
        return value;
      }
    }
  }

  int64_t Int64() {
    switch (Int(6)) {
      case 0: return std::numeric_limits<int64_t>::min();
      case 1: return std::numeric_limits<int64_t>::max();
      case 2: return 0;
      case 3: return -Int(1000);
      case 4: return 1'700'000'000'000 + Int(1'000'000);
      default: return (static_cast<int64_t>(rng_()) << 31) ^ rng_();
    }
  }

  tracking::Run Run() {
    tracking::Run run;
    run.info = {String(), String(), absl::StrCat(Int(100)), String(), "FINISHED", Int64(),
                std::nullopt, String(), Int(2) ? "active" : "deleted"};
    if (Int(2)) run.info.end_time = Int64();
    const int metrics = Int(3) == 0 ? 0 : Int(25);
    for (int idx = 0; idx < metrics; ++idx)
      run.metrics.push_back({Key(), Double(), Int64(), Int64()});
    const int params = Int(3) == 0 ? 0 : Int(25);
    for (int idx = 0; idx < params; ++idx) run.params.push_back({Key(), String()});
    const int tags = Int(3) == 0 ? 0 : Int(5);
    for (int idx = 0; idx < tags; ++idx) run.tags.push_back({Key(), String()});
    const int inputs = Int(4) == 0 ? Int(3) : 0;
    for (int idx = 0; idx < inputs; ++idx) {
      tracking::DatasetInput input;
      const int input_tags = Int(3);
      for (int tag = 0; tag < input_tags; ++tag) input.tags.push_back({Key(), String()});
      input.dataset = {String(), String(), String(), String(), Int(2) ? String() : "",
                       Int(2) ? String() : ""};
      run.inputs.push_back(std::move(input));
    }
    return run;
  }

 private:
  std::mt19937 rng_;
};

bool NeedsEscaping(std::string_view text) {
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == '"' || c == '\\') return true;
  }
  return false;
}

bool AnyStringNeedsEscaping(const tracking::Run& run) {
  const tracking::RunInfo& info = run.info;
  if (NeedsEscaping(info.run_id) || NeedsEscaping(info.run_name) || NeedsEscaping(info.user_id) ||
      NeedsEscaping(info.artifact_uri))
    return true;
  for (const auto& metric : run.metrics)
    if (NeedsEscaping(metric.key)) return true;
  for (const auto& param : run.params)
    if (NeedsEscaping(param.key) || NeedsEscaping(param.value)) return true;
  for (const auto& tag : run.tags)
    if (NeedsEscaping(tag.key) || NeedsEscaping(tag.value)) return true;
  for (const auto& input : run.inputs) {
    for (const auto& tag : input.tags)
      if (NeedsEscaping(tag.key) || NeedsEscaping(tag.value)) return true;
    const tracking::Dataset& d = input.dataset;
    for (std::string_view text : {std::string_view(d.name), std::string_view(d.digest),
                                  std::string_view(d.source_type), std::string_view(d.source),
                                  std::string_view(d.schema), std::string_view(d.profile)})
      if (NeedsEscaping(text)) return true;
  }
  return false;
}

TEST(TrackingJsonTest, RunsMatchTheOldWriterByteForByte) {
  Generator gen(20261129);
  size_t plain_runs = 0;
  for (int iteration = 0; iteration < 3000; ++iteration) {
    gen.plain = iteration % 2 == 1;
    const tracking::Run run = gen.Run();
    std::vector<tracking::ModelOutput> outputs;
    if (gen.Int(3) == 0) outputs = {{"m-1", 3}, {gen.String(), -7}};
    for (bool with_outputs : {true, false}) {
      std::string expected = "prefix";
      std::string got = "prefix";
      old_writer::AppendRunJson(expected, run, with_outputs, outputs);
      AppendRunJson(got, run, with_outputs, outputs);
      ASSERT_EQ(got, expected) << "iteration " << iteration;
    }
    std::string info_old, info_new;
    old_writer::AppendRunInfoJson(info_old, run.info);
    AppendRunInfoJson(info_new, run.info);
    ASSERT_EQ(info_new, info_old);
    // The size hint bounds what a run without escapes takes (runs/search reserves it).
    if (!AnyStringNeedsEscaping(run)) {
      ++plain_runs;
      std::string out;
      AppendRunJson(out, run);
      EXPECT_LE(out.size(), RunJsonSizeHint(run)) << "iteration " << iteration;
    }
  }
  EXPECT_GT(plain_runs, 100u);  // the hint was checked on many runs
}

TEST(TrackingJsonTest, MetricsExperimentsAndValuesMatchTheOldWriter) {
  Generator gen(7);
  for (int iteration = 0; iteration < 20000; ++iteration) {
    const std::string key = gen.Key();
    const double value = gen.Double();
    const int64_t timestamp = gen.Int64();
    const int64_t step = gen.Int64();
    const std::string run_id = gen.Int(2) ? gen.String() : "";
    std::string expected, got;
    old_writer::AppendMetricJson(expected, key, value, timestamp, step, run_id);
    AppendMetricJson(got, key, value, timestamp, step, run_id);
    ASSERT_EQ(got, expected) << "iteration " << iteration;
    std::string text = gen.String();
    std::string string_old = "x", string_new = "x";
    old_writer::AppendJsonString(string_old, text);
    AppendJsonString(string_new, text);
    ASSERT_EQ(string_new, string_old);
    std::string double_old, double_new;
    old_writer::AppendJsonDouble(double_old, value);
    AppendJsonDouble(double_new, value);
    ASSERT_EQ(double_new, double_old);
  }
  for (int iteration = 0; iteration < 500; ++iteration) {
    tracking::Experiment experiment;
    experiment.experiment_id = absl::StrCat(gen.Int(1000));
    experiment.name = gen.String();
    experiment.artifact_location = gen.String();
    experiment.lifecycle_stage = "active";
    experiment.creation_time = gen.Int64();
    experiment.last_update_time = gen.Int64();
    const int tags = gen.Int(4);
    for (int tag = 0; tag < tags; ++tag) experiment.tags.emplace_back(gen.Key(), gen.String());
    std::string expected, got;
    old_writer::AppendExperimentJson(expected, experiment);
    AppendExperimentJson(got, experiment);
    ASSERT_EQ(got, expected);
  }
}

}  // namespace
}  // namespace cairn::api
