#include "demo/churn_events.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/timestamp.h"
#include "demo/rng.h"

namespace cairn::demo {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;
// The event history: 2024-01-01 up to (excluding) 2024-07-01; predictions are made at a
// midnight in April or May, so every label's 30-day horizon ends inside the history.
const int64_t kDataStart = *ParseTimestamp("2024-01-01T00:00:00Z");
const int64_t kDataEnd = *ParseTimestamp("2024-07-01T00:00:00Z");
const int64_t kFirstPrediction = *ParseTimestamp("2024-04-01T00:00:00Z");
constexpr int kPredictionDays = 61;
constexpr int64_t kChurnHorizon = 30 * kDay;

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double Round(double value, double unit) { return std::round(value / unit) * unit; }

// Event times of a Poisson process with `rate_per_day` in [from, to), whole seconds.
void PoissonTimes(Rng& rng, int64_t from, int64_t to, double rate_per_day,
                  const std::function<void(int64_t)>& emit) {
  if (rate_per_day <= 0 || from >= to) return;
  double t = static_cast<double>(from);
  const double mean_gap = static_cast<double>(kDay) / rate_per_day;
  while (true) {
    t += rng.Exponential(mean_gap);
    if (t >= static_cast<double>(to)) return;
    emit(static_cast<int64_t>(t) / 1000 * 1000);
  }
}

// The hidden traits that drive one customer's behaviour.
struct Traits {
  double activity = 1;     // scales logins and add-on purchases
  double unhappiness = 1;  // scales support tickets
  bool disengaging = false;
  int64_t disengage_ts = 0;  // from here on: fewer logins and purchases, more tickets
  double charge_failure = 0.02;
};

class CustomerGenerator {
 public:
  CustomerGenerator(Rng& rng, ChurnEvents& out) : rng_(rng), out_(out) {}

  void Generate(int64_t customer_id) {
    const int64_t prediction_ts =
        kFirstPrediction + static_cast<int64_t>(rng_.Below(kPredictionDays)) * kDay;
    const double tenure_days = 7.0 + std::min(2500.0, std::floor(rng_.Exponential(540.0)));
    CustomerRecord customer;
    customer.customer_id = customer_id;
    customer.signup_ts = prediction_ts - static_cast<int64_t>(tenure_days) * kDay -
                         static_cast<int64_t>(rng_.Below(kDay / 1000)) * 1000;
    const int plan = rng_.Categorical({0.5, 0.35, 0.15});
    customer.plan = plan == 0 ? "basic" : plan == 1 ? "standard" : "premium";
    customer.monthly_price = plan == 0 ? 29.0 : plan == 1 ? 59.0 : 99.0;
    const bool annual = rng_.Bernoulli(0.15 + 0.5 * std::min(1.0, tenure_days / 1400.0));
    customer.contract = annual ? "annual" : "monthly";
    customer.discount_pct = rng_.Categorical({0.7, 0.2, 0.1}) * 10;
    customer.autopay = rng_.Bernoulli(0.55);
    customer.age =
        static_cast<int64_t>(std::clamp(std::round(rng_.Normal(41.0, 12.0)), 18.0, 85.0));

    Traits traits;
    traits.activity = std::min(8.0, std::exp(rng_.Normal(0.0, 0.6)));
    traits.unhappiness = std::exp(rng_.Normal(0.0, 0.5));
    traits.disengaging = rng_.Bernoulli(0.3);
    traits.disengage_ts = prediction_ts - static_cast<int64_t>(rng_.Uniform(0, 45) * kDay);
    traits.charge_failure = rng_.Bernoulli(0.08) ? 0.35 : 0.02;

    // Behaviour up to the prediction time decides the label; afterwards a churned
    // customer leaves within the horizon and produces no more events.
    const int64_t from = std::max(customer.signup_ts, kDataStart);
    const size_t tx_begin = out_.transactions.size();
    const size_t login_begin = out_.logins.size();
    const size_t ticket_begin = out_.tickets.size();
    Behave(customer, traits, from, prediction_ts);

    auto in_days = [&](int64_t ts, int days) {
      return ts >= prediction_ts - days * kDay && ts < prediction_ts;
    };
    int logins_7d = 0, logins_30d = 0, tickets_30d = 0, high_30d = 0, failed_30d = 0;
    for (size_t idx = login_begin; idx < out_.logins.size(); ++idx) {
      logins_7d += in_days(out_.logins[idx].ts, 7);
      logins_30d += in_days(out_.logins[idx].ts, 30);
    }
    for (size_t idx = ticket_begin; idx < out_.tickets.size(); ++idx) {
      if (!in_days(out_.tickets[idx].ts, 30)) continue;
      ++tickets_30d;
      high_30d += std::string_view(out_.tickets[idx].priority) == "high";
    }
    for (size_t idx = tx_begin; idx < out_.transactions.size(); ++idx) {
      failed_30d += in_days(out_.transactions[idx].ts, 30) &&
                    std::string_view(out_.transactions[idx].status) == "failed";
    }
    double logit = -1.6;
    logit += logins_7d == 0 ? 1.6 : 0.0;
    logit += -0.08 * std::min(logins_30d, 25);
    logit += 0.5 * tickets_30d + (high_30d > 0 ? 0.9 : 0.0);
    logit += 1.0 * std::min(failed_30d, 3);
    logit += annual ? -1.6 : 0.4;
    logit += 1.5 * std::exp(-tenure_days / 90.0);
    logit += customer.autopay ? -0.5 : 0.0;
    logit += customer.discount_pct == 0 ? 0.015 * (customer.monthly_price - 50.0)
                                        : -0.04 * static_cast<double>(customer.discount_pct);
    logit += rng_.Normal(0.0, 0.4);
    const bool churned = rng_.Bernoulli(Sigmoid(logit));
    out_.labels.push_back({customer_id, prediction_ts, churned});

    const int64_t leaves =
        churned
            ? prediction_ts + 1000 + static_cast<int64_t>(rng_.Below(kChurnHorizon / 1000)) * 1000
            : kDataEnd;
    Behave(customer, traits, prediction_ts, leaves);
    out_.customers.push_back(std::move(customer));
  }

 private:
  // Events in [from, to): logins and add-ons at the customer's rates (lower once
  // disengaging), monthly charges on the signup day, and tickets.
  void Behave(const CustomerRecord& customer, const Traits& traits, int64_t from, int64_t to) {
    const int64_t id = customer.customer_id;
    const int64_t split =
        traits.disengaging ? std::clamp(traits.disengage_ts, from, to) : to;
    for (int part = 0; part < 2; ++part) {
      const int64_t begin = part == 0 ? from : split;
      const int64_t end = part == 0 ? split : to;
      const double engagement = part == 0 ? 1.0 : 0.25;
      const double frustration = part == 0 ? 1.0 : 2.0;
      PoissonTimes(rng_, begin, end, std::min(4.0, 0.2 * traits.activity) * engagement,
                   [&](int64_t ts) {
                     static constexpr const char* kDevices[] = {"web", "ios", "android"};
                     const int device = rng_.Categorical({0.45, 0.35, 0.2});
                     const double minutes = std::exp(
                         rng_.Normal(std::log(10.0) + 0.3 * std::log(traits.activity), 0.6));
                     out_.logins.push_back({id, ts, kDevices[device], Round(minutes, 0.1)});
                   });
      PoissonTimes(rng_, begin, end, 0.05 * traits.activity * engagement, [&](int64_t ts) {
        const double amount = Round(std::exp(rng_.Normal(std::log(12.0), 0.7)), 0.01);
        const bool failed = rng_.Bernoulli(traits.charge_failure / 2);
        out_.transactions.push_back({id, ts, amount, "addon", failed ? "failed" : "ok"});
      });
      const double ticket_rate =
          (0.01 + (customer.plan == "premium" ? 0.015 : 0.0)) * traits.unhappiness * frustration;
      PoissonTimes(rng_, begin, end, ticket_rate, [&](int64_t ts) { AddTicket(id, ts, nullptr); });
    }
    // Monthly charges on the signup's time of day, every 30 days after signup.
    const double discount = static_cast<double>(customer.discount_pct) / 100.0;
    const double charge = Round(customer.monthly_price * (1.0 - discount), 0.01);
    const int64_t period = 30 * kDay;
    int64_t ts = customer.signup_ts;
    if (ts < from) ts += (from - ts + period - 1) / period * period;
    for (; ts < to; ts += period) {
      const bool failed = rng_.Bernoulli(traits.charge_failure);
      out_.transactions.push_back({id, ts, charge, "subscription", failed ? "failed" : "ok"});
      if (!failed) continue;
      const int64_t retry = ts + 2 * kDay;
      if (retry < to) {
        const bool failed_again = rng_.Bernoulli(0.4);
        out_.transactions.push_back(
            {id, retry, charge, "subscription", failed_again ? "failed" : "ok"});
      }
      const int64_t complaint = ts + static_cast<int64_t>(rng_.Uniform(1, 48)) * kHour;
      if (rng_.Bernoulli(0.5) && complaint < to) AddTicket(id, complaint, "billing");
    }
  }

  void AddTicket(int64_t id, int64_t ts, const char* category) {
    static constexpr const char* kPriorities[] = {"low", "normal", "high"};
    static constexpr const char* kCategories[] = {"billing", "technical", "account"};
    const char* priority = kPriorities[rng_.Categorical({0.3, 0.55, 0.15})];
    if (category == nullptr) category = kCategories[rng_.Categorical({0.3, 0.5, 0.2})];
    std::optional<double> hours;
    if (!rng_.Bernoulli(0.06)) hours = Round(rng_.Exponential(18.0) + 0.1, 0.1);
    out_.tickets.push_back({id, ts, priority, category, hours});
  }

  Rng& rng_;
  ChurnEvents& out_;
};

template <typename Record>
void SortByTime(std::vector<Record>& records) {
  std::stable_sort(records.begin(), records.end(), [](const Record& lhs, const Record& rhs) {
    return std::tie(lhs.ts, lhs.customer_id) < std::tie(rhs.ts, rhs.customer_id);
  });
}

// Picks the showcase customer: active to the end, a login in the last day, a purchase in
// the last week, a resolved ticket in the last 30 days; else the most recently active.
int64_t PickShowcase(const ChurnEvents& events) {
  const int64_t end = events.last_event_ts + 1;
  std::vector<int> flags(events.customers.size(), 0);
  auto index = [&](int64_t customer_id) { return static_cast<size_t>(customer_id - 1001); };
  for (const LoginRecord& login : events.logins) {
    if (login.ts > end - kDay) flags[index(login.customer_id)] |= 1;
  }
  for (const TransactionRecord& tx : events.transactions) {
    if (tx.ts > end - 7 * kDay) flags[index(tx.customer_id)] |= 2;
  }
  for (const TicketRecord& ticket : events.tickets) {
    if (ticket.ts > end - 30 * kDay && ticket.resolution_hours) {
      flags[index(ticket.customer_id)] |= 4;
    }
  }
  for (size_t idx = 0; idx < flags.size(); ++idx) {
    if (flags[idx] == 7) return events.customers[idx].customer_id;
  }
  return events.logins.empty() ? events.customers.front().customer_id
                               : events.logins.back().customer_id;
}

std::string Ts(int64_t millis) { return FormatTimestamp(millis); }

}  // namespace

double ChurnEvents::ChurnRate() const {
  if (labels.empty()) return 0;
  const auto churned = std::count_if(labels.begin(), labels.end(),
                                     [](const LabelRecord& label) { return label.churned; });
  return static_cast<double>(churned) / static_cast<double>(labels.size());
}

ChurnEvents GenerateChurnEvents(int customers, uint64_t seed) {
  ChurnEvents events;
  const size_t count = customers > 0 ? static_cast<size_t>(customers) : 0;
  events.customers.reserve(count);
  events.labels.reserve(count);
  events.transactions.reserve(count * 14);
  events.logins.reserve(count * 50);
  events.tickets.reserve(count * 4);
  Rng rng(seed);
  CustomerGenerator generator(rng, events);
  for (size_t idx = 0; idx < count; ++idx) generator.Generate(1001 + static_cast<int64_t>(idx));
  SortByTime(events.transactions);
  SortByTime(events.logins);
  SortByTime(events.tickets);
  if (count == 0) return events;

  events.first_event_ts = events.customers.front().signup_ts;
  events.last_event_ts = events.customers.front().signup_ts;
  for (const CustomerRecord& customer : events.customers) {
    events.first_event_ts = std::min(events.first_event_ts, customer.signup_ts);
    events.last_event_ts = std::max(events.last_event_ts, customer.signup_ts);
  }
  for (int64_t ts : {events.transactions.empty() ? 0 : events.transactions.back().ts,
                     events.logins.empty() ? 0 : events.logins.back().ts,
                     events.tickets.empty() ? 0 : events.tickets.back().ts}) {
    events.last_event_ts = std::max(events.last_event_ts, ts);
  }
  events.showcase_customer_id = PickShowcase(events);
  return events;
}

absl::Status WriteChurnCsvFiles(const ChurnEvents& events, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": cannot create directory: ", ec.message()));
  }
  auto write = [&](const char* name, const std::string& text) -> absl::Status {
    const std::string path = (std::filesystem::path(dir) / name).string();
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(text.data(), static_cast<std::streamsize>(text.size()));
    file.close();
    if (!file) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot write the file"));
    return absl::OkStatus();
  };

  std::string text = "customer_id,signup_ts,plan,contract,monthly_price,autopay,discount_pct,age\n";
  for (const CustomerRecord& c : events.customers) {
    absl::StrAppend(&text, c.customer_id, ",", Ts(c.signup_ts), ",", c.plan, ",", c.contract, ",",
                    absl::StrFormat("%.2f", c.monthly_price), ",", c.autopay ? "true" : "false",
                    ",", c.discount_pct, ",", c.age, "\n");
  }
  if (absl::Status status = write(kCustomersCsv, text); !status.ok()) return status;

  text = "customer_id,ts,amount,kind,status\n";
  for (const TransactionRecord& tx : events.transactions) {
    absl::StrAppend(&text, tx.customer_id, ",", Ts(tx.ts), ",", absl::StrFormat("%.2f", tx.amount),
                    ",", tx.kind, ",", tx.status, "\n");
  }
  if (absl::Status status = write(kTransactionsCsv, text); !status.ok()) return status;

  text = "customer_id,ts,device,session_minutes\n";
  for (const LoginRecord& login : events.logins) {
    absl::StrAppend(&text, login.customer_id, ",", Ts(login.ts), ",", login.device, ",",
                    absl::StrFormat("%.1f", login.session_minutes), "\n");
  }
  if (absl::Status status = write(kLoginsCsv, text); !status.ok()) return status;

  text = "customer_id,ts,priority,category,resolution_hours\n";
  for (const TicketRecord& ticket : events.tickets) {
    absl::StrAppend(&text, ticket.customer_id, ",", Ts(ticket.ts), ",", ticket.priority, ",",
                    ticket.category, ",",
                    ticket.resolution_hours ? absl::StrFormat("%.1f", *ticket.resolution_hours)
                                            : std::string(),
                    "\n");
  }
  if (absl::Status status = write(kTicketsCsv, text); !status.ok()) return status;

  text = "customer_id,event_timestamp,label\n";
  for (const LabelRecord& label : events.labels) {
    absl::StrAppend(&text, label.customer_id, ",", Ts(label.prediction_ts), ",",
                    label.churned ? 1 : 0, "\n");
  }
  return write(kLabelsCsv, text);
}

}  // namespace cairn::demo
