#pragma once
// Test-only: a ModelRuntime whose predictions are a function of one input column, with a
// fake nanosecond clock it advances on every call (latency checks without timing), and a
// loader over a table of such runtimes by version.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "serving/model_runtime.h"

namespace cairn::cicd::testing {

// A monotonic counter the fake runtimes advance (EvaluatorDeps::now_ns).
struct FakeNanos {
  std::atomic<int64_t> now{1'000'000'000};
  std::function<int64_t()> Fn() {
    return [this] { return now.load(); };
  }
};

class FakeRuntime : public serving::ModelRuntime {
 public:
  // Predicts fn(value of `column` in the row) for every row; each Predict call advances
  // `nanos` (when given) by `ns_per_call`.
  FakeRuntime(serving::ModelInfo info, std::string column, std::function<double(double)> fn,
              FakeNanos* nanos = nullptr, int64_t ns_per_call = 0)
      : info_(std::move(info)),
        column_(std::move(column)),
        fn_(std::move(fn)),
        nanos_(nanos),
        ns_per_call_(ns_per_call) {}

  const serving::ModelInfo& info() const override { return info_; }

  absl::StatusOr<std::vector<double>> Predict(const serving::ModelInput& input) override {
    calls_++;
    if (nanos_ != nullptr) nanos_->now += ns_per_call_;
    size_t index = input.columns.size();
    for (size_t c = 0; c < input.columns.size(); ++c) {
      if (input.columns[c] == column_) index = c;
    }
    if (index == input.columns.size()) {
      return absl::InvalidArgumentError(absl::StrCat("missing input column '", column_, "'"));
    }
    std::vector<double> out;
    out.reserve(input.rows);
    for (size_t row = 0; row < input.rows; ++row) {
      const features::Value& v = input.at(row, index);
      if (!std::holds_alternative<double>(v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("column '", column_, "' row ", row, ": not a number"));
      }
      out.push_back(fn_(std::get<double>(v)));
    }
    return out;
  }

  int64_t calls() const { return calls_; }

 private:
  serving::ModelInfo info_;
  std::string column_;
  std::function<double(double)> fn_;
  FakeNanos* nanos_;
  int64_t ns_per_call_;
  std::atomic<int64_t> calls_{0};
};

// version → runtime (or the error loading it gives); counts loads.
struct FakeLoader {
  std::map<int64_t, absl::StatusOr<std::shared_ptr<serving::ModelRuntime>>> versions;
  FakeNanos* nanos = nullptr;
  int64_t load_ns = 0;
  std::atomic<int> loads{0};

  std::function<absl::StatusOr<std::shared_ptr<serving::ModelRuntime>>(std::string_view, int64_t)>
  Fn() {
    return [this](std::string_view model,
                  int64_t version) -> absl::StatusOr<std::shared_ptr<serving::ModelRuntime>> {
      loads++;
      if (nanos != nullptr) nanos->now += load_ns;
      auto it = versions.find(version);
      if (it == versions.end()) {
        return absl::NotFoundError(
            absl::StrCat("no model files for ", ToAbsl(model), "/", version));
      }
      return it->second;
    };
  }
};

inline serving::ModelInfo Info(std::vector<std::string> inputs, int64_t size_bytes = 1024) {
  serving::ModelInfo info;
  info.model_dir = "/models/fake";
  info.flavor = "xgboost";
  info.input_columns = std::move(inputs);
  info.size_bytes = size_bytes;
  return info;
}

}  // namespace cairn::cicd::testing
