// Parameters, templates, environment, cache keys, input hashes and retry delays.

#include "pipelines/step_launch.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipelines/retry_policy.h"
#include "pipelines/step_cache.h"

namespace cairn::pipelines {
namespace {

PipelineSpec TypedPipeline() {
  PipelineSpec spec;
  spec.name = "churn";
  spec.params = {{.name = "depth", .type = ParamType::kInt, .default_value = "6"},
                 {.name = "rate", .type = ParamType::kFloat, .default_value = "0.10"},
                 {.name = "fast", .type = ParamType::kBool, .default_value = "false"},
                 {.name = "data", .type = ParamType::kString}};
  return spec;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(ResolveParams, DefaultsOverridesAndCanonicalText) {
  auto params = ResolveParams(TypedPipeline(), {{"data", "/x.csv"}, {"depth", " 8 "},
                                                {"fast", "YES"}});
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*params, (std::map<std::string, std::string>{
                         {"data", "/x.csv"}, {"depth", "8"}, {"fast", "true"}, {"rate", "0.1"}}));
}

TEST(ResolveParams, UnknownWrongTypeAndMissingNameTheParameter) {
  auto unknown = ResolveParams(TypedPipeline(), {{"data", "x"}, {"dpeth", "3"}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(unknown.status()).find("params.dpeth"), std::string::npos);
  EXPECT_NE(Message(unknown.status()).find("data, depth, fast, rate"), std::string::npos);

  auto wrong = ResolveParams(TypedPipeline(), {{"data", "x"}, {"depth", "deep"}});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(wrong.status()),
            "params.depth: 'deep' is not an int (pipeline 'churn' declares depth as int)");

  auto bad_float = ResolveParams(TypedPipeline(), {{"data", "x"}, {"rate", "nan"}});
  EXPECT_NE(Message(bad_float.status()).find("params.rate: 'nan' is not a float"),
            std::string::npos);

  auto missing = ResolveParams(TypedPipeline(), {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(missing.status()).find("params.data: pipeline 'churn' requires parameter 'data'"),
            std::string::npos);
}

StepContext Context() {
  StepContext context;
  context.run_id = "r1";
  context.step = "train";
  context.params = {{"depth", "6"}};
  context.inputs = {{"train", "/runs/r1/build/out/train.csv"}};
  context.outputs = {{"model", "/runs/r1/train/out/model.json"}};
  return context;
}

TEST(RenderTemplate, ReplacesEveryScope) {
  auto text = RenderTemplate(
      "{{params.depth}} {{ inputs.train }} {{outputs.model}} {{run.id}}/{{step.name}} {{x",
      Context());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "6 /runs/r1/build/out/train.csv /runs/r1/train/out/model.json r1/train {{x");
  auto bad = RenderTemplate("--depth={{params.dpeth}}", Context());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(bad.status()).find("'{{params.dpeth}}'"), std::string::npos);
}

TEST(BuildJobSpec, AParameterValueIsNeverShellCodeInAScript) {
  StepContext context = Context();
  context.params["name"] = "x; touch pwned; echo $(id)";
  StepSpec step;
  step.name = "s";
  step.script = "echo \"{{params.name}}\"";
  auto job = BuildJobSpec(step, context, LaunchOptions{.step_dir = "/r/s"});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->argv.back(), "echo \"${CAIRN_PARAM_NAME}\"");
  EXPECT_EQ(job->env.at("CAIRN_PARAM_NAME"), "x; touch pwned; echo $(id)");
}

TEST(BuildJobSpec, ArgvEnvWorkdirAndScript) {
  StepSpec step;
  step.name = "train";
  step.command = {"python", "train.py", "--depth", "{{params.depth}}"};
  step.env = {{"MODEL", "{{outputs.model}}"}};
  step.resources.cpus = 2;
  step.partition = "gpu";
  LaunchOptions options{.step_dir = "/runs/r1/train",
                        .log_path = "/runs/r1/train/attempt-1.log",
                        .server_url = "http://127.0.0.1:5000",
                        .tracking_run_id = "abc",
                        .job_name = "churn/r1/train#1"};
  auto job = BuildJobSpec(step, Context(), options);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->argv, (std::vector<std::string>{"python", "train.py", "--depth", "6"}));
  EXPECT_EQ(job->env.at("MODEL"), "/runs/r1/train/out/model.json");
  EXPECT_EQ(job->env.at("CAIRN_PARAM_DEPTH"), "6");
  EXPECT_EQ(job->env.at("CAIRN_INPUT_TRAIN"), "/runs/r1/build/out/train.csv");
  EXPECT_EQ(job->env.at("CAIRN_OUTPUT_MODEL"), "/runs/r1/train/out/model.json");
  EXPECT_EQ(job->env.at("CAIRN_URL"), "http://127.0.0.1:5000");
  EXPECT_EQ(job->env.at("MLFLOW_TRACKING_URI"), "http://127.0.0.1:5000");
  EXPECT_EQ(job->env.at("MLFLOW_RUN_ID"), "abc");
  EXPECT_EQ(job->env.at("CAIRN_PIPELINE_RUN_ID"), "r1");
  EXPECT_EQ(job->env.at("CAIRN_STEP"), "train");
  EXPECT_EQ(job->workdir, "/runs/r1/train");
  EXPECT_EQ(job->log_path, "/runs/r1/train/attempt-1.log");
  EXPECT_EQ(job->resources.cpus, 2);
  EXPECT_EQ(job->partition, "gpu");

  step.command.clear();
  step.script = "echo {{step.name}} \"{{params.depth}}\" > {{outputs.model}}";
  step.workdir = "sub";
  job = BuildJobSpec(step, Context(), options);
  ASSERT_TRUE(job.ok());
  // In a script, templates are the environment variables (never shell code).
  EXPECT_EQ(job->argv,
            (std::vector<std::string>{
                "/bin/sh", "-ec",
                "echo ${CAIRN_STEP} \"${CAIRN_PARAM_DEPTH}\" > ${CAIRN_OUTPUT_MODEL}"}));
  EXPECT_EQ(job->workdir, "/runs/r1/train/sub");
  EXPECT_EQ(EnvName("CAIRN_PARAM_", "max-depth.x"), "CAIRN_PARAM_MAX_DEPTH_X");
}

TEST(StepCache, KeyChangesWithDefinitionParamsAndInputs) {
  StepSpec step;
  step.name = "train";
  step.command = {"train"};
  std::string base = StepCacheKey(step, {{"a", "1"}}, {{"in", "h1"}});
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(base, StepCacheKey(step, {{"a", "1"}}, {{"in", "h1"}}));
  EXPECT_NE(base, StepCacheKey(step, {{"a", "2"}}, {{"in", "h1"}}));
  EXPECT_NE(base, StepCacheKey(step, {{"a", "1"}}, {{"in", "h2"}}));
  StepSpec changed = step;
  changed.command = {"train", "--fast"};
  EXPECT_NE(base, StepCacheKey(changed, {{"a", "1"}}, {{"in", "h1"}}));
  StepSpec retried = step;  // retries and resources do not change what a step computes
  retried.retry.attempts = 5;
  retried.resources.timeout_ms = 1000;
  retried.line = 42;
  EXPECT_EQ(base, StepCacheKey(retried, {{"a", "1"}}, {{"in", "h1"}}));
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(StepCache, FileAndDirectoryHashes) {
  auto dir = std::filesystem::temp_directory_path() /
             absl::StrCat("cairn-step-cache-", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "d" / "sub");
  std::ofstream(dir / "f.txt") << "abc";
  std::ofstream(dir / "d" / "a.txt") << "1";
  std::ofstream(dir / "d" / "sub" / "b.txt") << "2";
  InputHasher hasher;
  auto file = hasher.Hash((dir / "f.txt").string());
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(*file, Sha256Hex("abc"));
  auto tree = hasher.Hash((dir / "d").string());
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(*tree, *hasher.Hash((dir / "d").string()));
  std::ofstream(dir / "d" / "sub" / "b.txt") << "22";  // appended: size changes
  auto changed = hasher.Hash((dir / "d").string());
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(*tree, *changed);
  auto missing = hasher.Hash((dir / "nope").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(RetryPolicy, ExponentialWithCapAndJitter) {
  RetryPolicy policy{.attempts = 5, .backoff_ms = 1000, .factor = 2, .max_backoff_ms = 5000,
                     .jitter = 0};
  EXPECT_EQ(RetryDelayMs(policy, 1, 0.9), 1000);
  EXPECT_EQ(RetryDelayMs(policy, 2, 0.9), 2000);
  EXPECT_EQ(RetryDelayMs(policy, 3, 0.9), 4000);
  EXPECT_EQ(RetryDelayMs(policy, 4, 0.9), 5000);
  policy.jitter = 0.1;
  EXPECT_EQ(RetryDelayMs(policy, 1, 0.0), 900);
  EXPECT_EQ(RetryDelayMs(policy, 1, 0.5), 1000);
  EXPECT_EQ(RetryDelayMs(policy, 1, 1.0), 1100);
  for (int i = 0; i < 100; ++i) {
    int64_t delay = RetryDelayMs(policy, 2);
    EXPECT_GE(delay, 1800);
    EXPECT_LE(delay, 2200);
  }
  EXPECT_TRUE(ShouldRetry(policy, 4));
  EXPECT_FALSE(ShouldRetry(policy, 5));
}

}  // namespace
}  // namespace cairn::pipelines
