#include "demo/churn_data.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "demo/rng.h"

namespace cairn::demo {
namespace {

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

double Dataset::PositiveRate() const {
  if (labels.empty()) return 0;
  double positives = std::accumulate(labels.begin(), labels.end(), 0.0);
  return positives / static_cast<double>(labels.size());
}

Dataset GenerateChurnData(int rows, uint64_t seed) {
  Dataset data;
  data.feature_names = {"tenure_months",        "plan",           "contract_annual",
                        "monthly_spend",        "logins_30d",     "days_since_last_login",
                        "support_tickets_90d",  "payment_failures_90d",
                        "discount_pct",         "autopay",        "age"};
  const size_t cols = data.feature_names.size();
  const size_t row_count = rows > 0 ? static_cast<size_t>(rows) : 0;
  data.features.reserve(row_count * cols);
  data.labels.reserve(row_count);

  Rng rng(seed);
  for (size_t row_idx = 0; row_idx < row_count; ++row_idx) {
    const double tenure = std::min(72.0, 1.0 + std::floor(rng.Exponential(20.0)));
    const int plan = rng.Categorical({0.5, 0.35, 0.15});
    // Long-standing customers are more often on annual contracts.
    const bool annual = rng.Bernoulli(0.15 + 0.5 * std::min(1.0, tenure / 48.0));
    const double base_price = plan == 0 ? 29.0 : plan == 1 ? 59.0 : 99.0;
    const double spend = std::max(5.0, base_price + rng.Normal(0, 8.0 + 0.1 * base_price));
    // Engagement: a latent activity level drives logins and recency together.
    const double activity = std::exp(rng.Normal(0.0, 0.7));
    const int logins = rng.Poisson(std::min(60.0, 9.0 * activity));
    const double days_since_login =
        logins > 0 ? std::floor(rng.Exponential(30.0 / (logins + 1.0)))
                   : 30.0 + std::floor(rng.Exponential(20.0));
    const int tickets = rng.Poisson(0.5 + 0.4 * (plan == 2) + 0.6 / activity);
    const int payment_failures = rng.Poisson(0.15);
    const int discount = rng.Categorical({0.7, 0.2, 0.1}) * 10;
    const bool autopay = rng.Bernoulli(0.55);
    const double age = std::clamp(std::round(rng.Normal(41.0, 12.0)), 18.0, 85.0);

    // The ground truth: a logistic model with a few non-linear terms (a first-months
    // cliff, a bump when tickets pile up, a spend effect only without a discount) so that
    // tree depth matters, and a latent "life events" noise term no feature explains.
    double logit = -1.1;
    logit += 1.4 * std::exp(-tenure / 6.0) - 0.012 * tenure;
    logit += annual ? -1.3 : 0.35;
    logit += -0.11 * logins + 0.035 * std::min(days_since_login, 60.0);
    logit += 0.35 * tickets + (tickets >= 3 ? 0.8 : 0.0);
    logit += 0.9 * payment_failures;
    logit += discount == 0 ? 0.014 * (spend - 50.0) : -0.03 * discount;
    logit += autopay ? -0.45 : 0.0;
    logit += plan == 2 && tickets >= 2 ? 0.6 : 0.0;
    logit += -0.006 * (age - 41.0);
    logit += rng.Normal(0.0, 0.6);
    const bool churned = rng.Bernoulli(Sigmoid(logit));

    for (double value : {tenure, static_cast<double>(plan), annual ? 1.0 : 0.0, spend,
                         static_cast<double>(logins), days_since_login,
                         static_cast<double>(tickets), static_cast<double>(payment_failures),
                         static_cast<double>(discount), autopay ? 1.0 : 0.0, age}) {
      data.features.push_back(static_cast<float>(value));
    }
    data.labels.push_back(churned ? 1.0f : 0.0f);
  }
  return data;
}

TrainValidationSplit SplitTrainValidation(const Dataset& data, double validation_fraction,
                                          uint64_t seed) {
  std::vector<size_t> order(data.rows());
  std::iota(order.begin(), order.end(), size_t{0});
  // Fisher-Yates with our own bounded draw (std::shuffle is implementation-defined too).
  Rng rng(seed);
  for (size_t pos = order.size(); pos > 1; --pos) {
    std::swap(order[pos - 1], order[rng.Below(pos)]);
  }
  const double fraction = std::clamp(validation_fraction, 0.0, 1.0);
  const size_t validation_rows =
      static_cast<size_t>(std::llround(fraction * static_cast<double>(data.rows())));

  TrainValidationSplit split;
  split.train.feature_names = data.feature_names;
  split.validation.feature_names = data.feature_names;
  const size_t cols = data.cols();
  for (size_t pos = 0; pos < order.size(); ++pos) {
    Dataset& target = pos < validation_rows ? split.validation : split.train;
    const size_t row_idx = order[pos];
    target.features.insert(target.features.end(), data.features.begin() + row_idx * cols,
                           data.features.begin() + (row_idx + 1) * cols);
    target.labels.push_back(data.labels[row_idx]);
  }
  return split;
}

}  // namespace cairn::demo
