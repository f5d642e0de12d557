#pragma once
// The demo's simulated production traffic: each day, the feature rows of the prediction
// requests the churn model served, drawn from the validation customers (so a day without
// a shift looks like the training data), and the labels that arrive for them later. From
// `shift_from_day` on, the traffic shifts the way a price rise with a broken mobile app
// would move it: higher prices, fewer discounts, fewer logins and shorter sessions, more
// (billing) tickets, and more customers who churn.
//
// Files, in `dir`:
//   day-N.csv          the requests' features (header of feature names), what a monitor
//                      reads — the labels are not known when a prediction is served;
//   day-N.labeled.csv  the same rows with their labels first (step_io.h's dataset CSV),
//                      what retraining reads once the ground truth has arrived;
//   current.csv        a copy of the newest day-N.csv (the monitor's file drop).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "demo/churn_data.h"

namespace cairn::demo {

struct TrafficDay {
  int day = 0;
  bool shifted = false;
  int64_t rows = 0;
  double positive_rate = 0;
  std::string features_path;  // day-N.csv
  std::string labeled_path;   // day-N.labeled.csv
  std::string current_path;   // current.csv
};

// Draws `rows` requests (with replacement, seeded by `seed` and `day`) from `base`, shifts
// them when `shifted`, and writes the three files. InvalidArgument when `base` is empty or
// lacks a shifted feature; errors naming the path when a file cannot be written.
absl::StatusOr<TrafficDay> WriteTrafficDay(const Dataset& base, int day, bool shifted,
                                           int64_t rows, uint64_t seed, const std::string& dir);

// The newest `days` labeled files of `dir` (by day number), concatenated. NotFound when
// there is none; errors of ReadDatasetCsv otherwise.
absl::StatusOr<Dataset> ReadLabeledTraffic(const std::string& dir, int days,
                                           std::vector<std::string>* files_read);

}  // namespace cairn::demo
