#pragma once
// The demo's raw data (DESIGN.md §9): a subscription business's customers and what they
// did — card charges and add-on purchases, logins, support tickets — with event times
// spread over the first half of 2024, plus one prediction time per customer and whether
// the customer churned in the 30 days after it. Generated, deterministic for a seed on
// every platform (demo/rng.h), and no download.
//
// The label depends only on behaviour visible before the prediction time (logins in the
// last week and month, recent tickets and failed payments, contract, tenure, price), so
// features computed point-in-time from the raw events carry the signal, and features that
// leaked the future would not help: churned customers simply stop producing events.
// Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace cairn::demo {

struct CustomerRecord {
  int64_t customer_id = 0;
  int64_t signup_ts = 0;  // epoch ms; the row's event time
  std::string plan;       // basic | standard | premium
  std::string contract;   // monthly | annual
  double monthly_price = 0;
  bool autopay = false;
  int64_t discount_pct = 0;  // 0, 10 or 20
  int64_t age = 0;
};

struct TransactionRecord {
  int64_t customer_id = 0;
  int64_t ts = 0;
  double amount = 0;
  const char* kind = "";    // subscription | addon
  const char* status = "";  // ok | failed
};

struct LoginRecord {
  int64_t customer_id = 0;
  int64_t ts = 0;
  const char* device = "";  // web | ios | android
  double session_minutes = 0;
};

struct TicketRecord {
  int64_t customer_id = 0;
  int64_t ts = 0;
  const char* priority = "";  // low | normal | high
  const char* category = "";  // billing | technical | account
  std::optional<double> resolution_hours;  // nullopt: still open
};

// One entity row of the training set: the customer, when the prediction is made, and
// whether the customer churned within 30 days after it.
struct LabelRecord {
  int64_t customer_id = 0;
  int64_t prediction_ts = 0;
  bool churned = false;
};

struct ChurnEvents {
  std::vector<CustomerRecord> customers;      // by customer_id
  std::vector<TransactionRecord> transactions;  // each list by (ts, customer_id)
  std::vector<LoginRecord> logins;
  std::vector<TicketRecord> tickets;
  std::vector<LabelRecord> labels;            // one per customer, by customer_id
  int64_t first_event_ts = 0;                 // earliest event of any kind (a signup)
  int64_t last_event_ts = 0;                  // latest event of any kind
  // A customer still active at the end with recent logins, purchases and a resolved
  // ticket, so every online feature has a value (the demo's online lookup).
  int64_t showcase_customer_id = 0;

  size_t event_count() const {
    return customers.size() + transactions.size() + logins.size() + tickets.size();
  }
  double ChurnRate() const;
};

// Customer ids are 1001, 1002, …; customers must be >= 1. About 60 events per customer
// (12 transactions, 45 logins, 3 tickets) and a churn rate of about a quarter.
ChurnEvents GenerateChurnEvents(int customers, uint64_t seed);

// The file names WriteChurnCsvFiles writes, one per source, and the entity rows.
inline constexpr char kCustomersCsv[] = "customers.csv";
inline constexpr char kTransactionsCsv[] = "transactions.csv";
inline constexpr char kLoginsCsv[] = "logins.csv";
inline constexpr char kTicketsCsv[] = "support_tickets.csv";
inline constexpr char kLabelsCsv[] = "labels.csv";  // customer_id,event_timestamp,label

// Writes the five CSV files (header row, RFC 3339 timestamps, empty field = null) into
// `dir`, creating it. InvalidArgument naming the path when a file cannot be written.
absl::Status WriteChurnCsvFiles(const ChurnEvents& events, const std::string& dir);

}  // namespace cairn::demo
