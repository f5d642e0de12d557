// The webhook routes through the Router, without a socket, on a real cicd::Webhooks
// (SQLite in memory): MLflow's proto JSON (create, list without Cairn-only webhooks, get,
// patch, delete, 404 RESOURCE_DOES_NOT_EXIST) and Cairn's /api/v1 dialect (string events,
// evaluation.finished, deliveries of a test).

#include "api/webhook_handlers.h"

#include "cicd/webhooks.h"
#include "common/clock.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/database.h"

namespace cairn::api {
namespace {

using ::testing::HasSubstr;

class WebhookHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::OpenDatabase("sqlite::memory:");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto webhooks =
        cicd::Webhooks::Open(*db_, nullptr, nullptr, clock_, {.attempts = 1, .timeout_ms = 2'000});
    ASSERT_TRUE(webhooks.ok()) << webhooks.status();
    webhooks_ = std::move(*webhooks);
    RegisterWebhookRoutes(router_, *webhooks_);
  }

  HttpResponse Call(std::string method, std::string path, std::string body = "",
                    std::vector<std::pair<std::string, std::string>> query = {}) {
    HttpRequest request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.target = request.path;
    request.body = std::move(body);
    request.query = std::move(query);
    return router_.Dispatch(std::move(request));
  }
  static Json Body(const HttpResponse& response) {
    auto json = ParseJson(response.body);
    EXPECT_TRUE(json.ok()) << response.body;
    return json.ok() ? *json : Json();
  }

  FakeClock clock_{1'700'000'000'000};
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<cicd::Webhooks> webhooks_;
  Router router_;
};

TEST_F(WebhookHandlersTest, MlflowDialectRoundTrip) {
  HttpResponse created = Call("POST", "/api/2.0/mlflow/webhooks", R"({
      "name": "jenkins", "url": "https://ci.example.com/hook", "secret": "s3cret",
      "events": [{"entity": "MODEL_VERSION", "action": "CREATED"},
                 {"entity": 4, "action": 1}, "evaluation.finished"],
      "status": "ACTIVE"})");
  ASSERT_EQ(created.status, 200) << created.body;
  Json webhook = Body(created)["webhook"];
  const std::string id = webhook["webhook_id"];
  EXPECT_EQ(webhook["name"], "jenkins");
  EXPECT_EQ(webhook["status"], "ACTIVE");
  EXPECT_EQ(webhook["creation_timestamp"], 1'700'000'000'000);
  // MLflow's client knows MLflow's events only; the secret is never returned.
  EXPECT_EQ(webhook["events"], Json::parse(R"([{"action": "CREATED", "entity": "MODEL_VERSION"},
      {"action": "CREATED", "entity": "MODEL_VERSION_ALIAS"}])"));
  EXPECT_FALSE(webhook.contains("secret"));
  EXPECT_FALSE(webhook.contains("description"));

  ASSERT_EQ(
      Call("POST", "/api/v1/webhooks",
           R"({"name": "evals", "url": "http://ci:8080/e", "events": ["evaluation.finished"]})")
          .status,
      200);
  HttpResponse list = Call("GET", "/api/2.0/mlflow/webhooks", "", {{"max_results", "10"}});
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(Body(list)["webhooks"].size(), 1u);  // "evals" has no MLflow event
  EXPECT_FALSE(Body(list).contains("next_page_token"));

  HttpResponse patched =
      Call("PATCH", "/ajax-api/2.0/mlflow/webhooks/" + id,
           R"({"name": "", "description": "on versions", "status": "DISABLED"})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(Body(patched)["webhook"]["name"], "jenkins");
  EXPECT_EQ(Body(patched)["webhook"]["description"], "on versions");
  EXPECT_EQ(Body(patched)["webhook"]["status"], "DISABLED");

  HttpResponse got = Call("GET", "/api/2.0/mlflow/webhooks/" + id);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(Body(got)["webhook"]["description"], "on versions");

  ASSERT_EQ(Call("DELETE", "/api/2.0/mlflow/webhooks/" + id).status, 200);
  HttpResponse missing = Call("GET", "/api/2.0/mlflow/webhooks/" + id);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Body(missing)["error_code"], "RESOURCE_DOES_NOT_EXIST");
  EXPECT_EQ(Body(missing)["message"], "Webhook with ID " + id + " not found.");
}

TEST_F(WebhookHandlersTest, BadRequestsNameTheField) {
  HttpResponse no_url = Call("POST", "/api/2.0/mlflow/webhooks",
                             R"({"name": "x", "events": ["model_version.created"]})");
  EXPECT_EQ(no_url.status, 400);
  EXPECT_THAT(Body(no_url)["message"].get<std::string>(), HasSubstr("'url'"));
  HttpResponse bad_event = Call("POST", "/api/2.0/mlflow/webhooks", R"({
      "name": "x", "url": "https://h/", "events": [{"entity": "MODEL_VERSION", "action": "SET"}]})");
  EXPECT_EQ(bad_event.status, 400);
  EXPECT_EQ(Body(bad_event)["error_code"], "INVALID_PARAMETER_VALUE");
  EXPECT_THAT(Body(bad_event)["message"].get<std::string>(),
              HasSubstr("events[0]: unknown event 'model_version.set'"));
  HttpResponse bad_shape = Call("POST", "/api/v1/webhooks",
                                R"({"name": "x", "url": "https://h/", "events": [{"entity": 2}]})");
  EXPECT_EQ(bad_shape.status, 400);
  EXPECT_THAT(Body(bad_shape)["message"].get<std::string>(),
              HasSubstr("events[0]: {\"entity\":2} is not an event"));
}

TEST_F(WebhookHandlersTest, CairnDialectShowsEveryEventAndTheDeliveries) {
  HttpResponse created = Call("POST", "/api/v1/webhooks", R"({
      "name": "gha", "url": "http://127.0.0.1:1/unreachable", "secret": "k",
      "events": ["evaluation.finished", "model_version_alias.created"]})");
  ASSERT_EQ(created.status, 200) << created.body;
  Json webhook = Body(created)["webhook"];
  const std::string id = webhook["id"];
  EXPECT_EQ(webhook["events"], Json::parse(R"(["evaluation.finished",
      "model_version_alias.created"])"));
  EXPECT_EQ(webhook["has_secret"], true);

  HttpResponse test = Call("POST", "/api/v1/webhooks/" + id + "/test", "{}");
  ASSERT_EQ(test.status, 200) << test.body;
  Json result = Body(test)["result"];
  EXPECT_EQ(result["success"], false);
  EXPECT_THAT(result["error_message"].get<std::string>(), HasSubstr("Failed to test webhook"));

  HttpResponse deliveries = Call("GET", "/api/v1/webhooks/" + id + "/deliveries");
  ASSERT_EQ(deliveries.status, 200) << deliveries.body;
  Json items = Body(deliveries)["deliveries"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["event"], "evaluation.finished");
  EXPECT_EQ(items[0]["test"], true);
  EXPECT_EQ(items[0]["http_status"], 0);

  HttpResponse bad_limit =
      Call("GET", "/api/v1/webhooks/" + id + "/deliveries", "", {{"limit", "0"}});
  EXPECT_EQ(bad_limit.status, 400);
  HttpResponse missing = Call("GET", "/api/v1/webhooks/nope/deliveries");
  EXPECT_EQ(missing.status, 404);
}

TEST_F(WebhookHandlersTest, CairnDialectListsTheOutbox) {
  HttpResponse created = Call("POST", "/api/v1/webhooks", R"({
      "name": "jenkins", "url": "http://127.0.0.1:1/unreachable",
      "events": ["model_version_tag.set"]})");
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string id = Body(created)["webhook"]["id"];
  ASSERT_TRUE(webhooks_
                  ->Notify("model_version_tag.set",
                           Json{{"name", "m"}, {"version", "1"}, {"key", "k"}, {"value", "v"}})
                  .ok());
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));

  HttpResponse outbox = Call("GET", "/api/v1/webhooks/" + id + "/outbox");
  ASSERT_EQ(outbox.status, 200) << outbox.body;
  Json items = Body(outbox)["outbox"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["event"], "model_version_tag.set");
  EXPECT_EQ(items[0]["state"], "failed");  // one try allowed, and it failed
  EXPECT_EQ(items[0]["attempts"], 1);
  EXPECT_EQ(items[0]["accepted_ms"], 1'700'000'000'000);
  EXPECT_EQ(items[0]["finished_ms"], 1'700'000'000'000);
  EXPECT_EQ(items[0]["delivery_id"].get<std::string>().size(), 36u);

  EXPECT_EQ(Call("GET", "/api/v1/webhooks/" + id + "/outbox", "", {{"limit", "1001"}}).status,
            400);
  EXPECT_EQ(Call("GET", "/api/v1/webhooks/nope/outbox").status, 404);
}

}  // namespace
}  // namespace cairn::api
