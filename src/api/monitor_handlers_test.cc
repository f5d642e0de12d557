// The monitor routes through the Router, without a socket, on a real MonitorService
// (SQLite in memory) whose data comes from fakes: apply (added / unchanged / dry run /
// a bad file answered 400 naming file:line), list and describe (secrets hidden), run,
// runs, a run with its result, its HTML report, and 404s naming the monitor or run.

#include "api/monitor_handlers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "common/json.h"
#include "monitoring/monitors/monitor_service.h"
#include "storage/database.h"

namespace cairn::api {
namespace {

using ::testing::HasSubstr;

constexpr char kMonitor[] = R"yaml(kind: Pipeline
name: retrain
steps: [{name: s, command: ["true"]}]
---
kind: Monitor
name: spend-drift
description: spend inputs
target: {feature_view: spend, window: 1d}
reference: {path: /data/ref.csv}
schedule: {cron: "0 * * * *"}
on_alert: {pipeline: retrain}
sinks: [{webhook: "http://127.0.0.1:1/h", secret: "s3cret"}, {webhook: "http://x/y", secret: "${HOOK}"}]
)yaml";

monitoring::DataFrame Frame(double offset) {
  monitoring::DataFrame frame;
  frame.rows = 100;
  monitoring::FrameColumn x{.name = "x"};
  for (int i = 0; i < 100; ++i) x.numbers.push_back(offset + i);
  frame.columns = {x};
  return frame;
}

class MonitorHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::OpenDatabase("sqlite::memory:");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    monitoring::MonitorIo io;
    io.read_view = [](const monitoring::ViewReadRequest&) { return Frame(80); };
    io.read_csv = [](const std::string&, const std::vector<std::string>&) { return Frame(0); };
    io.render_html = [](const monitoring::DriftReport&, const std::string& title) {
      return "<html><title>" + title + "</title></html>";
    };
    auto service = monitoring::MonitorService::Open(*db_, clock_, nullptr, io);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
    RegisterMonitorRoutes(router_, *service_);
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
    return DumpJson(Json{{"files", {{{"path", "m.yaml"}, {"content", content}}}},
                         {"dry_run", dry_run}});
  }

  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<monitoring::MonitorService> service_;
  Router router_;
};

TEST_F(MonitorHandlersTest, ApplyListDescribe) {
  Json dry = CallOk("POST", "/api/v1/monitoring/apply", ApplyBody(kMonitor, true));
  EXPECT_EQ(dry["applied"], false);
  ASSERT_EQ(dry["changes"].size(), 1u);  // the Pipeline is skipped
  EXPECT_EQ(dry["changes"][0]["action"], "added");
  EXPECT_EQ(CallOk("GET", "/api/v1/monitoring/monitors")["monitors"].size(), 0u);

  Json applied = CallOk("POST", "/api/v1/monitoring/apply", ApplyBody(kMonitor));
  EXPECT_EQ(applied["applied"], true);
  EXPECT_EQ(applied["changes"][0]["kind"], "Monitor");
  EXPECT_EQ(applied["changes"][0]["name"], "spend-drift");
  EXPECT_EQ(applied["changes"][0]["new_version"], 1);
  EXPECT_EQ(applied["changes"][0]["file"], "m.yaml");
  EXPECT_EQ(applied["changes"][0]["line"], 5);
  Json again = CallOk("POST", "/api/v1/monitoring/apply", ApplyBody(kMonitor));
  EXPECT_EQ(again["applied"], false);
  EXPECT_EQ(again["changes"][0]["action"], "unchanged");

  Json list = CallOk("GET", "/api/v1/monitoring/monitors");
  ASSERT_EQ(list["monitors"].size(), 1u);
  EXPECT_EQ(list["monitors"][0]["name"], "spend-drift");
  EXPECT_EQ(list["monitors"][0]["schedule"], "0 * * * *");
  EXPECT_EQ(list["monitors"][0]["on_alert"], "retrain");
  EXPECT_EQ(list["monitors"][0]["target"]["feature_view"], "spend");

  Json monitor = CallOk("GET", "/api/v1/monitoring/monitors/spend-drift")["monitor"];
  EXPECT_EQ(monitor["spec"]["sinks"][0]["secret"], "***");
  EXPECT_EQ(monitor["spec"]["sinks"][1]["secret"], "${HOOK}");
  EXPECT_EQ(monitor["last_run"], nullptr);
  EXPECT_EQ(DumpJson(monitor).find("s3cret"), std::string::npos);
}

TEST_F(MonitorHandlersTest, BadFilesAnswer400NamingFileAndLine) {
  HttpResponse response = Call(
      "POST", "/api/v1/monitoring/apply",
      ApplyBody("kind: Monitor\nname: m\ntarget: {feature_view: v}\nreference: {path: r}\n"
                "tests: {default: kss}\n"));
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("INVALID_PARAMETER_VALUE"));
  EXPECT_THAT(response.body, HasSubstr("m.yaml:5: monitor m: field 'tests.default': value 'kss'"));
  response = Call("POST", "/api/v1/monitoring/apply", "{\"files\": []}");
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("files"));
}

TEST_F(MonitorHandlersTest, RunRunsAndReport) {
  CallOk("POST", "/api/v1/monitoring/apply", ApplyBody(kMonitor));
  Json run = CallOk("POST", "/api/v1/monitoring/monitors/spend-drift/run")["run"];
  EXPECT_EQ(run["state"], "succeeded") << run.dump();
  EXPECT_EQ(run["drift_found"], true);
  EXPECT_EQ(run["trigger"], "manual");
  EXPECT_EQ(run["result"]["drift"]["columns"][0]["column"], "x");
  const std::string id = run["id"];

  Json runs = CallOk("GET", "/api/v1/monitoring/monitors/spend-drift/runs", "", {{"limit", "5"}});
  ASSERT_EQ(runs["runs"].size(), 1u);
  EXPECT_EQ(runs["runs"][0]["id"], id);
  EXPECT_FALSE(runs["runs"][0].contains("result"));

  Json got = CallOk("GET", "/api/v1/monitoring/runs/" + id)["run"];
  EXPECT_EQ(got["result"]["drift"]["dataset_drift"], true);
  HttpResponse report = Call("GET", "/api/v1/monitoring/runs/" + id + "/report");
  EXPECT_EQ(report.status, 200);
  EXPECT_EQ(report.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(report.body, HasSubstr("Monitor spend-drift v1"));
  Json as_json =
      CallOk("GET", "/api/v1/monitoring/runs/" + id + "/report", "", {{"format", "json"}});
  EXPECT_EQ(as_json["html"], report.body);

  Json monitor = CallOk("GET", "/api/v1/monitoring/monitors/spend-drift")["monitor"];
  EXPECT_EQ(monitor["last_run"]["id"], id);
  EXPECT_EQ(monitor["schedule_state"], nullptr);  // no Tick has read the schedules yet

  // After a tick: the stored schedule state, with the catch-up policy (the default).
  ASSERT_TRUE(service_->Tick(clock_.NowMillis()).ok());
  Json state = CallOk("GET", "/api/v1/monitoring/monitors/spend-drift")["monitor"]["schedule_state"];
  EXPECT_EQ(state["cron"], "0 * * * *");
  EXPECT_EQ(state["catchup"], "latest");
  EXPECT_EQ(state["handled_until_ms"], clock_.NowMillis());
}

TEST_F(MonitorHandlersTest, UnknownMonitorsAndRunsAre404) {
  HttpResponse response = Call("POST", "/api/v1/monitoring/monitors/nope/run");
  EXPECT_EQ(response.status, 404);
  EXPECT_THAT(response.body, HasSubstr("monitor 'nope' is not registered"));
  EXPECT_EQ(Call("GET", "/api/v1/monitoring/monitors/nope").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/monitoring/monitors/nope/runs").status, 404);
  response = Call("GET", "/api/v1/monitoring/runs/abc");
  EXPECT_EQ(response.status, 404);
  EXPECT_THAT(response.body, HasSubstr("monitor run 'abc' does not exist"));
  EXPECT_EQ(Call("GET", "/api/v1/monitoring/runs/abc/report").status, 404);
  CallOk("POST", "/api/v1/monitoring/apply", ApplyBody(kMonitor));
  response = Call("GET", "/api/v1/monitoring/monitors/spend-drift/runs", "", {{"limit", "0"}});
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("limit: must be an integer from 1 to 1000, got 0"));
}

}  // namespace
}  // namespace cairn::api
