// The alert routes through the router, against a real AlertService on SQLite.

#include "api/alert_handlers.h"

#include <filesystem>
#include <random>

#include "common/event_bus.h"
#include "gtest/gtest.h"
#include "monitoring/alerts/alert_service.h"
#include "storage/database.h"

namespace cairn::api {
namespace {

class AlertHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn_alert_handlers_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    auto db = storage::OpenDatabase((dir_ / "alerts.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    bus_ = std::make_unique<EventBus>(clock_);
    auto service = monitoring::AlertService::Open(
        *db_, clock_, *bus_,
        [](const std::string&, const std::map<std::string, std::string>&,
           const std::string&) -> absl::StatusOr<std::string> { return std::string("run-1"); });
    ASSERT_TRUE(service.ok()) << service.status();
    alerts_ = std::move(*service);
    RegisterAlertRoutes(router_, *alerts_);
  }
  void TearDown() override {
    alerts_.reset();
    bus_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Raise(const std::string& monitor, const std::string& kind,
                    monitoring::Severity severity) {
    monitoring::MonitorOutcome outcome;
    outcome.monitor = monitor;
    outcome.kind = kind;
    outcome.run_id = "mr-1";
    outcome.problem = true;
    outcome.severity = severity;
    outcome.summary = "2 of 4 columns drifted";
    auto alert = alerts_->OnMonitorRun(outcome);
    EXPECT_TRUE(alert.ok() && alert->has_value());
    clock_.Advance(1000);
    return alert.ok() && alert->has_value() ? (*alert)->id : "";
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
  void ExpectError(const HttpResponse& response, int status, const std::string& code,
                   const std::string& text) {
    EXPECT_EQ(response.status, status) << response.body;
    auto body = ParseJson(response.body);
    ASSERT_TRUE(body.ok()) << response.body;
    EXPECT_EQ((*body)["error_code"], code) << response.body;
    EXPECT_NE((*body)["message"].get<std::string>().find(text), std::string::npos)
        << response.body;
  }

  std::filesystem::path dir_;
  FakeClock clock_{1'700'000'000'000};
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<EventBus> bus_;
  std::unique_ptr<monitoring::AlertService> alerts_;
  Router router_;
};

TEST_F(AlertHandlersTest, ListsWithFilters) {
  std::string a = Raise("churn", "drift", monitoring::Severity::kWarning);
  std::string b = Raise("churn", "constraints", monitoring::Severity::kCritical);
  std::string c = Raise("fraud", "drift", monitoring::Severity::kInfo);
  Json all = CallOk("GET", "/api/v1/monitoring/alerts");
  ASSERT_EQ(all["alerts"].size(), 3u);
  EXPECT_EQ(all["alerts"][0]["id"], c);  // newest first
  EXPECT_EQ(all["alerts"][0].count("timeline"), 0u);
  Json churn = CallOk("GET", "/api/v1/monitoring/alerts", "", {{"monitor", "churn"}});
  EXPECT_EQ(churn["alerts"].size(), 2u);
  Json critical = CallOk("GET", "/api/v1/monitoring/alerts", "", {{"severity", "critical"}});
  ASSERT_EQ(critical["alerts"].size(), 1u);
  EXPECT_EQ(critical["alerts"][0]["id"], b);
  Json limited = CallOk("GET", "/api/v1/monitoring/alerts", "", {{"limit", "1"}});
  EXPECT_EQ(limited["alerts"].size(), 1u);
  ASSERT_TRUE(alerts_->Resolve(a, "ana", "").ok());
  Json open = CallOk("GET", "/api/v1/monitoring/alerts", "", {{"state", "open"}});
  EXPECT_EQ(open["alerts"].size(), 2u);
  Json resolved = CallOk("GET", "/api/v1/monitoring/alerts", "", {{"state", "resolved"}});
  ASSERT_EQ(resolved["alerts"].size(), 1u);
  EXPECT_EQ(resolved["alerts"][0]["resolved_by"], "ana");
}

TEST_F(AlertHandlersTest, BadFiltersNameTheField) {
  ExpectError(Call("GET", "/api/v1/monitoring/alerts", "", {{"state", "closed"}}), 400,
              "INVALID_PARAMETER_VALUE",
              "state: 'closed' is not an alert state; use open, acknowledged or resolved");
  ExpectError(Call("GET", "/api/v1/monitoring/alerts", "", {{"severity", "high"}}), 400,
              "INVALID_PARAMETER_VALUE", "severity: 'high' is not a severity");
  ExpectError(Call("GET", "/api/v1/monitoring/alerts", "", {{"limit", "0"}}), 400,
              "INVALID_PARAMETER_VALUE", "limit: 0 is out of range; use 1 to 1000");
}

TEST_F(AlertHandlersTest, GetAckResolve) {
  std::string id = Raise("churn", "drift", monitoring::Severity::kWarning);
  Json got = CallOk("GET", "/api/v1/monitoring/alerts/" + id);
  EXPECT_EQ(got["alert"]["state"], "open");
  EXPECT_EQ(got["alert"]["summary"], "2 of 4 columns drifted");
  ASSERT_EQ(got["alert"]["timeline"].size(), 1u);
  EXPECT_EQ(got["alert"]["timeline"][0]["kind"], "opened");

  ExpectError(Call("POST", "/api/v1/monitoring/alerts/" + id + "/ack", R"({"by": [1]})"), 400,
              "INVALID_PARAMETER_VALUE", "'by'");
  ExpectError(Call("POST", "/api/v1/monitoring/alerts/" + id + "/ack", "[1]"), 400,
              "INVALID_PARAMETER_VALUE", "");

  Json acked = CallOk("POST", "/api/v1/monitoring/alerts/" + id + "/ack",
                      R"({"by": "ana", "note": "on it"})");
  EXPECT_EQ(acked["alert"]["state"], "acknowledged");
  EXPECT_EQ(acked["alert"]["acknowledged_by"], "ana");
  EXPECT_EQ(acked["alert"]["timeline"].back()["message"], "acknowledged by ana: on it");

  Json resolved = CallOk("POST", "/api/v1/monitoring/alerts/" + id + "/resolve",
                         R"({"by": "bob"})");
  EXPECT_EQ(resolved["alert"]["state"], "resolved");
  EXPECT_EQ(resolved["alert"]["timeline"].back()["message"], "resolved by bob");

  ExpectError(Call("POST", "/api/v1/monitoring/alerts/" + id + "/resolve", "{}"), 409,
              "INVALID_STATE", "is already resolved");
  ExpectError(Call("GET", "/api/v1/monitoring/alerts/nope"), 404, "RESOURCE_DOES_NOT_EXIST",
              "alert nope not found");
  ExpectError(Call("POST", "/api/v1/monitoring/alerts/nope/ack", "{}"), 404,
              "RESOURCE_DOES_NOT_EXIST", "alert nope not found");
}

}  // namespace
}  // namespace cairn::api
