#pragma once
// Test and benchmark helpers for the XGBoost runtime: trains a small booster on
// deterministic synthetic data through libxgboost's C API and writes a model directory
// the way the Cairn demo does (MLmodel with the xgboost and python_function flavors +
// model.json), so tests need neither Python nor files in the repository.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::serving::testing {

struct TestBoosterOptions {
  int features = 20;
  int trees = 100;
  int max_depth = 6;
  int rows = 1000;
  // Feature names f0, f1, … stored in the booster (XGBoosterGetStrFeatureInfo); false: a
  // booster without names, like the demo's.
  bool named = true;
  std::string objective = "binary:logistic";  // or reg:squarederror, multi:softprob, …
  int num_class = 0;                           // for multi:* objectives
  uint64_t seed = 1;
};

// Row-major synthetic features (rows × features, deterministic in seed, some NaN).
std::vector<float> SyntheticRows(int rows, int features, uint64_t seed);

// "f0", "f1", … (TestBoosterOptions::named).
std::vector<std::string> FeatureNames(int features);

// Trains a booster as described and returns it in xgboost's JSON model format.
absl::StatusOr<std::string> TrainTestBooster(const TestBoosterOptions& options);

// Writes `dir`/model.json and `dir`/MLmodel (creating `dir`). A non-empty
// `signature_columns` becomes MLmodel's signature inputs (double columns).
absl::Status WriteXgbModelDir(const std::string& dir, const std::string& model_json,
                              const std::vector<std::string>& signature_columns = {});

// The booster's own predictions for `rows` (row-major, `columns` wide) through a DMatrix:
// the reference the runtime must reproduce. One value per row and output.
absl::StatusOr<std::vector<float>> ReferencePredict(const std::string& model_json,
                                                    const std::vector<float>& rows,
                                                    size_t columns);

}  // namespace cairn::serving::testing
