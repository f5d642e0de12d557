#include "serving/inference_log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/monitors/monitor_runner.h"
#include "monitoring/monitors/monitor_yaml.h"
#include "storage/database.h"
#include "storage/testing/test_databases.h"

namespace cairn::serving {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string BackendUrl(const std::string& backend) {
  if (backend == "sqlite") {
    static std::atomic<int> counter{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("cairn-inference-log-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return (dir / "test.db").string();
  }
  const char* url = storage::test_support::PrivatePostgresUrl();
  return url ? url : "";
}

InferenceRecord Record(std::string endpoint, std::string id, int64_t time_ms,
                       double prediction = 0.5, std::string variant = "champion") {
  InferenceRecord record;
  record.id = std::move(id);
  record.endpoint = std::move(endpoint);
  record.model = "churn";
  record.model_version = 3;
  record.variant = std::move(variant);
  record.time_ms = time_ms;
  record.latency_us = 250;
  record.features = {{"amount", 12.5}, {"plan", "pro"}, {"visits", 3}};
  record.prediction = prediction;
  return record;
}

std::vector<std::string> Ids(const InferenceLogPage& page) {
  std::vector<std::string> ids;
  for (const InferenceRecord& record : page.records) ids.push_back(record.id);
  return ids;
}

class InferenceLogTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "sqlite") CAIRN_REQUIRE_POSTGRES();
    auto db = storage::OpenDatabase(BackendUrl(GetParam()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                     return s.ExecuteScript(
                         "DROP TABLE IF EXISTS serving_inference_log;"
                         "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
                         " version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT "
                         "NULL, PRIMARY KEY (component, version));"
                         "DELETE FROM schema_migrations WHERE component = 'serving_inference_log'");
                   }).ok());
    Open({});
  }

  void Open(InferenceLogOptions options) {
    log_.reset();
    auto log = InferenceLog::Open(*db_, options);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
  }

  int64_t CountRows(const std::string& endpoint) {
    int64_t count = -1;
    EXPECT_TRUE(db_->Read([&](storage::SqlSession& s) -> absl::Status {
                     const storage::SqlValue params[] = {endpoint};
                     auto result = s.Query(
                         "SELECT COUNT(*) FROM serving_inference_log WHERE endpoint = $1",
                         params);
                     if (!result.ok()) return result.status();
                     count = std::get<int64_t>(result->rows[0][0]);
                     return absl::OkStatus();
                   }).ok());
    return count;
  }

  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<InferenceLog> log_;
};

TEST_P(InferenceLogTest, AppendFlushAndReadRoundTripsEveryField) {
  InferenceRecord record = Record("churn", "r1", 1'000, 0.25);
  record.latency_us = 812;
  record.model_version = 7;
  record.features = {{"amount", 12.5}, {"plan", "pro"}, {"missing", nullptr}, {"flag", true}};
  ASSERT_TRUE(log_->Append(record));
  InferenceRecord failed = Record("churn", "r2", 2'000, std::nan(""), "canary");
  failed.error = true;
  ASSERT_TRUE(log_->Append(failed));
  ASSERT_TRUE(log_->Flush().ok());

  auto page = log_->Read({.endpoint = "churn"});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 2u);
  EXPECT_TRUE(page->next_page_token.empty());
  const InferenceRecord& newest = page->records[0];
  EXPECT_EQ(newest.id, "r2");
  EXPECT_EQ(newest.variant, "canary");
  EXPECT_TRUE(newest.error);
  EXPECT_TRUE(std::isnan(newest.prediction));
  const InferenceRecord& got = page->records[1];
  EXPECT_EQ(got.id, "r1");
  EXPECT_EQ(got.endpoint, "churn");
  EXPECT_EQ(got.model, "churn");
  EXPECT_EQ(got.model_version, 7);
  EXPECT_EQ(got.variant, "champion");
  EXPECT_EQ(got.time_ms, 1'000);
  EXPECT_EQ(got.latency_us, 812);
  EXPECT_EQ(got.prediction, 0.25);
  EXPECT_FALSE(got.error);
  EXPECT_EQ(got.features, record.features);
  EXPECT_FALSE(got.label.has_value());

  InferenceLogStats stats = log_->Stats();
  EXPECT_EQ(stats.appended, 2);
  EXPECT_EQ(stats.written, 2);
  EXPECT_EQ(stats.dropped, 0);
  EXPECT_EQ(stats.queued, 0);
  EXPECT_EQ(stats.failed, 0);
}

// A record handed over with its features as JSON text (the endpoint service's way) is stored
// byte for byte as a record with the same features as a Json object.
TEST_P(InferenceLogTest, FeaturesAsTextAreStoredAsTheJsonObjectWouldBe) {
  const Json features = {{"amount", 12.5}, {"plan", "pro"}, {"missing", nullptr}, {"n", 3}};
  InferenceRecord as_json = Record("churn", "r1", 1'000, 0.25);
  as_json.features = features;
  InferenceRecord as_text = Record("churn", "r2", 1'000, 0.25);
  as_text.features = Json::object();
  as_text.features_json = DumpJson(features);
  ASSERT_TRUE(log_->Append(as_json));
  ASSERT_TRUE(log_->Append(as_text));
  ASSERT_TRUE(log_->Flush().ok());
  std::map<std::string, std::string> stored;
  ASSERT_TRUE(db_->Read([&](storage::SqlSession& session) {
                   return session.QueryEach(
                       "SELECT id, features FROM serving_inference_log", {},
                       [&](const storage::SqlRowView& row) {
                         stored[std::string(row.Text(0))] = std::string(row.Text(1));
                         return absl::OkStatus();
                       });
                 }).ok());
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored["r1"], R"({"amount":12.5,"missing":null,"n":3,"plan":"pro"})");
  EXPECT_EQ(stored["r2"], stored["r1"]);
  auto page = log_->Read({.endpoint = "churn"});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 2u);
  EXPECT_EQ(page->records[0].features, features);
  EXPECT_TRUE(page->records[0].features_json.empty()) << "read back as `features` only";
}

TEST_P(InferenceLogTest, ReadFiltersByWindowAndVariantAndPagesNewestFirst) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(log_->Append(Record("churn", absl::StrCat("c", i), 1'000 + 100 * i)));
  }
  ASSERT_TRUE(log_->Append(Record("churn", "s1", 1'250, 0.1, "shadow")));
  ASSERT_TRUE(log_->Append(Record("other", "o1", 1'250)));
  // Same time_ms: the later written comes first (newest first), and paging splits them.
  ASSERT_TRUE(log_->Append(Record("churn", "c10", 1'900)));

  auto window = log_->Read({.endpoint = "churn", .from_ms = 1'200, .to_ms = 1'500});
  ASSERT_TRUE(window.ok()) << window.status();
  EXPECT_THAT(Ids(*window), ElementsAre("c4", "c3", "s1", "c2"));

  auto shadow = log_->Read({.endpoint = "churn", .variant = "shadow"});
  ASSERT_TRUE(shadow.ok());
  EXPECT_THAT(Ids(*shadow), ElementsAre("s1"));

  std::vector<std::string> all;
  std::string token;
  int pages = 0;
  do {
    auto page = log_->Read(
        {.endpoint = "churn", .variant = "champion", .max_results = 4, .page_token = token});
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& id : Ids(*page)) all.push_back(id);
    token = page->next_page_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);

  // A page boundary between two rows of the same time_ms (c10 and c9 at 1,900).
  auto first = log_->Read({.endpoint = "churn", .max_results = 1});
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(Ids(*first), ElementsAre("c10"));
  auto second =
      log_->Read({.endpoint = "churn", .max_results = 1, .page_token = first->next_page_token});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(Ids(*second), ElementsAre("c9"));
  EXPECT_THAT(all, ElementsAre("c10", "c9", "c8", "c7", "c6", "c5", "c4", "c3", "c2", "c1",
                               "c0"));
}

TEST_P(InferenceLogTest, ReadRefusesBadQueriesNamingTheField) {
  auto empty = log_->Read({});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("endpoint"));

  auto variant = log_->Read({.endpoint = "churn", .variant = "challenger"});
  EXPECT_EQ(variant.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(variant.status().message(), HasSubstr("variant: 'challenger'"));

  auto too_many = log_->Read({.endpoint = "churn", .max_results = 10'001});
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_many.status().message(), HasSubstr("max_results: 10001"));

  auto window = log_->Read({.endpoint = "churn", .from_ms = 5, .to_ms = 5});
  EXPECT_EQ(window.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(window.status().message(), HasSubstr("to_ms: 5"));

  auto token = log_->Read({.endpoint = "churn", .page_token = "bogus"});
  EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(token.status().message(), HasSubstr("page_token: 'bogus'"));
}

TEST_P(InferenceLogTest, DuplicateIdOfAVariantIsSkippedAndCounted) {
  ASSERT_TRUE(log_->Append(Record("churn", "r1", 1'000, 0.1)));
  ASSERT_TRUE(log_->Append(Record("churn", "r1", 1'001, 0.2)));            // same variant
  ASSERT_TRUE(log_->Append(Record("churn", "r1", 1'002, 0.3, "shadow")));  // another variant
  ASSERT_TRUE(log_->Flush().ok());
  EXPECT_EQ(CountRows("churn"), 2);
  InferenceLogStats stats = log_->Stats();
  EXPECT_EQ(stats.written, 2);
  EXPECT_EQ(stats.duplicates, 1);
}

TEST_P(InferenceLogTest, PostLabelsLabelsEveryVariantAndNamesUnknownIds) {
  ASSERT_TRUE(log_->Append(Record("churn", "r1", 1'000)));
  ASSERT_TRUE(log_->Append(Record("churn", "r1", 1'000, 0.4, "shadow")));
  ASSERT_TRUE(log_->Append(Record("churn", "r2", 1'100)));
  ASSERT_TRUE(log_->Append(Record("other", "r3", 1'100)));
  // No Flush: PostLabels sees what was appended before it.
  auto results = log_->PostLabels(
      "churn", {{"r1", 1.0}, {"nope", 0.0}, {"r3", 1.0}, {"r2", std::nan("")}}, 5'000);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 4u);
  EXPECT_EQ((*results)[0].id, "r1");
  EXPECT_TRUE((*results)[0].status.ok()) << (*results)[0].status;
  EXPECT_EQ((*results)[1].status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT((*results)[1].status.message(),
              HasSubstr("id 'nope' is not in the inference log of endpoint 'churn'"));
  EXPECT_EQ((*results)[2].status.code(), absl::StatusCode::kNotFound);  // another endpoint's
  EXPECT_EQ((*results)[3].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT((*results)[3].status.message(), HasSubstr("label of id 'r2'"));

  auto page = log_->Read({.endpoint = "churn"});
  ASSERT_TRUE(page.ok());
  int labelled = 0;
  for (const InferenceRecord& record : page->records) {
    if (record.id == "r1") {
      ASSERT_TRUE(record.label.has_value()) << record.variant;
      EXPECT_EQ(*record.label, 1.0);
      EXPECT_EQ(record.label_time_ms, 5'000);
      ++labelled;
    } else {
      EXPECT_FALSE(record.label.has_value());
    }
  }
  EXPECT_EQ(labelled, 2);

  // Posting again replaces the label.
  auto again = log_->PostLabels("churn", {{"r1", 0.0}}, 6'000);
  ASSERT_TRUE(again.ok());
  auto shadow = log_->Read({.endpoint = "churn", .variant = "shadow"});
  ASSERT_TRUE(shadow.ok());
  ASSERT_EQ(shadow->records.size(), 1u);
  EXPECT_EQ(shadow->records[0].label, 0.0);
  EXPECT_EQ(shadow->records[0].label_time_ms, 6'000);

  EXPECT_EQ(log_->PostLabels("", {{"r1", 1.0}}, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(InferenceLogTest, RetentionKeepsTheNewestRowsOfThatEndpointOnly) {
  log_->SetRetention("churn", 5);
  // Appended out of time order: retention keeps the newest by time_ms.
  for (int i = 0; i < 20; ++i) {
    const int t = (i * 7) % 20;  // a permutation of 0..19
    ASSERT_TRUE(log_->Append(Record("churn", absl::StrCat("c", t), 1'000 + t)));
    ASSERT_TRUE(log_->Append(Record("other", absl::StrCat("o", i), 1'000 + i)));
  }
  ASSERT_TRUE(log_->Flush().ok());
  EXPECT_EQ(CountRows("churn"), 5);
  EXPECT_EQ(CountRows("other"), 20);
  auto page = log_->Read({.endpoint = "churn"});
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(Ids(*page), ElementsAre("c19", "c18", "c17", "c16", "c15"));
  EXPECT_EQ(log_->Stats().trimmed, 15);

  // Lowering the limit applies at the next Flush without new rows.
  log_->SetRetention("other", 3);
  ASSERT_TRUE(log_->Flush().ok());
  EXPECT_EQ(CountRows("other"), 3);

  // Past the limit by at most a tenth, trimming is amortized; a setting applies exactly.
  log_->SetRetention("churn", 100);
  ASSERT_TRUE(log_->Flush().ok());
  for (int i = 0; i < 105; ++i) {
    ASSERT_TRUE(log_->Append(Record("churn", absl::StrCat("n", i), 5'000 + i)));
  }
  ASSERT_TRUE(log_->Flush().ok());
  EXPECT_EQ(CountRows("churn"), 110);  // 5 + 105 <= 100 + 10: not trimmed yet
  ASSERT_TRUE(log_->Append(Record("churn", "n105", 6'000)));
  ASSERT_TRUE(log_->Flush().ok());
  EXPECT_EQ(CountRows("churn"), 100);

  log_->SetRetention("churn", 0);  // no limit
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(log_->Append(Record("churn", absl::StrCat("u", i), 7'000 + i)));
  }
  ASSERT_TRUE(log_->Flush().ok());
  EXPECT_EQ(CountRows("churn"), 120);
}

TEST_P(InferenceLogTest, FullQueueDropsAndCounts) {
  // A long interval and a large batch: nothing is written until Flush.
  Open({.max_queue = 3, .batch_size = 1'000, .flush_interval_ms = 60'000});
  EXPECT_TRUE(log_->Append(Record("churn", "a", 1)));
  EXPECT_TRUE(log_->Append(Record("churn", "b", 2)));
  EXPECT_TRUE(log_->Append(Record("churn", "c", 3)));
  EXPECT_FALSE(log_->Append(Record("churn", "d", 4)));
  EXPECT_FALSE(log_->Append(Record("", "e", 5)));      // no endpoint
  EXPECT_FALSE(log_->Append(Record("churn", "", 5)));  // no id
  InferenceLogStats before = log_->Stats();
  EXPECT_EQ(before.appended, 3);
  EXPECT_EQ(before.dropped, 3);
  EXPECT_EQ(before.queued, 3);
  ASSERT_TRUE(log_->Flush().ok());
  EXPECT_EQ(log_->Stats().written, 3);
  EXPECT_EQ(log_->Stats().queued, 0);
  EXPECT_TRUE(log_->Append(Record("churn", "d", 4)));  // room again
}

TEST_P(InferenceLogTest, WriterCommitsOnItsOwnWithoutFlush) {
  Open({.batch_size = 10'000, .flush_interval_ms = 20});
  ASSERT_TRUE(log_->Append(Record("churn", "a", 1)));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (log_->Stats().written < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(log_->Stats().written, 1);
  EXPECT_EQ(CountRows("churn"), 1);
}

TEST_P(InferenceLogTest, ShutdownWritesWhatIsQueuedAndRefusesLaterAppends) {
  Open({.batch_size = 10'000, .flush_interval_ms = 60'000});
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(log_->Append(Record("churn", absl::StrCat(i), i)));
  log_->Shutdown();
  EXPECT_EQ(CountRows("churn"), 50);
  EXPECT_FALSE(log_->Append(Record("churn", "late", 100)));
  EXPECT_TRUE(log_->Flush().ok());  // returns at once
  log_->Shutdown();                 // idempotent
  EXPECT_EQ(log_->Stats().dropped, 1);
}

TEST_P(InferenceLogTest, ConcurrentAppendersLoseNothingBelowTheQueueBound) {
  Open({.max_queue = 1'000'000, .batch_size = 500, .flush_interval_ms = 10});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(log_->Append(Record("churn", absl::StrCat(t, "-", i), i)));
      }
    });
  }
  // Flushes racing the appenders must neither hang nor fail.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(log_->Flush().ok());
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(log_->Flush().ok());
  EXPECT_EQ(CountRows("churn"), kThreads * kPerThread);
  EXPECT_EQ(log_->Stats().written, kThreads * kPerThread);
}

TEST_P(InferenceLogTest, AFailedWriteIsReturnedByFlushAndCounted) {
  ASSERT_TRUE(log_->Append(Record("churn", "a", 1)));
  ASSERT_TRUE(log_->Flush().ok());
  // The table disappears under the log: the next batch cannot be written.
  ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                   return s.ExecuteScript("DROP TABLE serving_inference_log");
                 }).ok());
  ASSERT_TRUE(log_->Append(Record("churn", "b", 2)));
  ASSERT_TRUE(log_->Append(Record("churn", "c", 3)));
  absl::Status flushed = log_->Flush();
  EXPECT_FALSE(flushed.ok());
  InferenceLogStats stats = log_->Stats();
  EXPECT_EQ(stats.written, 1);
  EXPECT_EQ(stats.failed, 2);
  EXPECT_EQ(stats.last_error, std::string(flushed.message()));
  // A later flush with nothing new to write reports no old failure.
  EXPECT_TRUE(log_->Flush().ok());
}

TEST_P(InferenceLogTest, ReadFrameHoldsFeaturesPredictionAndLabelsOldestFirst) {
  InferenceRecord a = Record("churn", "a", 1'000, 0.1);
  a.features = {{"amount", 10.0}, {"plan", "pro"}};
  InferenceRecord b = Record("churn", "b", 2'000, 0.2);
  b.features = {{"amount", 20.0}, {"plan", "basic"}, {"visits", 4}};
  InferenceRecord c = Record("churn", "c", 3'000, 0.3, "canary");
  c.features = {{"amount", nullptr}, {"plan", "pro"}};
  InferenceRecord shadow = Record("churn", "s", 2'500, 0.9, "shadow");
  InferenceRecord failed = Record("churn", "f", 2'600, 0.0);
  failed.error = true;
  InferenceRecord outside = Record("churn", "late", 9'000, 0.5);
  for (const auto& record : {a, b, c, shadow, failed, outside}) {
    ASSERT_TRUE(log_->Append(record));
  }
  ASSERT_TRUE(log_->PostLabels("churn", {{"b", 1.0}}, 4'000).ok());

  auto frame = log_->ReadFrame("churn", 500, 5'000);
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->rows, 3);
  EXPECT_THAT(frame->Names(), ElementsAre("amount", "plan", "visits", "prediction", "label"));
  const monitoring::FrameColumn* amount = frame->Find("amount");
  ASSERT_NE(amount, nullptr);
  EXPECT_FALSE(amount->categorical);
  EXPECT_EQ(amount->numbers[0], 10.0);
  EXPECT_EQ(amount->numbers[1], 20.0);
  EXPECT_TRUE(std::isnan(amount->numbers[2]));
  const monitoring::FrameColumn* plan = frame->Find("plan");
  ASSERT_NE(plan, nullptr);
  ASSERT_TRUE(plan->categorical);
  ASSERT_EQ(plan->codes.size(), 3u);
  EXPECT_EQ(plan->categories[plan->codes[0]], "pro");
  EXPECT_EQ(plan->categories[plan->codes[1]], "basic");
  EXPECT_EQ(plan->categories[plan->codes[2]], "pro");
  const monitoring::FrameColumn* visits = frame->Find("visits");
  ASSERT_NE(visits, nullptr);
  EXPECT_TRUE(std::isnan(visits->numbers[0]));
  EXPECT_EQ(visits->numbers[1], 4.0);
  EXPECT_THAT(frame->Find("prediction")->numbers, ElementsAre(0.1, 0.2, 0.3));
  const monitoring::FrameColumn* label = frame->Find("label");
  ASSERT_NE(label, nullptr);
  EXPECT_TRUE(std::isnan(label->numbers[0]));
  EXPECT_EQ(label->numbers[1], 1.0);
  EXPECT_TRUE(std::isnan(label->numbers[2]));

  // One variant; the newest rows only; a forced categorical column.
  auto shadow_frame = log_->ReadFrame("churn", 0, 0, {.variant = "shadow"});
  ASSERT_TRUE(shadow_frame.ok());
  EXPECT_EQ(shadow_frame->rows, 1);
  EXPECT_THAT(shadow_frame->Find("prediction")->numbers, ElementsAre(0.9));
  EXPECT_EQ(shadow_frame->Find("label"), nullptr);  // no label in these rows

  auto last = log_->ReadFrame("churn", 0, 0, {.last_rows = 2, .categorical = {"visits", "x"}});
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->rows, 2);
  EXPECT_THAT(last->Find("prediction")->numbers, ElementsAre(0.3, 0.5));
  ASSERT_NE(last->Find("visits"), nullptr);
  EXPECT_TRUE(last->Find("visits")->categorical);
}

// ReadFrame builds its frame without JSON trees; it must read the feature values exactly
// as monitoring::DataFrameFromJson reads the same values written as columns.
TEST_P(InferenceLogTest, ReadFrameReadsValuesAsDataFrameFromJson) {
  const std::vector<Json> rows = {
      {{"n", 1.5}, {"i", 3}, {"s", "a"}, {"mixed", 2}, {"b", true}, {"forced", 7}},
      {{"n", nullptr}, {"i", -4}, {"s", "b"}, {"mixed", "x"}, {"forced", 7.5}},
      {{"n", 1e300}, {"s", "a"}, {"mixed", 2.25}, {"b", false}, {"late", 1}, {"forced", 7}},
      {{"i", 0}, {"mixed", nullptr}, {"s", "caf\u00e9 \"q\""}, {"forced", nullptr}},
      {{"n", -0.125}, {"i", 9007199254740993}, {"b", nullptr}, {"mixed", true}},
  };
  Json columns = Json::object();
  for (const char* name : {"n", "i", "s", "mixed", "b", "forced", "late"}) {
    Json values = Json::array();
    for (const Json& row : rows) values.push_back(row.contains(name) ? row[name] : Json());
    columns[name] = values;
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    InferenceRecord record = Record("churn", absl::StrCat("r", r), 1'000 + r, 0.5 + r);
    record.features = rows[r];
    ASSERT_TRUE(log_->Append(record));
  }
  auto expected = monitoring::DataFrameFromJson(columns, {"forced"}, "x");
  ASSERT_TRUE(expected.ok()) << expected.status();
  auto frame = log_->ReadFrame("churn", 0, 0, {.categorical = {"forced"}});
  ASSERT_TRUE(frame.ok()) << frame.status();
  ASSERT_EQ(frame->rows, 5);
  ASSERT_EQ(frame->columns.size(), expected->columns.size() + 1);  // + prediction
  for (size_t c = 0; c < expected->columns.size(); ++c) {
    const monitoring::FrameColumn& want = expected->columns[c];
    const monitoring::FrameColumn& got = frame->columns[c];
    SCOPED_TRACE(want.name);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.categorical, want.categorical);
    EXPECT_EQ(got.codes, want.codes);
    EXPECT_EQ(got.categories, want.categories);
    ASSERT_EQ(got.numbers.size(), want.numbers.size());
    for (size_t r = 0; r < want.numbers.size(); ++r) {
      if (std::isnan(want.numbers[r])) {
        EXPECT_TRUE(std::isnan(got.numbers[r])) << r;
      } else {
        EXPECT_EQ(got.numbers[r], want.numbers[r]) << r;
      }
    }
  }
  EXPECT_THAT(frame->columns.back().numbers, ElementsAre(0.5, 1.5, 2.5, 3.5, 4.5));
}

TEST_P(InferenceLogTest, ReadFrameOfAnEmptyWindowHasNoRows) {
  auto frame = log_->ReadFrame("churn", 0, 0);
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->rows, 0);
  EXPECT_THAT(frame->Names(), ElementsAre("prediction"));
  EXPECT_EQ(log_->ReadFrame("", 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log_->ReadFrame("churn", 0, 0, {.variant = "x"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(InferenceLogTest, ReopeningKeepsTheLog) {
  ASSERT_TRUE(log_->Append(Record("churn", "a", 1)));
  log_.reset();
  Open({});
  auto page = log_->Read({.endpoint = "churn"});
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(Ids(*page), ElementsAre("a"));
}

// The wiring the server does: a monitor whose target is an endpoint reads the log through
// MonitorIo::read_endpoint → InferenceLog::ReadFrame.
TEST_P(InferenceLogTest, MonitorOnAnEndpointFindsDriftInTheLoggedFeatures) {
  FakeClock clock(1'700'000'000'000);
  const int64_t now = clock.NowMillis();
  for (int i = 0; i < 300; ++i) {
    InferenceRecord old_row = Record("churn", absl::StrCat("old", i), now - 7'200'000 + i);
    old_row.features = {{"amount", 100.0 + i % 100}};
    ASSERT_TRUE(log_->Append(old_row));
    InferenceRecord live = Record("churn", absl::StrCat("live", i), now - 600'000 + i);
    live.features = {{"amount", 180.0 + i % 100}};  // shifted by 80 of a 100 range
    ASSERT_TRUE(log_->Append(live));
  }
  monitoring::MonitorIo io;
  std::vector<monitoring::EndpointReadRequest> requests;
  io.read_endpoint = [&](const monitoring::EndpointReadRequest& request) {
    requests.push_back(request);
    return log_->ReadFrame(request.endpoint, request.from_ms, request.to_ms,
                           {.last_rows = request.last_rows, .categorical = request.categorical});
  };
  io.read_csv = [&](const std::string&, const std::vector<std::string>&) {
    // The reference: the endpoint's own traffic two hours ago.
    return log_->ReadFrame("churn", now - 7'200'000, now - 3'600'000);
  };
  auto runner = monitoring::MonitorRunner::Open(*db_, clock, io);
  ASSERT_TRUE(runner.ok()) << runner.status();
  auto specs = monitoring::ParseMonitorsYaml(
      "kind: Monitor\nname: live\ntarget: {endpoint: churn, window: 1h}\n"
      "reference: {path: ref.csv}\ncolumns: [amount]\n",
      "live.yaml");
  ASSERT_TRUE(specs.ok()) << specs.status();
  monitoring::MonitorVersion monitor{.name = "live", .version = 1, .spec = (*specs)[0]};
  auto run = (*runner)->Run(monitor, "manual");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->message;
  EXPECT_EQ(run->target_rows, 300);
  EXPECT_EQ(run->reference_rows, 300);
  EXPECT_TRUE(run->drift_found) << run->message;
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].from_ms, now - 3'600'000);
}

INSTANTIATE_TEST_SUITE_P(Backends, InferenceLogTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(ShouldSample, IsDeterministicAndKeepsAboutTheRate) {
  EXPECT_TRUE(InferenceLog::ShouldSample("x", 1.0));
  EXPECT_TRUE(InferenceLog::ShouldSample("x", 2.0));
  EXPECT_FALSE(InferenceLog::ShouldSample("x", 0.0));
  EXPECT_FALSE(InferenceLog::ShouldSample("x", -1.0));
  EXPECT_FALSE(InferenceLog::ShouldSample("x", std::nan("")));
  int kept = 0;
  for (int i = 0; i < 100'000; ++i) {
    const std::string id = absl::StrCat("req-", i);
    const bool sampled = InferenceLog::ShouldSample(id, 0.1);
    EXPECT_EQ(sampled, InferenceLog::ShouldSample(id, 0.1));
    // Monotone in the rate: kept at 10% means kept at 50%.
    if (sampled) EXPECT_TRUE(InferenceLog::ShouldSample(id, 0.5));
    kept += sampled;
  }
  EXPECT_GT(kept, 9'500);
  EXPECT_LT(kept, 10'500);
  // Fixed values: the hash must not change between versions or processes (a sampled id
  // stays sampled). FNV-1a 64 + SplitMix64's finalizer, top 53 bits: req-0 → 0.66417…,
  // req-1 → 0.03968…, b → 0.24300….
  EXPECT_TRUE(InferenceLog::ShouldSample("req-0", 0.665));
  EXPECT_FALSE(InferenceLog::ShouldSample("req-0", 0.664));
  EXPECT_TRUE(InferenceLog::ShouldSample("req-1", 0.04));
  EXPECT_FALSE(InferenceLog::ShouldSample("req-1", 0.039));
  EXPECT_TRUE(InferenceLog::ShouldSample("b", 0.25));
  EXPECT_FALSE(InferenceLog::ShouldSample("b", 0.24));
}

}  // namespace
}  // namespace cairn::serving
