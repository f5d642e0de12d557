#include "serving/endpoint_service.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "features/entity_key.h"
#include "features/online/embedded_online_store.h"
#include "features/online/online_feature_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/endpoint_registry.h"
#include "serving/endpoint_store.h"
#include "serving/testing/xgb_models.h"
#include "storage/database.h"
#include "tracking/model_registry.h"

namespace cairn::serving {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'700'000'000'000;

// Predicts version * 100 + the sum of the row's numeric inputs, so an answer tells which
// version answered and which values it read.
class FakeRuntime : public ModelRuntime {
 public:
  FakeRuntime(ModelInfo info, int64_t version, std::atomic<bool>* fail)
      : info_(std::move(info)), version_(version), fail_(fail) {}
  const ModelInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<double>> Predict(const ModelInput& input) override {
    calls_++;
    if (fail_ != nullptr && fail_->load()) return absl::InternalError("the model exploded");
    std::vector<double> out;
    for (size_t r = 0; r < input.rows; ++r) {
      double p = static_cast<double>(version_) * 100;
      for (size_t c = 0; c < input.columns.size(); ++c) {
        const features::Value& v = input.at(r, c);
        if (auto* i = std::get_if<int64_t>(&v)) p += static_cast<double>(*i);
        if (auto* d = std::get_if<double>(&v)) p += *d;
      }
      out.push_back(p);
    }
    return out;
  }
  std::atomic<int> calls_{0};

 private:
  ModelInfo info_;
  int64_t version_;
  std::atomic<bool>* fail_;
};

// Loads "<dir>/vN" as a FakeRuntime of version N reading tenure and spend.
struct FakeLoader {
  std::map<int64_t, int> loads;  // guarded by mu
  std::mutex mu;
  std::map<int64_t, absl::Notification*> gates;  // a load of that version waits for it
  std::map<int64_t, std::atomic<bool>> fail_predict;
  std::vector<std::string> columns = {"tenure", "spend"};
  std::atomic<bool> fail_loads{false};

  LoadRuntimeFn Fn() {
    return [this](const RuntimeRequest& request)
               -> absl::StatusOr<std::shared_ptr<ModelRuntime>> {
      absl::Notification* gate = nullptr;
      {
        std::lock_guard<std::mutex> lock(mu);
        loads[request.version]++;
        auto it = gates.find(request.version);
        if (it != gates.end()) gate = it->second;
      }
      if (gate != nullptr) gate->WaitForNotification();
      if (fail_loads) return absl::UnavailableError("the runtime did not start");
      ModelInfo info;
      info.model_dir = request.model_dir;
      info.flavor = "fake";
      info.input_columns = columns;
      return std::make_shared<FakeRuntime>(info, request.version,
                                           &fail_predict[request.version]);
    };
  }
  int Loads(int64_t version) {
    std::lock_guard<std::mutex> lock(mu);
    return loads[version];
  }
};

class CollectingSink : public InferenceLogSink {
 public:
  bool Append(InferenceRecord record) override {
    absl::MutexLock lock(&mu_);
    records_.push_back(std::move(record));
    return true;
  }
  std::vector<InferenceRecord> Records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }

 private:
  absl::Mutex mu_;
  std::vector<InferenceRecord> records_;
};

class FakeCatalog : public features::FeatureCatalog {
 public:
  absl::StatusOr<std::shared_ptr<const features::ServedView>> View(
      std::string_view name) const override {
    if (name == "customer_names" && by_name != nullptr) return by_name;
    if (name != "customer_stats") return absl::NotFoundError("no such view");
    return view;
  }
  absl::StatusOr<std::vector<features::FeatureRef>> Service(
      std::string_view name) const override {
    if (name == "by_name") return std::vector<features::FeatureRef>{{"customer_names", ""}};
    if (name != "churn") return absl::NotFoundError(absl::StrCat("feature service '", std::string(name), "' not found"));
    return std::vector<features::FeatureRef>{{"customer_stats", ""}};
  }
  std::shared_ptr<const features::ServedView> view;
  std::shared_ptr<const features::ServedView> by_name;  // string join key customer_name
};

std::string IntKey(int64_t id) {
  std::string out;
  features::EncodeKeyValue(features::Value(id), features::FeatureType::kInt64, &out);
  return out;
}

// Waits for `done` with a generous deadline (no sleeps to wait for async work).
template <typename F>
bool WaitFor(F done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class EndpointServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("cairn-endpoint-service-", ::getpid(), "-", counter++);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto db = storage::OpenDatabase((dir_ / "cairn.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto models = tracking::ModelRegistry::Open(*db_, clock_);
    ASSERT_TRUE(models.ok()) << models.status();
    models_ = std::move(*models);
    auto definitions = EndpointRegistry::Open(*db_, clock_);
    ASSERT_TRUE(definitions.ok()) << definitions.status();
    definitions_ = std::move(*definitions);
    auto store = EndpointStore::Open(*db_, clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);

    ASSERT_TRUE(models_->CreateRegisteredModel("churn").ok());
    for (int v = 1; v <= 3; ++v) {
      std::filesystem::path model_dir = dir_ / "models" / absl::StrCat("v", v);
      std::filesystem::create_directories(model_dir);
      ASSERT_TRUE(models_->CreateModelVersion("churn", model_dir.string()).ok());
    }
    ASSERT_TRUE(models_->SetAlias("churn", "production", 1, "test", "first").ok());

    // Online features: customer_stats(customer_id) → tenure (int64), spend (double).
    auto online = features::OpenEmbeddedOnlineStore((dir_ / "online").string());
    ASSERT_TRUE(online.ok()) << online.status();
    online_store_ = std::move(*online);
    auto view = std::make_shared<features::ServedView>();
    view->spec.meta.name = "customer_stats";
    features::FeatureSpec tenure, spend;
    tenure.name = "tenure";
    tenure.type = features::FeatureType::kInt64;
    spend.name = "spend";
    spend.type = features::FeatureType::kDouble;
    view->spec.features = {tenure, spend};
    view->join_keys = {features::Field{"customer_id", features::FeatureType::kInt64, false}};
    catalog_.view = view;
    std::vector<std::string> keys = {IntKey(1001), IntKey(1002)};
    std::vector<features::OnlineRow> rows = {
        {kNow, kNow, {features::Value(int64_t{10}), features::Value(0.5)}},
        {kNow, kNow, {features::Value(int64_t{20}), features::Value(0.25)}}};
    ASSERT_TRUE(online_store_->Write("customer_stats", keys, rows).ok());
    online_ = std::make_unique<features::OnlineFeatureService>(&catalog_, online_store_.get(),
                                                               &clock_);
  }

  void TearDown() override {
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  EndpointSpec Spec(std::string name = "churn") {
    EndpointSpec spec;
    spec.name = std::move(name);
    spec.model = "churn";
    spec.alias = "production";
    spec.feature_service = "churn";
    return spec;
  }

  void Apply(const std::vector<EndpointSpec>& specs, bool prune = false) {
    auto changes = definitions_->Apply(specs, /*dry_run=*/false, prune);
    ASSERT_TRUE(changes.ok()) << changes.status();
  }

  void StartService(EventBus* events = nullptr, bool thread = false, int64_t recheck_ms = 1000) {
    EndpointServiceOptions options;
    options.models = models_.get();
    options.definitions = definitions_.get();
    options.store = store_.get();
    options.online = online_.get();
    options.inference_log = &sink_;
    options.events = events;
    options.clock = &clock_;
    options.load_runtime = loader_.Fn();
    options.seed = 42;
    options.start_thread = thread;
    options.recheck_ms = recheck_ms;
    options.data_dir = data_dir_;
    options.protected_paths = {"cairn.db", "artifacts"};
    options.load_training_set = load_training_set_;
    options.promote = promote_;
    auto service = EndpointService::Start(std::move(options));
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }

  Json PredictJson(std::string_view body, std::string endpoint = "churn") {
    absl::StatusOr<std::string> out = service_->Predict(endpoint, body);
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return Json();
    absl::StatusOr<Json> json = ParseJson(*out);
    EXPECT_TRUE(json.ok()) << *out;
    return json.ok() ? *json : Json();
  }

  std::filesystem::path dir_;
  FakeClock clock_{kNow};
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::ModelRegistry> models_;
  std::unique_ptr<EndpointRegistry> definitions_;
  std::unique_ptr<EndpointStore> store_;
  std::unique_ptr<features::OnlineStore> online_store_;
  FakeCatalog catalog_;
  std::unique_ptr<features::OnlineFeatureService> online_;
  CollectingSink sink_;
  FakeLoader loader_;
  std::unique_ptr<EndpointService> service_;
  std::string data_dir_;
  LoadTrainingSetFn load_training_set_;
  PromoteFn promote_;
};

TEST_F(EndpointServiceTest, PredictsWithOnlineFeaturesAndRawValuesWin) {
  Apply({Spec()});
  StartService();
  // The fake runtime does not say it runs in process (a Python pool's answer): predict-pool.
  EXPECT_FALSE(service_->PredictsInProcess("churn"));
  EXPECT_FALSE(service_->PredictsInProcess("no-such-endpoint"));
  // Asked to compute only in process, it declines and does nothing (nothing counted).
  EXPECT_FALSE(service_->PredictInProcess("churn", R"({"features": {"tenure": [1],
      "spend": [2.0]}})").has_value());
  EXPECT_EQ(service_->Describe("churn")->at("traffic").at("requests"), 0);
  Json out = PredictJson(R"({"entities": {"customer_id": [1001, 1002]}})");
  EXPECT_EQ(out["model"], "churn");
  EXPECT_EQ(out["model_version"], 1);
  EXPECT_EQ(out["variant"], "champion");
  EXPECT_EQ(out["predictions"], Json::parse("[110.5, 120.25]"));
  ASSERT_EQ(out["ids"].size(), 2u);
  EXPECT_NE(out["ids"][0], out["ids"][1]);

  // A raw value wins over the looked-up one; an unknown key reads nulls.
  out = PredictJson(
      R"({"entities": {"customer_id": [1001, 9999]}, "features": {"spend": [1.5, 2.5]}})");
  EXPECT_EQ(out["predictions"], Json::parse("[111.5, 102.5]"));
  // Only raw values.
  out = PredictJson(R"({"features": {"tenure": [1], "spend": [2.0]}})");
  EXPECT_EQ(out["predictions"], Json::parse("[103.0]"));

  // Every row went to the inference log with the values the model read.
  std::vector<InferenceRecord> records = sink_.Records();
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[0].endpoint, "churn");
  EXPECT_EQ(records[0].model, "churn");
  EXPECT_EQ(records[0].model_version, 1);
  EXPECT_EQ(records[0].variant, "champion");
  // As JSON text for the log to store as is (feature_row_json.h), not as a Json object.
  EXPECT_TRUE(records[0].features.empty());
  EXPECT_EQ(Json::parse(records[0].features_json), Json::parse(R"({"spend": 0.5, "tenure": 10})"));
  EXPECT_EQ(records[0].prediction, 110.5);
  EXPECT_EQ(records[0].time_ms, kNow);
  EXPECT_EQ(Json::parse(records[3].features_json),
            Json::parse(R"({"spend": 2.5, "tenure": null})"));
}

TEST_F(EndpointServiceTest, BadRequestsNameTheFieldAndTheMissingInput) {
  EndpointSpec raw = Spec("raw");
  raw.feature_service.clear();
  Apply({Spec(), raw});
  StartService();
  auto error = [&](std::string endpoint, std::string_view body) {
    absl::StatusOr<std::string> out = service_->Predict(endpoint, body);
    EXPECT_FALSE(out.ok()) << *out;
    return out.status();
  };
  absl::Status missing = error("raw", R"({"features": {"tenure": [1]}})");
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.message(),
            "features: model churn version 1 reads input 'spend', missing from the request "
            "(the endpoint has no feature_service); send it in \"features\"");
  absl::Status no_keys = error("churn", R"({"features": {"tenure": [1]}})");
  EXPECT_EQ(no_keys.message(),
            "features: model churn version 1 reads input 'spend', missing from the request; "
            "send the join keys (customer_id) in \"entities\" so that feature service 'churn' "
            "looks them up, or the values in \"features\"");
  EXPECT_EQ(error("raw", R"({"entities": {"customer_id": [1]}, "features": {"tenure": [1],
                              "spend": [1]}})")
                .message(),
            "entities: endpoint 'raw' has no feature_service to look entities up in; send "
            "feature values in \"features\" (or set feature_service on the endpoint)");
  EXPECT_EQ(error("churn", R"({"entities": {"customer_id": ["x"]}})").message(),
            "entities.customer_id: expected int64 values, got \"x\"");
  EXPECT_EQ(error("churn", R"({"entities": {"customer_id": [1, 2]}, "features": {"spend": [1]}})")
                .message(),
            "features.spend: 1 values, but entities.customer_id has 2; every list needs one "
            "value per row");
  EXPECT_EQ(error("churn", R"({"entities": {"customer_id": [[1]]}})").message(),
            "entities.customer_id[0]: expected an integer or a string, got a list");
  EXPECT_EQ(error("churn", R"({})").message(),
            "request: give \"entities\" (join key → values, looked up online) and/or "
            "\"features\" (feature name → values)");
  EXPECT_EQ(error("churn", R"([1])").code(), absl::StatusCode::kInvalidArgument);
  absl::Status unknown = error("nope", R"({"features": {}})");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("endpoint 'nope' is not deployed"));
}

TEST_F(EndpointServiceTest, AliasMoveRedeploysWhileTheOldVersionKeepsServing) {
  Apply({Spec()});
  StartService();
  absl::Notification release;
  {
    std::lock_guard<std::mutex> lock(loader_.mu);
    loader_.gates[2] = &release;
  }
  ASSERT_TRUE(models_->SetAlias("churn", "production", 2, "test", "better").ok());
  std::thread recheck([&] { service_->RecheckNow(); });
  // While version 2 loads, version 1 answers every request.
  ASSERT_TRUE(WaitFor([&] { return loader_.Loads(2) == 1; }));
  for (int i = 0; i < 50; ++i) {
    Json out = PredictJson(R"({"entities": {"customer_id": [1001]}})");
    EXPECT_EQ(out["model_version"], 1);
  }
  release.Notify();
  recheck.join();
  Json out = PredictJson(R"({"entities": {"customer_id": [1001]}})");
  EXPECT_EQ(out["model_version"], 2);
  EXPECT_EQ(out["predictions"], Json::parse("[210.5]"));

  auto events = store_->ListEvents("churn", 10, kEndpointEventDeployed);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].detail["version"], 2);
  EXPECT_EQ((*events)[0].detail["previous_version"], 1);
  EXPECT_EQ((*events)[0].detail["reason"], "alias production moved from version 1 to 2");
  std::vector<DeploymentStatus> list = service_->List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].state, "serving");
  EXPECT_EQ(list[0].model_version, 2);
}

TEST_F(EndpointServiceTest, ConcurrentRequestsDuringARedeployAllSucceed) {
  Apply({Spec()});
  StartService();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, answered{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&] {
      while (!stop) {
        absl::StatusOr<std::string> out =
            service_->Predict("churn", R"({"entities": {"customer_id": [1001]}})");
        if (!out.ok()) failures++;
        answered++;
      }
    });
  }
  for (int64_t v : {2, 3, 1, 2}) {
    ASSERT_TRUE(models_->SetAlias("churn", "production", v, "test", "flip").ok());
    service_->RecheckNow();
    int before = answered;
    ASSERT_TRUE(WaitFor([&] { return answered > before + 20; }));
  }
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(PredictJson(R"({"entities": {"customer_id": [1001]}})")["model_version"], 2);
}

TEST_F(EndpointServiceTest, AliasMovedEventWakesTheBackgroundThread) {
  EventBus bus(clock_);
  Apply({Spec()});
  StartService(&bus, /*thread=*/true, /*recheck_ms=*/3'600'000);
  ASSERT_TRUE(models_->SetAlias("churn", "production", 3, "test", "event").ok());
  bus.Publish(Event{kEventModelAliasMoved, {{"model", "churn"}, {"alias", "production"}}, 0});
  EXPECT_TRUE(WaitFor([&] {
    return PredictJson(R"({"features": {"tenure": [0], "spend": [0]}})")["model_version"] == 3;
  }));
  service_->Shutdown();
}

TEST_F(EndpointServiceTest, CanarySplitsTrafficAndAPassingGuardPromotes) {
  Apply({Spec()});
  StartService();
  RolloutSpec spec;
  spec.mode = "canary";
  spec.version = 2;
  spec.percent = 50;
  spec.guard.window_ms = 60'000;
  spec.guard.min_requests = 10;
  spec.guard.max_p99_latency_ratio = 1000;  // fake models: latency is noise
  absl::StatusOr<Rollout> rollout = service_->StartRollout("churn", spec, "ann", "try v2");
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  EXPECT_EQ(rollout->state, kRolloutRunning);
  EXPECT_EQ(rollout->version, 2);

  int canary = 0;
  for (int i = 0; i < 200; ++i) {
    Json out = PredictJson(R"({"entities": {"customer_id": [1001]}})");
    if (out["variant"] == "canary") {
      EXPECT_EQ(out["model_version"], 2);
      EXPECT_EQ(out["predictions"], Json::parse("[210.5]"));
      ++canary;
    } else {
      EXPECT_EQ(out["model_version"], 1);
    }
  }
  EXPECT_GT(canary, 60);
  EXPECT_LT(canary, 140);
  absl::StatusOr<Json> described = service_->Describe("churn");
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ((*described)["rollout"]["id"], rollout->id);
  EXPECT_EQ((*described)["rollout"]["progress"]["challenger"]["requests"], canary);

  // Before the window ends: no verdict.
  service_->RecheckNow();
  EXPECT_EQ(service_->List()[0].rollout_id, rollout->id);
  clock_.Advance(61'000);
  service_->RecheckNow();
  auto finished = store_->Get(rollout->id);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->state, kRolloutPromoted);
  EXPECT_EQ(finished->verdict["passed"], true);
  EXPECT_EQ(finished->ended_by, "rollout-guard");
  auto production = models_->GetModelVersionByAlias("churn", "production");
  ASSERT_TRUE(production.ok());
  EXPECT_EQ(production->version, 2);
  // The challenger became the champion without a second load.
  Json out = PredictJson(R"({"entities": {"customer_id": [1001]}})");
  EXPECT_EQ(out["model_version"], 2);
  EXPECT_EQ(out["variant"], "champion");
  service_->RecheckNow();
  EXPECT_EQ(loader_.Loads(2), 1);
  EXPECT_EQ(service_->List()[0].rollout_id, "");
}

TEST_F(EndpointServiceTest, AFailingCanaryIsRolledBackAndItsRequestsStillAnswered) {
  Apply({Spec()});
  StartService();
  loader_.fail_predict[2] = true;
  RolloutSpec spec;
  spec.version = 2;
  spec.percent = 50;
  spec.guard.window_ms = 1000;
  spec.guard.min_requests = 5;
  ASSERT_TRUE(service_->StartRollout("churn", spec, "ann", "try v2").ok());
  for (int i = 0; i < 60; ++i) {
    Json out = PredictJson(R"({"entities": {"customer_id": [1001]}})");
    EXPECT_EQ(out["model_version"], 1);  // the champion answers for the failed canary
  }
  clock_.Advance(2000);
  service_->RecheckNow();
  auto rollouts = store_->List("churn");
  ASSERT_TRUE(rollouts.ok());
  ASSERT_EQ(rollouts->size(), 1u);
  EXPECT_EQ((*rollouts)[0].state, kRolloutRolledBack);
  EXPECT_EQ((*rollouts)[0].verdict["passed"], false);
  EXPECT_EQ(models_->GetModelVersionByAlias("churn", "production")->version, 1);
  EXPECT_EQ(service_->List()[0].rollout_id, "");
}

TEST_F(EndpointServiceTest, ABadRequestDoesNotCountAgainstTheCanary) {
  Apply({Spec()});
  StartService();
  RolloutSpec spec;
  spec.version = 2;
  spec.percent = 100;
  ASSERT_TRUE(service_->StartRollout("churn", spec, "ann", "").ok());
  absl::StatusOr<std::string> bad = service_->Predict("churn", R"({"features": {"tenure": [1]}})");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  loader_.fail_predict[2] = true;
  Json out = PredictJson(R"({"entities": {"customer_id": [1001]}})");
  EXPECT_EQ(out["variant"], "champion");
  absl::StatusOr<Json> described = service_->Describe("churn");
  ASSERT_TRUE(described.ok());
  const Json& progress = (*described)["rollout"]["progress"];
  EXPECT_EQ(progress["challenger"]["requests"], 1) << progress.dump();
  EXPECT_EQ(progress["challenger"]["errors"], 1) << progress.dump();
  EXPECT_EQ(progress["champion"]["requests"], 1) << progress.dump();
}

TEST_F(EndpointServiceTest, ShadowIsMirroredAndOnlyLogged) {
  Apply({Spec()});
  StartService();
  RolloutSpec spec;
  spec.mode = "shadow";
  spec.version = 3;
  spec.percent = 100;
  spec.on_pass = "none";
  ASSERT_TRUE(service_->StartRollout("churn", spec, "ann", "watch v3").ok());
  Json out = PredictJson(R"({"entities": {"customer_id": [1001, 1002]}})");
  EXPECT_EQ(out["variant"], "champion");
  EXPECT_EQ(out["model_version"], 1);
  ASSERT_TRUE(WaitFor([&] { return sink_.Records().size() == 4; }));
  std::vector<InferenceRecord> records = sink_.Records();
  std::map<std::string, std::vector<const InferenceRecord*>> by_variant;
  for (const InferenceRecord& r : records) by_variant[r.variant].push_back(&r);
  ASSERT_EQ(by_variant["shadow"].size(), 2u);
  ASSERT_EQ(by_variant["champion"].size(), 2u);
  EXPECT_EQ(by_variant["shadow"][0]->model_version, 3);
  EXPECT_EQ(by_variant["shadow"][0]->prediction, 310.5);
  EXPECT_EQ(by_variant["shadow"][1]->id, out["ids"][1]);
  EXPECT_EQ(Json::parse(by_variant["shadow"][1]->features_json),
            Json::parse(R"({"spend": 0.25, "tenure": 20})"));
}

TEST_F(EndpointServiceTest, ShadowCopiesStringEntityKeys) {
  // A view keyed by a string: customer_name → tenure, spend. Keys longer than the small
  // string buffer, so that the copy's storage is allocated as the request is mirrored.
  auto view = std::make_shared<features::ServedView>(*catalog_.view);
  view->spec.meta.name = "customer_names";
  view->join_keys = {features::Field{"customer_name", features::FeatureType::kString, false}};
  catalog_.by_name = view;
  const std::string a(60, 'a'), b(60, 'b');
  std::string key_a, key_b;
  features::EncodeKeyValue(features::Value(a), features::FeatureType::kString, &key_a);
  features::EncodeKeyValue(features::Value(b), features::FeatureType::kString, &key_b);
  std::vector<features::OnlineRow> rows = {
      {kNow, kNow, {features::Value(int64_t{10}), features::Value(0.5)}},
      {kNow, kNow, {features::Value(int64_t{20}), features::Value(0.25)}}};
  std::vector<std::string> keys = {key_a, key_b};
  ASSERT_TRUE(online_store_->Write("customer_names", keys, rows).ok());
  EndpointSpec endpoint = Spec();
  endpoint.feature_service = "by_name";
  Apply({endpoint});
  StartService();
  RolloutSpec spec;
  spec.mode = "shadow";
  spec.version = 3;
  spec.percent = 100;
  spec.on_pass = "none";
  ASSERT_TRUE(service_->StartRollout("churn", spec, "ann", "watch v3").ok());
  Json out = PredictJson(absl::StrCat(R"({"entities": {"customer_name": [")", a, R"(", ")", b,
                                      R"("]}, "features": {"spend": [1.5, 2.5]}})"));
  EXPECT_EQ(out["predictions"], Json::parse("[111.5, 122.5]"));
  ASSERT_TRUE(WaitFor([&] { return sink_.Records().size() == 4; }));
  std::vector<const InferenceRecord*> shadow;
  std::vector<InferenceRecord> records = sink_.Records();
  for (const InferenceRecord& r : records) {
    if (r.variant == "shadow") shadow.push_back(&r);
  }
  ASSERT_EQ(shadow.size(), 2u);
  EXPECT_EQ(shadow[0]->prediction, 311.5);
  EXPECT_EQ(shadow[1]->prediction, 322.5);
  EXPECT_EQ(Json::parse(shadow[1]->features_json), Json::parse(R"({"spend": 2.5, "tenure": 20})"));
  absl::StatusOr<Json> described = service_->Describe("churn");
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ((*described)["rollout"]["progress"]["challenger"]["errors"], 0)
      << described->dump();
}

TEST_F(EndpointServiceTest, ARolloutEndsWhenTheDefinitionNamesAnotherModel) {
  Apply({Spec()});
  StartService();
  RolloutSpec spec;
  spec.version = 2;
  spec.percent = 50;
  absl::StatusOr<Rollout> rollout = service_->StartRollout("churn", spec, "ann", "try v2");
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  ASSERT_TRUE(models_->CreateRegisteredModel("fraud").ok());
  for (int v = 1; v <= 2; ++v) {
    std::filesystem::path model_dir = dir_ / "models" / absl::StrCat("fraud-v", v);
    std::filesystem::create_directories(model_dir);
    ASSERT_TRUE(models_->CreateModelVersion("fraud", model_dir.string()).ok());
  }
  ASSERT_TRUE(models_->SetAlias("fraud", "production", 1, "test", "first").ok());
  EndpointSpec fraud = Spec();
  fraud.model = "fraud";
  Apply({fraud});
  ASSERT_TRUE(service_->Sync().ok());
  service_->RecheckNow();
  service_->RecheckNow();
  auto ended = store_->Get(rollout->id);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->state, kRolloutEnded);
  EXPECT_EQ(ended->verdict["reason"], "the endpoint now serves model fraud");
  ASSERT_EQ(service_->List().size(), 1u);
  EXPECT_EQ(service_->List()[0].rollout_id, "");
  EXPECT_EQ(service_->List()[0].model_version, 1);
  for (int i = 0; i < 20; ++i) {
    Json out = PredictJson(R"({"entities": {"customer_id": [1001]}})");
    EXPECT_EQ(out["model"], "fraud");
    EXPECT_EQ(out["model_version"], 1);
    EXPECT_EQ(out["variant"], "champion");
  }
}

TEST_F(EndpointServiceTest, NewSettingsThatFailToLoadAreRetriedWhileTheOldOnesServe) {
  Apply({Spec()});
  StartService();
  EXPECT_EQ(loader_.Loads(1), 1);
  EndpointSpec bigger = Spec();
  bigger.max_queue = 64;
  Apply({bigger});
  loader_.fail_loads = true;
  EXPECT_EQ(service_->Sync().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(loader_.Loads(1), 2);
  absl::StatusOr<Json> described = service_->Describe("churn");
  ASSERT_TRUE(described.ok()) << described.status();
  // The old definition serves, under its own spec and version, with the error on record.
  EXPECT_EQ((*described)["status"]["definition_version"], 1) << described->dump();
  EXPECT_EQ((*described)["spec"]["max_queue"], 32);
  EXPECT_THAT((*described)["status"]["error"].get<std::string>(),
              HasSubstr("version 1 from '"));
  EXPECT_THAT((*described)["status"]["error"].get<std::string>(),
              HasSubstr("': the runtime did not start"));
  EXPECT_EQ(PredictJson(R"({"entities": {"customer_id": [1001]}})")["model_version"], 1);

  // Before the backoff ends, no retry; after it, the recheck loads the new settings.
  loader_.fail_loads = false;
  service_->RecheckNow();
  EXPECT_EQ(loader_.Loads(1), 2);
  clock_.Advance(1'000);
  service_->RecheckNow();
  EXPECT_EQ(loader_.Loads(1), 3);
  described = service_->Describe("churn");
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ((*described)["status"]["definition_version"], 2) << described->dump();
  EXPECT_EQ((*described)["spec"]["max_queue"], 64);
  EXPECT_EQ((*described)["status"]["error"], "");
  service_->RecheckNow();
  EXPECT_EQ(loader_.Loads(1), 3);
}

TEST_F(EndpointServiceTest, APinnedEndpointRefusesARolloutThatWouldPromote) {
  EndpointSpec pinned = Spec();
  pinned.alias.clear();
  pinned.version = 3;
  Apply({pinned});
  StartService();
  RolloutSpec spec;
  spec.version = 2;
  spec.percent = 50;
  absl::StatusOr<Rollout> refused = service_->StartRollout("churn", spec, "ann", "try v2");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(refused.status().message()),
            "on_pass: \"promote\", but endpoint 'churn' is pinned to churn version 3: a pinned endpoint "
            "has no alias to move; use on_pass: none (or follow an alias)");
  EXPECT_TRUE(store_->List("churn")->empty());
  spec.on_pass = "none";
  EXPECT_TRUE(service_->StartRollout("churn", spec, "ann", "watch v2").ok());
}

TEST_F(EndpointServiceTest, APassingCanaryMovesTheEndpointsOwnAlias) {
  ASSERT_TRUE(models_->SetAlias("churn", "stable", 1, "test", "").ok());
  EndpointSpec stable = Spec();
  stable.alias = "stable";
  Apply({stable});
  StartService();
  RolloutSpec spec;
  spec.version = 2;
  spec.percent = 100;
  spec.guard.window_ms = 1000;
  spec.guard.min_requests = 5;
  spec.guard.max_p99_latency_ratio = 1000;
  absl::StatusOr<Rollout> rollout = service_->StartRollout("churn", spec, "ann", "try v2");
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  for (int i = 0; i < 20; ++i) PredictJson(R"({"entities": {"customer_id": [1001]}})");
  clock_.Advance(2000);
  service_->RecheckNow();
  EXPECT_EQ(store_->Get(rollout->id)->state, kRolloutPromoted);
  EXPECT_EQ(models_->GetModelVersionByAlias("churn", "stable")->version, 2);
  EXPECT_EQ(models_->GetModelVersionByAlias("churn", "production")->version, 1);
  EXPECT_EQ(PredictJson(R"({"entities": {"customer_id": [1001]}})")["model_version"], 2);
}

TEST_F(EndpointServiceTest, APromoteThatMovesAnotherAliasIsNotRecordedAsPromoted) {
  ASSERT_TRUE(models_->SetAlias("churn", "stable", 1, "test", "").ok());
  // The injected promote moves its policy's target alias, production.
  promote_ = [this](std::string_view model, int64_t version, std::string_view actor,
                    std::string_view reason) {
    return models_->SetAlias(std::string(model), "production", version, std::string(actor),
                             std::string(reason));
  };
  EndpointSpec stable = Spec();
  stable.alias = "stable";
  Apply({stable});
  StartService();
  RolloutSpec spec;
  spec.version = 2;
  spec.percent = 100;
  spec.guard.window_ms = 1000;
  spec.guard.min_requests = 5;
  spec.guard.max_p99_latency_ratio = 1000;
  absl::StatusOr<Rollout> rollout = service_->StartRollout("churn", spec, "ann", "try v2");
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  for (int i = 0; i < 20; ++i) PredictJson(R"({"entities": {"customer_id": [1001]}})");
  clock_.Advance(2000);
  service_->RecheckNow();
  auto finished = store_->Get(rollout->id);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->state, kRolloutEnded);
  EXPECT_EQ(finished->verdict["promote_error"],
            "promoted, but alias stable of endpoint 'churn' does not name churn version 2: the "
            "endpoint keeps its champion");
  EXPECT_EQ(PredictJson(R"({"entities": {"customer_id": [1001]}})")["model_version"], 1);
}

TEST_F(EndpointServiceTest, RolloutsStoppedByHand) {
  Apply({Spec()});
  StartService();
  EXPECT_EQ(service_->StopRollout("churn", "", "rollback", "ann", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  RolloutSpec spec;
  spec.alias = "candidate";
  spec.percent = 20;
  EXPECT_EQ(service_->StartRollout("churn", spec, "ann", "").status().code(),
            absl::StatusCode::kInvalidArgument);  // no such alias (the registry's code)
  ASSERT_TRUE(models_->SetAlias("churn", "candidate", 2, "test", "").ok());
  absl::StatusOr<Rollout> first = service_->StartRollout("churn", spec, "ann", "try");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->version, 2);
  absl::StatusOr<Rollout> second = service_->StartRollout("churn", spec, "ann", "again");
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr(first->id));
  EXPECT_EQ(service_->StopRollout("churn", "r-unknown", "rollback", "bob", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->StopRollout("churn", first->id, "pause", "bob", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Rollout> stopped =
      service_->StopRollout("churn", first->id, "rollback", "bob", "too slow");
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->state, kRolloutRolledBack);
  EXPECT_EQ(stopped->ended_by, "bob");
  EXPECT_EQ(stopped->verdict["reason"], "rolled back by bob: too slow");
  EXPECT_EQ(service_->StopRollout("churn", first->id, "promote", "bob", "").status().code(),
            absl::StatusCode::kFailedPrecondition);

  // Promote by hand through the injected promote function... here the default: SetAlias.
  spec.alias.clear();
  spec.version = 3;
  absl::StatusOr<Rollout> third = service_->StartRollout("churn", spec, "ann", "v3");
  ASSERT_TRUE(third.ok()) << third.status();
  absl::StatusOr<Rollout> promoted = service_->StopRollout("churn", "", "promote", "bob", "ok");
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->state, kRolloutPromoted);
  EXPECT_EQ(models_->GetModelVersionByAlias("churn", "production")->version, 3);
  auto history = models_->AliasHistory("churn");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ((*history)[0].actor, "bob");
  EXPECT_EQ(PredictJson(R"({"entities": {"customer_id": [1001]}})")["model_version"], 3);
}

TEST_F(EndpointServiceTest, PromoteIsInjected) {
  Apply({Spec()});
  std::vector<std::string> calls;
  EndpointServiceOptions options;
  options.models = models_.get();
  options.definitions = definitions_.get();
  options.store = store_.get();
  options.online = online_.get();
  options.clock = &clock_;
  options.load_runtime = loader_.Fn();
  options.start_thread = false;
  options.promote = [&](std::string_view model, int64_t version, std::string_view actor,
                        std::string_view reason) {
    calls.push_back(absl::StrCat(std::string(model), "/", version, " by ", std::string(actor)));
    return absl::FailedPreconditionError("no passing evaluation");
  };
  auto service = EndpointService::Start(std::move(options));
  ASSERT_TRUE(service.ok());
  RolloutSpec spec;
  spec.version = 2;
  ASSERT_TRUE((*service)->StartRollout("churn", spec, "ann", "").ok());
  absl::StatusOr<Rollout> r = (*service)->StopRollout("churn", "", "promote", "bob", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(calls, std::vector<std::string>{"churn/2 by bob"});
  // The promotion was refused: the rollout ends without a move, the reason recorded.
  EXPECT_EQ(r->state, kRolloutEnded);
  EXPECT_EQ(r->verdict["promote_error"], "no passing evaluation");
  EXPECT_EQ(models_->GetModelVersionByAlias("churn", "production")->version, 1);
}

// Regression guard: cicd's promotion may call back into the service (start_rollout) while
// the canary's verdict is being applied; the service must hold none of its locks then.
TEST_F(EndpointServiceTest, PromoteMayCallBackIntoTheService) {
  Apply({Spec()});
  EndpointService* self = nullptr;
  std::string callback_answer;
  EndpointServiceOptions options;
  options.models = models_.get();
  options.definitions = definitions_.get();
  options.store = store_.get();
  options.online = online_.get();
  options.clock = &clock_;
  options.load_runtime = loader_.Fn();
  options.start_thread = false;
  options.promote = [&](std::string_view model, int64_t version, std::string_view actor,
                        std::string_view reason) {
    RolloutSpec again;
    again.version = 3;
    absl::StatusOr<std::string> started =
        self->StartRolloutsForModel(model, 3, again, "cicd", "nested");
    callback_answer = std::string(started.status().message());
    EXPECT_EQ(self->List().size(), 1u);
    return models_->SetAlias(model, "production", version, actor, reason);
  };
  auto service = EndpointService::Start(std::move(options));
  ASSERT_TRUE(service.ok());
  self = service->get();
  RolloutSpec spec;
  spec.version = 2;
  spec.guard.window_ms = 1000;
  spec.guard.min_requests = 1;
  spec.guard.max_p99_latency_ratio = 1000;
  spec.percent = 100;
  ASSERT_TRUE(self->StartRollout("churn", spec, "ann", "").ok());
  service_ = std::move(*service);
  EXPECT_EQ(PredictJson(R"({"entities": {"customer_id": [1001]}})")["variant"], "canary");
  clock_.Advance(2000);
  service_->RecheckNow();
  EXPECT_THAT(callback_answer, HasSubstr("already runs rollout"));
  EXPECT_EQ(store_->List("churn")->at(0).state, kRolloutPromoted);
  EXPECT_EQ(PredictJson(R"({"features": {"tenure": [1], "spend": [1]}})")["model_version"], 2);
}

TEST_F(EndpointServiceTest, ScalingEventsAndDescribe) {
  LoadRuntimeFn fake = loader_.Fn();
  Apply({Spec()});
  EndpointServiceOptions options;
  options.models = models_.get();
  options.definitions = definitions_.get();
  options.store = store_.get();
  options.online = online_.get();
  options.clock = &clock_;
  options.start_thread = false;
  options.load_runtime = [&](const RuntimeRequest& request) {
    request.on_scaling(kNow, 1, 2, "load 3 over target 1 per replica");
    return fake(request);
  };
  auto service = EndpointService::Start(std::move(options));
  ASSERT_TRUE(service.ok());
  service_ = std::move(*service);
  auto events = store_->ListEvents("churn", 10, kEndpointEventScaling);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].detail["from"], 1);
  EXPECT_EQ((*events)[0].detail["to"], 2);
  EXPECT_EQ((*events)[0].detail["reason"], "load 3 over target 1 per replica");

  PredictJson(R"({"entities": {"customer_id": [1001, 1002]}})");
  absl::StatusOr<Json> described = service_->Describe("churn");
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ((*described)["name"], "churn");
  EXPECT_EQ((*described)["status"]["state"], "serving");
  EXPECT_EQ((*described)["status"]["model_version"], 1);
  EXPECT_EQ((*described)["spec"]["model"], "churn");
  EXPECT_EQ((*described)["runtime"]["version"], 1);
  EXPECT_EQ((*described)["runtime"]["input_columns"], Json::parse(R"(["tenure", "spend"])"));
  EXPECT_EQ((*described)["traffic"]["requests"], 1);
  EXPECT_EQ((*described)["traffic"]["rows"], 2);
  EXPECT_EQ((*described)["features"]["features"], Json::parse(R"(["tenure", "spend"])"));
  EXPECT_EQ((*described)["features"]["join_keys"], Json::parse(R"(["customer_id"])"));
  EXPECT_EQ((*described)["rollout"], nullptr);
  EXPECT_EQ(service_->Describe("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EndpointServiceTest, StandingRolloutFromTheDefinitionStartsOnceAndResumes) {
  EndpointSpec spec = Spec();
  RolloutSpec rollout;
  rollout.version = 2;
  rollout.percent = 10;
  spec.rollout = rollout;
  Apply({spec});
  StartService();
  auto active = store_->Active("churn");
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->version, 2);
  EXPECT_EQ((*active)->actor, "endpoint-service");
  // A restarted service resumes it instead of starting another.
  service_.reset();
  StartService();
  EXPECT_EQ(service_->List()[0].rollout_id, (*active)->id);
  EXPECT_EQ(store_->List("churn")->size(), 1u);
  // Once rolled back it is not started again for the same version.
  ASSERT_TRUE(service_->StopRollout("churn", "", "rollback", "bob", "").ok());
  service_->RecheckNow();
  ASSERT_TRUE(service_->Sync().ok());
  EXPECT_EQ(store_->List("churn")->size(), 1u);
  EXPECT_EQ(service_->List()[0].rollout_id, "");
}

TEST_F(EndpointServiceTest, FailedLoadsAreListedAndRetried) {
  std::filesystem::rename(dir_ / "models" / "v1", dir_ / "models" / "v1-away");
  Apply({Spec()});
  StartService();
  std::vector<DeploymentStatus> list = service_->List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].state, "failed");
  EXPECT_THAT(list[0].error, HasSubstr("does not exist"));
  absl::StatusOr<std::string> out =
      service_->Predict("churn", R"({"entities": {"customer_id": [1001]}})");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(out.status().message(), HasSubstr("has no model loaded"));
  auto failed = store_->ListEvents("churn", 10, kEndpointEventDeployFailed);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->size(), 1u);
  // Retried after a backoff (1 s, then 2 s, …); the same error is not recorded twice.
  service_->RecheckNow();
  EXPECT_EQ(loader_.Loads(1), 0);  // the directory check failed before the loader
  clock_.Advance(1000);
  service_->RecheckNow();
  EXPECT_EQ(store_->ListEvents("churn", 10, kEndpointEventDeployFailed)->size(), 1u);
  std::filesystem::rename(dir_ / "models" / "v1-away", dir_ / "models" / "v1");
  service_->RecheckNow();
  EXPECT_EQ(service_->List()[0].state, "failed");  // backing off: next try at +3 s
  clock_.Advance(2000);
  service_->RecheckNow();
  EXPECT_EQ(service_->List()[0].state, "serving");
  EXPECT_EQ(PredictJson(R"({"entities": {"customer_id": [1001]}})")["model_version"], 1);
}

TEST_F(EndpointServiceTest, SyncFollowsTheRegistry) {
  Apply({Spec()});
  StartService();
  EndpointSpec pinned = Spec("pinned");
  pinned.alias.clear();
  pinned.version = 3;
  Apply({Spec(), pinned});
  ASSERT_TRUE(service_->Sync().ok());
  EXPECT_EQ(PredictJson(R"({"features": {"tenure": [0], "spend": [0]}})", "pinned")
                ["model_version"],
            3);
  Apply({pinned}, /*prune=*/true);
  ASSERT_TRUE(service_->Sync().ok());
  EXPECT_EQ(service_->Predict("churn", R"({"features": {}})").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_EQ(service_->List().size(), 1u);
  EXPECT_EQ(service_->List()[0].endpoint, "pinned");
  EXPECT_EQ(store_->ListEvents("churn", 10, kEndpointEventRemoved)->size(), 1u);
}

TEST_F(EndpointServiceTest, LogSamplingFollowsTheSpec) {
  EndpointSpec none = Spec("none");
  none.log_sample = 0;
  EndpointSpec some = Spec("some");
  some.log_sample = 0.5;
  Apply({none, some});
  StartService();
  for (int i = 0; i < 200; ++i) {
    PredictJson(R"({"entities": {"customer_id": [1001]}})", "none");
    PredictJson(R"({"entities": {"customer_id": [1001]}})", "some");
  }
  std::vector<InferenceRecord> records = sink_.Records();
  for (const InferenceRecord& r : records) EXPECT_EQ(r.endpoint, "some");
  EXPECT_GT(records.size(), 60u);
  EXPECT_LT(records.size(), 140u);
}

TEST_F(EndpointServiceTest, BatchPredictionStreamsACsv) {
  data_dir_ = dir_.string();  // absolute paths are accepted inside the data directory
  Apply({Spec()});
  StartService();
  std::string input = (dir_ / "in.csv").string();
  std::string output = (dir_ / "out.csv").string();
  {
    std::ofstream f(input);
    f << "customer_id,spend\n1001,\n1002,\"3.5\"\n";
    for (int i = 0; i < 2500; ++i) f << "1001,1\n";
  }
  absl::StatusOr<int64_t> rows = service_->PredictBatch("churn", input, output);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, 2502);
  std::ifstream f(output);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2503u);
  EXPECT_EQ(lines[0], "id,prediction");
  // An empty raw value is a null that wins over the online value (the model reads null).
  EXPECT_THAT(lines[1], ::testing::EndsWith(",110"));
  EXPECT_THAT(lines[2], ::testing::EndsWith(",123.5"));
  EXPECT_THAT(lines[2502], ::testing::EndsWith(",111"));

  {
    std::ofstream bad(input);
    bad << "customer_id,spend\n1001,1\nabc,2\n";
  }
  absl::StatusOr<int64_t> error = service_->PredictBatch("churn", input, output);
  EXPECT_EQ(error.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(error.status().message(),
            absl::StrCat(input, ":3: column 'customer_id': expected an integer join key, got 'abc'"));
  EXPECT_EQ(service_->PredictBatch("churn", (dir_ / "missing.csv").string(), output)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cairn::serving

// ---- a real XGBoost model through the default loader ----

namespace cairn::serving {
namespace {

class XgbCatalog : public features::FeatureCatalog {
 public:
  absl::StatusOr<std::shared_ptr<const features::ServedView>> View(
      std::string_view name) const override {
    if (name != "customer_features") return absl::NotFoundError("no such view");
    return view;
  }
  absl::StatusOr<std::vector<features::FeatureRef>> Service(
      std::string_view name) const override {
    return std::vector<features::FeatureRef>{{"customer_features", ""}};
  }
  std::shared_ptr<const features::ServedView> view;
};

TEST(EndpointServiceXgbTest, ServesABoosterWithTwentyOnlineFeatures) {
  constexpr int kFeatures = 20, kCustomers = 50;
  auto dir = std::filesystem::temp_directory_path() /
             absl::StrCat("cairn-endpoint-xgb-", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  testing::TestBoosterOptions booster;
  booster.features = kFeatures;
  booster.trees = 20;
  absl::StatusOr<std::string> model_json = testing::TrainTestBooster(booster);
  ASSERT_TRUE(model_json.ok()) << model_json.status();
  ASSERT_TRUE(testing::WriteXgbModelDir((dir / "model").string(), *model_json).ok());

  FakeClock clock(kNow);
  auto db = storage::OpenDatabase((dir / "cairn.db").string());
  ASSERT_TRUE(db.ok());
  auto models = tracking::ModelRegistry::Open(**db, clock);
  ASSERT_TRUE(models.ok());
  ASSERT_TRUE((*models)->CreateRegisteredModel("churn").ok());
  ASSERT_TRUE((*models)->CreateModelVersion("churn", (dir / "model").string()).ok());
  ASSERT_TRUE((*models)->SetAlias("churn", "production", 1).ok());
  auto definitions = EndpointRegistry::Open(**db, clock);
  ASSERT_TRUE(definitions.ok());

  auto store = features::OpenEmbeddedOnlineStore((dir / "online").string());
  ASSERT_TRUE(store.ok());
  auto view = std::make_shared<features::ServedView>();
  view->spec.meta.name = "customer_features";
  for (const std::string& name : testing::FeatureNames(kFeatures)) {
    features::FeatureSpec f;
    f.name = name;
    f.type = features::FeatureType::kDouble;
    view->spec.features.push_back(f);
  }
  view->join_keys = {features::Field{"customer_id", features::FeatureType::kInt64, false}};
  XgbCatalog catalog;
  catalog.view = view;
  std::vector<float> data = testing::SyntheticRows(kCustomers, kFeatures, 3);
  std::vector<std::string> keys;
  std::vector<features::OnlineRow> rows;
  for (int c = 0; c < kCustomers; ++c) {
    keys.push_back(IntKey(c));
    features::OnlineRow row{kNow, kNow, {}};
    for (int f = 0; f < kFeatures; ++f) {
      float v = data[c * kFeatures + f];
      row.values.push_back(std::isnan(v) ? features::Value() : features::Value(double{v}));
    }
    rows.push_back(std::move(row));
  }
  ASSERT_TRUE((*store)->Write("customer_features", keys, rows).ok());
  features::OnlineFeatureService online(&catalog, store->get(), &clock);

  EndpointSpec spec;
  spec.name = "churn";
  spec.model = "churn";
  spec.alias = "production";
  spec.feature_service = "churn";
  ASSERT_TRUE((*definitions)->Apply({spec}, false, false).ok());
  EndpointServiceOptions options;
  options.models = models->get();
  options.definitions = definitions->get();
  options.online = &online;
  options.clock = &clock;
  options.start_thread = false;
  options.data_dir = dir.string();
  // The same rows as a saved training set: customer_id, event_timestamp, f0…f19.
  options.load_training_set = [&](std::string_view) -> absl::StatusOr<TrainingSetRows> {
    TrainingSetRows snapshot;
    features::Table& t = snapshot.table;
    t.AddColumn("customer_id", features::FeatureType::kInt64);
    t.AddColumn("event_timestamp", features::FeatureType::kTimestamp);
    for (const std::string& name : testing::FeatureNames(kFeatures)) {
      t.AddColumn(name, features::FeatureType::kDouble);
    }
    for (int c = 0; c < kCustomers; ++c) {
      t.columns[0].AppendInt(c);
      t.columns[1].AppendInt(kNow);
      for (int f = 0; f < kFeatures; ++f) {
        float v = data[c * kFeatures + f];
        if (std::isnan(v)) {
          t.columns[2 + f].AppendNull();
        } else {
          t.columns[2 + f].AppendDouble(double{v});
        }
      }
    }
    snapshot.entity_columns = {"customer_id", "event_timestamp"};
    return snapshot;
  };
  auto service = EndpointService::Start(std::move(options));
  ASSERT_TRUE(service.ok()) << service.status();
  ASSERT_EQ((*service)->List()[0].state, "serving") << (*service)->List()[0].error;
  // The native runtime computes in process: the server may answer on its I/O threads.
  EXPECT_TRUE((*service)->PredictsInProcess("churn"));
  std::optional<absl::StatusOr<std::string>> inline_answer =
      (*service)->PredictInProcess("churn", R"({"entities": {"customer_id": [0]}})");
  ASSERT_TRUE(inline_answer.has_value());
  ASSERT_TRUE(inline_answer->ok()) << inline_answer->status();
  EXPECT_EQ(Json::parse(**inline_answer)["predictions"].size(), 1u);

  absl::StatusOr<std::vector<float>> reference =
      testing::ReferencePredict(*model_json, data, kFeatures);
  ASSERT_TRUE(reference.ok()) << reference.status();
  std::string ids;
  for (int c = 0; c < kCustomers; ++c) absl::StrAppend(&ids, c == 0 ? "" : ",", c);
  absl::StatusOr<std::string> out =
      (*service)->Predict("churn", absl::StrCat(R"({"entities": {"customer_id": [)", ids, "]}}"));
  ASSERT_TRUE(out.ok()) << out.status();
  Json json = Json::parse(*out);
  ASSERT_EQ(json["predictions"].size(), static_cast<size_t>(kCustomers));
  for (int c = 0; c < kCustomers; ++c) {
    EXPECT_NEAR(json["predictions"][c].get<double>(), (*reference)[c], 1e-6) << "customer " << c;
  }
  // One row with a raw value overriding f3.
  absl::StatusOr<std::string> one = (*service)->Predict(
      "churn", R"({"entities": {"customer_id": [0]}, "features": {"f3": ["x"]}})");
  EXPECT_EQ(one.status().code(), absl::StatusCode::kInvalidArgument);

  // Batch prediction over the training set: the booster's own predictions, row by row.
  absl::StatusOr<int64_t> scored_rows =
      (*service)->PredictTrainingSet("churn", "ts", "scored.csv");
  ASSERT_TRUE(scored_rows.ok()) << scored_rows.status();
  EXPECT_EQ(*scored_rows, kCustomers);
  std::ifstream scored(dir / "scored.csv");
  std::string line;
  ASSERT_TRUE(std::getline(scored, line));
  EXPECT_EQ(line, "id,customer_id,event_timestamp,prediction");
  for (int c = 0; c < kCustomers; ++c) {
    ASSERT_TRUE(std::getline(scored, line)) << "row " << c;
    std::vector<std::string> fields = absl::StrSplit(line, ',');
    ASSERT_EQ(fields.size(), 4u) << line;
    EXPECT_EQ(fields[1], absl::StrCat(c));
    EXPECT_NEAR(std::stod(fields[3]), (*reference)[c], 1e-6) << "customer " << c;
  }
  EXPECT_FALSE(std::getline(scored, line));
  (*service)->Shutdown();
  std::filesystem::remove_all(dir);
}

TEST_F(EndpointServiceTest, BatchPathsAreUnderTheDataDirAndNoTemporaryFileIsLeft) {
  std::filesystem::path data = dir_ / "data";
  std::filesystem::create_directories(data / "batch");
  data_dir_ = data.string();
  Apply({Spec()});
  StartService();
  auto files = [&] {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::recursive_directory_iterator(data)) {
      if (e.is_regular_file()) names.push_back(e.path().lexically_relative(data).string());
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  {
    std::ofstream f(data / "batch" / "in.csv");
    f << "customer_id,spend\n1001,1\n1002,2\n";
  }
  absl::StatusOr<int64_t> rows = service_->PredictBatch("churn", "batch/in.csv", "out.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, 2);
  EXPECT_EQ(files(), (std::vector<std::string>{"batch/in.csv", "out.csv"}));

  // A failed call leaves neither a temporary file nor a new output.
  {
    std::ofstream bad(data / "batch" / "bad.csv");
    bad << "customer_id,spend\n1001,1\nabc,2\n";
  }
  EXPECT_EQ(service_->PredictBatch("churn", "batch/bad.csv", "bad-out.csv").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(files(), (std::vector<std::string>{"batch/bad.csv", "batch/in.csv", "out.csv"}));

  // '..' may not leave the data directory.
  absl::Status escape =
      service_->PredictBatch("churn", "batch/in.csv", "batch/../../x.csv").status();
  EXPECT_EQ(escape.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(escape.message()),
            absl::StrCat("output: 'batch/../../x.csv' is outside the server's data directory (",
                         data.string(), "); give a path relative to it, or an absolute path "
                         "inside it"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x.csv"));
  EXPECT_EQ(service_->PredictBatch("churn", "../in.csv", "y.csv").status().code(),
            absl::StatusCode::kInvalidArgument);

  // An absolute path is taken inside the data directory only.
  const std::string inside_in = (data / "batch" / "in.csv").string();
  absl::StatusOr<int64_t> absolute =
      service_->PredictBatch("churn", inside_in, (data / "abs-out.csv").string());
  ASSERT_TRUE(absolute.ok()) << absolute.status();
  EXPECT_EQ(*absolute, 2);
  {
    std::ofstream f(dir_ / "elsewhere.csv");
    f << "customer_id,spend\n1001,1\n";
  }
  absl::Status outside_in =
      service_->PredictBatch("churn", (dir_ / "elsewhere.csv").string(), "o.csv").status();
  EXPECT_EQ(outside_in.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(outside_in.message()),
            absl::StrCat("input: '", (dir_ / "elsewhere.csv").string(),
                         "' is outside the server's data directory (", data.string(),
                         "); give a path relative to it, or an absolute path inside it"));
  absl::Status outside_out =
      service_->PredictBatch("churn", "batch/in.csv", (dir_ / "o.csv").string()).status();
  EXPECT_EQ(outside_out.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(outside_out.message(), HasSubstr("output: '"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "o.csv"));
  // The data directory itself is not a file; a sibling sharing its prefix is outside.
  EXPECT_EQ(service_->PredictBatch("churn", "batch/in.csv", data.string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->PredictBatch("churn", "batch/in.csv", data.string() + "-x/o.csv")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->PredictBatch("churn", "batch/in.csv", "").status().code(),
            absl::StatusCode::kInvalidArgument);

  // A symbolic link inside that leads out of it is refused, naming where it leads.
  std::filesystem::create_directories(dir_ / "outside");
  std::filesystem::create_directory_symlink(dir_ / "outside", data / "link");
  absl::Status linked =
      service_->PredictBatch("churn", "batch/in.csv", "link/o.csv").status();
  EXPECT_EQ(linked.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(linked.message(), HasSubstr("through a symbolic link"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "outside" / "o.csv"));

  // Never the server's own state: its database, its artifact root; CSV files only.
  std::filesystem::create_directories(data / "artifacts" / "1");
  { std::ofstream(data / "cairn.db") << "SQLite format 3"; }
  absl::Status db = service_->PredictBatch("churn", "batch/in.csv", "cairn.db").status();
  EXPECT_EQ(db.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(db.message()),
            "output: 'cairn.db' is not a .csv file; batch prediction reads and writes CSV "
            "files only");
  absl::Status artifact =
      service_->PredictBatch("churn", "batch/in.csv", "artifacts/1/scores.CSV").status();
  EXPECT_EQ(artifact.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(artifact.message()),
            absl::StrCat("output: 'artifacts/1/scores.CSV' is inside 'artifacts', which holds "
                         "the server's own state; use another directory under ",
                         data.string()));
  EXPECT_EQ(service_->PredictBatch("churn", "cairn.db", "x.csv").status().code(),
            absl::StatusCode::kInvalidArgument);
  std::ifstream db_file(data / "cairn.db");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(db_file), {}), "SQLite format 3");
  EXPECT_FALSE(std::filesystem::exists(data / "artifacts" / "1" / "scores.CSV"));
}

// A saved training set: customer_id and event_timestamp (and region, a string key) from
// the entity rows, then the features tenure, spend and one the model does not read.
TrainingSetRows Snapshot(int rows, bool with_spend = true) {
  TrainingSetRows out;
  features::Table& t = out.table;
  t.AddColumn("customer_id", features::FeatureType::kInt64);
  t.AddColumn("region", features::FeatureType::kString);
  t.AddColumn("event_timestamp", features::FeatureType::kTimestamp);
  t.AddColumn("tenure", features::FeatureType::kInt64);
  if (with_spend) t.AddColumn("spend", features::FeatureType::kDouble);
  t.AddColumn("unused", features::FeatureType::kDouble);
  for (int r = 0; r < rows; ++r) {
    t.columns[0].AppendInt(1001 + r % 2);
    t.columns[1].AppendString(r == 1 ? "north, \"upper\"" : "south");
    t.columns[2].AppendInt(kNow + r * 1000);
    t.columns[3].AppendInt(r);
    if (with_spend) {
      if (r == 2) {
        t.columns[4].AppendNull();
      } else {
        t.columns[4].AppendDouble(0.5 * r);
      }
    }
    t.columns.back().AppendDouble(1e6);
  }
  out.entity_columns = {"customer_id", "region", "event_timestamp"};
  return out;
}

std::vector<std::string> Lines(const std::filesystem::path& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  return lines;
}

TEST_F(EndpointServiceTest, BatchPredictionOverATrainingSetFeedsItsColumnsByName) {
  std::filesystem::path data = dir_ / "data";
  std::filesystem::create_directories(data);
  data_dir_ = data.string();
  constexpr int kRows = 2500;  // three chunks
  std::vector<std::string> asked;
  load_training_set_ = [&asked](std::string_view id) -> absl::StatusOr<TrainingSetRows> {
    asked.emplace_back(id);
    if (id == "no-spend") return Snapshot(3, /*with_spend=*/false);
    if (id != "ts1") {
      return absl::NotFoundError(absl::StrCat("training set '", std::string(id),
                                              "' does not exist"));
    }
    return Snapshot(kRows);
  };
  Apply({Spec()});
  StartService();

  absl::StatusOr<int64_t> rows = service_->PredictTrainingSet("churn", "ts1", "scored.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, kRows);
  std::vector<std::string> lines = Lines(data / "scored.csv");
  ASSERT_EQ(lines.size(), static_cast<size_t>(kRows) + 1);
  EXPECT_EQ(lines[0], "id,customer_id,region,event_timestamp,prediction");
  // The fake model answers version * 100 + tenure + spend: the snapshot's values, not the
  // online store's (customer 1001 has tenure 10 there); a null spend is read as null.
  EXPECT_THAT(lines[1], ::testing::EndsWith(",1001,south,2023-11-14T22:13:20.000Z,100"));
  EXPECT_THAT(lines[2],
              ::testing::EndsWith(",1002,\"north, \"\"upper\"\"\",2023-11-14T22:13:21.000Z,101.5"));
  EXPECT_THAT(lines[3], ::testing::EndsWith(",1001,south,2023-11-14T22:13:22.000Z,102"));
  std::set<std::string> ids;
  for (int r = 0; r < kRows; ++r) {
    const std::string& line = lines[r + 1];
    ids.insert(line.substr(0, line.find(',')));
    const double expected = 100 + r + (r == 2 ? 0 : 0.5 * r);
    const double got = std::stod(line.substr(line.rfind(',') + 1));
    ASSERT_DOUBLE_EQ(got, expected) << "row " << r << ": " << line;
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRows));  // every row has its own id
  EXPECT_TRUE(sink_.Records().empty());  // batch rows are not logged

  // A model input the snapshot lacks: a 400 naming it and the snapshot's columns; no output.
  absl::Status missing = service_->PredictTrainingSet("churn", "no-spend", "x.csv").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(missing.message()),
            "training_set: model churn version 1 reads input 'spend', missing from training set "
            "'no-spend' (its columns: customer_id, region, event_timestamp, tenure, unused); "
            "build the training set with that feature, or predict over a CSV file that has it");
  EXPECT_FALSE(std::filesystem::exists(data / "x.csv"));

  // An unknown snapshot: NotFound naming it. An unknown endpoint: NotFound, nothing loaded.
  absl::Status unknown = service_->PredictTrainingSet("churn", "nope", "x.csv").status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("'nope'"));
  asked.clear();
  EXPECT_EQ(service_->PredictTrainingSet("other", "ts1", "x.csv").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(asked.empty());
  // The output path follows the same rule as for a CSV input.
  absl::Status escape = service_->PredictTrainingSet("churn", "ts1", "../x.csv").status();
  EXPECT_EQ(escape.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(escape.message(), HasSubstr("output: '../x.csv' is outside"));
  EXPECT_EQ(service_->PredictTrainingSet("churn", "", "x.csv").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(data / "x.csv"));
}

TEST_F(EndpointServiceTest, BatchPredictionOverATrainingSetNeedsALoader) {
  data_dir_ = dir_.string();
  Apply({Spec()});
  StartService();
  absl::Status status = service_->PredictTrainingSet("churn", "ts1", "x.csv").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("no feature store"));
}

}  // namespace
}  // namespace cairn::serving
