// LoggedModelStore against SQLite and, when CAIRN_TEST_POSTGRES_URL is set, PostgreSQL
// (the same suite, parametrized like storage/database_contract_test.cc). On PostgreSQL the
// logged-model tables are dropped at SetUp so runs do not see each other's rows.

#include "tracking/logged_model_store.h"

#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/ids.h"
#include "storage/testing/test_databases.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "tracking/tracking_store.h"

namespace cairn::tracking {
namespace {

using ::testing::TestWithParam;


class LoggedModelStoreTest : public TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url = "sqlite::memory:";
    if (GetParam() == "postgres") {
      CAIRN_REQUIRE_POSTGRES();
      url = storage::test_support::PrivatePostgresUrl();
    }
    absl::StatusOr<std::unique_ptr<storage::Database>> db = storage::OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    if (GetParam() == "postgres") {
      ASSERT_TRUE(db_->Write([](storage::SqlSession& s) {
                       return s.ExecuteScript(
                           "DROP TABLE IF EXISTS logged_models; "
                           "DROP TABLE IF EXISTS logged_model_tags; "
                           "DROP TABLE IF EXISTS logged_model_params; "
                           "DROP TABLE IF EXISTS run_model_outputs; "
                           "DROP TABLE IF EXISTS logged_model_metrics; "
                           "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT, "
                           "version INTEGER, name TEXT, applied_at BIGINT); "
                           "DELETE FROM schema_migrations WHERE component = 'logged_models'");
                     }).ok());
    }
    absl::StatusOr<std::unique_ptr<TrackingStore>> tracking = TrackingStore::Open(*db_, clock_);
    ASSERT_TRUE(tracking.ok()) << tracking.status();
    tracking_ = std::move(*tracking);
    absl::StatusOr<std::unique_ptr<LoggedModelStore>> store =
        LoggedModelStore::Open(*db_, clock_, *tracking_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    absl::StatusOr<std::string> experiment =
        tracking_->CreateExperiment(absl::StrCat("exp-", NewUuidHex()), "", {});
    ASSERT_TRUE(experiment.ok()) << experiment.status();
    experiment_id_ = *experiment;
  }

  LoggedModel MustCreate(std::string name, std::vector<std::pair<std::string, std::string>> params = {},
                         std::vector<std::pair<std::string, std::string>> tags = {}) {
    CreateLoggedModelRequest request;
    request.experiment_id = experiment_id_;
    request.name = std::move(name);
    request.params = std::move(params);
    request.tags = std::move(tags);
    absl::StatusOr<LoggedModel> model = store_->Create(request);
    EXPECT_TRUE(model.ok()) << model.status();
    clock_.Advance(10);
    return model.ok() ? *model : LoggedModel{};
  }

  std::vector<std::string> SearchNames(const std::string& filter) {
    SearchLoggedModelsRequest request;
    request.experiment_ids = {experiment_id_};
    request.filter = filter;
    absl::StatusOr<LoggedModelPage> page = store_->Search(request);
    EXPECT_TRUE(page.ok()) << filter << ": " << page.status();
    std::vector<std::string> names;
    if (page.ok()) {
      for (const LoggedModel& model : page->models) names.push_back(model.name);
    }
    return names;
  }

  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<TrackingStore> tracking_;
  std::unique_ptr<LoggedModelStore> store_;
  std::string experiment_id_;
};

TEST_P(LoggedModelStoreTest, CreateSetsIdLocationStatusAndTimes) {
  absl::StatusOr<Experiment> experiment = tracking_->GetExperiment(experiment_id_);
  ASSERT_TRUE(experiment.ok());
  LoggedModel model = MustCreate("model", {{"alpha", "0.5"}}, {{"team", "a"}});
  ASSERT_EQ(model.model_id.size(), 34u);
  EXPECT_EQ(model.model_id.substr(0, 2), "m-");
  EXPECT_EQ(model.artifact_location,
            absl::StrCat(experiment->artifact_location, "/models/", model.model_id, "/artifacts"));
  EXPECT_EQ(model.status, LoggedModelStatus::kPending);
  EXPECT_EQ(model.lifecycle_stage, "active");
  EXPECT_EQ(model.creation_timestamp_ms, 1'700'000'000'000);
  EXPECT_EQ(model.last_updated_timestamp_ms, model.creation_timestamp_ms);

  absl::StatusOr<LoggedModel> fetched = store_->Get(model.model_id);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->name, "model");
  EXPECT_EQ(fetched->experiment_id, experiment_id_);
  EXPECT_EQ(fetched->params, (std::vector<std::pair<std::string, std::string>>{{"alpha", "0.5"}}));
  EXPECT_EQ(fetched->tags, (std::vector<std::pair<std::string, std::string>>{{"team", "a"}}));
}

TEST_P(LoggedModelStoreTest, CreateWithoutNameGeneratesOne) {
  LoggedModel model = MustCreate("");
  EXPECT_FALSE(model.name.empty());
}

TEST_P(LoggedModelStoreTest, CreateRejectsBadInput) {
  struct Case {
    std::string experiment_id;
    std::string name;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"", "m", absl::StatusCode::kInvalidArgument},
      {experiment_id_, "a/b", absl::StatusCode::kInvalidArgument},
      {experiment_id_, "a.b", absl::StatusCode::kInvalidArgument},
      {experiment_id_, "a'b", absl::StatusCode::kInvalidArgument},
      {"987654", "m", absl::StatusCode::kNotFound},
  };
  for (const Case& c : cases) {
    CreateLoggedModelRequest request;
    request.experiment_id = c.experiment_id;
    request.name = c.name;
    EXPECT_EQ(store_->Create(request).status().code(), c.code) << c.experiment_id << " " << c.name;
  }
}

TEST_P(LoggedModelStoreTest, CreateInDeletedExperimentIsInvalidArgument) {
  ASSERT_TRUE(tracking_->DeleteExperiment(experiment_id_).ok());
  CreateLoggedModelRequest request;
  request.experiment_id = experiment_id_;
  EXPECT_EQ(store_->Create(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(LoggedModelStoreTest, GetMissingIsNotFoundWithMlflowMessage) {
  absl::Status status = store_->Get("m-nope").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "Logged model with ID 'm-nope' not found.");
}

TEST_P(LoggedModelStoreTest, FinalizeSetsStatusAndUpdateTime) {
  LoggedModel model = MustCreate("model");
  clock_.Advance(1000);
  absl::StatusOr<LoggedModel> finalized =
      store_->Finalize(model.model_id, LoggedModelStatus::kReady);
  ASSERT_TRUE(finalized.ok()) << finalized.status();
  EXPECT_EQ(finalized->status, LoggedModelStatus::kReady);
  EXPECT_EQ(finalized->last_updated_timestamp_ms, model.creation_timestamp_ms + 1010);
  EXPECT_EQ(store_->Get(model.model_id)->status, LoggedModelStatus::kReady);
  EXPECT_EQ(store_->Finalize(model.model_id, LoggedModelStatus::kPending).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Finalize("m-nope", LoggedModelStatus::kReady).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(LoggedModelStoreTest, DeleteIsSoft) {
  LoggedModel model = MustCreate("model");
  ASSERT_TRUE(store_->Delete(model.model_id).ok());
  EXPECT_EQ(store_->Get(model.model_id).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<LoggedModel> deleted = store_->Get(model.model_id, /*allow_deleted=*/true);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->lifecycle_stage, "deleted");
  EXPECT_TRUE(SearchNames("").empty());
  EXPECT_EQ(store_->Delete("m-nope").code(), absl::StatusCode::kNotFound);
}

TEST_P(LoggedModelStoreTest, TagsUpsertAndDelete) {
  LoggedModel model = MustCreate("model", {}, {{"a", "1"}});
  ASSERT_TRUE(store_->SetTags(model.model_id, {{"a", "2"}, {"b", "x"}, {"b", "y"}}).ok());
  EXPECT_EQ(store_->Get(model.model_id)->tags,
            (std::vector<std::pair<std::string, std::string>>{{"a", "2"}, {"b", "y"}}));
  ASSERT_TRUE(store_->DeleteTag(model.model_id, "a").ok());
  EXPECT_EQ(store_->DeleteTag(model.model_id, "a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->SetTags("m-nope", {{"a", "1"}}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->SetTags(model.model_id, {{"", "1"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(LoggedModelStoreTest, ParamsAreWriteOnce) {
  LoggedModel model = MustCreate("model", {{"alpha", "1"}});
  ASSERT_TRUE(store_->LogParams(model.model_id, {{"alpha", "1"}, {"beta", "2"}}).ok());
  EXPECT_EQ(store_->LogParams(model.model_id, {{"alpha", "3"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(model.model_id)->params,
            (std::vector<std::pair<std::string, std::string>>{{"alpha", "1"}, {"beta", "2"}}));
  EXPECT_EQ(store_->LogParams("m-nope", {{"a", "1"}}).code(), absl::StatusCode::kNotFound);
}

TEST_P(LoggedModelStoreTest, SearchFiltersByAttributesParamsAndTags) {
  LoggedModel first = MustCreate("alpha", {{"lr", "0.1"}}, {{"team", "a"}});
  MustCreate("beta", {{"lr", "0.2"}}, {{"team", "b"}});
  MustCreate("gamma", {}, {{"team", "a"}});
  ASSERT_TRUE(store_->Finalize(first.model_id, LoggedModelStatus::kReady).ok());

  // Default order: newest first.
  EXPECT_EQ(SearchNames(""), (std::vector<std::string>{"gamma", "beta", "alpha"}));
  EXPECT_EQ(SearchNames("name = 'alpha'"), (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(SearchNames("attributes.name != 'alpha'"),
            (std::vector<std::string>{"gamma", "beta"}));
  EXPECT_EQ(SearchNames("name LIKE '%a'"), (std::vector<std::string>{"gamma", "beta", "alpha"}));
  EXPECT_EQ(SearchNames("name ILIKE 'ALP%'"), (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(SearchNames("params.lr = '0.2'"), (std::vector<std::string>{"beta"}));
  EXPECT_EQ(SearchNames("tags.team = 'a' AND name != 'gamma'"),
            (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(SearchNames("tags.`team` = \"b\""), (std::vector<std::string>{"beta"}));
  EXPECT_EQ(SearchNames("status = 'LOGGED_MODEL_READY'"), (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(SearchNames("status = 'READY'"), (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(SearchNames(absl::StrCat("model_id IN ('", first.model_id, "', 'm-x')")),
            (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(SearchNames(absl::StrCat("creation_timestamp > ", first.creation_timestamp_ms)),
            (std::vector<std::string>{"gamma", "beta"}));
  EXPECT_TRUE(SearchNames("metrics.accuracy > 0.5").empty());
}

TEST_P(LoggedModelStoreTest, MetricsLinkToModelsAndDriveSearch) {
  LoggedModel good = MustCreate("good");
  LoggedModel bad = MustCreate("bad");
  MustCreate("none");
  ASSERT_TRUE(store_
                  ->LogMetrics({{good.model_id, "acc", 0.7, 100, 0, "run1", "eval", "d1"},
                                {good.model_id, "acc", 0.9, 200, 1, "run1", "eval", "d1"},
                                {bad.model_id, "acc", 0.4, 150, 0, "run2", "test", "d2"},
                                {bad.model_id, "loss", std::nan(""), 150, 0, "run2", "", ""}})
                  .ok());
  // Identical points are stored once.
  ASSERT_TRUE(store_->LogMetrics({{good.model_id, "acc", 0.9, 200, 1, "run1", "eval", "d1"}}).ok());
  absl::StatusOr<LoggedModel> fetched = store_->Get(good.model_id);
  ASSERT_TRUE(fetched.ok());
  ASSERT_EQ(fetched->metrics.size(), 2u);
  EXPECT_EQ(fetched->metrics[1].value, 0.9);
  EXPECT_EQ(fetched->metrics[1].dataset_name, "eval");
  EXPECT_TRUE(std::isnan(store_->Get(bad.model_id)->metrics[1].value));

  EXPECT_EQ(SearchNames("metrics.acc > 0.8"), (std::vector<std::string>{"good"}));
  EXPECT_EQ(SearchNames("metrics.acc < 0.8"), (std::vector<std::string>{"bad", "good"}));

  SearchLoggedModelsRequest in_dataset;
  in_dataset.experiment_ids = {experiment_id_};
  in_dataset.filter = "metrics.acc < 0.8";
  in_dataset.datasets = {{"test", ""}};
  absl::StatusOr<LoggedModelPage> page = store_->Search(in_dataset);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->models.size(), 1u);
  EXPECT_EQ(page->models[0].name, "bad");

  // Order by the latest value; models without the metric come last either way.
  SearchLoggedModelsRequest ordered;
  ordered.experiment_ids = {experiment_id_};
  ordered.order_by = {{"metrics.acc", /*ascending=*/true}};
  page = store_->Search(ordered);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->models.size(), 3u);
  EXPECT_EQ(page->models[0].name, "bad");
  EXPECT_EQ(page->models[1].name, "good");
  EXPECT_EQ(page->models[2].name, "none");
  ordered.order_by = {{"metrics.acc", /*ascending=*/false}};
  page = store_->Search(ordered);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->models[0].name, "good");
  EXPECT_EQ(page->models[2].name, "none");

  EXPECT_EQ(store_->LogMetrics({{"m-nope", "acc", 1, 1, 0, "", "", ""}}).code(),
            absl::StatusCode::kNotFound);
}

TEST_P(LoggedModelStoreTest, SearchRejectsBadFilters) {
  const char* filters[] = {
      "foo = 1",          "name = alpha",      "name =",       "params.x > 'a'",
      "name = 'a' OR name = 'b'", "creation_timestamp = 'x'", "tags.a IN ('x')",
      "name = 'unterminated",
  };
  for (const char* filter : filters) {
    SearchLoggedModelsRequest request;
    request.experiment_ids = {experiment_id_};
    request.filter = filter;
    EXPECT_EQ(store_->Search(request).status().code(), absl::StatusCode::kInvalidArgument)
        << filter;
  }
  SearchLoggedModelsRequest no_experiments;
  EXPECT_EQ(store_->Search(no_experiments).status().code(), absl::StatusCode::kInvalidArgument);
  SearchLoggedModelsRequest bad_order;
  bad_order.experiment_ids = {experiment_id_};
  bad_order.order_by = {{"params.x", true}};
  EXPECT_EQ(store_->Search(bad_order).status().code(), absl::StatusCode::kInvalidArgument);
  SearchLoggedModelsRequest bad_token;
  bad_token.experiment_ids = {experiment_id_};
  bad_token.page_token = "garbage";
  EXPECT_EQ(store_->Search(bad_token).status().code(), absl::StatusCode::kInvalidArgument);
}

// The filter parser sees user input: arbitrary bytes must give OK or InvalidArgument,
// never a crash or another code.
TEST_P(LoggedModelStoreTest, SearchFilterSurvivesGarbage) {
  const std::string alphabet = "abmnp.'\"`()=<>!, \t%_-0123456789ANDINOTLIKEmetricsparamstags";
  std::mt19937 rng(42);
  SearchLoggedModelsRequest request;
  request.experiment_ids = {experiment_id_};
  for (int trial_idx = 0; trial_idx < 2000; ++trial_idx) {
    std::string filter;
    int length = static_cast<int>(rng() % 40);
    for (int char_idx = 0; char_idx < length; ++char_idx)
      filter.push_back(alphabet[rng() % alphabet.size()]);
    request.filter = filter;
    absl::StatusCode code = store_->Search(request).status().code();
    EXPECT_TRUE(code == absl::StatusCode::kOk || code == absl::StatusCode::kInvalidArgument)
        << filter << " -> " << code;
  }
}

TEST_P(LoggedModelStoreTest, SearchPagesAndOrders) {
  for (int model_idx = 0; model_idx < 5; ++model_idx) MustCreate(absl::StrCat("m", model_idx));
  SearchLoggedModelsRequest request;
  request.experiment_ids = {experiment_id_};
  request.max_results = 2;
  request.order_by = {{"name", true}};
  std::vector<std::string> names;
  int pages = 0;
  while (true) {
    absl::StatusOr<LoggedModelPage> page = store_->Search(request);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const LoggedModel& model : page->models) names.push_back(model.name);
    if (page->next_page_token.empty()) break;
    request.page_token = page->next_page_token;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4"}));
}

TEST_P(LoggedModelStoreTest, RunOutputsRoundTrip) {
  CreateRunRequest run_request;
  run_request.experiment_id = experiment_id_;
  absl::StatusOr<tracking::Run> run = tracking_->CreateRun(run_request);
  ASSERT_TRUE(run.ok()) << run.status();
  LoggedModel model = MustCreate("model");
  ASSERT_TRUE(store_->LogOutputs(run->info.run_id, {{model.model_id, 3}}).ok());
  // Logging the same output again is a no-op (client retries).
  ASSERT_TRUE(store_->LogOutputs(run->info.run_id, {{model.model_id, 3}}).ok());
  absl::StatusOr<std::vector<ModelOutput>> outputs = store_->RunOutputs(run->info.run_id);
  ASSERT_TRUE(outputs.ok());
  ASSERT_EQ(outputs->size(), 1u);
  EXPECT_EQ((*outputs)[0].model_id, model.model_id);
  EXPECT_EQ((*outputs)[0].step, 3);
  EXPECT_EQ(store_->LogOutputs("no-such-run", {{model.model_id, 0}}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LogOutputs(run->info.run_id, {{"m-nope", 0}}).code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, LoggedModelStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::tracking
