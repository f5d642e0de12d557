// `cairn alerts …` against a fake transport: the requests each verb sends, what it prints,
// and its exit code.

#include <deque>
#include <sstream>

#include "cli/cli.h"
#include "cli/http_client.h"
#include "cli/testing/fake_transport.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::cli {
namespace {

using ::testing::HasSubstr;

using AlertsFakeTransport = ::cairn::cli::testing::FakeTransport;

class AlertsCliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliEnvironment env{.out = &out_, .err = &err_, .transport = &transport_};
    env.getenv = [](std::string_view name) -> std::optional<std::string> {
      if (name == "USER") return std::string("ana");
      return std::nullopt;
    };
    return RunCli(args, env);
  }

  AlertsFakeTransport transport_;
  std::ostringstream out_;
  std::ostringstream err_;
};

constexpr char kBase[] = "http://127.0.0.1:5000";

TEST_F(AlertsCliTest, ListPrintsATableAndSendsFilters) {
  transport_.Reply(200, R"json({"alerts": [
      {"id": "a1", "monitor": "churn", "kind": "drift", "severity": "critical",
       "state": "open", "occurrences": 3, "opened_ms": 0, "summary": "3 of 5 columns drifted",
       "retrain": {"phase": "exhausted", "attempts": 2, "max_attempts": 2}},
      {"id": "a2", "monitor": "fraud", "kind": "constraints", "severity": "warning",
       "state": "acknowledged", "occurrences": 1, "opened_ms": 0, "summary": "",
       "retrain": null}]})json");
  ASSERT_EQ(Run({"alerts", "list", "--state", "open", "--monitor", "churn"}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].url,
            std::string(kBase) + "/api/v1/monitoring/alerts?limit=100&state=open&monitor=churn");
  EXPECT_EQ(out_.str(),
            "ID  MONITOR  KIND         SEVERITY  STATE         SEEN  RETRAINING       "
            "OPENED (UTC)  SUMMARY\n"
            "a1  churn    drift        critical  open             3  exhausted (2/2)  "
            "-             3 of 5 columns drifted\n"
            "a2  fraud    constraints  warning   acknowledged     1  -                "
            "-             -\n");
}

TEST_F(AlertsCliTest, ListWithoutAlertsAndBadState) {
  transport_.Reply(200, R"({"alerts": []})");
  ASSERT_EQ(Run({"alerts", "list"}), 0);
  EXPECT_EQ(out_.str(), "No alerts.\n");
  EXPECT_EQ(Run({"alerts", "list", "--state", "closed"}), 2);
}

TEST_F(AlertsCliTest, ShowPrintsTheTimeline) {
  transport_.Reply(200, R"json({"alert": {"id": "a1", "monitor": "churn",
      "monitor_version": 2, "kind": "drift", "severity": "critical", "state": "resolved",
      "resolved_by": "cairn", "resolved_ms": 0, "summary": "0 of 5 columns drifted",
      "occurrences": 2, "first_monitor_run": "mr-1", "last_monitor_run": "mr-3",
      "opened_ms": 0, "acknowledged_by": "",
      "retrain": {"pipeline": "retrain", "phase": "awaiting_verification", "attempts": 1,
                  "max_attempts": 2, "run": "run-1", "await_model": ""},
      "timeline": [
        {"seq": 1, "time_ms": 0, "kind": "opened", "message": "warning drift alert opened"},
        {"seq": 2, "time_ms": 0, "kind": "resolved",
         "message": "resolved: monitor run mr-3 found no drift after retraining run run-1"}]}})json");
  ASSERT_EQ(Run({"alerts", "show", "a1"}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/monitoring/alerts/a1");
  EXPECT_THAT(out_.str(), HasSubstr("State:     resolved (resolved by cairn at -)\n"));
  EXPECT_THAT(out_.str(),
              HasSubstr("Retrain:   pipeline retrain, awaiting_verification, attempt 1 of 2, "
                        "run run-1\n"));
  EXPECT_THAT(out_.str(), HasSubstr("resolved  resolved: monitor run mr-3 found no drift "
                                    "after retraining run run-1\n"));
}

TEST_F(AlertsCliTest, AckAndResolveSendByAndNote) {
  transport_.Reply(200, R"({"alert": {"monitor": "churn", "severity": "warning",
                                      "state": "acknowledged"}})");
  ASSERT_EQ(Run({"alerts", "ack", "a1", "--note", "looking"}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[0].method, "POST");
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/monitoring/alerts/a1/ack");
  EXPECT_EQ(Json::parse(transport_.calls[0].body), Json({{"by", "ana"}, {"note", "looking"}}));
  EXPECT_EQ(out_.str(), "Alert a1 (churn, warning): acknowledged.\n");

  transport_.Reply(409, R"json({"error_code": "INVALID_STATE",
                            "message": "alert a1 is already resolved (by bob at x)"})json");
  EXPECT_EQ(Run({"alerts", "resolve", "a1", "--by", "carl"}), 1);
  EXPECT_EQ(Json::parse(transport_.calls[1].body), Json({{"by", "carl"}, {"note", ""}}));
  EXPECT_THAT(err_.str(), HasSubstr("alert a1 is already resolved"));
}

}  // namespace
}  // namespace cairn::cli
