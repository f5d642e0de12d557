// The endpoint routes called through the Router, without a socket and without a live
// EndpointService: definitions (apply, list, describe of a pending endpoint), the
// inference log (read, labels), rollouts and events as stored, and bad requests; batch
// prediction through a live EndpointService with a fake runtime. Predict and rollouts on
// live deployments are tested end to end in python/tests/test_serving.py.

#include "api/endpoint_handlers.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "api/api_context.h"
#include "common/clock.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/endpoint_registry.h"
#include "serving/endpoint_service.h"
#include "serving/endpoint_store.h"
#include "serving/inference_log.h"
#include "storage/database.h"
#include "tracking/model_registry.h"

namespace cairn::api {
namespace {

using ::testing::HasSubstr;

constexpr char kEndpoint[] = R"(kind: Endpoint
name: churn
model: churn@production
feature_service: churn
)";

class EndpointHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-endpoint-handlers-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto db = storage::OpenDatabase((dir_ / "cairn.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto registry = serving::EndpointRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    auto store = serving::EndpointStore::Open(*db_, clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto log = serving::InferenceLog::Open(*db_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
    ctx_.endpoint_registry = registry_.get();
    ctx_.endpoint_store = store_.get();
    ctx_.inference_log = log_.get();
    RegisterEndpointRoutes(router_, ctx_);
  }
  void TearDown() override {
    log_->Shutdown();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "",
                    std::vector<std::pair<std::string, std::string>> query = {}) {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.target = path;
    request.body = body;
    request.query = std::move(query);
    return router_.Dispatch(std::move(request));
  }
  Json CallOk(const std::string& method, const std::string& path, const std::string& body = "",
              std::vector<std::pair<std::string, std::string>> query = {}) {
    HttpResponse response = Call(method, path, body, std::move(query));
    EXPECT_EQ(response.status, 200) << method << " " << path << ": " << response.body;
    auto parsed = ParseJson(response.body);
    return parsed.ok() ? *parsed : Json();
  }
  std::string ApplyBody(const std::string& content, bool dry_run = false) {
    return DumpJson(Json{{"files", Json::array({{{"path", "serving/churn.yaml"},
                                                  {"content", content}}})},
                         {"dry_run", dry_run}});
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<serving::EndpointRegistry> registry_;
  std::unique_ptr<serving::EndpointStore> store_;
  std::unique_ptr<serving::InferenceLog> log_;
  ApiContext ctx_;
  Router router_;
};

TEST_F(EndpointHandlersTest, ApplyPlansStoresAndListsDefinitions) {
  Json dry = CallOk("POST", "/api/v1/endpoints/apply", ApplyBody(kEndpoint, true));
  EXPECT_EQ(dry["applied"], false);
  ASSERT_EQ(dry["changes"].size(), 1u);
  EXPECT_EQ(dry["changes"][0]["kind"], "Endpoint");
  EXPECT_EQ(dry["changes"][0]["action"], "added");
  EXPECT_EQ(CallOk("GET", "/api/v1/endpoints")["endpoints"], Json::array());

  Json applied = CallOk("POST", "/api/v1/endpoints/apply", ApplyBody(kEndpoint));
  EXPECT_EQ(applied["applied"], true);
  EXPECT_EQ(applied["changes"][0]["new_version"], 1);
  EXPECT_EQ(applied["changes"][0]["file"], "serving/churn.yaml");
  EXPECT_EQ(applied["changes"][0]["line"], 1);
  Json again = CallOk("POST", "/api/v1/endpoints/apply", ApplyBody(kEndpoint));
  EXPECT_EQ(again["applied"], false);
  EXPECT_EQ(again["changes"][0]["action"], "unchanged");

  // No live service in this test: the endpoint is listed as pending with its definition.
  Json list = CallOk("GET", "/api/v1/endpoints");
  ASSERT_EQ(list["endpoints"].size(), 1u);
  EXPECT_EQ(list["endpoints"][0]["endpoint"], "churn");
  EXPECT_EQ(list["endpoints"][0]["state"], "pending");
  EXPECT_EQ(list["endpoints"][0]["definition"]["version"], 1);
  Json described = CallOk("GET", "/api/v1/endpoints/churn");
  EXPECT_EQ(described["spec"]["model"], "churn");
  EXPECT_EQ(described["spec"]["alias"], "production");
  EXPECT_EQ(described["status"]["state"], "pending");

  HttpResponse missing = Call("GET", "/api/v1/endpoints/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("nope"));
}

TEST_F(EndpointHandlersTest, BadDefinitionsAre400sNamingFileAndLine) {
  HttpResponse bad = Call("POST", "/api/v1/endpoints/apply",
                          ApplyBody("kind: Endpoint\nname: churn\nmodel: churn@production\n"
                                    "replicas: {min: 3, max: 1}\n"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("serving/churn.yaml:"));
  EXPECT_THAT(bad.body, HasSubstr("replicas"));
  EXPECT_EQ(Call("POST", "/api/v1/endpoints/apply", R"({"files": 3})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/endpoints/apply", "not json").status, 400);
  EXPECT_EQ(CallOk("GET", "/api/v1/endpoints")["endpoints"], Json::array());
}

TEST_F(EndpointHandlersTest, InferenceLogReadsPagesAndTakesLabels) {
  CallOk("POST", "/api/v1/endpoints/apply", ApplyBody(kEndpoint));
  for (int i = 0; i < 3; ++i) {
    serving::InferenceRecord record;
    record.id = "r" + std::to_string(i);
    record.endpoint = "churn";
    record.model = "churn";
    record.model_version = 2;
    record.variant = i == 2 ? "canary" : "champion";
    record.time_ms = 1'000 + i;
    record.latency_us = 150;
    record.features = {{"tenure", 10 + i}};
    record.prediction = 0.25 * i;
    ASSERT_TRUE(log_->Append(record));
  }
  Json page = CallOk("GET", "/api/v1/endpoints/churn/inference-log", "",
                     {{"max_results", "2"}, {"from_ms", "1000"}});
  ASSERT_EQ(page["records"].size(), 2u);
  EXPECT_EQ(page["records"][0]["id"], "r2");  // newest first
  EXPECT_EQ(page["records"][0]["variant"], "canary");
  EXPECT_EQ(page["records"][0]["features"], Json::parse(R"({"tenure": 12})"));
  EXPECT_EQ(page["records"][0]["label"], nullptr);
  ASSERT_FALSE(page["next_page_token"].get<std::string>().empty());
  Json rest = CallOk("GET", "/api/v1/endpoints/churn/inference-log", "",
                     {{"max_results", "2"}, {"page_token", page["next_page_token"]}});
  ASSERT_EQ(rest["records"].size(), 1u);
  EXPECT_EQ(rest["records"][0]["id"], "r0");
  Json champions = CallOk("GET", "/api/v1/endpoints/churn/inference-log", "",
                          {{"variant", "champion"}});
  EXPECT_EQ(champions["records"].size(), 2u);

  Json labelled = CallOk("POST", "/api/v1/endpoints/churn/labels",
                         R"({"labels": [{"id": "r1", "label": 1}, {"id": "zz", "label": 0}]})");
  EXPECT_EQ(labelled["labelled"], 1);
  EXPECT_EQ(labelled["results"][0], Json::parse(R"({"id": "r1", "ok": true, "error": ""})"));
  EXPECT_EQ(labelled["results"][1]["ok"], false);
  EXPECT_THAT(labelled["results"][1]["error"].get<std::string>(), HasSubstr("zz"));
  Json after = CallOk("GET", "/api/v1/endpoints/churn/inference-log", "", {{"to_ms", "1002"}});
  ASSERT_EQ(after["records"].size(), 2u);
  EXPECT_EQ(after["records"][0]["id"], "r1");
  EXPECT_EQ(after["records"][0]["label"], 1.0);

  EXPECT_EQ(Call("GET", "/api/v1/endpoints/churn/inference-log", "", {{"max_results", "0"}}).status,
            400);
  EXPECT_EQ(Call("GET", "/api/v1/endpoints/churn/inference-log", "", {{"variant", "blue"}}).status,
            400);
  HttpResponse no_labels = Call("POST", "/api/v1/endpoints/churn/labels", R"({"labels": []})");
  EXPECT_EQ(no_labels.status, 400);
  HttpResponse bad_label =
      Call("POST", "/api/v1/endpoints/churn/labels", R"({"labels": [{"id": "r1", "label": "x"}]})");
  EXPECT_EQ(bad_label.status, 400);
  EXPECT_THAT(bad_label.body, HasSubstr("labels[0].label"));
}

TEST_F(EndpointHandlersTest, RolloutsAndEventsAreListedNewestFirst) {
  CallOk("POST", "/api/v1/endpoints/apply", ApplyBody(kEndpoint));
  serving::RolloutSpec spec;
  spec.version = 4;
  spec.percent = 20;
  auto created = store_->Create(serving::MakeRollout("churn", "churn", 4, spec, "ana", "retrained"));
  ASSERT_TRUE(created.ok()) << created.status();
  clock_.Advance(10);
  ASSERT_TRUE(store_->AddEvent("churn", serving::kEndpointEventScaling,
                               Json{{"from", 1}, {"to", 2}, {"reason", "load"}})
                  .ok());
  Json rollouts = CallOk("GET", "/api/v1/endpoints/churn/rollouts");
  ASSERT_EQ(rollouts["rollouts"].size(), 1u);
  EXPECT_EQ(rollouts["rollouts"][0]["id"], created->id);
  EXPECT_EQ(rollouts["rollouts"][0]["state"], "running");
  EXPECT_EQ(rollouts["rollouts"][0]["percent"], 20.0);
  Json events = CallOk("GET", "/api/v1/endpoints/churn/events");
  ASSERT_GE(events["events"].size(), 2u);
  EXPECT_EQ(events["events"][0]["kind"], "scaling");
  EXPECT_EQ(events["events"][1]["kind"], "rollout_started");
  Json scaling = CallOk("GET", "/api/v1/endpoints/churn/events", "", {{"kind", "scaling"}});
  EXPECT_EQ(scaling["events"].size(), 1u);
  EXPECT_EQ(Call("GET", "/api/v1/endpoints/churn/events", "", {{"limit", "0"}}).status, 400);
  // Reads of an endpoint that was never defined are 404s naming it, not empty lists.
  for (const char* what : {"rollouts", "events", "inference-log"}) {
    HttpResponse missing = Call("GET", std::string("/api/v1/endpoints/nope/") + what);
    EXPECT_EQ(missing.status, 404) << what;
    EXPECT_THAT(missing.body, HasSubstr("nope")) << what;
  }
  EXPECT_EQ(Call("POST", "/api/v1/endpoints/nope/labels", R"({"labels": [{"id": "a", "label": 1}]})")
                .status,
            404);
}

// Predicts tenure + 2 * spend for each row (numbers only), so an answer shows the values read.
class SumRuntime : public serving::ModelRuntime {
 public:
  explicit SumRuntime(std::string dir) { info_.model_dir = std::move(dir); }
  const serving::ModelInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<double>> Predict(const serving::ModelInput& input) override {
    std::vector<double> out;
    for (size_t r = 0; r < input.rows; ++r) {
      double p = 0;
      for (size_t c = 0; c < input.columns.size(); ++c) {
        const features::Value& v = input.at(r, c);
        const double weight = input.columns[c] == "spend" ? 2 : 1;
        if (auto* i = std::get_if<int64_t>(&v)) p += weight * static_cast<double>(*i);
        if (auto* d = std::get_if<double>(&v)) p += weight * *d;
      }
      out.push_back(p);
    }
    return out;
  }

 private:
  serving::ModelInfo info_{.flavor = "fake", .input_columns = {"tenure", "spend"}};
};

TEST_F(EndpointHandlersTest, PredictBatchTakesACsvFileOrATrainingSet) {
  auto models = tracking::ModelRegistry::Open(*db_, clock_);
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_TRUE((*models)->CreateRegisteredModel("churn").ok());
  std::filesystem::create_directories(dir_ / "model");
  ASSERT_TRUE((*models)->CreateModelVersion("churn", (dir_ / "model").string()).ok());
  ASSERT_TRUE((*models)->SetAlias("churn", "production", 1).ok());
  CallOk("POST", "/api/v1/endpoints/apply",
         ApplyBody("kind: Endpoint\nname: churn\nmodel: churn@production\n"));
  const std::filesystem::path data = dir_ / "data";
  std::filesystem::create_directories(data);

  serving::EndpointServiceOptions options;
  options.models = models->get();
  options.definitions = registry_.get();
  options.clock = &clock_;
  options.start_thread = false;
  options.data_dir = data.string();
  options.load_runtime = [](const serving::RuntimeRequest& request)
      -> absl::StatusOr<std::shared_ptr<serving::ModelRuntime>> {
    return std::make_shared<SumRuntime>(request.model_dir);
  };
  options.load_training_set = [](std::string_view id)
      -> absl::StatusOr<serving::TrainingSetRows> {
    if (id != "ts1" && id != "thin") {
      return absl::NotFoundError(absl::StrCat("training set '", std::string(id),
                                              "' does not exist"));
    }
    serving::TrainingSetRows rows;
    features::Table& t = rows.table;
    t.AddColumn("customer_id", features::FeatureType::kInt64);
    t.AddColumn("event_timestamp", features::FeatureType::kTimestamp);
    t.AddColumn("tenure", features::FeatureType::kInt64);
    if (id == "ts1") t.AddColumn("spend", features::FeatureType::kDouble);
    for (int r = 0; r < 2; ++r) {
      t.columns[0].AppendInt(7 + r);
      t.columns[1].AppendInt(0);
      t.columns[2].AppendInt(10 * (r + 1));
      if (id == "ts1") t.columns[3].AppendDouble(0.25);
    }
    rows.entity_columns = {"customer_id", "event_timestamp"};
    return rows;
  };
  auto service = serving::EndpointService::Start(std::move(options));
  ASSERT_TRUE(service.ok()) << service.status();
  ApiContext ctx = ctx_;
  ctx.endpoints = service->get();
  Router router;
  RegisterEndpointRoutes(router, ctx);
  auto post = [&](const std::string& body) {
    HttpRequest request;
    request.method = "POST";
    request.path = request.target = "/api/v1/endpoints/churn/predict-batch";
    request.body = body;
    return router.Dispatch(std::move(request));
  };
  auto read = [](const std::filesystem::path& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };

  // The output's directory must exist.
  HttpResponse snapshot = post(R"({"training_set": "ts1", "output": "scored/ts1.csv"})");
  EXPECT_EQ(snapshot.status, 400);
  EXPECT_THAT(snapshot.body, HasSubstr("output: cannot write"));
  std::filesystem::create_directories(data / "scored");
  snapshot = post(R"({"training_set": "ts1", "output": "scored/ts1.csv"})");
  ASSERT_EQ(snapshot.status, 200) << snapshot.body;
  EXPECT_EQ(Json::parse(snapshot.body),
            Json::parse(R"({"rows": 2, "output": "scored/ts1.csv", "training_set": "ts1"})"));
  std::string text = read(data / "scored" / "ts1.csv");
  EXPECT_THAT(text, ::testing::StartsWith("id,customer_id,event_timestamp,prediction\n"));
  EXPECT_THAT(text, HasSubstr(",7,1970-01-01T00:00:00.000Z,10.5\n"));
  EXPECT_THAT(text, HasSubstr(",8,1970-01-01T00:00:00.000Z,20.5\n"));

  {
    std::ofstream f(data / "in.csv");
    f << "tenure,spend\n1,1\n";
  }
  HttpResponse file = post(R"({"input": "in.csv", "output": "in-scored.csv"})");
  ASSERT_EQ(file.status, 200) << file.body;
  EXPECT_EQ(Json::parse(file.body), Json::parse(R"({"rows": 1, "output": "in-scored.csv"})"));
  EXPECT_THAT(read(data / "in-scored.csv"), ::testing::StartsWith("id,prediction\n"));

  // Exactly one source; 400s name the fields.
  for (const char* body : {R"({"output": "o.csv"})",
                           R"({"input": "in.csv", "training_set": "ts1", "output": "o.csv"})"}) {
    HttpResponse bad = post(body);
    EXPECT_EQ(bad.status, 400) << body;
    EXPECT_THAT(bad.body, HasSubstr("input, training_set"));
    EXPECT_THAT(bad.body, HasSubstr("exactly one"));
  }
  HttpResponse no_output = post(R"({"training_set": "ts1"})");
  EXPECT_EQ(no_output.status, 400);
  EXPECT_THAT(no_output.body, HasSubstr("output"));
  // An unknown training set is a 404 naming it; a missing model input a 400 naming it.
  HttpResponse unknown = post(R"({"training_set": "nope", "output": "o.csv"})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, HasSubstr("nope"));
  HttpResponse thin = post(R"({"training_set": "thin", "output": "o.csv"})");
  EXPECT_EQ(thin.status, 400);
  EXPECT_THAT(thin.body, HasSubstr("'spend'"));
  EXPECT_THAT(thin.body, HasSubstr("customer_id, event_timestamp, tenure"));
  // A path outside the data directory: a 400 naming the field, the path and the directory.
  const std::string outside = (dir_ / "o.csv").string();
  HttpResponse escape =
      post(DumpJson(Json{{"training_set", "ts1"}, {"output", outside}}));
  EXPECT_EQ(escape.status, 400);
  EXPECT_THAT(escape.body, HasSubstr("output: '" + outside + "' is outside"));
  EXPECT_THAT(escape.body, HasSubstr(data.string()));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "o.csv"));
  (*service)->Shutdown();
}

}  // namespace
}  // namespace cairn::api
