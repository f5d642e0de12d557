#pragma once
// One logged prediction (issue 6 item 3): what the inference log stores per predicted row
// and what monitors read back. Written by the endpoint service through InferenceLogSink
// (inference_log.h implements it on the metadata database).

#include <cstdint>
#include <optional>
#include <string>

#include "common/json.h"

namespace cairn::serving {

struct InferenceRecord {
  std::string id;           // unique per predicted row; labels are posted against it
  std::string endpoint;
  std::string model;        // registered model name
  int64_t model_version = 0;
  std::string variant;      // "champion" | "canary" | "shadow"
  int64_t time_ms = 0;      // when the prediction was made
  int64_t latency_us = 0;   // the whole request's latency as the endpoint measured it
  Json features = Json::object();  // {"name": value, …}: the values the model read
  // The same as JSON text, when the writer of the record made it so (the endpoint service:
  // feature_row_json.h, byte for byte DumpJson(features) — `features` is then left empty):
  // the log stores it as is instead of serializing `features`. Empty: `features` is used.
  // Records read back from the log have `features` only.
  std::string features_json;
  double prediction = 0;
  bool error = false;       // the variant failed on this row (prediction meaningless)
  std::optional<double> label;     // ground truth, posted later
  int64_t label_time_ms = 0;
};

// Where the endpoint service hands records. Append must not block on I/O (it queues);
// it returns false when the record was dropped (the sink's queue is full). Thread-safe.
class InferenceLogSink {
 public:
  virtual ~InferenceLogSink() = default;
  virtual bool Append(InferenceRecord record) = 0;
};

}  // namespace cairn::serving
