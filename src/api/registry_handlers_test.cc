// The registry routes called through the Router, without a socket: bad requests (table),
// and response shapes as MLflow's client (mlflow/store/model_registry/rest_store.py) parses
// them.

#include "api/registry_handlers.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "api/errors.h"
#include "common/clock.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "common/json.h"
#include "storage/artifact_store.h"
#include "storage/database.h"
#include "tracking/logged_model_store.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::api {
namespace {

class RegistryHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-registry-handlers-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto db = storage::OpenDatabase((dir_ / "cairn.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto registry = tracking::ModelRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    auto tracking = tracking::TrackingStore::Open(*db_, clock_, "mlflow-artifacts:/");
    ASSERT_TRUE(tracking.ok()) << tracking.status();
    tracking_ = std::move(*tracking);
    auto logged = tracking::LoggedModelStore::Open(*db_, clock_, *tracking_);
    ASSERT_TRUE(logged.ok()) << logged.status();
    logged_models_ = std::move(*logged);
    ctx_.registry = registry_.get();
    ctx_.tracking = tracking_.get();
    ctx_.logged_models = logged_models_.get();
    artifacts_ = std::make_unique<storage::ArtifactStore>((dir_ / "artifacts").string());
    ctx_.artifacts = artifacts_.get();
    RegisterRegistryRoutes(router_, ctx_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Calls the route for (method, path). GET and body-less DELETE take `query`.
  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "",
                    std::vector<std::pair<std::string, std::string>> query = {},
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.target = path;
    request.body = body;
    request.query = std::move(query);
    request.headers = std::move(headers);
    return router_.Dispatch(std::move(request));
  }

  Json CallOk(const std::string& method, const std::string& suffix, const std::string& body = "",
              std::vector<std::pair<std::string, std::string>> query = {},
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpResponse response =
        Call(method, "/api/2.0/mlflow/" + suffix, body, std::move(query), std::move(headers));
    EXPECT_EQ(response.status, 200) << method << " " << suffix << ": " << response.body;
    auto parsed = ParseJson(response.body);
    EXPECT_TRUE(parsed.ok()) << response.body;
    return parsed.ok() ? *parsed : Json();
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::ModelRegistry> registry_;
  std::unique_ptr<tracking::TrackingStore> tracking_;
  std::unique_ptr<tracking::LoggedModelStore> logged_models_;
  std::unique_ptr<storage::ArtifactStore> artifacts_;
  ApiContext ctx_;
  Router router_;
};

struct BadRequestCase {
  std::string method;
  std::string suffix;  // under /api/2.0/mlflow/, or an absolute /api/v1 path
  std::string body;
  std::vector<std::pair<std::string, std::string>> query;
  int status;
  std::string error_code;
};

TEST_F(RegistryHandlersTest, BadRequestsGetMlflowErrors) {
  CallOk("POST", "registered-models/create", R"({"name": "m"})");
  CallOk("POST", "registered-models/create", R"({"name": "other"})");
  CallOk("POST", "model-versions/create", R"({"name": "m", "source": "s3://bucket/m"})");

  const std::string kInvalid = "INVALID_PARAMETER_VALUE";
  const std::string kMissing = "RESOURCE_DOES_NOT_EXIST";
  const std::string kExists = "RESOURCE_ALREADY_EXISTS";
  const std::vector<BadRequestCase> cases = {
      // registered-models/create
      {"POST", "registered-models/create", "{}", {}, 400, kInvalid},
      {"POST", "registered-models/create", R"({"name": ""})", {}, 400, kInvalid},
      {"POST", "registered-models/create", R"({"name": 5})", {}, 400, kInvalid},
      {"POST", "registered-models/create", R"({"name": ["m"]})", {}, 400, kInvalid},
      {"POST", "registered-models/create", "not json", {}, 400, kInvalid},
      {"POST", "registered-models/create", "[1, 2]", {}, 400, kInvalid},
      {"POST", "registered-models/create", R"({"name": "a/b"})", {}, 400, kInvalid},
      {"POST", "registered-models/create", R"({"name": "x", "tags": "t"})", {}, 400, kInvalid},
      {"POST", "registered-models/create", R"({"name": "x", "tags": [1]})", {}, 400, kInvalid},
      {"POST", "registered-models/create", R"({"name": "x", "tags": [{"key": 1}]})", {}, 400,
       kInvalid},
      {"POST", "registered-models/create", R"({"name": "x", "tags": [{"key": "a\tb"}]})", {},
       400, kInvalid},
      {"POST", "registered-models/create", R"({"name": "x", "description": 3})", {}, 400,
       kInvalid},
      {"POST", "registered-models/create", R"({"name": "m"})", {}, 400, kExists},
      // get / update / rename / delete
      {"GET", "registered-models/get", "", {}, 400, kInvalid},
      {"GET", "registered-models/get", "", {{"name", "nope"}}, 404, kMissing},
      {"PATCH", "registered-models/update", R"({"name": "nope", "description": "d"})", {}, 404,
       kMissing},
      {"POST", "registered-models/rename", R"({"name": "m"})", {}, 400, kInvalid},
      {"POST", "registered-models/rename", R"({"name": "m", "new_name": "other"})", {}, 400,
       kExists},
      {"POST", "registered-models/rename", R"({"name": "nope", "new_name": "n2"})", {}, 404,
       kMissing},
      {"POST", "registered-models/rename", R"({"name": "m", "new_name": "a:b"})", {}, 400,
       kInvalid},
      {"DELETE", "registered-models/delete", R"({"name": "nope"})", {}, 404, kMissing},
      {"DELETE", "registered-models/delete", "", {}, 400, kInvalid},
      // search
      {"GET", "registered-models/search", "", {{"max_results", "1001"}}, 400, kInvalid},
      {"GET", "registered-models/search", "", {{"max_results", "abc"}}, 400, kInvalid},
      {"GET", "registered-models/search", "", {{"max_results", "0"}}, 400, kInvalid},
      {"GET", "registered-models/search", "", {{"filter", "bogus"}}, 400, kInvalid},
      {"GET", "registered-models/search", "", {{"filter", "run_id = 'x'"}}, 400, kInvalid},
      {"GET", "registered-models/search", "", {{"page_token", "!!garbage!!"}}, 400, kInvalid},
      {"GET", "registered-models/search", "", {{"order_by", "color ASC"}}, 400, kInvalid},
      {"POST", "registered-models/search", R"({"order_by": "name", "max_results": true})", {},
       400, kInvalid},
      // latest versions and tags
      {"POST", "registered-models/get-latest-versions", R"({"name": "m", "stages": ["bogus"]})",
       {}, 400, kInvalid},
      {"POST", "registered-models/get-latest-versions", R"({"name": "nope"})", {}, 404, kMissing},
      {"POST", "registered-models/get-latest-versions", R"({"name": "m", "stages": [1]})", {},
       400, kInvalid},
      {"POST", "registered-models/set-tag", R"({"name": "nope", "key": "k", "value": "v"})", {},
       404, kMissing},
      {"POST", "registered-models/set-tag", R"({"name": "m", "key": "../k", "value": "v"})", {},
       400, kInvalid},
      {"DELETE", "registered-models/delete-tag", R"({"name": "m"})", {}, 400, kInvalid},
      {"DELETE", "registered-models/delete-tag", R"({"name": "nope", "key": "k"})", {}, 404,
       kMissing},
      // aliases
      {"POST", "registered-models/alias", R"({"name": "m", "alias": "v1", "version": "1"})", {},
       400, kInvalid},
      {"POST", "registered-models/alias", R"({"name": "m", "alias": "Latest", "version": "1"})",
       {}, 400, kInvalid},
      {"POST", "registered-models/alias", R"({"name": "m", "alias": "a b", "version": "1"})", {},
       400, kInvalid},
      {"POST", "registered-models/alias", R"({"name": "m", "alias": "ok", "version": "x"})", {},
       400, kInvalid},
      {"POST", "registered-models/alias", R"({"name": "m", "alias": "ok"})", {}, 400, kInvalid},
      {"POST", "registered-models/alias", R"({"name": "m", "alias": "ok", "version": "99"})", {},
       404, kMissing},
      {"POST", "registered-models/alias", R"({"name": "nope", "alias": "ok", "version": "1"})",
       {}, 404, kMissing},
      {"POST", "registered-models/alias",
       R"({"name": "m", "alias": "ok", "version": "1", "reason": 7})", {}, 400, kInvalid},
      {"GET", "registered-models/alias", "", {{"name", "m"}, {"alias", "unset"}}, 400, kInvalid},
      {"GET", "registered-models/alias", "", {{"name", "m"}}, 400, kInvalid},
      {"GET", "registered-models/alias", "", {{"name", "nope"}, {"alias", "a"}}, 404, kMissing},
      {"DELETE", "registered-models/alias", R"({"name": "nope", "alias": "a"})", {}, 404,
       kMissing},
      // model-versions/create and its sources
      {"POST", "model-versions/create", R"({"name": "m"})", {}, 400, kInvalid},
      {"POST", "model-versions/create", R"({"name": "nope", "source": "s3://b/m"})", {}, 404,
       kMissing},
      {"POST", "model-versions/create", R"({"name": "m", "source": "s3://b/../etc"})", {}, 400,
       kInvalid},
      {"POST", "model-versions/create", R"({"name": "m", "source": "s3://b/%2E%2E/etc"})", {},
       400, kInvalid},
      {"POST", "model-versions/create", R"({"name": "m", "source": "/etc/passwd"})", {}, 400,
       kInvalid},
      {"POST", "model-versions/create",
       R"({"name": "m", "source": "runs:/abc/model", "run_id": "other"})", {}, 400, kInvalid},
      {"POST", "model-versions/create", R"({"name": "m", "source": "runs:/abc/model"})", {}, 400,
       kInvalid},
      {"POST", "model-versions/create",
       R"({"name": "m", "source": "mlflow-artifacts:/0/x/artifacts/model"})", {}, 400, kInvalid},
      {"POST", "model-versions/create", R"({"name": "m", "source": "models:/m-123"})", {}, 400,
       kInvalid},
      {"POST", "model-versions/create",
       R"({"name": "m", "source": "models:/m-123", "model_id": "m-123"})", {}, 400, kInvalid},
      {"POST", "model-versions/create", R"({"name": "m", "source": "models:/nope/1"})", {}, 404,
       kMissing},
      {"POST", "model-versions/create", R"({"name": "m", "source": "s3://b", "tags": {}})", {},
       400, kInvalid},
      // model-versions/get, update, stage, delete, download uri
      {"GET", "model-versions/get", "", {{"name", "m"}, {"version", "abc"}}, 400, kInvalid},
      {"GET", "model-versions/get", "", {{"name", "m"}, {"version", "99"}}, 404, kMissing},
      {"GET", "model-versions/get", "", {{"name", "m"}}, 400, kInvalid},
      {"PATCH", "model-versions/update", R"({"name": "nope", "version": "1"})", {}, 404,
       kMissing},
      {"POST", "model-versions/transition-stage",
       R"({"name": "m", "version": "1", "stage": "Prod"})", {}, 400, kInvalid},
      {"POST", "model-versions/transition-stage",
       R"({"name": "m", "version": "1", "stage": "Production",
           "archive_existing_versions": "yes"})",
       {}, 400, kInvalid},
      {"POST", "model-versions/transition-stage",
       R"({"name": "m", "version": "1", "stage": "None", "archive_existing_versions": true})",
       {}, 400, kInvalid},
      {"DELETE", "model-versions/delete", R"({"name": "m", "version": "99"})", {}, 404,
       kMissing},
      {"GET", "model-versions/get-download-uri", "", {{"name", "m"}, {"version", "99"}}, 404,
       kMissing},
      // search, tags
      {"GET", "model-versions/search", "", {{"max_results", "200001"}}, 400, kInvalid},
      {"GET", "model-versions/search", "", {{"filter", "foo = 'x'"}}, 400, kInvalid},
      {"GET", "model-versions/search", "", {{"filter", "name = 'a' or name = 'b'"}}, 400,
       kInvalid},
      {"POST", "model-versions/set-tag", R"({"name": "m", "version": "99", "key": "k"})", {},
       404, kMissing},
      {"POST", "model-versions/set-tag", R"({"name": "m", "version": "1"})", {}, 400, kInvalid},
      {"DELETE", "model-versions/delete-tag", R"({"name": "nope", "version": "1", "key": "k"})",
       {}, 404, kMissing},
      // Cairn's alias history
      {"GET", "/api/v1/models/nope/alias-history", "", {}, 404, kMissing},
  };
  for (const BadRequestCase& c : cases) {
    std::string path = c.suffix.front() == '/' ? c.suffix : "/api/2.0/mlflow/" + c.suffix;
    HttpResponse response = Call(c.method, path, c.body, c.query);
    SCOPED_TRACE(c.method + " " + path + " " + c.body);
    EXPECT_EQ(response.status, c.status) << response.body;
    auto body = ParseJson(response.body);
    ASSERT_TRUE(body.ok()) << response.body;
    EXPECT_EQ(body->value("error_code", ""), c.error_code) << response.body;
    EXPECT_FALSE(body->value("message", "").empty());
  }
}

TEST_F(RegistryHandlersTest, RoutesExistUnderBothPrefixes) {
  for (const char* prefix : {"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"}) {
    for (auto [method, suffix] : std::vector<std::pair<std::string, std::string>>{
             {"POST", "registered-models/create"},
             {"GET", "registered-models/get"},
             {"PATCH", "registered-models/update"},
             {"POST", "registered-models/rename"},
             {"DELETE", "registered-models/delete"},
             {"GET", "registered-models/search"},
             {"POST", "registered-models/get-latest-versions"},
             {"GET", "registered-models/get-latest-versions"},
             {"POST", "registered-models/set-tag"},
             {"DELETE", "registered-models/delete-tag"},
             {"POST", "registered-models/alias"},
             {"DELETE", "registered-models/alias"},
             {"GET", "registered-models/alias"},
             {"POST", "model-versions/create"},
             {"GET", "model-versions/get"},
             {"PATCH", "model-versions/update"},
             {"POST", "model-versions/transition-stage"},
             {"DELETE", "model-versions/delete"},
             {"GET", "model-versions/get-download-uri"},
             {"GET", "model-versions/search"},
             {"POST", "model-versions/set-tag"},
             {"DELETE", "model-versions/delete-tag"}}) {
      EXPECT_NE(router_.Find(method, std::string(prefix) + suffix).route, nullptr)
          << method << " " << prefix << suffix;
    }
  }
}

TEST_F(RegistryHandlersTest, ResponsesHaveTheShapeMlflowsClientParses) {
  clock_.Set(1'700'000'000'000);
  Json created = CallOk("POST", "registered-models/create",
                        R"({"name": "churn", "description": "d",
                            "tags": [{"key": "team", "value": "growth"}]})");
  const Json& rm = created["registered_model"];
  EXPECT_EQ(rm["name"], "churn");
  EXPECT_EQ(rm["creation_timestamp"], 1'700'000'000'000);
  EXPECT_TRUE(rm["creation_timestamp"].is_number_integer());
  EXPECT_EQ(rm["last_updated_timestamp"], 1'700'000'000'000);
  EXPECT_EQ(rm["description"], "d");
  EXPECT_EQ(rm["tags"], Json::parse(R"([{"key": "team", "value": "growth"}])"));
  EXPECT_FALSE(rm.contains("latest_versions"));

  clock_.Advance(5);
  Json mv = CallOk("POST", "model-versions/create",
                   R"({"name": "churn", "source": "s3://bucket/churn/1", "run_link": "l",
                       "tags": [{"key": "k", "value": "v"}], "description": "first"})");
  const Json& v1 = mv["model_version"];
  EXPECT_EQ(v1["name"], "churn");
  EXPECT_EQ(v1["version"], "1");  // a string, as in MLflow's proto
  EXPECT_EQ(v1["creation_timestamp"], 1'700'000'000'005);
  EXPECT_EQ(v1["last_updated_timestamp"], 1'700'000'000'005);
  EXPECT_EQ(v1["current_stage"], "None");
  EXPECT_EQ(v1["status"], "READY");
  EXPECT_EQ(v1["source"], "s3://bucket/churn/1");
  EXPECT_EQ(v1["run_id"], "");
  EXPECT_EQ(v1["run_link"], "l");
  EXPECT_EQ(v1["description"], "first");
  EXPECT_EQ(v1["tags"], Json::parse(R"([{"key": "k", "value": "v"}])"));
  CallOk("POST", "model-versions/create", R"({"name": "churn", "source": "s3://bucket/churn/2"})");

  CallOk("POST", "registered-models/alias",
         R"({"name": "churn", "alias": "champion", "version": "1", "reason": "launch"})", {},
         {{"x-cairn-actor", "alice"}});
  Json got = CallOk("GET", "registered-models/get", "", {{"name", "churn"}});
  EXPECT_EQ(got["registered_model"]["aliases"],
            Json::parse(R"([{"alias": "champion", "version": "1"}])"));
  ASSERT_EQ(got["registered_model"]["latest_versions"].size(), 1u);
  EXPECT_EQ(got["registered_model"]["latest_versions"][0]["version"], "2");

  Json by_alias =
      CallOk("GET", "registered-models/alias", "", {{"name", "churn"}, {"alias", "champion"}});
  EXPECT_EQ(by_alias["model_version"]["version"], "1");
  EXPECT_EQ(by_alias["model_version"]["aliases"], Json::parse(R"(["champion"])"));

  Json latest = CallOk("GET", "registered-models/get-latest-versions", "",
                       {{"name", "churn"}, {"stages", "None"}});
  ASSERT_EQ(latest["model_versions"].size(), 1u);
  EXPECT_EQ(latest["model_versions"][0]["version"], "2");

  Json staged = CallOk("POST", "model-versions/transition-stage",
                       R"({"name": "churn", "version": "1", "stage": "production",
                           "archive_existing_versions": false})");
  EXPECT_EQ(staged["model_version"]["current_stage"], "Production");

  Json updated = CallOk("PATCH", "model-versions/update",
                        R"({"name": "churn", "version": "2", "description": "second"})");
  EXPECT_EQ(updated["model_version"]["description"], "second");

  Json uri = CallOk("GET", "model-versions/get-download-uri", "",
                    {{"name", "churn"}, {"version", "1"}});
  EXPECT_EQ(uri, Json::parse(R"({"artifact_uri": "s3://bucket/churn/1"})"));

  // Search with paging: the client passes order_by as repeated query parameters.
  Json page1 = CallOk("GET", "model-versions/search", "",
                      {{"filter", "name='churn'"},
                       {"max_results", "1"},
                       {"order_by", "version_number ASC"},
                       {"order_by", "name"}});
  ASSERT_EQ(page1["model_versions"].size(), 1u);
  EXPECT_EQ(page1["model_versions"][0]["version"], "1");
  ASSERT_TRUE(page1.contains("next_page_token"));
  Json page2 = CallOk("GET", "model-versions/search", "",
                      {{"filter", "name='churn'"},
                       {"max_results", "1"},
                       {"order_by", "version_number ASC"},
                       {"page_token", page1["next_page_token"].get<std::string>()}});
  ASSERT_EQ(page2["model_versions"].size(), 1u);
  EXPECT_EQ(page2["model_versions"][0]["version"], "2");
  EXPECT_FALSE(page2.contains("next_page_token"));

  Json models = CallOk("POST", "registered-models/search",
                       R"({"filter": "name ILIKE 'CH%'", "max_results": 10})");
  ASSERT_EQ(models["registered_models"].size(), 1u);
  Json none = CallOk("GET", "registered-models/search", "", {{"filter", "name = 'zzz'"}});
  EXPECT_EQ(none, Json::object());  // MLflow leaves empty lists out

  // Tags and aliases through their endpoints; deletes answer {}.
  EXPECT_EQ(CallOk("POST", "model-versions/set-tag",
                   R"({"name": "churn", "version": "2", "key": "q", "value": "ok"})"),
            Json::object());
  EXPECT_EQ(CallOk("DELETE", "model-versions/delete-tag",
                   R"({"name": "churn", "version": "2", "key": "q"})"),
            Json::object());
  EXPECT_EQ(CallOk("POST", "registered-models/set-tag",
                   R"({"name": "churn", "key": "owner", "value": "me"})"),
            Json::object());
  EXPECT_EQ(CallOk("DELETE", "registered-models/delete-tag", R"({"name": "churn", "key": "owner"})"),
            Json::object());
  CallOk("POST", "registered-models/alias",
         R"({"name": "churn", "alias": "champion", "version": "2"})", {},
         {{"x-cairn-actor", "ci"}, {"x-cairn-reason", "gates passed"}});
  EXPECT_EQ(CallOk("DELETE", "registered-models/alias", R"({"name": "churn", "alias": "champion"})",
                   {}, {{"x-cairn-actor", "bob"}}),
            Json::object());

  // Rename keeps the alias history, which Cairn serves under /api/v1.
  Json renamed =
      CallOk("POST", "registered-models/rename", R"({"name": "churn", "new_name": "churn2"})");
  EXPECT_EQ(renamed["registered_model"]["name"], "churn2");
  HttpResponse history = Call("GET", "/api/v1/models/churn2/alias-history");
  ASSERT_EQ(history.status, 200) << history.body;
  Json changes = Json::parse(history.body)["alias_changes"];
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0]["alias"], "champion");
  EXPECT_EQ(changes[0]["from_version"], 2);
  EXPECT_TRUE(changes[0]["to_version"].is_null());
  EXPECT_EQ(changes[0]["actor"], "bob");
  EXPECT_EQ(changes[1]["from_version"], 1);
  EXPECT_EQ(changes[1]["to_version"], 2);
  EXPECT_EQ(changes[1]["actor"], "ci");
  EXPECT_EQ(changes[1]["reason"], "gates passed");
  EXPECT_TRUE(changes[2]["from_version"].is_null());
  EXPECT_EQ(changes[2]["to_version"], 1);
  EXPECT_EQ(changes[2]["actor"], "alice");
  EXPECT_EQ(changes[2]["reason"], "launch");
  EXPECT_TRUE(changes[2]["time"].is_number_integer());

  EXPECT_EQ(CallOk("DELETE", "model-versions/delete", R"({"name": "churn2", "version": "1"})"),
            Json::object());
  EXPECT_EQ(CallOk("DELETE", "registered-models/delete", R"({"name": "churn2"})"),
            Json::object());
  EXPECT_EQ(Call("GET", "/api/v1/models/churn2/alias-history").status, 404);
}

TEST_F(RegistryHandlersTest, AliasMovesArePublishedOnTheEventBus) {
  EventBus bus(clock_);
  ctx_.events = &bus;
  Router router;
  RegisterRegistryRoutes(router, ctx_);
  std::vector<Event> moves;
  absl::Mutex mu;
  bus.Subscribe(kEventModelAliasMoved, [&](const Event& e) {
    absl::MutexLock lock(&mu);
    moves.push_back(e);
  });
  auto call = [&](const std::string& method, const std::string& suffix, const std::string& body) {
    HttpRequest request;
    request.method = method;
    request.path = request.target = "/api/2.0/mlflow/" + suffix;
    request.body = body;
    request.headers = {{"x-cairn-actor", "alice"}};
    HttpResponse response = router.Dispatch(std::move(request));
    EXPECT_EQ(response.status, 200) << suffix << ": " << response.body;
  };
  call("POST", "registered-models/create", R"({"name": "churn"})");
  call("POST", "model-versions/create", R"({"name": "churn", "source": "s3://b/1"})");
  call("POST", "model-versions/create", R"({"name": "churn", "source": "s3://b/2"})");
  call("POST", "registered-models/alias",
       R"({"name": "churn", "alias": "production", "version": "1", "reason": "launch"})");
  call("POST", "registered-models/alias",  // unchanged: no event
       R"({"name": "churn", "alias": "production", "version": "1"})");
  call("POST", "registered-models/alias",
       R"({"name": "churn", "alias": "production", "version": "2"})");
  call("DELETE", "registered-models/alias", R"({"name": "churn", "alias": "production"})");
  bus.Drain();
  absl::MutexLock lock(&mu);
  ASSERT_EQ(moves.size(), 3u);
  EXPECT_EQ(moves[0].attributes, (std::map<std::string, std::string>{
                                     {"model", "churn"}, {"alias", "production"},
                                     {"from_version", ""}, {"to_version", "1"},
                                     {"actor", "alice"}, {"reason", "launch"}}));
  EXPECT_EQ(moves[1].attributes.at("from_version"), "1");
  EXPECT_EQ(moves[1].attributes.at("to_version"), "2");
  EXPECT_EQ(moves[2].attributes.at("from_version"), "2");
  EXPECT_EQ(moves[2].attributes.at("to_version"), "");
}

TEST_F(RegistryHandlersTest, SourcesResolveAsMlflowDoes) {
  CallOk("POST", "registered-models/create", R"({"name": "m"})");
  tracking::CreateRunRequest run_request;
  run_request.experiment_id = "0";
  auto run = tracking_->CreateRun(run_request);
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string run_id = run->info.run_id;
  const std::string artifact_uri = run->info.artifact_uri;

  // runs:/<run_id>/path → the run's artifact location + path.
  Json from_run = CallOk("POST", "model-versions/create",
                         Json{{"name", "m"}, {"source", "runs:/" + run_id + "/model"},
                              {"run_id", run_id}}
                             .dump());
  EXPECT_EQ(from_run["model_version"]["source"], "runs:/" + run_id + "/model");
  EXPECT_EQ(from_run["model_version"]["run_id"], run_id);
  Json uri = CallOk("GET", "model-versions/get-download-uri", "", {{"name", "m"}, {"version", "1"}});
  EXPECT_EQ(uri["artifact_uri"], artifact_uri + "/model");

  // A source inside the run's artifact root needs the run_id.
  Json inside = CallOk("POST", "model-versions/create",
                       Json{{"name", "m"}, {"source", artifact_uri + "/model"}, {"run_id", run_id}}
                           .dump());
  EXPECT_EQ(inside["model_version"]["version"], "2");

  // MLflow 3: models:/<model_id> with model_id → the logged model's location and run.
  tracking::CreateLoggedModelRequest logged_request;
  logged_request.experiment_id = "0";
  logged_request.source_run_id = run_id;
  auto logged = logged_models_->Create(logged_request);
  ASSERT_TRUE(logged.ok()) << logged.status();
  Json from_model = CallOk("POST", "model-versions/create",
                           Json{{"name", "m"},
                                {"source", "models:/" + logged->model_id},
                                {"model_id", logged->model_id}}
                               .dump());
  EXPECT_EQ(from_model["model_version"]["model_id"], logged->model_id);
  EXPECT_EQ(from_model["model_version"]["run_id"], run_id);
  uri = CallOk("GET", "model-versions/get-download-uri", "", {{"name", "m"}, {"version", "3"}});
  EXPECT_EQ(uri["artifact_uri"], logged->artifact_location);
  auto tagged = logged_models_->Get(logged->model_id);
  ASSERT_TRUE(tagged.ok());
  bool found_tag = false;
  for (const auto& [key, value] : tagged->tags)
    if (key == "mlflow.modelVersions") {
      found_tag = true;
      EXPECT_EQ(Json::parse(value), Json::parse(R"([{"name": "m", "version": 3}])"));
    }
  EXPECT_TRUE(found_tag);

  // models:/<name>/<version> → normalized, with the referenced version's lineage.
  CallOk("POST", "registered-models/alias", R"({"name": "m", "alias": "prod", "version": "3"})");
  Json copy = CallOk("POST", "model-versions/create", R"({"name": "m", "source": "models:/m@prod"})");
  EXPECT_EQ(copy["model_version"]["source"], "models:/m/3");
  EXPECT_EQ(copy["model_version"]["model_id"], logged->model_id);
  uri = CallOk("GET", "model-versions/get-download-uri", "", {{"name", "m"}, {"version", "4"}});
  EXPECT_EQ(uri["artifact_uri"], logged->artifact_location);
}

TEST_F(RegistryHandlersTest, GetArtifactStreamsFilesOfAVersion) {
  CallOk("POST", "registered-models/create", R"({"name": "m"})");
  tracking::CreateRunRequest run_request;
  run_request.experiment_id = "0";
  auto run = tracking_->CreateRun(run_request);
  ASSERT_TRUE(run.ok()) << run.status();
  auto relative = storage::ArtifactStore::RelativePathOfUri(run->info.artifact_uri);
  ASSERT_TRUE(relative.ok()) << relative.status();
  ASSERT_TRUE(artifacts_->PutBytes(*relative + "/model/MLmodel", "flavors: {}\n").ok());
  CallOk("POST", "model-versions/create",
         Json{{"name", "m"}, {"source", "runs:/" + run->info.run_id + "/model"},
              {"run_id", run->info.run_id}}
             .dump());
  CallOk("POST", "model-versions/create", R"({"name": "m", "source": "s3://bucket/elsewhere"})");

  HttpResponse file = Call("GET", "/model-versions/get-artifact", "",
                           {{"name", "m"}, {"version", "1"}, {"path", "MLmodel"}});
  ASSERT_EQ(file.status, 200) << file.body;
  EXPECT_EQ(file.content_type.rfind("text/plain", 0), 0u) << file.content_type;
  ASSERT_FALSE(file.file_path.empty());
  EXPECT_TRUE(std::filesystem::exists(file.file_path));

  EXPECT_EQ(Call("GET", "/model-versions/get-artifact", "",
                 {{"name", "m"}, {"version", "1"}, {"path", "missing"}})
                .status,
            404);
  EXPECT_EQ(Call("GET", "/model-versions/get-artifact", "",
                 {{"name", "m"}, {"version", "1"}, {"path", "../../../etc/passwd"}})
                .status,
            400);
  EXPECT_EQ(Call("GET", "/model-versions/get-artifact", "",
                 {{"name", "m"}, {"version", "2"}, {"path", "MLmodel"}})
                .status,
            400);
  EXPECT_EQ(Call("GET", "/model-versions/get-artifact", "", {{"name", "m"}, {"version", "1"}})
                .status,
            400);
  EXPECT_EQ(Call("GET", "/model-versions/get-artifact", "",
                 {{"name", "m"}, {"version", "9"}, {"path", "MLmodel"}})
                .status,
            404);
}

TEST_F(RegistryHandlersTest, MalformedInputNeverCrashes) {
  const std::vector<std::string> bodies = {
      "", "{", "null", "\"s\"", "123", "[]", "{\"name\": {}}", "{\"name\": null}",
      "{\"name\": \"m\", \"version\": {}}", "{\"name\": \"m\", \"tags\": [null]}",
      "{\"name\": \"m\", \"stages\": {}}", "{\"name\": \"\\u0000\"}",
      "{\"name\": \"m\", \"max_results\": 1e400}", std::string(1, '\xff'),
  };
  for (const Route& route : router_.routes()) {
    for (const std::string& body : bodies) {
      HttpRequest request;
      request.method = route.method;
      request.path = route.pattern;
      request.body = body;
      request.query = {{"name", body}, {"version", body}, {"max_results", body}};
      request.path_params = {{"name", body}};
      HttpResponse response = route.handler(request);
      EXPECT_GE(response.status, 200) << route.method << " " << route.pattern;
      EXPECT_LT(response.status, 500) << route.method << " " << route.pattern << " " << body
                                      << ": " << response.body;
    }
  }
}

}  // namespace
}  // namespace cairn::api
