// The pipeline and compute routes through the Router, without a socket, on a real
// registry and engine (SQLite) with an in-process executor: apply (added / unchanged /
// dry run / a cycle or unsatisfiable resources refused naming the step), reads of
// pipelines, versions and diffs, runs (params, wait, list filters), logs (text, JSON,
// offsets, follow), cancel, compute status, and bad input answered 4xx naming the field.

#include "api/pipeline_handlers.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <random>

#include "absl/strings/str_cat.h"
#include "api/compute_handlers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/clock.h"
#include "common/json.h"
#include "pipelines/pipeline_engine.h"
#include "pipelines/pipeline_registry.h"
#include "pipelines/testing/fake_executor.h"
#include "storage/database.h"
#include "tracking/tracking_store.h"

namespace cairn::api {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using pipelines::testing::FakeExecutor;
using pipelines::testing::FakeOutcome;

constexpr char kPipeline[] = R"yaml(kind: Entity
name: customer
join_key: customer_id
---
kind: Pipeline
name: etl
description: two steps
params:
  - {name: depth, type: int, default: 3}
steps:
  - name: build
    command: [say, "built {{params.depth}}"]
  - name: train
    command: [say, trained]
    depends_on: [build]
)yaml";

class PipelineHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() / absl::StrCat("cairn-pipeline-handlers-", ::getpid(),
                                                    "-", counter++, "-", std::random_device{}());
    fs::create_directories(dir_);
    auto db = storage::OpenDatabase((dir_ / "cairn.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto tracking = tracking::TrackingStore::Open(*db_, RealClock());
    ASSERT_TRUE(tracking.ok()) << tracking.status();
    tracking_ = std::move(*tracking);
    auto registry = pipelines::PipelineRegistry::Open(*db_, RealClock());
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    executor_ = std::make_unique<FakeExecutor>(RealClock());
    // "say TEXT" logs TEXT; "fail" exits 3; "hang" runs until cancelled.
    executor_->set_handler([](const compute::JobSpec& job) {
      const std::string command = job.argv.empty() ? "" : job.argv[0];
      if (command == "hang") return FakeOutcome{.hang = true};
      if (command == "fail") return FakeOutcome{.exit_code = 3, .log = "bad things\n"};
      return FakeOutcome{.log = job.argv.size() > 1 ? job.argv[1] + "\n" : ""};
    });
    pipelines::EngineOptions options;
    options.data_dir = (dir_ / "data").string();
    options.server_url = "http://127.0.0.1:5999";
    auto engine = pipelines::PipelineEngine::Open(
        *db_, RealClock(), *registry_, {{"local", executor_.get()}}, tracking_.get(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    PipelineApi api;
    api.registry = registry_.get();
    api.engine = engine_.get();
    api.validation.executors = {"local"};
    api.check_resources = [](const pipelines::PipelineSpec& pipeline,
                             const pipelines::StepSpec& step) {
      if (pipeline.name == "offline") return absl::UnavailableError("slurmctld is unreachable");
      if (step.resources.gpus > 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "asks for ", step.resources.gpus, " GPUs; the ",
            pipeline.executor.empty() ? "local" : pipeline.executor,
            " executor has 0"));
      }
      return absl::OkStatus();
    };
    api.on_applied = [this] { ++applied_; };
    RegisterPipelineRoutes(router_, api);
    RegisterComputeRoutes(router_, {executor_.get()});
  }
  void TearDown() override {
    engine_.reset();
    executor_.reset();
    registry_.reset();
    tracking_.reset();
    db_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
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
    absl::Status drained = DrainStream(&response);  // a long wait_ms answers as a stream
    EXPECT_TRUE(drained.ok()) << drained;
    EXPECT_EQ(response.status, 200) << method << " " << path << ": " << response.body;
    auto parsed = ParseJson(response.body);
    return parsed.ok() ? *parsed : Json();
  }
  // Expects `status` with `error_code` and a message containing `text`.
  void ExpectError(const HttpResponse& response, int status, const std::string& error_code,
                   const std::string& text) {
    EXPECT_EQ(response.status, status) << response.body;
    auto body = ParseJson(response.body);
    ASSERT_TRUE(body.ok()) << response.body;
    EXPECT_EQ((*body)["error_code"], error_code) << response.body;
    EXPECT_THAT((*body)["message"].get<std::string>(), HasSubstr(text));
  }
  static std::string ApplyBody(const std::string& yaml, bool dry_run = false) {
    return DumpJson(Json{{"files", Json::array({{{"path", "p.yaml"}, {"content", yaml}}})},
                         {"dry_run", dry_run}});
  }
  // Starts a run of etl and waits for its end.
  Json RunToEnd(const std::string& body = "{}") {
    Json started = CallOk("POST", "/api/v1/pipelines/etl/runs", body);
    const std::string id = started["run"]["id"];
    for (int i = 0; i < 100; ++i) {
      Json run = CallOk("GET", "/api/v1/pipeline-runs/" + id, "", {{"wait_ms", "20000"}});
      const std::string state = run["run"]["state"];
      if (state == "succeeded" || state == "failed" || state == "cancelled") return run["run"];
    }
    ADD_FAILURE() << "run " << id << " did not end";
    return Json();
  }

  fs::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::TrackingStore> tracking_;
  std::unique_ptr<pipelines::PipelineRegistry> registry_;
  std::unique_ptr<FakeExecutor> executor_;
  std::unique_ptr<pipelines::PipelineEngine> engine_;
  Router router_;
  int applied_ = 0;
};

TEST_F(PipelineHandlersTest, ApplyAddsThenFindsNothingChangedAndSkipsOtherKinds) {
  Json dry = CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(kPipeline, true));
  EXPECT_EQ(dry["applied"], false);
  ASSERT_EQ(dry["changes"].size(), 1u);
  EXPECT_EQ(dry["changes"][0]["action"], "added");
  EXPECT_EQ(CallOk("GET", "/api/v1/pipelines")["pipelines"].size(), 0u);

  Json applied = CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(kPipeline));
  EXPECT_EQ(applied["applied"], true);
  ASSERT_EQ(applied["changes"].size(), 1u);
  const Json& change = applied["changes"][0];
  EXPECT_EQ(change["kind"], "Pipeline");
  EXPECT_EQ(change["name"], "etl");
  EXPECT_EQ(change["new_version"], 1);
  EXPECT_EQ(change["file"], "p.yaml");
  EXPECT_EQ(change["line"], 5);

  EXPECT_EQ(applied_, 1);
  Json again = CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(kPipeline));
  EXPECT_EQ(again["applied"], false);
  EXPECT_EQ(applied_, 1);
  EXPECT_EQ(again["changes"][0]["action"], "unchanged");
}

TEST_F(PipelineHandlersTest, APrunedPipelineStaysReadableButStartsNoRuns) {
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(kPipeline));
  const std::string other = "kind: Pipeline\nname: other\nsteps:\n  - {name: a, command: [x]}\n";
  Json body = Json{{"files", Json::array({{{"path", "o.yaml"}, {"content", other}}})},
                   {"prune", true}};
  Json pruned = CallOk("POST", "/api/v1/pipelines/apply", DumpJson(body));
  bool removed = false;
  for (const Json& change : pruned["changes"]) {
    removed |= change["name"] == "etl" && change["action"] == "removed";
  }
  EXPECT_TRUE(removed) << pruned.dump();
  EXPECT_EQ(CallOk("GET", "/api/v1/pipelines/etl")["pipeline"]["version"], 1);
  ExpectError(Call("POST", "/api/v1/pipelines/etl/runs", "{}"), 409, "INVALID_STATE",
              "pipeline 'etl' was removed (apply --prune); apply its definition again");
}

TEST_F(PipelineHandlersTest, ApplyRefusesACycleAndUnsatisfiableResourcesNamingTheStep) {
  const std::string cycle =
      "kind: Pipeline\nname: c\nsteps:\n  - {name: a, command: [x], depends_on: [b]}\n"
      "  - {name: b, command: [x], depends_on: [a]}\n";
  HttpResponse response = Call("POST", "/api/v1/pipelines/apply", ApplyBody(cycle));
  ExpectError(response, 400, "INVALID_PARAMETER_VALUE", "cycle");
  EXPECT_THAT(response.body, HasSubstr("p.yaml"));

  const std::string gpu = "kind: Pipeline\nname: g\nsteps:\n"
                          "  - {name: train, command: [x], resources: {gpus: 2}}\n";
  response = Call("POST", "/api/v1/pipelines/apply", ApplyBody(gpu));
  ExpectError(response, 400, "INVALID_PARAMETER_VALUE",
              "p.yaml:4: pipeline g: step train: field 'resources': value 'gpus=2' "
              "cannot run here: asks for 2 GPUs; the local executor has 0");
  EXPECT_EQ(CallOk("GET", "/api/v1/pipelines")["pipelines"].size(), 0u);

  // A step whose executor cannot be asked now: retry later (503), not a bad file. A noop
  // step runs on no executor, so its resources are not checked at all.
  const std::string offline =
      "kind: Pipeline\nname: offline\nsteps:\n"
      "  - {name: train, command: [x]}\n";
  response = Call("POST", "/api/v1/pipelines/apply", ApplyBody(offline));
  EXPECT_EQ(response.status, 503) << response.body;
  EXPECT_THAT(response.body, HasSubstr("step train: cannot check its resources now"));
  const std::string join =
      "kind: Pipeline\nname: offline\nsteps:\n"
      "  - {name: join, noop: true}\n";
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(join));
  EXPECT_EQ(CallOk("GET", "/api/v1/pipelines")["pipelines"].size(), 1u);
}

TEST_F(PipelineHandlersTest, ApplyBadBodiesNameTheField) {
  ExpectError(Call("POST", "/api/v1/pipelines/apply", "{}"), 400, "INVALID_PARAMETER_VALUE",
              "files");
  ExpectError(Call("POST", "/api/v1/pipelines/apply", R"({"files": [3]})"), 400,
              "INVALID_PARAMETER_VALUE", "files[0]");
  ExpectError(Call("POST", "/api/v1/pipelines/apply",
                   R"({"files": [{"path": "a", "content": ""}], "dry_run": 7})"),
              400, "INVALID_PARAMETER_VALUE", "dry_run");
  ExpectError(Call("POST", "/api/v1/pipelines/apply", "[1"), 400, "INVALID_PARAMETER_VALUE",
              "");
}

TEST_F(PipelineHandlersTest, ReadsPipelinesVersionsAndDiffs) {
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(kPipeline));
  std::string v2 = kPipeline;
  v2.replace(v2.find("default: 3"), 10, "default: 4");
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(v2));

  Json list = CallOk("GET", "/api/v1/pipelines");
  ASSERT_EQ(list["pipelines"].size(), 1u);
  EXPECT_EQ(list["pipelines"][0]["name"], "etl");
  EXPECT_EQ(list["pipelines"][0]["version"], 2);
  EXPECT_EQ(list["pipelines"][0]["steps"], Json({"build", "train"}));
  EXPECT_EQ(list["pipelines"][0]["description"], "two steps");

  Json latest = CallOk("GET", "/api/v1/pipelines/etl");
  EXPECT_EQ(latest["pipeline"]["version"], 2);
  EXPECT_EQ(latest["pipeline"]["spec"]["name"], "etl");
  Json first = CallOk("GET", "/api/v1/pipelines/etl/versions/1");
  EXPECT_EQ(first["pipeline"]["version"], 1);
  EXPECT_NE(first["pipeline"]["content_hash"], latest["pipeline"]["content_hash"]);

  Json versions = CallOk("GET", "/api/v1/pipelines/etl/versions");
  ASSERT_EQ(versions["versions"].size(), 2u);
  EXPECT_EQ(versions["versions"][0]["version"], 1);

  Json diff = CallOk("GET", "/api/v1/pipelines/etl/diff", "", {{"v1", "1"}, {"v2", "2"}});
  ASSERT_GE(diff["diffs"].size(), 1u);
  EXPECT_THAT(DumpJson(diff["diffs"]), HasSubstr("params"));

  ExpectError(Call("GET", "/api/v1/pipelines/nope"), 404, "RESOURCE_DOES_NOT_EXIST", "nope");
  ExpectError(Call("GET", "/api/v1/pipelines/etl/versions/9"), 404, "RESOURCE_DOES_NOT_EXIST",
              "9");
  ExpectError(Call("GET", "/api/v1/pipelines/etl/versions/abc"), 400, "INVALID_PARAMETER_VALUE",
              "version: 'abc'");
  ExpectError(Call("GET", "/api/v1/pipelines/etl/diff", "", {{"v1", "1"}}), 400,
              "INVALID_PARAMETER_VALUE", "v2");
  ExpectError(Call("GET", "/api/v1/pipelines/etl/diff", "", {{"v1", "x"}, {"v2", "2"}}), 400,
              "INVALID_PARAMETER_VALUE", "v1");
}

TEST_F(PipelineHandlersTest, RunsWithParamsAndShowsStepsAttemptsAndLogs) {
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(kPipeline));
  Json run = RunToEnd(R"({"params": {"depth": 7}})");
  ASSERT_TRUE(run.is_object());
  EXPECT_EQ(run["state"], "succeeded");
  EXPECT_EQ(run["pipeline"], "etl");
  EXPECT_EQ(run["version"], 1);
  EXPECT_EQ(run["params"]["depth"], "7");
  EXPECT_EQ(run["trigger"], "manual");
  ASSERT_EQ(run["steps"].size(), 2u);
  EXPECT_EQ(run["steps"][0]["name"], "build");
  EXPECT_EQ(run["steps"][0]["state"], "succeeded");
  ASSERT_EQ(run["steps"][0]["attempts"].size(), 1u);
  EXPECT_EQ(run["steps"][0]["attempts"][0]["executor"], "local");
  EXPECT_EQ(run["steps"][0]["attempts"][0]["state"], "succeeded");
  EXPECT_EQ(run["steps"][0]["attempts"][0]["reason"], "none");
  const std::string id = run["id"];

  const std::string logs = "/api/v1/pipeline-runs/" + id + "/steps/build/logs";
  HttpResponse text = Call("GET", logs);
  EXPECT_EQ(text.status, 200) << text.body;
  EXPECT_EQ(text.body, "built 7\n");
  EXPECT_EQ(text.content_type, "text/plain; charset=utf-8");
  EXPECT_THAT(text.headers, ::testing::Contains(std::pair<std::string, std::string>(
                                "X-Cairn-Log-Offset", "8")));
  EXPECT_THAT(text.headers, ::testing::Contains(std::pair<std::string, std::string>(
                                "X-Cairn-Log-Done", "true")));
  Json part = CallOk("GET", logs, "", {{"offset", "6"}, {"format", "json"}, {"follow", "true"}});
  EXPECT_EQ(part["text"], "7\n");
  EXPECT_EQ(part["offset"], 6);
  EXPECT_EQ(part["next_offset"], 8);
  EXPECT_EQ(part["done"], true);
  Json paged = CallOk("GET", logs, "", {{"max_bytes", "3"}, {"format", "json"}});
  EXPECT_EQ(paged["text"], "bui");
  EXPECT_EQ(paged["done"], false);

  ExpectError(Call("GET", "/api/v1/pipeline-runs/" + id + "/steps/nope/logs"), 404,
              "RESOURCE_DOES_NOT_EXIST", "nope");
  ExpectError(Call("GET", logs, "", {{"offset", "-1"}}), 400, "INVALID_PARAMETER_VALUE",
              "offset");
  ExpectError(Call("GET", logs, "", {{"format", "xml"}}), 400, "INVALID_PARAMETER_VALUE",
              "format: 'xml'");

  Json runs = CallOk("GET", "/api/v1/pipeline-runs", "", {{"pipeline", "etl"}});
  ASSERT_EQ(runs["runs"].size(), 1u);
  EXPECT_EQ(runs["runs"][0]["id"], id);
  EXPECT_FALSE(runs["runs"][0].contains("steps"));
  EXPECT_EQ(CallOk("GET", "/api/v1/pipeline-runs", "", {{"state", "failed"}})["runs"].size(),
            0u);
  EXPECT_EQ(CallOk("GET", "/api/v1/pipeline-runs", "", {{"pipeline", "other"}})["runs"].size(),
            0u);
}

TEST_F(PipelineHandlersTest, BadRunRequestsNameTheField) {
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(kPipeline));
  ExpectError(Call("POST", "/api/v1/pipelines/nope/runs", "{}"), 404, "RESOURCE_DOES_NOT_EXIST",
              "nope");
  ExpectError(Call("POST", "/api/v1/pipelines/etl/runs", R"({"params": {"color": "red"}})"), 400,
              "INVALID_PARAMETER_VALUE", "color");
  ExpectError(Call("POST", "/api/v1/pipelines/etl/runs", R"({"params": {"depth": "deep"}})"),
              400, "INVALID_PARAMETER_VALUE", "depth");
  ExpectError(Call("POST", "/api/v1/pipelines/etl/runs", R"({"params": [1]})"), 400,
              "INVALID_PARAMETER_VALUE", "params");
  ExpectError(Call("POST", "/api/v1/pipelines/etl/runs", R"({"params": {"depth": [1]}})"), 400,
              "INVALID_PARAMETER_VALUE", "params.depth");
  ExpectError(Call("POST", "/api/v1/pipelines/etl/runs", R"({"wait_ms": 999999})"), 400,
              "INVALID_PARAMETER_VALUE", "wait_ms");
  ExpectError(Call("POST", "/api/v1/pipelines/etl/runs", R"({"no_cache": "maybe"})"), 400,
              "INVALID_PARAMETER_VALUE", "no_cache");
  ExpectError(Call("POST", "/api/v1/pipelines/etl/runs", R"({"version": 0})"), 400,
              "INVALID_PARAMETER_VALUE", "version");
  ExpectError(Call("GET", "/api/v1/pipeline-runs/nope"), 404, "RESOURCE_DOES_NOT_EXIST", "nope");
  ExpectError(Call("POST", "/api/v1/pipeline-runs/nope/cancel", "{}"), 404,
              "RESOURCE_DOES_NOT_EXIST", "nope");
  ExpectError(Call("GET", "/api/v1/pipeline-runs", "", {{"state", "sleeping"}}), 400,
              "INVALID_PARAMETER_VALUE", "state: 'sleeping'");
  ExpectError(Call("GET", "/api/v1/pipeline-runs", "", {{"limit", "0"}}), 400,
              "INVALID_PARAMETER_VALUE", "limit");
}

TEST_F(PipelineHandlersTest, FailedRunSaysWhichStepAndWhy) {
  const std::string yaml = "kind: Pipeline\nname: etl\nsteps:\n  - {name: a, command: [fail]}\n"
                           "  - {name: b, command: [say, x], depends_on: [a]}\n";
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(yaml));
  Json run = RunToEnd();
  EXPECT_EQ(run["state"], "failed");
  EXPECT_THAT(run["message"].get<std::string>(), HasSubstr("'a'"));
  EXPECT_THAT(run["message"].get<std::string>(), HasSubstr("bad things"));
  EXPECT_EQ(run["steps"][0]["attempts"][0]["exit_code"], 3);
  EXPECT_EQ(run["steps"][0]["attempts"][0]["reason"], "exit_code");
  EXPECT_EQ(run["steps"][1]["state"], "skipped");
}

TEST_F(PipelineHandlersTest, CancelStopsARunningRun) {
  const std::string yaml = "kind: Pipeline\nname: etl\nsteps:\n  - {name: a, command: [hang]}\n";
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(yaml));
  Json started = CallOk("POST", "/api/v1/pipelines/etl/runs", "{}");
  const std::string id = started["run"]["id"];
  // Follow returns (at most after its cap) while the step runs; here the log stays empty.
  for (int i = 0; i < 200 && executor_->running().empty(); ++i) {
    CallOk("GET", "/api/v1/pipeline-runs/" + id, "", {{"wait_ms", "50"}});
  }
  ASSERT_EQ(executor_->running().size(), 1u);
  Json cancelled = CallOk("POST", "/api/v1/pipeline-runs/" + id + "/cancel", "{}");
  Json run = CallOk("GET", "/api/v1/pipeline-runs/" + id, "", {{"wait_ms", "20000"}});
  EXPECT_EQ(run["run"]["state"], "cancelled");
  EXPECT_EQ(run["run"]["steps"][0]["state"], "cancelled");
}

TEST_F(PipelineHandlersTest, ComputeStatusListsTheExecutors) {
  Json status = CallOk("GET", "/api/v1/compute/status");
  ASSERT_EQ(status["executors"].size(), 1u);
  EXPECT_EQ(status["executors"][0]["name"], "local");
  EXPECT_TRUE(status["executors"][0]["capacity"].contains("cpus"));
  EXPECT_TRUE(status["executors"][0]["jobs"].is_array());
}

}  // namespace
}  // namespace cairn::api

namespace cairn::api {
namespace {

TEST_F(PipelineHandlersTest, ALongWaitForARunHoldsNoWorkerAndAnswersItsEnd) {
  // The step hangs until the test finishes it, so the wait outlasts the blocking part.
  const std::string yaml = "kind: Pipeline\nname: etl\nsteps:\n  - {name: a, command: [hang]}\n";
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(yaml));
  Json started = CallOk("POST", "/api/v1/pipelines/etl/runs", "{}");
  const std::string id = started["run"]["id"];
  HttpResponse waiting =
      Call("GET", "/api/v1/pipeline-runs/" + id, "", {{"wait_ms", "20000"}});
  ASSERT_EQ(waiting.status, 200) << waiting.body;
  ASSERT_TRUE(waiting.stream) << "a wait past the blocking second must be a stream";
  std::string piece;
  absl::StatusOr<bool> more = waiting.stream(&piece);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(*more);
  EXPECT_EQ(piece, "") << "nothing until the run ends";
  for (int i = 0; i < 400 && executor_->running().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // until the job runs
  }
  ASSERT_EQ(executor_->running().size(), 1u);
  executor_->Finish(executor_->running()[0], 0);
  ASSERT_TRUE(DrainStream(&waiting).ok());
  auto body = ParseJson(waiting.body);
  ASSERT_TRUE(body.ok()) << waiting.body;
  EXPECT_EQ((*body)["run"]["id"], id);
  EXPECT_EQ((*body)["run"]["state"], "succeeded");
}

TEST_F(PipelineHandlersTest, FollowedTextLogIsAStreamThatEndsWhenTheAttemptEnds) {
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(kPipeline));
  Json run = RunToEnd(R"({"params": {"depth": 5}})");
  const std::string id = run["id"];
  const std::string logs = "/api/v1/pipeline-runs/" + id + "/steps/build/logs";
  HttpResponse followed = Call("GET", logs, "", {{"follow", "true"}, {"offset", "2"}});
  ASSERT_EQ(followed.status, 200) << followed.body;
  ASSERT_TRUE(followed.stream);
  EXPECT_EQ(followed.content_type, "text/plain; charset=utf-8");
  EXPECT_THAT(followed.headers, ::testing::Contains(std::pair<std::string, std::string>(
                                    "X-Cairn-Log-Offset", "2")));
  ASSERT_TRUE(DrainStream(&followed).ok());
  EXPECT_EQ(followed.body, "ilt 5\n");

  // Unknown step or attempt: an error status, not a stream.
  HttpResponse missing =
      Call("GET", "/api/v1/pipeline-runs/" + id + "/steps/nope/logs", "", {{"follow", "true"}});
  EXPECT_EQ(missing.status, 404);
  EXPECT_FALSE(missing.stream);
  EXPECT_THAT(missing.body, HasSubstr("no step 'nope'"));
  HttpResponse no_attempt = Call("GET", logs, "", {{"follow", "true"}, {"attempt", "7"}});
  EXPECT_EQ(no_attempt.status, 404);
  EXPECT_FALSE(no_attempt.stream);
}

TEST_F(PipelineHandlersTest, FollowedLogOfARunningStepWaitsThenEndsWhenCancelled) {
  const std::string hang = "kind: Pipeline\nname: h\nsteps:\n  - {name: wait, command: [hang]}\n";
  CallOk("POST", "/api/v1/pipelines/apply", ApplyBody(hang));
  Json started = CallOk("POST", "/api/v1/pipelines/h/runs", "{}");
  const std::string id = started["run"]["id"];
  HttpResponse followed =
      Call("GET", "/api/v1/pipeline-runs/" + id + "/steps/wait/logs", "", {{"follow", "true"}});
  ASSERT_EQ(followed.status, 200) << followed.body;
  ASSERT_TRUE(followed.stream);
  // Running (or not started yet): nothing new, more to come.
  std::string chunk;
  absl::StatusOr<bool> more = followed.stream(&chunk);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_TRUE(*more);
  EXPECT_EQ(chunk, "");
  CallOk("POST", "/api/v1/pipeline-runs/" + id + "/cancel", "{}");
  // Cancelled: the stream ends (the server would call again after each empty piece).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (*more && std::chrono::steady_clock::now() < deadline) {
    chunk.clear();
    more = followed.stream(&chunk);
    ASSERT_TRUE(more.ok()) << more.status();
  }
  EXPECT_FALSE(*more);
}

}  // namespace
}  // namespace cairn::api
