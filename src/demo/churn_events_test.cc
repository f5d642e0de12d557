#include "demo/churn_events.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "common/ids.h"
#include "common/timestamp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::demo {
namespace {

TEST(ChurnEventsTest, SameSeedSameEventsOtherSeedOtherEvents) {
  const ChurnEvents first = GenerateChurnEvents(300, 7);
  const ChurnEvents second = GenerateChurnEvents(300, 7);
  ASSERT_EQ(first.logins.size(), second.logins.size());
  ASSERT_EQ(first.transactions.size(), second.transactions.size());
  for (size_t idx = 0; idx < first.logins.size(); ++idx) {
    EXPECT_EQ(first.logins[idx].ts, second.logins[idx].ts);
    EXPECT_EQ(first.logins[idx].session_minutes, second.logins[idx].session_minutes);
  }
  for (size_t idx = 0; idx < first.labels.size(); ++idx) {
    EXPECT_EQ(first.labels[idx].churned, second.labels[idx].churned);
  }
  EXPECT_EQ(first.showcase_customer_id, second.showcase_customer_id);
  EXPECT_NE(GenerateChurnEvents(300, 8).logins.size(), first.logins.size());
}

TEST(ChurnEventsTest, SizesRatesAndTimeline) {
  const ChurnEvents events = GenerateChurnEvents(5000, 20240601);
  ASSERT_EQ(events.customers.size(), 5000u);
  ASSERT_EQ(events.labels.size(), 5000u);
  EXPECT_EQ(events.customers.front().customer_id, 1001);
  EXPECT_EQ(events.labels.back().customer_id, 6000);
  // About 60 events per customer.
  EXPECT_GT(events.event_count(), 200'000u);
  EXPECT_LT(events.event_count(), 400'000u);
  EXPECT_GT(events.ChurnRate(), 0.15);
  EXPECT_LT(events.ChurnRate(), 0.35);
  EXPECT_LT(events.last_event_ts, *ParseTimestamp("2024-07-01T00:00:00Z"));
  EXPECT_GE(events.transactions.front().ts, *ParseTimestamp("2024-01-01T00:00:00Z"));
  for (size_t idx = 1; idx < events.logins.size(); ++idx) {
    ASSERT_LE(events.logins[idx - 1].ts, events.logins[idx].ts);
  }
  for (const LabelRecord& label : events.labels) {
    const CustomerRecord& customer = events.customers[label.customer_id - 1001];
    ASSERT_LE(customer.signup_ts, label.prediction_ts - 7 * 86'400'000LL);
  }
}

TEST(ChurnEventsTest, ChurnersStopWithinTheHorizonAndRecentLoginsLowerChurn) {
  const ChurnEvents events = GenerateChurnEvents(4000, 3);
  std::map<int64_t, int64_t> last_login;
  std::map<int64_t, int> logins_7d;
  for (const LoginRecord& login : events.logins) {
    last_login[login.customer_id] = login.ts;
    const LabelRecord& label = events.labels[login.customer_id - 1001];
    if (login.ts < label.prediction_ts && login.ts >= label.prediction_ts - 7 * 86'400'000LL) {
      ++logins_7d[login.customer_id];
    }
  }
  int churned_idle = 0, idle = 0, churned_active = 0, active = 0;
  for (const LabelRecord& label : events.labels) {
    if (label.churned && last_login.count(label.customer_id)) {
      EXPECT_LE(last_login[label.customer_id], label.prediction_ts + 30 * 86'400'000LL);
    }
    const bool is_idle = logins_7d[label.customer_id] == 0;
    (is_idle ? idle : active) += 1;
    (is_idle ? churned_idle : churned_active) += label.churned;
  }
  ASSERT_GT(idle, 0);
  ASSERT_GT(active, 0);
  EXPECT_GT(static_cast<double>(churned_idle) / idle,
            1.5 * static_cast<double>(churned_active) / active);
}

TEST(ChurnEventsTest, ShowcaseCustomerIsActiveAtTheEnd) {
  const ChurnEvents events = GenerateChurnEvents(2000, 11);
  EXPECT_FALSE(events.labels[events.showcase_customer_id - 1001].churned);
  bool recent_login = false;
  for (const LoginRecord& login : events.logins) {
    recent_login |= login.customer_id == events.showcase_customer_id &&
                    login.ts > events.last_event_ts - 86'400'000LL;
  }
  EXPECT_TRUE(recent_login);
}

TEST(ChurnEventsTest, WritesOneCsvPerSourceAndTheLabels) {
  const ChurnEvents events = GenerateChurnEvents(50, 1);
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("cairn-churn-csv-" + NewUuidHex());
  ASSERT_TRUE(WriteChurnCsvFiles(events, dir.string()).ok());
  auto lines = [&](const char* name, std::string* header) {
    std::ifstream file(dir / name);
    std::getline(file, *header);
    size_t count = 0;
    for (std::string line; std::getline(file, line);) ++count;
    return count;
  };
  std::string header;
  EXPECT_EQ(lines(kCustomersCsv, &header), 50u);
  EXPECT_EQ(header, "customer_id,signup_ts,plan,contract,monthly_price,autopay,discount_pct,age");
  EXPECT_EQ(lines(kTransactionsCsv, &header), events.transactions.size());
  EXPECT_EQ(header, "customer_id,ts,amount,kind,status");
  EXPECT_EQ(lines(kLoginsCsv, &header), events.logins.size());
  EXPECT_EQ(lines(kTicketsCsv, &header), events.tickets.size());
  EXPECT_EQ(header, "customer_id,ts,priority,category,resolution_hours");
  EXPECT_EQ(lines(kLabelsCsv, &header), 50u);
  EXPECT_EQ(header, "customer_id,event_timestamp,label");
  std::filesystem::remove_all(dir);

  EXPECT_EQ(WriteChurnCsvFiles(events, "/proc/cairn-no-such-dir").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::demo
