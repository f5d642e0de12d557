// `cairn pipelines …` and `cairn compute status` against a fake transport: the requests
// each verb sends, what it prints, and its exit code (run --wait on a failed run, logs
// --follow across several replies).

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
using ::testing::Not;

using FakeTransport = ::cairn::cli::testing::FakeTransport;

class PipelinesCliTest : public ::testing::Test {
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

TEST_F(PipelinesCliTest, ListPrintsATable) {
  transport_.Reply(200, R"json({"pipelines": [
      {"name": "train", "version": 3, "steps": ["a", "b"], "schedule": "0 3 * * *",
       "created_ms": 0, "description": "nightly"},
      {"name": "etl", "version": 1, "steps": ["x"], "schedule": null, "created_ms": 0,
       "description": ""}]})json");
  ASSERT_EQ(Run({"pipelines", "list"}), 0) << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/pipelines");
  EXPECT_EQ(out_.str(),
            "NAME   VERSION  STEPS  SCHEDULE   CREATED (UTC)  DESCRIPTION\n"
            "train        3      2  0 3 * * *  -              nightly\n"
            "etl          1      1  -          -              -\n");
}

TEST_F(PipelinesCliTest, RunSendsParamsAndFlags) {
  transport_.Reply(200, R"json({"run": {"id": "r1", "pipeline": "train", "version": 2,
                                        "state": "queued"}})json");
  ASSERT_EQ(Run({"pipelines", "run", "train", "-p", "depth=6", "-p", "name=a=b", "--no-cache",
                 "--version", "2"}),
            0)
      << err_.str();
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].method, "POST");
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/pipelines/train/runs");
  Json body = Json::parse(transport_.calls[0].body);
  EXPECT_EQ(body["params"], Json({{"depth", "6"}, {"name", "a=b"}}));
  EXPECT_EQ(body["no_cache"], true);
  EXPECT_EQ(body["version"], 2);
  EXPECT_THAT(out_.str(), HasSubstr("Started run r1 of train v2 (queued)."));
}

TEST_F(PipelinesCliTest, RunRejectsAParamWithoutEquals) {
  EXPECT_EQ(Run({"pipelines", "run", "train", "-p", "depth"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("-p 'depth': give a parameter as NAME=VALUE"));
  EXPECT_TRUE(transport_.calls.empty());
}

TEST_F(PipelinesCliTest, RunWaitPollsUntilTheEndAndFailsWithTheMessage) {
  transport_.Reply(200, R"json({"run": {"id": "r9", "pipeline": "p", "version": 1,
                                        "state": "queued"}})json");
  transport_.Reply(200, R"json({"run": {"id": "r9", "state": "running", "steps": []}})json");
  transport_.Reply(200, R"json({"run": {"id": "r9", "state": "failed",
      "started_ms": 1000, "ended_ms": 3500,
      "message": "step 'train' failed after 3 attempts: exited with code 3\nboom",
      "steps": [{"name": "train", "state": "failed", "message": "exited with code 3",
                 "started_ms": 1000, "ended_ms": 3500,
                 "attempts": [{"executor": "local", "host": "h"}, {"executor": "local",
                 "host": "h"}, {"executor": "local", "host": "h"}]}]}})json");
  EXPECT_EQ(Run({"pipelines", "run", "p", "--wait"}), 1);
  ASSERT_EQ(transport_.calls.size(), 3u);
  EXPECT_EQ(transport_.calls[1].method, "GET");
  EXPECT_EQ(transport_.calls[1].url, std::string(kBase) + "/api/v1/pipeline-runs/r9?wait_ms=20000");
  EXPECT_THAT(out_.str(), HasSubstr("train  failed         3  2.5s"));
  EXPECT_THAT(err_.str(), HasSubstr("cairn: run r9 failed: step 'train' failed after 3 "
                                    "attempts: exited with code 3\nboom\n"));
}

TEST_F(PipelinesCliTest, RunWaitSucceeds) {
  transport_.Reply(200, R"json({"run": {"id": "r2", "state": "queued"}})json");
  transport_.Reply(200, R"json({"run": {"id": "r2", "state": "succeeded", "steps": [
      {"name": "a", "state": "cached", "cached_from": "r1", "attempts": []}]}})json");
  EXPECT_EQ(Run({"pipelines", "run", "p", "--wait"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("outputs reused from run r1"));
  EXPECT_THAT(out_.str(), HasSubstr("Run r2 succeeded"));
  EXPECT_EQ(err_.str(), "");
}

TEST_F(PipelinesCliTest, LogsFollowAsksFromEachNextOffsetUntilDone) {
  transport_.Reply(200, R"json({"text": "one\n", "offset": 0, "next_offset": 4,
                                "done": false})json");
  transport_.Reply(200, R"json({"text": "", "offset": 4, "next_offset": 4, "done": false})json");
  transport_.Reply(200, R"json({"text": "two\n", "offset": 4, "next_offset": 8,
                                "done": true})json");
  ASSERT_EQ(Run({"pipelines", "logs", "r1", "build", "--follow"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "one\ntwo\n");
  ASSERT_EQ(transport_.calls.size(), 3u);
  EXPECT_EQ(transport_.calls[0].url,
            std::string(kBase) +
                "/api/v1/pipeline-runs/r1/steps/build/logs?format=json&offset=0&attempt=0&"
                "follow=true");
  EXPECT_THAT(transport_.calls[2].url, HasSubstr("offset=4&"));
}

TEST_F(PipelinesCliTest, LogsWithoutFollowStopsAtTheEndOfWhatIsWritten) {
  transport_.Reply(200, R"json({"text": "partial\n", "next_offset": 8, "done": false})json");
  transport_.Reply(200, R"json({"text": "", "next_offset": 8, "done": false})json");
  ASSERT_EQ(Run({"pipelines", "logs", "r1", "build", "--attempt", "2"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "partial\n");
  ASSERT_EQ(transport_.calls.size(), 2u);
  EXPECT_THAT(transport_.calls[0].url, HasSubstr("attempt=2"));
  EXPECT_THAT(transport_.calls[0].url, Not(HasSubstr("follow")));
}

TEST_F(PipelinesCliTest, UnknownRunIsReportedWithTheServersMessage) {
  transport_.Reply(404, R"json({"error_code": "RESOURCE_DOES_NOT_EXIST",
                                "message": "pipeline run 'nope' does not exist"})json");
  EXPECT_EQ(Run({"pipelines", "get", "nope"}), 1);
  EXPECT_EQ(err_.str(),
            "cairn: RESOURCE_DOES_NOT_EXIST: pipeline run 'nope' does not exist\n");
}

TEST_F(PipelinesCliTest, GetPrintsStepsAndTheFailure) {
  transport_.Reply(200, R"json({"run": {"id": "r3", "pipeline": "p", "version": 4,
      "state": "failed", "trigger": "manual", "params": {"depth": "6"},
      "message": "step 'b' failed after 1 attempt: out of memory",
      "steps": [{"name": "a", "state": "succeeded", "attempts": [{"executor": "local"}]},
                {"name": "b", "state": "failed", "message": "out of memory",
                 "attempts": [{"executor": "slurm", "host": "node1"}]},
                {"name": "c", "state": "skipped", "message": "upstream step 'b' failed",
                 "attempts": []}]}})json");
  ASSERT_EQ(Run({"pipelines", "get", "r3"}), 0) << err_.str();
  const std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr("Run r3\n"));
  EXPECT_THAT(out, HasSubstr("p v4"));
  EXPECT_THAT(out, HasSubstr("depth=6"));
  EXPECT_THAT(out, HasSubstr("b     failed"));
  EXPECT_THAT(out, HasSubstr("slurm     node1"));
  EXPECT_THAT(out, HasSubstr("upstream step 'b' failed"));
  EXPECT_THAT(out, HasSubstr("step 'b' failed after 1 attempt: out of memory\n"));
}

TEST_F(PipelinesCliTest, DiffPrintsEachChange) {
  transport_.Reply(200, R"json({"diffs": [{"path": "steps[1].command", "old": ["a"],
                                           "new": ["b"]}]})json");
  ASSERT_EQ(Run({"pipelines", "diff", "p", "1", "2"}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/pipelines/p/diff?v1=1&v2=2");
  EXPECT_EQ(out_.str(),
            "p v1 \u2192 v2: 1 difference\n  steps[1].command: [\"a\"] \u2192 [\"b\"]\n");
}

TEST_F(PipelinesCliTest, CancelPostsAndPrintsTheState) {
  transport_.Reply(200, R"json({"run": {"id": "r4", "state": "cancelled"}})json");
  ASSERT_EQ(Run({"pipelines", "cancel", "r4"}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[0].method, "POST");
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/pipeline-runs/r4/cancel");
  EXPECT_EQ(out_.str(), "Run r4: cancelled.\n");
}

TEST_F(PipelinesCliTest, RunsFiltersByPipelineAndState) {
  transport_.Reply(200, R"json({"runs": [], "next_page_token": ""})json");
  ASSERT_EQ(Run({"pipelines", "runs", "--pipeline", "p", "--state", "failed"}), 0);
  EXPECT_EQ(transport_.calls[0].url,
            std::string(kBase) + "/api/v1/pipeline-runs?limit=50&pipeline=p&state=failed");
  EXPECT_EQ(out_.str(), "No runs.\n");
}

TEST_F(PipelinesCliTest, ComputeStatusShowsCapacityUseAndJobs) {
  transport_.Reply(200, R"json({"executors": [{"name": "local",
      "capacity": {"cpus": 4, "memory_bytes": 8589934592, "memory": "8Gi", "gpus": 2},
      "in_use": {"cpus": 1.5, "memory_bytes": 0, "memory": "0", "gpus": 1},
      "running": 1, "queued": 2, "detail": "",
      "jobs": [{"job_id": "local:1:2", "state": "running", "host": "h", "gpus": [0],
                "queued_ms": 0, "started_ms": 0}]}]})json");
  ASSERT_EQ(Run({"compute", "status"}), 0) << err_.str();
  EXPECT_EQ(transport_.calls[0].url, std::string(kBase) + "/api/v1/compute/status");
  const std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr("EXECUTOR  CPUS (USED/ALL)  MEMORY (USED/ALL)  GPUS (USED/ALL)"));
  EXPECT_THAT(out, HasSubstr("local"));
  EXPECT_THAT(out, HasSubstr("1.5/4"));
  EXPECT_THAT(out, HasSubstr("-/8Gi"));
  EXPECT_THAT(out, HasSubstr("1/2"));
  EXPECT_THAT(out, HasSubstr("local:1:2  running  h     0"));
}

}  // namespace
}  // namespace cairn::cli
