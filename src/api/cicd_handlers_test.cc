// The CI/CD routes called through the Router, without a socket: policies (apply, list,
// get), stored evaluations (list, get as JSON / text / Markdown), promotion and rollback
// through a real PromotionService on SQLite, and bad requests. `cairn ci check` on real
// models is tested end to end in python/tests/test_cicd.py.

#include "api/cicd_handlers.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "api/api_context.h"
#include "api/registry_handlers.h"
#include "cicd/evaluation_store.h"
#include "cicd/policy_registry.h"
#include "cicd/promotion_service.h"
#include "common/clock.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "tracking/model_registry.h"

namespace cairn::api {
namespace {

using ::testing::HasSubstr;

constexpr char kPolicy[] = R"(kind: Policy
name: churn-gate
model: churn
evaluation: {data: {path: eval.csv}, label: churned}
gates:
  - {metric: auc, min: 0.7}
)";

class CicdHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-cicd-handlers-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto db = storage::OpenDatabase((dir_ / "cairn.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto registry = tracking::ModelRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    auto policies = cicd::PolicyRegistry::Open(*db_, clock_);
    ASSERT_TRUE(policies.ok()) << policies.status();
    policies_ = std::move(*policies);
    auto evaluations = cicd::EvaluationStore::Open(*db_);
    ASSERT_TRUE(evaluations.ok()) << evaluations.status();
    evaluations_ = std::move(*evaluations);
    cicd::PromotionDeps deps;
    deps.registry = registry_.get();
    deps.policies = policies_.get();
    deps.evaluations = evaluations_.get();
    promotion_ = std::make_unique<cicd::PromotionService>(std::move(deps));
    ctx_.registry = registry_.get();
    ctx_.policies = policies_.get();
    ctx_.evaluations = evaluations_.get();
    ctx_.promotion = promotion_.get();
    RegisterCicdRoutes(router_, ctx_);
    RegisterRegistryRoutes(router_, ctx_);
  }
  void TearDown() override {
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
  std::string ApplyBody(const std::string& content) {
    return DumpJson(Json{{"files", Json::array({{{"path", "gates.yaml"}, {"content", content}}})}});
  }
  void RegisterVersions(int n) {
    ASSERT_TRUE(registry_->CreateRegisteredModel("churn").ok());
    for (int i = 1; i <= n; ++i) {
      ASSERT_TRUE(registry_->CreateModelVersion("churn", "s3://m/" + std::to_string(i)).ok());
    }
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::ModelRegistry> registry_;
  std::unique_ptr<cicd::PolicyRegistry> policies_;
  std::unique_ptr<cicd::EvaluationStore> evaluations_;
  std::unique_ptr<cicd::PromotionService> promotion_;
  ApiContext ctx_;
  Router router_;
};

TEST_F(CicdHandlersTest, PoliciesApplyListAndGet) {
  Json applied = CallOk("POST", "/api/v1/cicd/apply", ApplyBody(kPolicy));
  EXPECT_EQ(applied["applied"], true);
  ASSERT_EQ(applied["changes"].size(), 1u);
  EXPECT_EQ(applied["changes"][0]["kind"], "Policy");
  EXPECT_EQ(applied["changes"][0]["name"], "churn-gate");
  EXPECT_EQ(applied["changes"][0]["action"], "added");
  EXPECT_EQ(applied["changes"][0]["file"], "gates.yaml");
  Json list = CallOk("GET", "/api/v1/cicd/policies");
  ASSERT_EQ(list["policies"].size(), 1u);
  EXPECT_EQ(list["policies"][0]["name"], "churn-gate");
  Json one = CallOk("GET", "/api/v1/cicd/policies/churn-gate");
  EXPECT_EQ(one["policy"]["spec"]["model"], "churn");
  EXPECT_EQ(Call("GET", "/api/v1/cicd/policies/nope").status, 404);

  HttpResponse bad = Call("POST", "/api/v1/cicd/apply",
                          ApplyBody("kind: Policy\nname: g\nmodel: churn\ngates: [{metric: acu}]\n"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("gates.yaml:"));
}

TEST_F(CicdHandlersTest, EvaluationsAreReadAsJsonTextOrMarkdown) {
  cicd::Evaluation evaluation;
  evaluation.id = "ev-1";
  evaluation.model = "churn";
  evaluation.version = 3;
  evaluation.policy = "churn-gate";
  evaluation.policy_version = 1;
  evaluation.passed = false;
  evaluation.rows = 100;
  evaluation.created_ms = 5;
  evaluation.gates.push_back({.gate = "auc >= 0.7", .kind = "metric", .name = "auc", .slice = "",
                              .value = 0.61, .baseline = std::nullopt, .verdict = "fail",
                              .detail = "auc 0.61 is below 0.7"});
  ASSERT_TRUE(evaluations_->Put(evaluation).ok());

  Json list = CallOk("GET", "/api/v1/cicd/evaluations", "", {{"model", "churn"}});
  ASSERT_EQ(list["evaluations"].size(), 1u);
  EXPECT_EQ(list["evaluations"][0]["id"], "ev-1");
  EXPECT_EQ(CallOk("GET", "/api/v1/cicd/evaluations", "", {{"model", "other"}})["evaluations"],
            Json::array());
  Json one = CallOk("GET", "/api/v1/cicd/evaluations/ev-1");
  EXPECT_EQ(one["evaluation"]["passed"], false);
  EXPECT_EQ(one["evaluation"]["gates"][0]["verdict"], "fail");

  HttpResponse markdown = Call("GET", "/api/v1/cicd/evaluations/ev-1", "", {{"format", "markdown"}});
  EXPECT_EQ(markdown.status, 200);
  EXPECT_EQ(markdown.content_type, "text/markdown; charset=utf-8");
  EXPECT_THAT(markdown.body, HasSubstr("auc >= 0.7"));
  HttpResponse text = Call("GET", "/api/v1/cicd/evaluations/ev-1", "", {{"format", "text"}});
  EXPECT_THAT(text.body, HasSubstr("FAILED"));
  EXPECT_EQ(Call("GET", "/api/v1/cicd/evaluations/ev-1", "", {{"format", "pdf"}}).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/cicd/evaluations/ev-9").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/cicd/evaluations", "", {{"limit", "0"}}).status, 400);
}

TEST_F(CicdHandlersTest, PromotionNeedsAPassedCheckOrAnOverrideAndRollsBack) {
  RegisterVersions(2);
  CallOk("POST", "/api/v1/cicd/apply", ApplyBody(kPolicy));
  // No evaluation: refused, saying what to run.
  HttpResponse refused = Call("POST", "/api/v1/models/churn/promote", R"({"version": 1})");
  EXPECT_EQ(refused.status, 409);
  EXPECT_THAT(refused.body, HasSubstr("ci check"));
  // An override is recorded in the alias history with who and why.
  Json first = CallOk("POST", "/api/v1/models/churn/promote",
                      R"({"version": "1", "actor": "ana", "override_reason": "first launch"})");
  EXPECT_EQ(first["promotion"]["action"], "promoted");
  EXPECT_EQ(first["promotion"]["alias"], "production");
  EXPECT_EQ(first["promotion"]["to_version"], 1);
  CallOk("POST", "/api/v1/models/churn/promote",
         R"({"version": 2, "actor": "ana", "override_reason": "hotfix"})");
  auto history = registry_->AliasHistory("churn");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].actor, "ana");
  EXPECT_THAT((*history)[0].reason, HasSubstr("hotfix"));

  Json back = CallOk("POST", "/api/v1/models/churn/rollback",
                     R"({"actor": "bo", "reason": "bad latency"})");
  EXPECT_EQ(back["promotion"]["from_version"], 2);
  EXPECT_EQ(back["promotion"]["to_version"], 1);
  auto production = registry_->GetModelVersionByAlias("churn", "production");
  ASSERT_TRUE(production.ok());
  EXPECT_EQ(production->version, 1);

  // The policy's target alias moves only through the gate, not MLflow's alias routes.
  HttpResponse gated = Call("POST", "/api/2.0/mlflow/registered-models/alias",
                            R"({"name": "churn", "alias": "production", "version": "2"})");
  EXPECT_EQ(gated.status, 400);
  EXPECT_THAT(gated.body, HasSubstr("governed by policy 'churn-gate'"));
  EXPECT_EQ(Call("DELETE", "/api/2.0/mlflow/registered-models/alias",
                 R"({"name": "churn", "alias": "production"})")
                .status,
            400);
  EXPECT_EQ(Call("POST", "/api/2.0/mlflow/registered-models/alias",
                 R"({"name": "churn", "alias": "staging", "version": "2"})")
                .status,
            200);  // other aliases stay free

  EXPECT_EQ(Call("POST", "/api/v1/models/churn/promote", R"({"version": "x"})").status, 400);
  HttpResponse bad_actor =
      Call("POST", "/api/v1/models/churn/promote", R"({"version": 1, "actor": ["ana"]})");
  EXPECT_EQ(bad_actor.status, 400);
  EXPECT_THAT(bad_actor.body, HasSubstr("actor"));
  EXPECT_EQ(Call("POST", "/api/v1/models/churn/promote", R"({})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/cicd/check", R"({"model": "churn"})").status, 400);
  HttpResponse unknown =
      Call("POST", "/api/v1/models/nope/promote", R"({"version": 1, "override_reason": "x"})");
  EXPECT_EQ(unknown.status, 404);
}

}  // namespace
}  // namespace cairn::api
