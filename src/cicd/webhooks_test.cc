#include "cicd/webhooks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/event_types.h"
#include "common/testing/http_receiver.h"
#include "common/webhook_signature.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/alerts/sinks.h"
#include "storage/testing/test_databases.h"
#include "tracking/model_registry.h"

namespace cairn::cicd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Receiver = test_support::HttpReceiver;
using test_support::DeadUrl;

// The signature a receiver computes from what it received (MLflow's verification recipe).
std::string ExpectedSignature(const std::string& secret, const Receiver::Request& request) {
  std::string signed_content = request.headers.at("x-mlflow-delivery-id") + "." +
                               request.headers.at("x-mlflow-timestamp") + "." + request.body;
  return "v1," + absl::Base64Escape(
                     absl::HexStringToBytes(HmacSha256Hex(secret, signed_content)));
}

constexpr char kDrop[] =
    "DROP TABLE IF EXISTS cicd_webhooks; DROP TABLE IF EXISTS cicd_webhook_deliveries;"
    "DROP TABLE IF EXISTS cicd_webhook_outbox;"
    "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER "
    "NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (component, "
    "version));"
    "DELETE FROM schema_migrations WHERE component = 'cicd_webhooks'";

// ---- the store: both backends ----

class WebhookStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url;
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() /
             ("cairn_webhooks_" + std::to_string(std::random_device{}()));
      std::filesystem::create_directories(dir_);
      url = (dir_ / "meta.db").string();
    } else {
      CAIRN_REQUIRE_POSTGRES();
      url = storage::test_support::PrivatePostgresUrl();
    }
    url_ = url;
    auto db = storage::OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    if (GetParam() != "sqlite") {
      ASSERT_TRUE(db_->Write([](storage::SqlSession& s) { return s.ExecuteScript(kDrop); }).ok());
    }
    auto webhooks = Webhooks::Open(*db_, nullptr, nullptr, clock_);
    ASSERT_TRUE(webhooks.ok()) << webhooks.status();
    webhooks_ = std::move(*webhooks);
  }
  void TearDown() override {
    webhooks_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  WebhookCreate Request(std::string name) {
    WebhookCreate request;
    request.name = std::move(name);
    request.url = "https://ci.example.com/hook";
    request.events = {"model_version.created"};
    return request;
  }

  FakeClock clock_{1'700'000'000'000};
  std::string url_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<Webhooks> webhooks_;
};

TEST_P(WebhookStoreTest, CreateGetUpdateDeleteRoundTrip) {
  WebhookCreate request = Request("jenkins-ci");
  request.description = "retrain job";
  request.events = {"model_version.created", "model_version_alias.created", "model_version.created",
                    "evaluation.finished"};
  request.secret = "s3cret";
  auto created = webhooks_->Create(request);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->id.size(), 36u);
  EXPECT_EQ(created->id[14], '4');  // uuid4
  EXPECT_EQ(created->name, "jenkins-ci");
  EXPECT_EQ(created->description, "retrain job");
  EXPECT_THAT(created->events, ElementsAre("model_version.created", "model_version_alias.created",
                                           "evaluation.finished"));  // duplicates dropped
  EXPECT_EQ(created->status, "ACTIVE");
  EXPECT_TRUE(created->has_secret);
  EXPECT_EQ(created->creation_timestamp, 1'700'000'000'000);

  auto got = webhooks_->Get(created->id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, *created);

  clock_.Advance(5'000);
  WebhookUpdate update;
  update.url = "http://jenkins.internal:8080/generic-webhook-trigger/invoke";
  update.status = "DISABLED";
  update.secret = "";
  update.events = std::vector<std::string>{"model_version_alias.deleted"};
  auto updated = webhooks_->Update(created->id, update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->name, "jenkins-ci");  // not in the update: kept
  EXPECT_EQ(updated->description, "retrain job");
  EXPECT_EQ(updated->url, "http://jenkins.internal:8080/generic-webhook-trigger/invoke");
  EXPECT_THAT(updated->events, ElementsAre("model_version_alias.deleted"));
  EXPECT_EQ(updated->status, "DISABLED");
  EXPECT_FALSE(updated->has_secret);
  EXPECT_EQ(updated->creation_timestamp, 1'700'000'000'000);
  EXPECT_EQ(updated->last_updated_timestamp, 1'700'000'005'000);
  EXPECT_EQ(*webhooks_->Get(created->id), *updated);

  ASSERT_TRUE(webhooks_->Delete(created->id).ok());
  auto gone = webhooks_->Get(created->id);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(gone.status().message(), "Webhook with ID " + created->id + " not found.");
  EXPECT_EQ(webhooks_->Delete(created->id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(webhooks_->Update(created->id, update).status().code(), absl::StatusCode::kNotFound);
  // Its deliveries stay listable (none here).
  auto deliveries = webhooks_->ListDeliveries(created->id);
  ASSERT_TRUE(deliveries.ok()) << deliveries.status();
  EXPECT_TRUE(deliveries->empty());
  EXPECT_EQ(webhooks_->ListDeliveries("no-such-id").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(WebhookStoreTest, ListPagesNewestFirstWithMlflowPageTokens) {
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE(webhooks_->Create(Request(name)).ok());
    clock_.Advance(1);
  }
  WebhookCreate cairn_only = Request("d");
  cairn_only.events = {"evaluation.finished"};
  ASSERT_TRUE(webhooks_->Create(cairn_only).ok());

  auto first = webhooks_->List(2, "", /*mlflow_only=*/true);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->webhooks.size(), 2u);
  EXPECT_EQ(first->webhooks[0].name, "c");
  EXPECT_EQ(first->webhooks[1].name, "b");
  // base64(json.dumps({"offset": 2})), as MLflow's SearchUtils.create_page_token.
  EXPECT_EQ(first->next_page_token, "eyJvZmZzZXQiOiAyfQ==");
  auto second = webhooks_->List(2, first->next_page_token, true);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->webhooks.size(), 1u);
  EXPECT_EQ(second->webhooks[0].name, "a");
  EXPECT_EQ(second->next_page_token, "");

  auto all = webhooks_->List(0, "");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->webhooks.size(), 4u);
  EXPECT_EQ(all->webhooks[0].name, "d");

  EXPECT_EQ(webhooks_->List(1001, "").status().code(), absl::StatusCode::kInvalidArgument);
  auto bad_token = webhooks_->List(10, "not-a-token");
  EXPECT_EQ(bad_token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_token.status().message(), HasSubstr("page_token: 'not-a-token'"));
}

TEST_P(WebhookStoreTest, InvalidFieldsAreNamedWithTheirValue) {
  WebhookCreate bad_name = Request("Bad Name!");
  auto status = webhooks_->Create(bad_name).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("name: 'Bad Name!' is not a valid webhook name"));
  EXPECT_EQ(webhooks_->Create(Request("-dash")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(webhooks_->Create(Request(std::string(64, 'a'))).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(webhooks_->Create(Request("Jenkins_CI.v2")).ok());

  WebhookCreate bad_url = Request("u");
  bad_url.url = "ftp://ci.example.com/hook";
  status = webhooks_->Create(bad_url).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("url: 'ftp://ci.example.com/hook' must start with http:// or https://"));
  bad_url.url = "http:///hook";
  EXPECT_THAT(webhooks_->Create(bad_url).status().message(), HasSubstr("has no host name"));

  WebhookCreate bad_event = Request("e");
  bad_event.events = {"model_version.created", "model_version.creatd"};
  status = webhooks_->Create(bad_event).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("events[1]: unknown event 'model_version.creatd'; did you mean "
                        "'model_version.created'?"));
  bad_event.events = {};
  EXPECT_THAT(webhooks_->Create(bad_event).status().message(),
              HasSubstr("events: must not be empty"));

  WebhookCreate bad_status = Request("s");
  bad_status.status = "PAUSED";
  EXPECT_THAT(webhooks_->Create(bad_status).status().message(),
              HasSubstr("status: 'PAUSED' is not a webhook status; use ACTIVE or DISABLED"));
}

TEST_P(WebhookStoreTest, TriesAreRecordedAndListedNewestFirst) {
  WebhookCreate request = Request("tries");
  request.url = DeadUrl();
  auto hook = webhooks_->Create(request);
  ASSERT_TRUE(hook.ok()) << hook.status();
  ASSERT_TRUE(webhooks_->Test(hook->id).ok());
  clock_.Advance(1'000);
  ASSERT_TRUE(webhooks_->Test(hook->id, "evaluation.finished").ok());
  auto all = webhooks_->ListDeliveries(hook->id);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].event, "evaluation.finished");
  EXPECT_EQ((*all)[0].time_ms, 1'700'000'001'000);
  EXPECT_TRUE((*all)[0].test);
  EXPECT_TRUE((*all)[0].final);
  EXPECT_FALSE((*all)[0].success);
  EXPECT_EQ((*all)[0].http_status, 0);
  EXPECT_THAT((*all)[0].payload, HasSubstr(R"("entity": "evaluation", "action": "finished")"));
  EXPECT_EQ((*all)[1].event, "model_version.created");
  auto newest = webhooks_->ListDeliveries(hook->id, 1);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 1u);
  EXPECT_EQ((*newest)[0].delivery_id, (*all)[0].delivery_id);
  EXPECT_EQ(webhooks_->ListDeliveries(hook->id, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A server stopped (or killed) after accepting an event but before delivering it: the next
// server on the same database delivers it, once, signed.
TEST_P(WebhookStoreTest, AcceptedDeliveriesSurviveARestartAndAreDeliveredOnce) {
  Receiver receiver({200});
  webhooks_.reset();
  auto stored_only = Webhooks::Open(*db_, nullptr, nullptr, clock_, {.workers = 0});
  ASSERT_TRUE(stored_only.ok()) << stored_only.status();
  WebhookCreate request = Request("restart");
  request.url = receiver.url();
  request.events = {"model_version_tag.set"};
  request.secret = "s3cret";
  auto hook = (*stored_only)->Create(request);
  ASSERT_TRUE(hook.ok()) << hook.status();
  ASSERT_TRUE((*stored_only)
                  ->Notify("model_version_tag.set", OrderedJson{{"name", "churn"},
                                                                {"version", "3"},
                                                                {"key", "stage"},
                                                                {"value", "qa"}})
                  .ok());
  auto outbox = (*stored_only)->ListOutbox(hook->id);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].state, "pending");
  EXPECT_EQ((*outbox)[0].attempts, 0);
  EXPECT_EQ((*outbox)[0].accepted_ms, 1'700'000'000'000);
  const std::string delivery_id = (*outbox)[0].delivery_id;
  stored_only->reset();
  EXPECT_TRUE(receiver.requests().empty());

  // A new process: a new connection to the same database.
  db_.reset();
  auto db = storage::OpenDatabase(url_);
  ASSERT_TRUE(db.ok()) << db.status();
  db_ = std::move(*db);
  clock_.Advance(60'000);
  auto reopened = Webhooks::Open(*db_, nullptr, nullptr, clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  webhooks_ = std::move(*reopened);
  ASSERT_TRUE(receiver.WaitForRequests(1));
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers["x-mlflow-delivery-id"], delivery_id);
  EXPECT_EQ(requests[0].headers["x-mlflow-timestamp"], "1700000060");  // the try's time
  EXPECT_EQ(requests[0].headers["x-mlflow-signature"], ExpectedSignature("s3cret", requests[0]));
  // The body made when the event was accepted.
  EXPECT_EQ(requests[0].body,
            R"({"entity": "model_version_tag", "action": "set", )"
            R"("timestamp": "2023-11-14T22:13:20+00:00", "data": {"name": "churn", )"
            R"("version": "3", "key": "stage", "value": "qa"}})");
  outbox = webhooks_->ListOutbox(hook->id);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].state, "delivered");
  EXPECT_EQ((*outbox)[0].attempts, 1);
  EXPECT_EQ((*outbox)[0].finished_ms, 1'700'000'060'000);
  auto tries = webhooks_->ListDeliveries(hook->id);
  ASSERT_TRUE(tries.ok());
  ASSERT_EQ(tries->size(), 1u);
  EXPECT_TRUE((*tries)[0].success);

  // A third start finds nothing pending: nothing is sent again.
  webhooks_.reset();
  auto third = Webhooks::Open(*db_, nullptr, nullptr, clock_);
  ASSERT_TRUE(third.ok()) << third.status();
  webhooks_ = std::move(*third);
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));
  EXPECT_EQ(receiver.requests().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, WebhookStoreTest, ::testing::Values("sqlite", "postgres"));

// ---- deliveries ----

class WebhookDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::OpenDatabase("sqlite::memory:");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto registry = tracking::ModelRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    bus_ = std::make_unique<EventBus>(clock_);
  }
  void Open(WebhooksOptions options = {}) {
    auto webhooks = Webhooks::Open(*db_, registry_.get(), bus_.get(), clock_, options);
    ASSERT_TRUE(webhooks.ok()) << webhooks.status();
    webhooks_ = std::move(*webhooks);
  }
  void TearDown() override {
    webhooks_.reset();
    bus_.reset();
  }
  Webhook Subscribe(const std::string& url, std::vector<std::string> events,
                    std::string secret = "s3cret", std::string name = "ci") {
    WebhookCreate request;
    request.name = std::move(name);
    request.url = url;
    request.events = std::move(events);
    request.secret = std::move(secret);
    auto created = webhooks_->Create(request);
    EXPECT_TRUE(created.ok()) << created.status();
    return *created;
  }
  // Waits (real time, generous) until the webhook's tries are recorded.
  bool WaitForTries(const std::string& id, size_t n) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      auto tries = webhooks_->ListDeliveries(id);
      if (tries.ok() && tries->size() >= n) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }
  void Publish(std::string type, std::map<std::string, std::string> attributes) {
    bus_->Publish(Event{.type = std::move(type), .attributes = std::move(attributes)});
    bus_->Drain();
  }

  FakeClock clock_{1'700'000'000'123};
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::ModelRegistry> registry_;
  std::unique_ptr<EventBus> bus_;
  std::unique_ptr<Webhooks> webhooks_;
};

TEST_F(WebhookDeliveryTest, VersionCreatedIsDeliveredInMlflowsFormatAndSigned) {
  Open();
  Receiver receiver({200});
  Webhook hook = Subscribe(receiver.url(), {"model_version.created"});
  ASSERT_TRUE(registry_->CreateRegisteredModel("churn").ok());
  auto version = registry_->CreateModelVersion("churn", "models:/m-1", "run42", {{"team", "risk"}},
                                               "", "café model");
  ASSERT_TRUE(version.ok()) << version.status();
  Publish(kEventModelVersionRegistered, {{"model", "churn"}, {"version", "1"}});

  ASSERT_TRUE(receiver.WaitForRequests(1));
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));
  Receiver::Request request = receiver.requests()[0];
  EXPECT_EQ(request.path, "/hook");
  EXPECT_EQ(request.headers["content-type"], "application/json");
  EXPECT_EQ(request.headers["x-mlflow-timestamp"], "1700000000");
  EXPECT_EQ(request.headers["x-mlflow-delivery-id"].size(), 36u);
  // Python's json.dumps layout, MLflow's key order, ensure_ascii, isoformat() time.
  EXPECT_EQ(request.body,
            R"({"entity": "model_version", "action": "created", )"
            R"("timestamp": "2023-11-14T22:13:20.123000+00:00", "data": {"name": "churn", )"
            R"("version": "1", "source": "models:/m-1", "run_id": "run42", )"
            R"("tags": {"team": "risk"}, "description": "caf\u00e9 model"}})");
  EXPECT_EQ(request.headers["x-mlflow-signature"], ExpectedSignature("s3cret", request));

  auto deliveries = webhooks_->ListDeliveries(hook.id);
  ASSERT_TRUE(deliveries.ok()) << deliveries.status();
  ASSERT_EQ(deliveries->size(), 1u);
  const WebhookDelivery& d = (*deliveries)[0];
  EXPECT_EQ(d.delivery_id, request.headers["x-mlflow-delivery-id"]);
  EXPECT_EQ(d.attempt, 1);
  EXPECT_EQ(d.event, "model_version.created");
  EXPECT_EQ(d.payload, request.body);
  EXPECT_TRUE(d.success);
  EXPECT_TRUE(d.final);
  EXPECT_FALSE(d.test);
  EXPECT_EQ(d.http_status, 200);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.next_try_ms, 0);
}

TEST_F(WebhookDeliveryTest, AliasMovesAndEvaluationsGoOnlyToTheirSubscribers) {
  Open();
  Receiver aliases({200});
  Receiver evaluations({200});
  Subscribe(aliases.url(), {"model_version_alias.created", "model_version_alias.deleted"}, "",
            "aliases");
  Subscribe(evaluations.url(), {"evaluation.finished"}, "k", "evals");
  Publish(kEventModelAliasMoved, {{"model", "churn"},
                                  {"alias", "production"},
                                  {"from_version", "1"},
                                  {"to_version", "2"},
                                  {"actor", "ci"},
                                  {"reason", "gate passed"}});
  Publish(kEventEvaluationFinished, {{"model", "churn"},
                                     {"version", "3"},
                                     {"policy", "churn-gate"},
                                     {"evaluation_id", "ev-7"},
                                     {"passed", "false"}});
  Publish(kEventModelAliasMoved,
          {{"model", "churn"}, {"alias", "staging"}, {"from_version", "2"}, {"to_version", ""}});
  ASSERT_TRUE(aliases.WaitForRequests(2));
  ASSERT_TRUE(evaluations.WaitForRequests(1));
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));

  auto alias_requests = aliases.requests();
  ASSERT_EQ(alias_requests.size(), 2u);
  EXPECT_THAT(alias_requests[0].body,
              HasSubstr(R"("entity": "model_version_alias", "action": "created")"));
  EXPECT_THAT(alias_requests[0].body,
              HasSubstr(R"("data": {"name": "churn", "alias": "production", "version": "2"}})"));
  EXPECT_EQ(alias_requests[0].headers.count("x-mlflow-signature"), 0u);  // no secret
  EXPECT_THAT(alias_requests[1].body,
              HasSubstr(R"("action": "deleted", "timestamp": "2023-11-14T22:13:20.123000+00:00", )"
                        R"("data": {"name": "churn", "alias": "staging"}})"));

  auto eval_requests = evaluations.requests();
  ASSERT_EQ(eval_requests.size(), 1u);
  EXPECT_THAT(eval_requests[0].body,
              HasSubstr(R"({"entity": "evaluation", "action": "finished", )"));
  EXPECT_THAT(eval_requests[0].body,
              HasSubstr(R"("data": {"name": "churn", "version": "3", "policy": "churn-gate", )"
                        R"("evaluation_id": "ev-7", "passed": false}})"));
  EXPECT_EQ(eval_requests[0].headers["x-mlflow-signature"],
            ExpectedSignature("k", eval_requests[0]));
}

TEST_F(WebhookDeliveryTest, ServerErrorsAreRetriedWithBackoffUnderOneDeliveryId) {
  Open({.attempts = 4, .backoff_ms = 100, .max_backoff_ms = 150, .timeout_ms = 5'000});
  Receiver receiver({503, 500, 200});
  Webhook hook = Subscribe(receiver.url(), {"model_version_alias.created"});
  Publish(kEventModelAliasMoved, {{"model", "m"}, {"alias", "a"}, {"to_version", "1"}});

  // The first try fails; the second is due 100 ms later on the (fake) clock.
  ASSERT_TRUE(WaitForTries(hook.id, 1));
  clock_.Advance(100);
  ASSERT_TRUE(WaitForTries(hook.id, 2));
  clock_.Advance(150);  // 200 ms capped at max_backoff_ms
  ASSERT_TRUE(receiver.WaitForRequests(3));
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));

  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  const std::string id = requests[0].headers["x-mlflow-delivery-id"];
  for (const auto& request : requests) {
    EXPECT_EQ(request.headers.at("x-mlflow-delivery-id"), id);
    EXPECT_EQ(request.body, requests[0].body);
    EXPECT_EQ(request.headers.at("x-mlflow-signature"), ExpectedSignature("s3cret", request));
  }
  auto deliveries = webhooks_->ListDeliveries(hook.id);
  ASSERT_TRUE(deliveries.ok()) << deliveries.status();
  ASSERT_EQ(deliveries->size(), 3u);  // newest first
  EXPECT_EQ((*deliveries)[0].attempt, 3);
  EXPECT_TRUE((*deliveries)[0].success);
  EXPECT_TRUE((*deliveries)[0].final);
  EXPECT_EQ((*deliveries)[1].attempt, 2);
  EXPECT_EQ((*deliveries)[1].http_status, 500);
  EXPECT_FALSE((*deliveries)[1].final);
  EXPECT_EQ((*deliveries)[1].next_try_ms, (*deliveries)[1].time_ms + 150);
  EXPECT_EQ((*deliveries)[2].attempt, 1);
  EXPECT_EQ((*deliveries)[2].http_status, 503);
  EXPECT_THAT((*deliveries)[2].error, HasSubstr("answered HTTP 503"));
  EXPECT_EQ((*deliveries)[2].next_try_ms, (*deliveries)[2].time_ms + 100);
}

TEST_F(WebhookDeliveryTest, ARefusalIsFinalAndTheLastTryGivesUp) {
  Open({.attempts = 2, .backoff_ms = 10, .max_backoff_ms = 10, .timeout_ms = 5'000});
  Receiver refusing({404});
  Webhook refused = Subscribe(refusing.url(), {"model_version_alias.created"}, "", "refused");
  Webhook dead = Subscribe(DeadUrl(), {"model_version_alias.created"}, "", "dead");
  Publish(kEventModelAliasMoved, {{"model", "m"}, {"alias", "a"}, {"to_version", "1"}});
  ASSERT_TRUE(refusing.WaitForRequests(1));
  // The dead URL's retry waits 10 ms on the fake clock.
  for (int i = 0; i < 200 && !webhooks_->WaitIdle(50); ++i) clock_.Advance(10);
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));

  auto refused_tries = webhooks_->ListDeliveries(refused.id);
  ASSERT_TRUE(refused_tries.ok());
  ASSERT_EQ(refused_tries->size(), 1u);
  EXPECT_EQ((*refused_tries)[0].http_status, 404);
  EXPECT_TRUE((*refused_tries)[0].final);
  EXPECT_FALSE((*refused_tries)[0].success);

  auto dead_tries = webhooks_->ListDeliveries(dead.id);
  ASSERT_TRUE(dead_tries.ok());
  ASSERT_EQ(dead_tries->size(), 2u);
  EXPECT_EQ((*dead_tries)[0].attempt, 2);
  EXPECT_TRUE((*dead_tries)[0].final);
  EXPECT_EQ((*dead_tries)[0].http_status, 0);
  EXPECT_THAT((*dead_tries)[0].error, HasSubstr("failed"));
  EXPECT_FALSE((*dead_tries)[1].final);
  EXPECT_EQ(refusing.requests().size(), 1u);
}

TEST_F(WebhookDeliveryTest, ShutdownAbandonsATryToAReceiverThatNeverAnswers) {
  // One attempt allowed: the abandoned try must not use it up.
  Open({.attempts = 1, .backoff_ms = 10, .max_backoff_ms = 10, .timeout_ms = 600'000});
  // Accepts the connection, reads nothing, answers nothing.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  Webhook hook = Subscribe("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/h",
                           {"model_version_tag.set"});
  ASSERT_TRUE(webhooks_->Notify("model_version_tag.set", Json{{"name", "m"}}).ok());
  int conn = accept(fd, nullptr, nullptr);  // the try is in flight
  ASSERT_GE(conn, 0);
  webhooks_->Shutdown();  // returns long before the 600 s timeout
  auto tries = webhooks_->ListDeliveries(hook.id);
  ASSERT_TRUE(tries.ok()) << tries.status();
  EXPECT_TRUE(tries->empty());  // abandoned: not a try
  auto outbox = webhooks_->ListOutbox(hook.id);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].state, "pending");
  EXPECT_EQ((*outbox)[0].attempts, 0);
  close(conn);
  close(fd);

  // The next start delivers it with its one attempt (the webhook now points at a receiver
  // that answers; moved by an instance that sends nothing).
  Receiver receiver({200});
  webhooks_.reset();
  Open({.workers = 0});
  WebhookUpdate moved;
  moved.url = receiver.url();
  ASSERT_TRUE(webhooks_->Update(hook.id, moved).ok());
  webhooks_.reset();
  Open({.attempts = 1, .backoff_ms = 10, .max_backoff_ms = 10});
  ASSERT_TRUE(receiver.WaitForRequests(1));
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));
  outbox = webhooks_->ListOutbox(hook.id);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  EXPECT_EQ((*outbox)[0].state, "delivered");
  EXPECT_EQ((*outbox)[0].attempts, 1);
}

TEST_F(WebhookDeliveryTest, DisabledWebhooksGetNothingButCanBeTested) {
  Open();
  Receiver receiver({200});
  Webhook hook = Subscribe(receiver.url(), {"model_version_alias.created"});
  WebhookUpdate disable;
  disable.status = "DISABLED";
  ASSERT_TRUE(webhooks_->Update(hook.id, disable).ok());
  Publish(kEventModelAliasMoved, {{"model", "m"}, {"alias", "a"}, {"to_version", "1"}});
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));
  EXPECT_TRUE(receiver.requests().empty());

  auto result = webhooks_->Test(hook.id);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->success);
  EXPECT_EQ(result->response_status, 200);
  EXPECT_EQ(result->response_body, "received");
  EXPECT_EQ(result->error_message, "");
  ASSERT_EQ(receiver.requests().size(), 1u);
  Receiver::Request request = receiver.requests()[0];
  // MLflow's example payload of the webhook's first event.
  EXPECT_THAT(request.body,
              HasSubstr(R"("data": {"name": "example_model", "alias": "example_alias", )"
                        R"("version": "1"}})"));
  EXPECT_EQ(request.headers["x-mlflow-signature"], ExpectedSignature("s3cret", request));

  auto other = webhooks_->Test(hook.id, "evaluation.finished");
  ASSERT_TRUE(other.ok());
  EXPECT_THAT(receiver.requests()[1].body, HasSubstr(R"("entity": "evaluation")"));
  EXPECT_EQ(webhooks_->Test(hook.id, "nope.never").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(webhooks_->Test("missing").status().code(), absl::StatusCode::kNotFound);

  auto deliveries = webhooks_->ListDeliveries(hook.id);
  ASSERT_TRUE(deliveries.ok());
  ASSERT_EQ(deliveries->size(), 2u);
  EXPECT_TRUE((*deliveries)[0].test);
}

TEST_F(WebhookDeliveryTest, ATestOfAnUnreachableUrlReportsTheError) {
  Open();
  Webhook hook = Subscribe(DeadUrl(), {"model_version.created"});
  auto result = webhooks_->Test(hook.id);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->success);
  EXPECT_EQ(result->response_status, 0);
  EXPECT_THAT(result->error_message, HasSubstr("Failed to test webhook: POST http://127.0.0.1:"));
}

TEST_F(WebhookDeliveryTest, NotifyDeliversOtherEventsWithTheGivenData) {
  clock_.Set(1'700'000'000'000);
  Open();
  Receiver receiver({200});
  Subscribe(receiver.url(), {"model_version_tag.set", "registered_model.created"});
  ASSERT_TRUE(webhooks_
                  ->Notify("model_version_tag.set",
                           Json{{"key", "k"}, {"name", "m"}, {"value", "v"}, {"version", "2"}})
                  .ok());
  ASSERT_TRUE(receiver.WaitForRequests(1));
  EXPECT_EQ(receiver.requests()[0].body,
            R"({"entity": "model_version_tag", "action": "set", )"
            R"("timestamp": "2023-11-14T22:13:20+00:00", )"
            R"("data": {"key": "k", "name": "m", "value": "v", "version": "2"}})");
  ASSERT_TRUE(webhooks_
                  ->Notify("registered_model.created", OrderedJson{{"name", "m"},
                                                                   {"tags", OrderedJson::object()},
                                                                   {"description", nullptr}})
                  .ok());
  ASSERT_TRUE(receiver.WaitForRequests(2));
  EXPECT_THAT(receiver.requests()[1].body,
              HasSubstr(R"("data": {"name": "m", "tags": {}, "description": null}})"));
  EXPECT_EQ(webhooks_->Notify("model_version.exploded", Json::object()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(WebhookDeliveryTest, ARetryWaitingAtRestartResumesAtItsTimeWithItsTriesCounted) {
  const WebhooksOptions options = {
      .attempts = 3, .backoff_ms = 1'000, .max_backoff_ms = 1'000, .timeout_ms = 5'000};
  Open(options);
  Receiver receiver({503, 200});
  Webhook hook = Subscribe(receiver.url(), {"model_version_alias.created"});
  Publish(kEventModelAliasMoved, {{"model", "m"}, {"alias", "a"}, {"to_version", "1"}});
  ASSERT_TRUE(WaitForTries(hook.id, 1));
  webhooks_.reset();  // the server stops while the retry waits

  Open(options);
  auto outbox = webhooks_->ListOutbox(hook.id);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].state, "pending");
  EXPECT_EQ((*outbox)[0].attempts, 1);
  EXPECT_EQ((*outbox)[0].next_try_ms, 1'700'000'001'123);
  EXPECT_EQ(receiver.requests().size(), 1u);  // not due yet
  clock_.Advance(1'000);
  ASSERT_TRUE(receiver.WaitForRequests(2));
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));

  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].headers["x-mlflow-delivery-id"],
            requests[0].headers["x-mlflow-delivery-id"]);
  EXPECT_EQ(requests[1].body, requests[0].body);
  EXPECT_EQ(requests[1].headers["x-mlflow-signature"], ExpectedSignature("s3cret", requests[1]));
  auto tries = webhooks_->ListDeliveries(hook.id);
  ASSERT_TRUE(tries.ok());
  ASSERT_EQ(tries->size(), 2u);
  EXPECT_EQ((*tries)[0].attempt, 2);  // counted on from before the restart
  EXPECT_TRUE((*tries)[0].success);
  outbox = webhooks_->ListOutbox(hook.id);
  ASSERT_TRUE(outbox.ok());
  EXPECT_EQ((*outbox)[0].state, "delivered");
  EXPECT_EQ((*outbox)[0].attempts, 2);
}

TEST_F(WebhookDeliveryTest, ARestartGivesUpDeliveriesThatHadEveryTryAllowed) {
  Open({.attempts = 3, .backoff_ms = 1'000, .max_backoff_ms = 1'000, .timeout_ms = 5'000});
  Receiver receiver({503});
  Webhook hook = Subscribe(receiver.url(), {"model_version_alias.created"});
  Publish(kEventModelAliasMoved, {{"model", "m"}, {"alias", "a"}, {"to_version", "1"}});
  ASSERT_TRUE(WaitForTries(hook.id, 1));
  webhooks_.reset();

  Open({.attempts = 1});  // now one try is all a delivery gets
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));
  auto outbox = webhooks_->ListOutbox(hook.id);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].state, "failed");
  EXPECT_EQ((*outbox)[0].attempts, 1);
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(WebhookDeliveryTest, ASlowReceiverHoldsOneWorkerWhileOthersAreDelivered) {
  Open({.attempts = 1, .timeout_ms = 60'000, .workers = 2});
  Receiver slow({200});
  Receiver fast({200});
  slow.Hold();
  Webhook slow_hook = Subscribe(slow.url(), {"model_version_alias.created"}, "", "slow");
  Webhook fast_hook = Subscribe(fast.url(), {"model_version_alias.created"}, "", "fast");
  for (const char* version : {"1", "2", "3"}) {
    Publish(kEventModelAliasMoved, {{"model", "m"}, {"alias", "a"}, {"to_version", version}});
  }
  ASSERT_TRUE(slow.WaitForRequests(1));
  // While the slow receiver holds its first answer, the fast one gets all three, in order.
  ASSERT_TRUE(fast.WaitForRequests(3));
  auto fast_requests = fast.requests();
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(fast_requests[i].body,
                HasSubstr(absl::StrCat(R"("version": ")", i + 1, R"("}})")));
  }
  EXPECT_EQ(slow.requests().size(), 1u);  // one try in flight per webhook
  slow.Release();
  ASSERT_TRUE(slow.WaitForRequests(3));
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));
  auto outbox = webhooks_->ListOutbox(slow_hook.id);
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 3u);
  for (const WebhookOutboxEntry& entry : *outbox) EXPECT_EQ(entry.state, "delivered");
}

TEST_F(WebhookDeliveryTest, RegistryEventsAreDeliveredAsMlflowSendsThem) {
  clock_.Set(1'700'000'000'000);
  Open();
  Receiver receiver({200});
  std::vector<std::string> all;
  for (const std::string& event : WebhookEventNames()) all.push_back(event);
  Subscribe(receiver.url(), all);
  Publish(kEventRegisteredModelCreated, {{"model", "churn"},
                                         {"tags", R"({"team": "risk", "a": "1"})"},
                                         {"description", ""},
                                         {"prompt", "false"}});
  Publish(kEventModelVersionTagSet, {{"model", "churn"},
                                     {"version", "2"},
                                     {"key", "stage"},
                                     {"value", "qa"},
                                     {"prompt", "false"}});
  Publish(kEventModelVersionTagDeleted,
          {{"model", "churn"}, {"version", "2"}, {"key", "stage"}, {"prompt", "false"}});
  // A model's own tags: MLflow sends nothing.
  Publish(kEventRegisteredModelTagSet,
          {{"model", "churn"}, {"key", "k"}, {"value", "v"}, {"prompt", "false"}});
  Publish(kEventRegisteredModelCreated,
          {{"model", "greeting"},
           {"tags", R"({"mlflow.prompt.is_prompt": "true", "_mlflow_prompt_type": "text", "lang": "en"})"},
           {"description", "says hello"},
           {"prompt", "true"}});
  Publish(kEventPromptVersionCreated,
          {{"model", "greeting"},
           {"version", "1"},
           {"tags", R"({"mlflow.prompt.is_prompt": "true", "mlflow.prompt.text": "Hi {{name}}", "lang": "en"})"},
           {"description", ""}});
  Publish(kEventRegisteredModelTagSet,
          {{"model", "greeting"}, {"key", "k"}, {"value", "v"}, {"prompt", "true"}});
  Publish(kEventRegisteredModelTagDeleted, {{"model", "greeting"}, {"key", "k"}, {"prompt", "true"}});
  Publish(kEventModelVersionTagSet, {{"model", "greeting"},
                                     {"version", "1"},
                                     {"key", "k"},
                                     {"value", "v"},
                                     {"prompt", "true"}});
  Publish(kEventModelVersionTagDeleted,
          {{"model", "greeting"}, {"version", "1"}, {"key", "k"}, {"prompt", "true"}});
  Publish(kEventModelAliasMoved, {{"model", "greeting"},
                                  {"alias", "prod"},
                                  {"from_version", ""},
                                  {"to_version", "1"},
                                  {"prompt", "true"}});
  Publish(kEventModelAliasMoved, {{"model", "greeting"},
                                  {"alias", "prod"},
                                  {"from_version", "1"},
                                  {"to_version", ""},
                                  {"prompt", "true"}});
  ASSERT_TRUE(receiver.WaitForRequests(11));
  ASSERT_TRUE(webhooks_->WaitIdle(20'000));
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 11u);
  const std::string time = R"("timestamp": "2023-11-14T22:13:20+00:00", )";
  const std::vector<std::string> expected = {
      R"({"entity": "registered_model", "action": "created", )" + time +
          R"("data": {"name": "churn", "tags": {"team": "risk", "a": "1"}, "description": ""}})",
      R"({"entity": "model_version_tag", "action": "set", )" + time +
          R"("data": {"name": "churn", "version": "2", "key": "stage", "value": "qa"}})",
      R"({"entity": "model_version_tag", "action": "deleted", )" + time +
          R"("data": {"name": "churn", "version": "2", "key": "stage"}})",
      R"({"entity": "prompt", "action": "created", )" + time +
          R"("data": {"name": "greeting", "tags": {"lang": "en"}, "description": "says hello"}})",
      R"({"entity": "prompt_version", "action": "created", )" + time +
          R"("data": {"name": "greeting", "version": "1", "template": "Hi {{name}}", )"
          R"("tags": {"lang": "en"}, "description": null}})",
      R"({"entity": "prompt_tag", "action": "set", )" + time +
          R"("data": {"name": "greeting", "key": "k", "value": "v"}})",
      R"({"entity": "prompt_tag", "action": "deleted", )" + time +
          R"("data": {"name": "greeting", "key": "k"}})",
      R"({"entity": "prompt_version_tag", "action": "set", )" + time +
          R"("data": {"name": "greeting", "version": "1", "key": "k", "value": "v"}})",
      R"({"entity": "prompt_version_tag", "action": "deleted", )" + time +
          R"("data": {"name": "greeting", "version": "1", "key": "k"}})",
      R"({"entity": "prompt_alias", "action": "created", )" + time +
          R"("data": {"name": "greeting", "alias": "prod", "version": "1"}})",
      R"({"entity": "prompt_alias", "action": "deleted", )" + time +
          R"("data": {"name": "greeting", "alias": "prod"}})",
  };
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(requests[i].body, expected[i]) << i;
    EXPECT_EQ(requests[i].headers["x-mlflow-signature"], ExpectedSignature("s3cret", requests[i]));
  }
}

TEST_F(WebhookDeliveryTest, APromptsAliasMoveIsAPromptAliasEvent) {
  clock_.Set(1'700'000'000'000);
  Open();
  Receiver receiver({200});
  Subscribe(receiver.url(), {"prompt_alias.created", "model_version_alias.created"});
  ASSERT_TRUE(registry_
                  ->CreateRegisteredModel("greeting", std::nullopt,
                                          {{"mlflow.prompt.is_prompt", "True"}})
                  .ok());
  // The bus event does not say it is a prompt: the registry's tag does.
  Publish(kEventModelAliasMoved, {{"model", "greeting"}, {"alias", "prod"}, {"to_version", "2"}});
  ASSERT_TRUE(receiver.WaitForRequests(1));
  EXPECT_EQ(receiver.requests()[0].body,
            R"({"entity": "prompt_alias", "action": "created", )"
            R"("timestamp": "2023-11-14T22:13:20+00:00", )"
            R"("data": {"name": "greeting", "alias": "prod", "version": "2"}})");
}

TEST_F(WebhookDeliveryTest, HistoryKeepsTheNewestFinishedDeliveriesPerWebhook) {
  Open({.attempts = 1, .history = 2});
  Receiver receiver({200});
  Webhook hook = Subscribe(receiver.url(), {"model_version_tag.deleted"});
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(webhooks_
                    ->Notify("model_version_tag.deleted",
                             OrderedJson{{"name", "m"}, {"version", "1"}, {"key", absl::StrCat(i)}})
                    .ok());
    ASSERT_TRUE(receiver.WaitForRequests(i + 1));
    ASSERT_TRUE(webhooks_->WaitIdle(20'000));
    clock_.Advance(10);
  }
  auto outbox = webhooks_->ListOutbox(hook.id);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_EQ(outbox->size(), 2u);
  EXPECT_THAT((*outbox)[0].body, HasSubstr(R"("key": "3")"));
  EXPECT_THAT((*outbox)[1].body, HasSubstr(R"("key": "2")"));
  auto tries = webhooks_->ListDeliveries(hook.id);
  ASSERT_TRUE(tries.ok());
  ASSERT_EQ(tries->size(), 2u);
  EXPECT_EQ((*tries)[0].delivery_id, (*outbox)[0].delivery_id);
}

TEST_F(WebhookDeliveryTest, OptionsOutOfRangeAreRefused) {
  EXPECT_THAT(Webhooks::Open(*db_, nullptr, nullptr, clock_, {.workers = -1}).status().message(),
              HasSubstr("webhook workers: must be from 0 to 64, got -1"));
  EXPECT_THAT(Webhooks::Open(*db_, nullptr, nullptr, clock_, {.history = 0}).status().message(),
              HasSubstr("webhook history: must be at least 1, got 0"));
}

}  // namespace
}  // namespace cairn::cicd
