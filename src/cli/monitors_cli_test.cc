// `cairn monitors …` against a fake transport: the requests each verb sends, what it
// prints, and its exit code (a failed run exits 1; a report is written to a file).

#include <deque>
#include <filesystem>
#include <fstream>
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

using FakeTransport = ::cairn::cli::testing::FakeTransport;

class MonitorsCliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliEnvironment env{.out = &out_, .err = &err_, .transport = &transport_};
    env.getenv = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    return RunCli(args, env);
  }

  FakeTransport transport_;
  std::ostringstream out_;
  std::ostringstream err_;
};

constexpr char kBase[] = "http://127.0.0.1:5000";

constexpr char kRun[] = R"json({"run": {"id": "r1", "monitor": "spend-drift",
  "monitor_version": 2, "trigger": "manual", "trigger_detail": "", "state": "succeeded",
  "message": "1 of 2 columns drifted (share 0.50 >= 0.50): data set drift; drifted: amount",
  "drift_found": true, "constraints_violated": false, "target_rows": 500,
  "reference_rows": 1000, "started_ms": 1700000000000, "ended_ms": 1700000000100,
  "result": {"drift": {"columns": [
    {"column": "amount", "kind": "num", "test": "ks", "statistic": 0.42, "p_value": 1e-12,
     "threshold": 0.05, "drifted": true},
    {"column": "plan", "kind": "cat", "test": "chisquare", "statistic": 1.5, "p_value": 0.47,
     "threshold": 0.05, "drifted": false}]}, "constraints": null}}})json";

TEST_F(MonitorsCliTest, ListPrintsATable) {
  transport_.Reply(200, R"json({"monitors": [
      {"name": "spend-drift", "version": 2, "target": {"feature_view": "spend",
       "window_ms": 86400000, "rows": 0}, "reference": {"path": "/data/ref.csv"},
       "schedule": "0 * * * *", "trigger": null, "on_alert": "retrain",
       "severity": "warning"}]})json");
  ASSERT_EQ(Run({"monitors", "list"}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/monitoring/monitors");
  EXPECT_THAT(out_.str(), HasSubstr("NAME"));
  EXPECT_THAT(out_.str(), HasSubstr("spend-drift"));
  EXPECT_THAT(out_.str(), HasSubstr("spend (last 1d)"));
  EXPECT_THAT(out_.str(), HasSubstr("/data/ref.csv"));
  EXPECT_THAT(out_.str(), HasSubstr("retrain"));
}

TEST_F(MonitorsCliTest, RunPrintsTheDriftTable) {
  transport_.Reply(200, kRun);
  ASSERT_EQ(Run({"monitors", "run", "spend-drift"}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[0].method, "POST");
  EXPECT_EQ(transport_.calls[0].url,
            std::string(kBase) + "/api/v1/monitoring/monitors/spend-drift/run");
  EXPECT_THAT(out_.str(), HasSubstr("spend-drift v2"));
  EXPECT_THAT(out_.str(), HasSubstr("data set drift; drifted: amount"));
  EXPECT_THAT(out_.str(), HasSubstr("amount  num   ks"));
  EXPECT_THAT(out_.str(), HasSubstr("yes"));
}

TEST_F(MonitorsCliTest, AFailedRunExitsOne) {
  transport_.Reply(200, R"json({"run": {"id": "r2", "state": "failed",
      "message": "target.feature_view 'spend' has no rows", "result": {}}})json");
  EXPECT_EQ(Run({"monitors", "run", "spend-drift"}), 1);
  EXPECT_THAT(out_.str(), HasSubstr("has no rows"));
  transport_.Reply(404, R"json({"error_code": "RESOURCE_DOES_NOT_EXIST",
      "message": "monitor 'x' is not registered"})json");
  EXPECT_EQ(Run({"monitors", "run", "x"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("monitor 'x' is not registered"));
}

TEST_F(MonitorsCliTest, RunsAndReport) {
  transport_.Reply(200, R"json({"runs": [{"id": "r1", "started_ms": 1700000000000,
      "trigger": "schedule", "state": "succeeded", "drift_found": true,
      "constraints_violated": true, "quality_failed": true, "target_rows": 500,
      "message": "m"}]})json");
  ASSERT_EQ(Run({"monitors", "runs", "spend-drift", "--limit", "5"}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[0].url,
            std::string(kBase) + "/api/v1/monitoring/monitors/spend-drift/runs?limit=5");
  EXPECT_THAT(out_.str(), HasSubstr("drift+violations+quality"));

  const std::string path =
      (std::filesystem::temp_directory_path() / "cairn-monitors-cli-report.html").string();
  transport_.Reply(200, R"json({"html": "<html>report</html>"})json");
  ASSERT_EQ(Run({"monitors", "report", "r1", "-o", path}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[1].url,
            std::string(kBase) + "/api/v1/monitoring/runs/r1/report?format=json");
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  EXPECT_EQ(text.str(), "<html>report</html>");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace cairn::cli
