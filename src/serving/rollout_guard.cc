#include "serving/rollout_guard.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/duration.h"
#include "monitoring/stats/stat_tests.h"

namespace cairn::serving {
namespace {

// Fewer predictions than this per variant: the drift check is not computed (it passes
// with a note); statistics on a handful of values mean nothing.
constexpr size_t kMinDriftSamples = 20;

uint64_t Mix(uint64_t x) {  // splitmix64: a cheap, well-spread hash of the sample index
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Json RateOrNull(int64_t part, int64_t whole) {
  return whole > 0 ? Json(static_cast<double>(part) / static_cast<double>(whole)) : Json(nullptr);
}

std::string Fixed(double value, int digits = 3) { return absl::StrFormat("%.*f", digits, value); }

std::string Signed(double value) { return absl::StrFormat("%+.3f", value); }

}  // namespace

struct RolloutGuard::VariantCopy {
  int64_t requests = 0;
  int64_t errors = 0;
  std::vector<int64_t> latency;  // per bucket
  std::vector<double> predictions;

  // The q-quantile of latency (µs) by nearest rank, at its bucket's midpoint; nullopt when
  // there is no request.
  std::optional<double> Quantile(double q) const {
    int64_t total = 0;
    for (int64_t c : latency) total += c;
    if (total == 0) return std::nullopt;
    const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * total)));
    int64_t seen = 0;
    for (size_t idx = 0; idx < latency.size(); ++idx) {
      seen += latency[idx];
      if (seen >= rank) return BucketMid(static_cast<int>(idx));
    }
    return BucketMid(static_cast<int>(latency.size()) - 1);
  }

  static double BucketMid(int idx) {
    constexpr int kSub = 1 << kSubBits;
    if (idx < kSub) return idx;
    const int shift = idx / kSub - 1;
    const uint64_t top = kSub + idx % kSub;
    const double low = std::ldexp(static_cast<double>(top), shift);
    const double high = std::ldexp(static_cast<double>(top + 1), shift) - 1;
    return (low + high) / 2;
  }
};

RolloutGuard::RolloutGuard(GuardSpec spec, int64_t started_ms, size_t max_samples)
    : spec_(std::move(spec)), started_ms_(started_ms), max_samples_(std::max<size_t>(1, max_samples)) {
  for (Variant* v : {&champion_, &challenger_}) {
    v->samples = std::make_unique<std::atomic<double>[]>(max_samples_);
    for (size_t i = 0; i < max_samples_; ++i) {
      v->samples[i].store(std::numeric_limits<double>::quiet_NaN(), std::memory_order_relaxed);
    }
  }
}

void RolloutGuard::Record(bool challenger, int64_t latency_us, bool error, double prediction) {
  Variant& v = challenger ? challenger_ : champion_;
  v.requests.fetch_add(1, std::memory_order_relaxed);
  const uint64_t us = latency_us > 0 ? static_cast<uint64_t>(latency_us) : 0;
  constexpr int kSub = 1 << kSubBits;
  int idx;
  if (us < static_cast<uint64_t>(kSub)) {
    idx = static_cast<int>(us);
  } else {
    const int msb = 63 - std::countl_zero(us);
    const int shift = msb - kSubBits;
    idx = kSub * (shift + 1) + static_cast<int>((us >> shift) - kSub);
  }
  v.latency[std::min(idx, kBuckets - 1)].fetch_add(1, std::memory_order_relaxed);
  if (error) {
    v.errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!std::isfinite(prediction)) return;
  // Reservoir sampling without a lock: slot i for the first max_samples predictions, then
  // a pseudo-random slot with probability max_samples / (i + 1).
  const uint64_t i =
      static_cast<uint64_t>(v.predictions_seen.fetch_add(1, std::memory_order_relaxed));
  uint64_t slot = i;
  if (i >= max_samples_) slot = Mix(i ^ reinterpret_cast<uintptr_t>(this)) % (i + 1);
  if (slot < max_samples_) v.samples[slot].store(prediction, std::memory_order_relaxed);
}

int64_t RolloutGuard::requests(bool challenger) const {
  return (challenger ? challenger_ : champion_).requests.load(std::memory_order_relaxed);
}

RolloutGuard::VariantCopy RolloutGuard::Copy(const Variant& v) const {
  VariantCopy out;
  out.requests = v.requests.load(std::memory_order_relaxed);
  out.errors = v.errors.load(std::memory_order_relaxed);
  out.latency.resize(kBuckets);
  for (int idx = 0; idx < kBuckets; ++idx) {
    out.latency[idx] = v.latency[idx].load(std::memory_order_relaxed);
  }
  const int64_t seen = v.predictions_seen.load(std::memory_order_relaxed);
  const size_t n = std::min<size_t>(max_samples_, static_cast<size_t>(std::max<int64_t>(0, seen)));
  out.predictions.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    double value = v.samples[i].load(std::memory_order_relaxed);
    if (!std::isnan(value)) out.predictions.push_back(value);  // NaN: a slot not yet written
  }
  return out;
}

Json RolloutGuard::Evaluate(int64_t now_ms, bool* passed, std::string* reason) const {
  const VariantCopy champ = Copy(champion_);
  const VariantCopy chall = Copy(challenger_);
  auto variant_json = [](const VariantCopy& v) {
    auto q = [&](double p) {
      std::optional<double> value = v.Quantile(p);
      return value.has_value() ? Json(*value) : Json(nullptr);
    };
    return Json{{"requests", v.requests},
                {"errors", v.errors},
                {"error_rate", RateOrNull(v.errors, v.requests)},
                {"p50_latency_us", q(0.50)},
                {"p99_latency_us", q(0.99)},
                {"predictions_sampled", v.predictions.size()}};
  };
  const int64_t elapsed = std::max<int64_t>(0, now_ms - started_ms_);
  Json details = {{"window_ms", spec_.window_ms},
                  {"elapsed_ms", elapsed},
                  {"min_requests", spec_.min_requests},
                  {"champion", variant_json(champ)},
                  {"challenger", variant_json(chall)},
                  {"max_error_rate_increase", spec_.max_error_rate_increase},
                  {"max_p99_latency_ratio", spec_.max_p99_latency_ratio}};
  Json checks = Json::array();
  std::vector<std::string> failures, summary;

  // Error rate: the challenger's minus the champion's (0 when the champion answered none).
  const double champ_rate =
      champ.requests > 0 ? static_cast<double>(champ.errors) / champ.requests : 0;
  const double chall_rate =
      chall.requests > 0 ? static_cast<double>(chall.errors) / chall.requests : 0;
  const double increase = chall_rate - champ_rate;
  details["error_rate_increase"] = increase;
  {
    const bool ok = increase <= spec_.max_error_rate_increase + 1e-12;
    Json check = {{"name", "error_rate"},
                  {"passed", ok},
                  {"value", increase},
                  {"max", spec_.max_error_rate_increase}};
    if (champ.requests == 0) check["note"] = "the champion answered no request: compared with 0";
    checks.push_back(check);
    summary.push_back(absl::StrCat("error rate ", Signed(increase), " (max ",
                                   Signed(spec_.max_error_rate_increase), ")"));
    if (!ok) {
      failures.push_back(absl::StrCat("error rate ", Fixed(chall_rate), " vs the champion's ",
                                      Fixed(champ_rate), " (", Signed(increase), ", max ",
                                      Signed(spec_.max_error_rate_increase), ")"));
    }
  }

  // p99 latency ratio.
  {
    std::optional<double> champ_p99 = champ.Quantile(0.99);
    std::optional<double> chall_p99 = chall.Quantile(0.99);
    Json check = {{"name", "p99_latency"}, {"max", spec_.max_p99_latency_ratio}};
    if (!champ_p99.has_value() || !chall_p99.has_value()) {
      details["p99_latency_ratio"] = nullptr;
      check["passed"] = true;
      check["value"] = nullptr;
      check["note"] = champ_p99.has_value() ? "the challenger answered no request"
                                            : "the champion answered no request: not compared";
    } else {
      const double ratio = *chall_p99 / std::max(1.0, *champ_p99);
      const bool ok = ratio <= spec_.max_p99_latency_ratio + 1e-12;
      details["p99_latency_ratio"] = ratio;
      check["passed"] = ok;
      check["value"] = ratio;
      summary.push_back(absl::StrCat("p99 ", Fixed(ratio, 2), "x (max ",
                                     Fixed(spec_.max_p99_latency_ratio, 2), "x)"));
      if (!ok) {
        failures.push_back(absl::StrCat(
            "p99 latency ", Fixed(ratio, 2), "x the champion's (", Fixed(*chall_p99, 0),
            " us vs ", Fixed(*champ_p99, 0), " us, max ", Fixed(spec_.max_p99_latency_ratio, 2),
            "x)"));
      }
    }
    checks.push_back(check);
  }

  // Prediction drift, when asked for.
  details["drift"] = nullptr;
  if (spec_.max_prediction_drift.has_value()) {
    const double max = *spec_.max_prediction_drift;
    Json check = {{"name", "prediction_drift"}, {"max", max}, {"passed", true},
                  {"value", nullptr}};
    if (champ.predictions.size() < kMinDriftSamples ||
        chall.predictions.size() < kMinDriftSamples) {
      check["note"] = absl::StrCat("too few predictions to compare (champion ",
                                   champ.predictions.size(), ", challenger ",
                                   chall.predictions.size(), "; at least ", kMinDriftSamples,
                                   " each)");
    } else {
      monitoring::stats::ColumnPair pair;
      pair.name = "prediction";
      pair.reference = champ.predictions;
      pair.current = chall.predictions;
      absl::StatusOr<monitoring::stats::TestResult> result =
          monitoring::stats::RunStatTest(spec_.drift_test, pair);
      if (!result.ok()) {
        check["note"] = absl::StrCat("not computed: ", result.status().message());
      } else {
        const double statistic = result->statistic;
        const bool ok = std::isfinite(statistic) && statistic <= max + 1e-12;
        check["passed"] = ok;
        check["value"] = std::isfinite(statistic) ? Json(statistic) : Json(nullptr);
        details["drift"] = {{"test", spec_.drift_test},
                            {"statistic", check["value"]},
                            {"max", max},
                            {"champion_samples", champ.predictions.size()},
                            {"challenger_samples", chall.predictions.size()}};
        summary.push_back(absl::StrCat(spec_.drift_test, " ", Fixed(statistic), " (max ",
                                       Fixed(max), ")"));
        if (!ok) {
          failures.push_back(absl::StrCat("prediction drift ", spec_.drift_test, " ",
                                          Fixed(statistic), " (max ", Fixed(max), ")"));
        }
      }
    }
    checks.push_back(check);
  }
  details["checks"] = checks;
  *passed = failures.empty();
  if (*passed) {
    *reason = absl::StrCat("passed: ", chall.requests, " challenger requests over ",
                           FormatDuration(elapsed / 1000 * 1000), "; ");
    for (size_t i = 0; i < summary.size(); ++i) {
      absl::StrAppend(reason, i ? ", " : "", summary[i]);
    }
  } else {
    *reason = "failed: ";
    for (size_t i = 0; i < failures.size(); ++i) {
      absl::StrAppend(reason, i ? "; " : "", failures[i]);
    }
  }
  return details;
}

std::optional<GuardVerdict> RolloutGuard::Judge(int64_t now_ms) const {
  if (requests(/*challenger=*/true) < spec_.min_requests) return std::nullopt;
  GuardVerdict verdict;
  verdict.details = Evaluate(now_ms, &verdict.passed, &verdict.reason);
  const int64_t elapsed_ms = now_ms - started_ms_;
  if (elapsed_ms >= spec_.window_ms) return verdict;
  // Before the window's end only a failure is final (fail fast, as Argo Rollouts' and
  // Flagger's analyses do): a bad challenger stops serving users at once, a good one
  // still has to hold for the whole window.
  if (verdict.passed) return std::nullopt;
  verdict.details["early"] = true;
  absl::StrAppend(&verdict.reason, " — after ", FormatDuration(elapsed_ms / 1000 * 1000), " of its ",
                  FormatDuration(spec_.window_ms), " window");
  return verdict;
}

Json RolloutGuard::Snapshot(int64_t now_ms) const {
  bool passing = false;
  std::string reason;
  Json details = Evaluate(now_ms, &passing, &reason);
  details["ready"] = now_ms - started_ms_ >= spec_.window_ms &&
                     requests(/*challenger=*/true) >= spec_.min_requests;
  details["passing"] = passing;
  details["reason"] = reason;
  return details;
}

}  // namespace cairn::serving
