// The feature definition routes through the Router, without a socket: apply (dry run,
// apply, unchanged, changed with diffs, prune), bad requests and bad definitions (400
// with file:line), list / describe / version reads and 404s.

#include "api/feature_definition_handlers.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "common/json.h"
#include "features/feature_registry.h"
#include "storage/database.h"

namespace cairn::api {
namespace {

using ::testing::HasSubstr;

constexpr char kDefs[] = R"yaml(kind: Entity
name: customer
join_key: customer_id
---
kind: Source
name: transactions
timestamp_field: event_timestamp
schema:
  - {name: customer_id, type: int64}
  - {name: event_timestamp, type: timestamp}
  - {name: amount, type: double}
---
kind: FeatureView
name: customer_spend
entities: [customer]
source: transactions
features:
  - {name: amount, type: double}
  - {name: amount_log, type: double, expr: "log1p(amount)"}
)yaml";

class FeatureDefinitionHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-feature-defs-handlers-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto db = storage::OpenDatabase((dir_ / "cairn.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto registry = features::FeatureRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    ctx_.feature_registry = registry_.get();
    RegisterFeatureDefinitionRoutes(router_, ctx_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.target = path;
    request.body = body;
    return router_.Dispatch(std::move(request));
  }
  Json CallOk(const std::string& method, const std::string& path, const std::string& body = "") {
    HttpResponse response = Call(method, path, body);
    EXPECT_EQ(response.status, 200) << method << " " << path << ": " << response.body;
    return Json::parse(response.body);
  }
  static std::string ApplyBody(const std::string& content, bool dry_run = false,
                               bool prune = false) {
    return Json{{"files", Json::array({Json{{"path", "defs/a.yaml"}, {"content", content}}})},
                {"dry_run", dry_run},
                {"prune", prune}}
        .dump();
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<features::FeatureRegistry> registry_;
  ApiContext ctx_;
  Router router_;
};

TEST_F(FeatureDefinitionHandlersTest, DryRunThenApplyThenUnchanged) {
  Json plan = CallOk("POST", "/api/v1/features/apply", ApplyBody(kDefs, /*dry_run=*/true));
  EXPECT_EQ(plan["applied"], false);
  ASSERT_EQ(plan["changes"].size(), 3u);
  EXPECT_EQ(plan["changes"][2], Json::parse(R"({"kind": "FeatureView", "name": "customer_spend",
      "action": "added", "old_version": null, "new_version": 1, "diffs": [],
      "file": "defs/a.yaml", "line": 13})"));
  EXPECT_EQ(CallOk("GET", "/api/v1/features/views")["items"], Json::array());

  Json applied = CallOk("POST", "/api/v1/features/apply", ApplyBody(kDefs));
  EXPECT_EQ(applied["applied"], true);
  Json again = CallOk("POST", "/api/v1/features/apply", ApplyBody(kDefs));
  EXPECT_EQ(again["applied"], false);
  EXPECT_EQ(again["changes"][2]["action"], "unchanged");
  EXPECT_EQ(again["changes"][2]["old_version"], 1);
  EXPECT_EQ(again["changes"][2]["new_version"], 1);
}

TEST_F(FeatureDefinitionHandlersTest, ChangeShowsDiffsAndVersionsStayReadable) {
  CallOk("POST", "/api/v1/features/apply", ApplyBody(kDefs));
  clock_.Advance(60'000);
  std::string changed = kDefs;
  changed.replace(changed.find("log1p(amount)"), 13, "log(amount)");
  Json applied = CallOk("POST", "/api/v1/features/apply", ApplyBody(changed));
  EXPECT_EQ(applied["changes"][2]["action"], "changed");
  EXPECT_EQ(applied["changes"][2]["diffs"], Json::parse(R"json([{"path": "features[1].expr",
      "old": "log1p(amount)", "new": "log(amount)"}])json"));

  Json items = CallOk("GET", "/api/v1/features/views")["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["name"], "customer_spend");
  EXPECT_EQ(items[0]["version"], 2);
  EXPECT_EQ(items[0]["kind"], "FeatureView");
  EXPECT_EQ(items[0]["content_hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(items[0]["created_at"], clock_.NowMillis());

  Json described = CallOk("GET", "/api/v1/features/views/customer_spend");
  EXPECT_EQ(described["version"], 2);
  EXPECT_EQ(described["features"][1]["expr"], "log(amount)");
  ASSERT_EQ(described["versions"].size(), 2u);
  EXPECT_EQ(described["versions"][0]["version"], 1);
  EXPECT_EQ(described["versions"][0]["created_at"], clock_.NowMillis() - 60'000);

  Json v1 = CallOk("GET", "/api/v1/features/views/customer_spend/versions/1");
  EXPECT_EQ(v1["features"][1]["expr"], "log1p(amount)");
  EXPECT_EQ(v1["removed"], false);
  EXPECT_EQ(CallOk("GET", "/api/v1/features/entities")["items"][0]["join_keys"],
            Json::parse(R"([{"name": "customer_id", "type": "int64"}])"));
  EXPECT_EQ(CallOk("GET", "/api/v1/features/sources")["items"].size(), 1u);
  EXPECT_EQ(CallOk("GET", "/api/v1/features/services")["items"], Json::array());
}

TEST_F(FeatureDefinitionHandlersTest, PruneRemovesAndTheRemovedObjectIsA404WithVersionsKept) {
  CallOk("POST", "/api/v1/features/apply", ApplyBody(kDefs));
  std::string without_view = std::string(kDefs).substr(0, std::string(kDefs).find("---\nkind: FeatureView"));
  Json pruned = CallOk("POST", "/api/v1/features/apply", ApplyBody(without_view, false, true));
  EXPECT_EQ(pruned["changes"][2]["action"], "removed");
  EXPECT_EQ(pruned["changes"][2]["new_version"], nullptr);
  HttpResponse gone = Call("GET", "/api/v1/features/views/customer_spend");
  EXPECT_EQ(gone.status, 404);
  EXPECT_THAT(gone.body, HasSubstr("FeatureView 'customer_spend' was removed"));
  EXPECT_EQ(CallOk("GET", "/api/v1/features/views/customer_spend/versions/1")["removed"], true);
}

TEST_F(FeatureDefinitionHandlersTest, BadRequestsAndDefinitionsAre400NamingTheProblem) {
  struct Case {
    std::string body;
    std::string message;
  };
  const Case cases[] = {
      {"[1]", "the request body must be a JSON object"},
      {"{}", "files: give a non-empty list"},
      {R"({"files": [{"path": "a.yaml"}]})", "files[0]: must be {\"path\": string"},
      {R"({"files": [{"path": "a.yaml", "content": ""}], "dry_run": "yes"})",
       "dry_run: must be true or false"},
      {ApplyBody("kind: Entity\nname: c\njoin_kez: id\n"),
       "defs/a.yaml:3: Entity c: unknown field 'join_kez' (value 'id'); did you mean "
       "'join_key'?"},
      {ApplyBody(std::string(kDefs) + "  - {name: x, type: double, expr: 'log1p(amout)'}\n"),
       "defs/a.yaml:20: FeatureView customer_spend: field 'features[2].expr': value "
       "'log1p(amout)'"},
  };
  for (const Case& c : cases) {
    HttpResponse response = Call("POST", "/api/v1/features/apply", c.body);
    EXPECT_EQ(response.status, 400) << c.body;
    EXPECT_THAT(response.body, HasSubstr("INVALID_PARAMETER_VALUE")) << c.body;
    EXPECT_THAT(Json::parse(response.body)["message"].get<std::string>(), HasSubstr(c.message))
        << c.body;
  }
  EXPECT_EQ(CallOk("GET", "/api/v1/features/entities")["items"], Json::array());
}

TEST_F(FeatureDefinitionHandlersTest, MissingObjectsAre404NamingThem) {
  CallOk("POST", "/api/v1/features/apply", ApplyBody(kDefs));
  HttpResponse response = Call("GET", "/api/v1/features/services/churn");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(Json::parse(response.body)["message"], "FeatureService 'churn' is not registered");
  response = Call("GET", "/api/v1/features/entities/customer/versions/4");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(Json::parse(response.body)["message"],
            "Entity 'customer' has no version 4 (versions are 1 to 1)");
  EXPECT_EQ(Call("GET", "/api/v1/features/entities/customer/versions/x").status, 400);
}

}  // namespace
}  // namespace cairn::api
