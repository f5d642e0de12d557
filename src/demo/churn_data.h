#pragma once
// The demo's data set: subscription customers and whether they churn in the next 30 days
// (DESIGN.md §9). Generated, deterministic for a given seed on every platform (its own
// uniform/normal/Poisson transforms over std::mt19937_64, not the implementation-defined
// std:: distributions), and no download.

#include <cstdint>
#include <string>
#include <vector>

namespace cairn::demo {

// A dense, row-major feature matrix with one binary label per row.
struct Dataset {
  std::vector<std::string> feature_names;
  std::vector<float> features;  // rows() × cols(), row-major
  std::vector<float> labels;    // 1: churned, 0: stayed

  size_t rows() const { return labels.size(); }
  size_t cols() const { return feature_names.size(); }
  // Share of rows labelled 1; 0 for an empty set.
  double PositiveRate() const;
};

// Generates `rows` customers. The label follows a logistic ground truth over the features
// (short tenure, month-to-month contracts, few logins, support tickets, payment failures
// and high spend raise churn; discounts and autopay lower it) plus noise, so that a good
// model reaches a validation AUC of about 0.85 and about a quarter of customers churn.
// Features: tenure_months, plan (0 basic, 1 standard, 2 premium), contract_annual,
// monthly_spend, logins_30d, days_since_last_login, support_tickets_90d,
// payment_failures_90d, discount_pct, autopay, age.
Dataset GenerateChurnData(int rows, uint64_t seed);

struct TrainValidationSplit {
  Dataset train;
  Dataset validation;
};

// Shuffles row indices with `seed` and puts round(validation_fraction × rows) of them into
// the validation set, the rest into train. validation_fraction must be in [0, 1].
TrainValidationSplit SplitTrainValidation(const Dataset& data, double validation_fraction,
                                          uint64_t seed);

}  // namespace cairn::demo
