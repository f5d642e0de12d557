#include "pipelines/pipeline_yaml.h"

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipelines/pipeline_validation.h"

namespace cairn::pipelines {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kFull[] = R"yaml(# a full pipeline
kind: Pipeline
name: churn-train
description: Train the churn model
owner: growth@example.com
tags: {team: growth, tier: "1"}
executor: slurm
params:
  - {name: max_depth, type: int, default: 6, description: tree depth}
  - {name: lr, type: float, default: 0.1}
  - {name: data, type: string}
  - {name: full, type: bool, default: yes}
steps:
  - name: build
    command: ["cairn", "demo", "step", "build", "--out", "{{outputs.train}}", "--depth={{ params.max_depth }}"]
    env: {SEED: "{{params.max_depth}}", RUN: "{{run.id}}-{{step.name}}"}
    workdir: /tmp/work
    inputs: [{name: raw, path: /data/raw.csv}]
    outputs:
      - {name: train, path: train.csv}
      - {name: stats}
  - name: train
    script: |
      echo training on {{inputs.train}}
      touch {{outputs.model}}
    inputs: [{name: train, from: build.train}]
    outputs: [{name: model, path: model.json}]
    depends_on: [build]
    resources: {cpus: 2.5, memory: 4Gi, gpus: 1, timeout: 30m}
    retry: {attempts: 3, backoff: 2s, factor: 3, max_backoff: 1m, jitter: 0.25}
    cache: false
    executor: local
    partition: gpu
schedule: {cron: "0 3 * * *", catchup: all}
triggers:
  - {on: model_version_registered, match: {model: churn}, params: {max_depth: "8"}}
  - {on: source_ingested, match: {source: events}}
)yaml";

std::vector<PipelineSpec> MustParse(const std::string& text) {
  auto parsed = ParsePipelinesYaml(text, "p.yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : std::vector<PipelineSpec>();
}

// The message of parsing (and, when that succeeds, validating) `text`.
std::string ErrorOf(const std::string& text, const ValidationOptions& options = {}) {
  auto parsed = ParsePipelinesYaml(text, "p.yaml");
  if (!parsed.ok()) {
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(parsed.status().message());
  }
  absl::Status status = ValidatePipelines(*parsed, options);
  EXPECT_FALSE(status.ok()) << "no error for:\n" << text;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

// A valid two-step pipeline with `step_extra` appended to the second step's map.
std::string TwoSteps(const std::string& second_extra, const std::string& top_extra = "") {
  return "kind: Pipeline\nname: p\nparams:\n  - {name: depth, type: int, default: 3}\n"
         "steps:\n"
         "  - name: build\n    command: [make]\n    outputs: [{name: train, path: t.csv}]\n"
         "  - name: train\n    command: [python, train.py]\n" +
         second_extra + top_extra;
}

TEST(PipelineYamlTest, ParsesEveryField) {
  std::vector<PipelineSpec> specs = MustParse(kFull);
  ASSERT_EQ(specs.size(), 1u);
  const PipelineSpec& p = specs[0];
  EXPECT_EQ(p.name, "churn-train");
  EXPECT_EQ(p.description, "Train the churn model");
  EXPECT_EQ(p.owner, "growth@example.com");
  EXPECT_EQ(p.tags, (std::map<std::string, std::string>{{"team", "growth"}, {"tier", "1"}}));
  EXPECT_EQ(p.executor, "slurm");
  EXPECT_EQ(p.file, "p.yaml");
  EXPECT_EQ(p.line, 2);
  ASSERT_EQ(p.params.size(), 4u);
  EXPECT_EQ(p.params[0].name, "max_depth");
  EXPECT_EQ(p.params[0].type, ParamType::kInt);
  EXPECT_EQ(p.params[0].default_value, "6");
  EXPECT_EQ(p.params[0].description, "tree depth");
  EXPECT_EQ(p.params[0].line, 9);
  EXPECT_EQ(p.params[1].type, ParamType::kFloat);
  EXPECT_EQ(p.params[1].default_value, "0.1");
  EXPECT_EQ(p.params[2].type, ParamType::kString);
  EXPECT_FALSE(p.params[2].default_value.has_value());
  EXPECT_EQ(p.params[3].type, ParamType::kBool);
  EXPECT_EQ(p.params[3].default_value, "yes");
  ASSERT_EQ(p.steps.size(), 2u);
  const StepSpec& build = p.steps[0];
  EXPECT_EQ(build.name, "build");
  EXPECT_EQ(build.line, 14);
  EXPECT_THAT(build.command, ElementsAre("cairn", "demo", "step", "build", "--out",
                                         "{{outputs.train}}", "--depth={{ params.max_depth }}"));
  EXPECT_EQ(build.script, "");
  EXPECT_EQ(build.env, (std::map<std::string, std::string>{{"RUN", "{{run.id}}-{{step.name}}"},
                                                           {"SEED", "{{params.max_depth}}"}}));
  EXPECT_EQ(build.workdir, "/tmp/work");
  ASSERT_EQ(build.inputs.size(), 1u);
  EXPECT_EQ(build.inputs[0], (InputSpec{.name = "raw", .from = "", .path = "/data/raw.csv"}));
  ASSERT_EQ(build.outputs.size(), 2u);
  EXPECT_EQ(build.outputs[0], (OutputSpec{.name = "train", .path = "train.csv"}));
  EXPECT_EQ(build.outputs[1], (OutputSpec{.name = "stats", .path = "stats"}));  // path: the name
  // Defaults of everything not written.
  EXPECT_TRUE(build.depends_on.empty());
  EXPECT_EQ(build.resources, compute::Resources{});
  EXPECT_EQ(build.retry, RetryPolicy{});
  EXPECT_TRUE(build.cache);
  EXPECT_EQ(build.executor, "");
  EXPECT_EQ(build.partition, "");

  const StepSpec& train = p.steps[1];
  EXPECT_TRUE(train.command.empty());
  EXPECT_EQ(train.script, "echo training on {{inputs.train}}\ntouch {{outputs.model}}\n");
  EXPECT_EQ(train.inputs[0], (InputSpec{.name = "train", .from = "build.train", .path = ""}));
  EXPECT_THAT(train.depends_on, ElementsAre("build"));
  EXPECT_EQ(train.resources.cpus, 2.5);
  EXPECT_EQ(train.resources.memory_bytes, 4LL << 30);
  EXPECT_EQ(train.resources.gpus, 1);
  EXPECT_EQ(train.resources.timeout_ms, 30 * 60'000);
  EXPECT_EQ(train.retry, (RetryPolicy{.attempts = 3, .backoff_ms = 2000, .factor = 3,
                                      .max_backoff_ms = 60'000, .jitter = 0.25}));
  EXPECT_FALSE(train.cache);
  EXPECT_EQ(train.executor, "local");
  EXPECT_EQ(train.partition, "gpu");

  EXPECT_EQ(p.schedule.cron, "0 3 * * *");
  EXPECT_EQ(p.schedule.catchup, Catchup::kAll);
  ASSERT_EQ(p.triggers.size(), 2u);
  EXPECT_EQ(p.triggers[0].on, "model_version_registered");
  EXPECT_EQ(p.triggers[0].match, (std::map<std::string, std::string>{{"model", "churn"}}));
  EXPECT_EQ(p.triggers[0].params, (std::map<std::string, std::string>{{"max_depth", "8"}}));
  EXPECT_EQ(p.triggers[1].on, "source_ingested");
  EXPECT_TRUE(p.triggers[1].params.empty());

  EXPECT_TRUE(ValidatePipeline(p).ok()) << ValidatePipeline(p);
}

TEST(PipelineYamlTest, MinimalPipelineTakesDefaults) {
  std::vector<PipelineSpec> specs =
      MustParse("kind: Pipeline\nname: p\nsteps:\n  - name: a\n    command: [\"true\"]\n");
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].executor, "");  // local, or --gpu-executor for GPU steps
  EXPECT_TRUE(specs[0].params.empty());
  EXPECT_EQ(specs[0].schedule, ScheduleSpec{});
  EXPECT_EQ(specs[0].schedule.catchup, Catchup::kLatest);
  EXPECT_TRUE(specs[0].triggers.empty());
  EXPECT_TRUE(ValidatePipeline(specs[0]).ok());
}

TEST(PipelineYamlTest, SkipsOtherKindsAndEmptyDocuments) {
  std::vector<PipelineSpec> specs = MustParse(
      "kind: Entity\nname: customer\njoin_key: id\n---\n---\n"
      "kind: Pipeline\nname: one\nsteps: [{name: a, command: [x]}]\n---\n"
      "kind: Monitor\nname: m\nanything: goes\n---\n"
      "kind: Source\nname: s\n---\nkind: FeatureView\n---\nkind: FeatureService\n---\n"
      "kind: Policy\n---\nkind: Endpoint\n---\n"
      "kind: Pipeline\nname: two\nsteps: [{name: a, script: 'echo hi'}]\n");
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].name, "one");
  EXPECT_EQ(specs[0].line, 6);
  EXPECT_EQ(specs[1].name, "two");
  EXPECT_EQ(specs[1].steps[0].script, "echo hi");
}

TEST(PipelineYamlTest, ParseFilesConcatenatesInOrder) {
  auto specs = ParsePipelineFiles(
      {{"a.yaml", "kind: Pipeline\nname: a\nsteps: [{name: s, command: [x]}]\n"},
       {"b.yaml", "kind: Entity\nname: e\n---\nkind: Pipeline\nname: b\nsteps: [{name: s, command: [x]}]\n"}});
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 2u);
  EXPECT_EQ((*specs)[0].file, "a.yaml");
  EXPECT_EQ((*specs)[1].file, "b.yaml");
  EXPECT_EQ((*specs)[1].line, 4);
}

TEST(PipelineYamlTest, ParseErrorsNameFileLineFieldAndValue) {
  EXPECT_EQ(ErrorOf("kind: Pipelin\nname: p\n"),
            "p.yaml:1: definition: field 'kind': value 'Pipelin' is not a kind (Pipeline, "
            "Entity, Source, FeatureView, FeatureService, Monitor, Policy, Endpoint); did you "
            "mean 'Pipeline'?");
  EXPECT_EQ(ErrorOf("name: p\n"),
            "p.yaml:1: missing field 'kind': add kind: Pipeline (or Entity, Source, "
            "FeatureView, FeatureService, Monitor, Policy, Endpoint)");
  EXPECT_EQ(ErrorOf("- a\n- b\n"),
            "p.yaml:1: a definition must be a map with 'kind' and 'name', got a list of 2");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nstep: []\n"),
            "p.yaml:3: pipeline p: unknown field 'step' (value a list of 0); did you mean "
            "'steps'?");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\n"),
            "p.yaml:1: pipeline p: missing field 'steps': add steps: [{name: build, command: "
            "[...]}]");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: 'bad name'\nsteps: []\n"),
            "p.yaml:2: pipeline bad name: field 'name': value 'bad name' is not a valid name: "
            "use letters, digits, '_' and '-', starting with a letter or '_' (at most 128 "
            "characters)");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps: []\n"),
            "p.yaml:3: pipeline p: field 'steps': value a list of 0 must be a non-empty list of "
            "steps, like [{name: build, command: [\"make\"]}]");
  EXPECT_EQ(ErrorOf(TwoSteps("    comand: [x]\n")),
            "p.yaml:11: pipeline p: step train: unknown field 'comand' (value a list of 1); did "
            "you mean 'command'?");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n  - name: a\n    command: make all\n"),
            "p.yaml:5: pipeline p: step a: field 'command': value 'make all' must be a list of "
            "arguments, like [\"python\", \"train.py\"]; to run a shell command line write "
            "script: instead");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n  - name: a\n    command: [x]\n"
                    "    script: echo\n"),
            "p.yaml:6: pipeline p: step a: field 'script': value 'echo' conflicts with "
            "'command': give either command (a list of arguments) or script (a shell script), "
            "not both");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n  - name: a\n    env: {}\n"),
            "p.yaml:4: pipeline p: step a: missing field 'command': give command: [\"python\", "
            "\"train.py\"] (arguments), script: \"...\" (a shell script run with sh -e) or "
            "noop: true (a step that runs nothing, such as a join)");
  EXPECT_EQ(ErrorOf(TwoSteps("    resources: {memory: 4GB}\n")),
            "p.yaml:11: pipeline p: step train: field 'resources.memory': value '4GB' is not an "
            "amount of memory: write a number and a unit, like 512Mi, 4Gi or 1G (or bytes)");
  EXPECT_EQ(ErrorOf(TwoSteps("    resources: {timeout: 30 minutes}\n")),
            "p.yaml:11: pipeline p: step train: field 'resources.timeout': value '30 minutes' "
            "is not a duration: write an integer and a unit (ms, s, m, h, d), like 30s or 5m");
  EXPECT_EQ(ErrorOf(TwoSteps("    resources: {gpu: 1}\n")),
            "p.yaml:11: pipeline p: step train: unknown field 'resources.gpu' (value '1'); did "
            "you mean 'gpus'?");
  EXPECT_EQ(ErrorOf(TwoSteps("    resources: {gpus: one}\n")),
            "p.yaml:11: pipeline p: step train: field 'resources.gpus': value 'one' must be a "
            "whole number");
  EXPECT_EQ(ErrorOf(TwoSteps("    retry: {attempts: 0}\n")),
            "p.yaml:11: pipeline p: step train: field 'retry.attempts': value '0' is out of "
            "range: give the total number of tries, from 1 to 100");
  EXPECT_EQ(ErrorOf(TwoSteps("    cache: maybe\n")),
            "p.yaml:11: pipeline p: step train: field 'cache': value 'maybe' must be true or "
            "false");
  EXPECT_EQ(ErrorOf(TwoSteps("    inputs: [{name: t, from: build.train, path: /x}]\n")),
            "p.yaml:11: pipeline p: step train: field 'inputs[0].path': value '/x' conflicts "
            "with 'from': an input comes either from an upstream step's output (from: "
            "step.output) or from a path, not both");
  EXPECT_EQ(ErrorOf(TwoSteps("    inputs: [{name: t}]\n")),
            "p.yaml:11: pipeline p: step train: input 't' needs 'from: STEP.OUTPUT' (an "
            "upstream step's output) or 'path: FILE' (an external file or directory)");
  EXPECT_EQ(ErrorOf(TwoSteps("    inputs: [{name: t, from: build}]\n")),
            "p.yaml:11: pipeline p: step train: field 'inputs[0].from': value 'build' must "
            "name an upstream step's output as STEP.OUTPUT, like build.train");
  EXPECT_EQ(ErrorOf(TwoSteps("    env: {BAD-NAME: x}\n")),
            "p.yaml:11: pipeline p: step train: field 'env.BAD-NAME': value a map of 1 keys is "
            "not a valid environment variable name: use letters, digits and '_', starting with "
            "a letter or '_'");
  EXPECT_EQ(ErrorOf(TwoSteps("", "schedule: {cron: '* * * * *', catchup: lates}\n")),
            "p.yaml:11: pipeline p: field 'schedule.catchup': value 'lates' is not a catch-up "
            "policy: use none, latest or all; did you mean 'latest'?");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nparams: [{name: x, type: integer}]\n"
                    "steps: [{name: a, command: [x]}]\n"),
            "p.yaml:3: pipeline p: field 'params[0].type': value 'integer' is not a parameter "
            "type: use int, float, string or bool");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nparams: [{name: x, type: flot}]\n"
                    "steps: [{name: a, command: [x]}]\n"),
            "p.yaml:3: pipeline p: field 'params[0].type': value 'flot' is not a parameter "
            "type: use int, float, string or bool; did you mean 'float'?");
}

TEST(PipelineYamlTest, UnsafeYamlIsRefusedBeforeYamlCpp) {
  EXPECT_THAT(ErrorOf("kind: Pipeline\nname: &a p\n"), HasSubstr("p.yaml:2: YAML anchors"));
  EXPECT_THAT(ErrorOf("kind: Pipeline\nname: p\x01\n"), HasSubstr("p.yaml:2: invalid YAML"));
  EXPECT_THAT(ErrorOf("kind: [Pipeline\n"), HasSubstr("p.yaml:"));
}

// Every pipeline under examples/ parses and validates (they are what users copy).
TEST(PipelineYamlTest, ExamplesParseAndValidate) {
  const char* source = std::getenv("CAIRN_SOURCE_DIR");
  std::filesystem::path root = source != nullptr
                                   ? std::filesystem::path(source)
                                   : std::filesystem::path(__FILE__).parent_path() / "../..";
  std::filesystem::path examples = root / "examples";
  if (!std::filesystem::exists(examples)) GTEST_SKIP() << "no " << examples;
  auto files = features::ReadDefinitionFiles(examples.string());
  ASSERT_TRUE(files.ok()) << files.status();
  auto specs = ParsePipelineFiles(*files);
  ASSERT_TRUE(specs.ok()) << specs.status();
  absl::Status valid = ValidatePipelines(*specs);
  EXPECT_TRUE(valid.ok()) << valid;
  std::printf("%zu example pipeline(s) valid\n", specs->size());
}

// ---- validation ----

TEST(PipelineValidationTest, EveryErrorNamesStepFieldValueAndWhatToDo) {
  EXPECT_EQ(ErrorOf(TwoSteps("    depends_on: [bild]\n")),
            "p.yaml:9: pipeline p: step train: field 'depends_on[0]': value 'bild' is not a "
            "step of this pipeline; did you mean 'build'?");
  EXPECT_EQ(ErrorOf(TwoSteps("    depends_on: [zzzzzzzz]\n")),
            "p.yaml:9: pipeline p: step train: field 'depends_on[0]': value 'zzzzzzzz' is not "
            "a step of this pipeline; steps: build, train");
  EXPECT_EQ(ErrorOf(TwoSteps("    depends_on: [train]\n")),
            "p.yaml:9: pipeline p: step train: field 'depends_on[0]': value 'train' names the "
            "step itself: a step cannot depend on itself");
  EXPECT_EQ(ErrorOf(TwoSteps("    depends_on: [build, build]\n")),
            "p.yaml:9: pipeline p: step train: field 'depends_on[1]': value 'build' is listed "
            "twice: list each dependency once");
  EXPECT_EQ(ErrorOf(TwoSteps("    inputs: [{name: t, from: biuld.train}]\n")),
            "p.yaml:9: pipeline p: step train: field 'inputs[0].from': value 'biuld.train' "
            "names step 'biuld', which is not a step of this pipeline; did you mean 'build'?");
  EXPECT_EQ(ErrorOf(TwoSteps("    inputs: [{name: t, from: build.trian}]\n")),
            "p.yaml:9: pipeline p: step train: field 'inputs[0].from': value 'build.trian' "
            "names output 'trian' of step 'build', which declares no such output; did you mean "
            "'train'? (declare it under that step's outputs:)");
  EXPECT_EQ(ErrorOf(TwoSteps("    inputs: [{name: t, path: /a}, {name: t, path: /b}]\n")),
            "p.yaml:9: pipeline p: step train: field 'inputs[1].name': value 't' is declared "
            "twice: give each input its own name");
  EXPECT_EQ(ErrorOf(TwoSteps("    outputs: [{name: m, path: ../m}]\n")),
            "p.yaml:9: pipeline p: step train: field 'outputs[0].path': value '../m' must be a "
            "relative path inside the step's output directory (no leading '/' and no '..'), "
            "like model.json or data/");
  EXPECT_EQ(ErrorOf(TwoSteps("    outputs: [{name: m}, {name: m}]\n")),
            "p.yaml:9: pipeline p: step train: field 'outputs[1].name': value 'm' is declared "
            "twice: give each output its own name");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n  - {name: a, command: [x]}\n"
                    "  - {name: a, command: [y]}\n"),
            "p.yaml:5: pipeline p: step a: field 'name': value 'a' is used by two steps (first "
            "at line 4): give each step its own name");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nparams: [{name: x}, {name: x}]\n"
                    "steps: [{name: a, command: [x]}]\n"),
            "p.yaml:3: pipeline p: field 'params[1].name': value 'x' is declared twice: give "
            "each parameter its own name");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nparams: [{name: lr}, {name: LR}]\n"
                    "steps: [{name: a, command: [x]}]\n"),
            "p.yaml:3: pipeline p: field 'params[1].name': value 'LR' differs from parameter "
            "'lr' only in case: both would be CAIRN_PARAM_LR; rename one");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nparams:\n  - {name: n, type: int, default: 1.5}\n"
                    "steps: [{name: a, command: [x]}]\n"),
            "p.yaml:4: pipeline p: field 'params[0].default': value '1.5' is not an int: give a "
            "whole number, like 6 (parameter 'n' is declared type: int); change the default or "
            "the type");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nparams:\n  - {name: n, type: float, default: x}\n"
                    "steps: [{name: a, command: [x]}]\n"),
            "p.yaml:4: pipeline p: field 'params[0].default': value 'x' is not a float: give a "
            "number, like 0.1 (parameter 'n' is declared type: float); change the default or "
            "the type");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nparams:\n  - {name: n, type: bool, default: 1}\n"
                    "steps: [{name: a, command: [x]}]\n"),
            "p.yaml:4: pipeline p: field 'params[0].default': value '1' is not a bool: give "
            "true or false (parameter 'n' is declared type: bool); change the default or the "
            "type");
  // Templates.
  EXPECT_EQ(ErrorOf(TwoSteps("    env: {D: \"{{params.dept}}\"}\n")),
            "p.yaml:9: pipeline p: step train: field 'env.D': value '{{params.dept}}' uses "
            "{{params.dept}} but the pipeline has no parameter 'dept'; did you mean 'depth'? "
            "(declare it under params:)");
  EXPECT_EQ(ErrorOf(TwoSteps("    script: cat {{inputs.data}}\n").replace(
                        TwoSteps("").find("    command: [python, train.py]\n"),
                        std::string("    command: [python, train.py]\n").size(), "")),
            "p.yaml:9: pipeline p: step train: field 'script': value 'cat {{inputs.data}}' "
            "uses {{inputs.data}} but step 'train' has no input 'data'; step 'train' declares "
            "no inputs (declare it under inputs:)");
  EXPECT_EQ(ErrorOf(TwoSteps("    outputs: [{name: model}]\n    workdir: \"{{outputs.modl}}\"\n")),
            "p.yaml:9: pipeline p: step train: field 'workdir': value '{{outputs.modl}}' uses "
            "{{outputs.modl}} but step 'train' has no output 'modl'; did you mean 'model'? "
            "(declare it under outputs:)");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n  - {name: a, command: [x, \"{{run.name}}\"]}\n"),
            "p.yaml:4: pipeline p: step a: field 'command[1]': value '{{run.name}}' uses "
            "{{run.name}}, which is not a template: use {{params.NAME}}, {{inputs.NAME}}, "
            "{{outputs.NAME}}, {{run.id}} or {{step.name}}");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n  - {name: a, command: [x, \"{{ oops }}\"]}\n"),
            "p.yaml:4: pipeline p: step a: field 'command[1]': value '{{ oops }}' has "
            "'{{ oops }}', which is not a template: write {{params.NAME}}, {{inputs.NAME}}, "
            "{{outputs.NAME}}, {{run.id}} or {{step.name}}");
  // Ranges.
  EXPECT_EQ(ErrorOf(TwoSteps("    resources: {cpus: 0}\n")),
            "p.yaml:9: pipeline p: step train: field 'resources.cpus': value '0' is out of "
            "range: give a number of CPUs above 0 (like 0.5, 1 or 4)");
  EXPECT_EQ(ErrorOf(TwoSteps("    retry: {factor: 0.5}\n")),
            "p.yaml:9: pipeline p: step train: field 'retry.factor': value '0.5' is out of "
            "range: give a growth factor from 1 to 100 (1: the same delay every time)");
  EXPECT_EQ(ErrorOf(TwoSteps("    retry: {jitter: 1.5}\n")),
            "p.yaml:9: pipeline p: step train: field 'retry.jitter': value '1.5' is out of "
            "range: give a fraction from 0 to 1, like 0.1");
  EXPECT_EQ(ErrorOf(TwoSteps("    retry: {backoff: 2m, max_backoff: 1m}\n")),
            "p.yaml:9: pipeline p: step train: field 'retry.max_backoff': value '1m' is out of "
            "range: give a delay from retry.backoff (2m) to 1d");
  EXPECT_EQ(ErrorOf(TwoSteps("    retry: {backoff: 2d}\n")),
            "p.yaml:9: pipeline p: step train: field 'retry.backoff': value '2d' is out of "
            "range: give a delay from 0 to 1d, like 1s");
  // Triggers.
  EXPECT_EQ(ErrorOf(TwoSteps("", "triggers: [{on: alerts}]\n")),
            "p.yaml:11: pipeline p: field 'triggers[0].on': value 'alerts' is not an event; did "
            "you mean 'alert'? (events: alert, source_ingested, model_version_registered, "
            "pipeline_run_finished)");
  EXPECT_EQ(ErrorOf(TwoSteps("", "triggers: [{on: alert, params: {dpth: '3'}}]\n")),
            "p.yaml:11: pipeline p: field 'triggers[0].params.dpth': value '3' sets parameter "
            "'dpth', which the pipeline does not declare; did you mean 'depth'?");
  EXPECT_EQ(ErrorOf(TwoSteps("", "triggers: [{on: alert, params: {depth: x}}]\n")),
            "p.yaml:11: pipeline p: field 'triggers[0].params.depth': value 'x' is not an int: "
            "give a whole number, like 6 (parameter 'depth' is declared type: int)");
  // Values from the event are typed when the run starts; other templates are refused.
  {
    auto parsed = ParsePipelinesYaml(
        TwoSteps("", "triggers: [{on: model_version_registered, params: "
                     "{depth: '{{event.version}}'}}]\n"),
        "p.yaml");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_TRUE(ValidatePipelines(*parsed).ok()) << ValidatePipelines(*parsed);
  }
  EXPECT_EQ(ErrorOf(TwoSteps("", "triggers: [{on: alert, params: {depth: '{{params.depth}}'}}]\n")),
            "p.yaml:11: pipeline p: field 'triggers[0].params.depth': value '{{params.depth}}' "
            "uses {{params.depth}}: trigger parameters may only use the event's attributes, "
            "like {{event.version}}");
}

TEST(PipelineValidationTest, CyclesNameTheirPath) {
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n"
                    "  - {name: a, command: [x], depends_on: [b]}\n"
                    "  - {name: b, command: [x], depends_on: [a]}\n"),
            "p.yaml:1: pipeline p: steps 'a' → 'b' → 'a' form a cycle: each waits for the one "
            "before it; remove one of these dependencies (depends_on or an input's from)");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n"
                    "  - {name: root, command: [x]}\n"
                    "  - {name: x, command: [x], depends_on: [root, z], outputs: [{name: o}]}\n"
                    "  - {name: y, command: [x], inputs: [{name: i, from: x.o}]}\n"
                    "  - {name: z, command: [x], depends_on: [y]}\n"),
            "p.yaml:1: pipeline p: steps 'x' → 'y' → 'z' → 'x' form a cycle: each waits for "
            "the one before it; remove one of these dependencies (depends_on or an input's from)");
}

TEST(PipelineValidationTest, MissingOutputOfAStepWithoutOutputs) {
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n  - {name: a, command: [x]}\n"
                    "  - {name: b, command: [x], inputs: [{name: i, from: a.o}]}\n"),
            "p.yaml:5: pipeline p: step b: field 'inputs[0].from': value 'a.o' names output 'o' "
            "of step 'a', which declares no such output; step 'a' declares no outputs (declare "
            "it under that step's outputs:)");
}

TEST(PipelineValidationTest, DuplicatePipelinesAcrossFiles) {
  auto a = ParsePipelinesYaml("kind: Pipeline\nname: p\nsteps: [{name: a, command: [x]}]\n", "a.yaml");
  auto b = ParsePipelinesYaml("\nkind: Pipeline\nname: p\nsteps: [{name: a, command: [x]}]\n", "b.yaml");
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<PipelineSpec> both = {(*a)[0], (*b)[0]};
  EXPECT_EQ(ValidatePipelines(both).message(),
            "b.yaml:2: pipeline p: is also defined at a.yaml:1: give each pipeline its own name");
}

TEST(PipelineValidationTest, ExecutorsAndResourcesThroughCallbacks) {
  ValidationOptions options;
  options.executors = {"local", "slurm"};
  std::vector<std::pair<std::string, compute::Resources>> asked;
  options.check_resources = [&](const std::string& executor, const compute::Resources& r) {
    asked.emplace_back(executor, r);
    if (executor == "local" && r.gpus > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("asks for ", r.gpus, " GPUs; the local executor has 0"));
    }
    return absl::OkStatus();
  };
  std::string ok = TwoSteps("    executor: slurm\n    resources: {gpus: 4}\n");
  auto parsed = ParsePipelinesYaml(ok, "p.yaml");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(ValidatePipelines(*parsed, options).ok());
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0].first, "local");
  EXPECT_EQ(asked[1].first, "slurm");
  EXPECT_EQ(asked[1].second.gpus, 4);

  EXPECT_EQ(ErrorOf(TwoSteps("    resources: {gpus: 4, cpus: 2}\n"), options),
            "p.yaml:9: pipeline p: step train: field 'resources': value 'cpus=2 gpus=4' cannot "
            "run on the local executor: asks for 4 GPUs; the local executor has 0; ask for "
            "less, or send the step to an executor that has it (executor: NAME)");
  EXPECT_EQ(ErrorOf(TwoSteps("    executor: slrum\n"), options),
            "p.yaml:9: pipeline p: step train: field 'executor': value 'slrum' is not an "
            "executor of this server; did you mean 'slurm'? (local is always there; slurm "
            "needs cairn server --slurm)");
  EXPECT_EQ(ErrorOf(TwoSteps("", "executor: k8s\n"), options),
            "p.yaml:1: pipeline p: field 'executor': value 'k8s' is not an executor of this "
            "server; executors: local, slurm (local is always there; slurm needs cairn "
            "server --slurm)");
  // Without a list of names, the callback's NotFound says the same.
  ValidationOptions by_callback;
  by_callback.check_resources = [](const std::string& executor, const compute::Resources&) {
    return executor == "local" ? absl::OkStatus()
                               : absl::NotFoundError("executors: local");
  };
  EXPECT_EQ(ErrorOf(TwoSteps("    executor: gpu\n"), by_callback),
            "p.yaml:9: pipeline p: step train: field 'executor': value 'gpu' is not an "
            "executor of this server: executors: local");
}

TEST(PipelineValidationTest, CronThroughTheHook) {
  ValidationOptions options;
  std::string seen;
  options.check_cron = [&](std::string_view cron) {
    seen = std::string(cron);
    return cron == "0 3 * * *" ? absl::OkStatus()
                               : absl::InvalidArgumentError("minute '61' is out of range 0-59");
  };
  auto good = ParsePipelinesYaml(TwoSteps("", "schedule: '0 3 * * *'\n"), "p.yaml");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(ValidatePipelines(*good, options).ok());
  EXPECT_EQ(seen, "0 3 * * *");
  EXPECT_EQ(ErrorOf(TwoSteps("", "schedule: {cron: '61 3 * * *'}\n"), options),
            "p.yaml:1: pipeline p: field 'schedule.cron': value '61 3 * * *' is not a valid "
            "cron expression: minute '61' is out of range 0-59");
  // Without a hook: the cron parser of pipelines/cron.h.
  auto daily = ParsePipelinesYaml(TwoSteps("", "schedule: {cron: '@daily'}\n"), "p.yaml");
  ASSERT_TRUE(daily.ok());
  EXPECT_TRUE(ValidatePipelines(*daily).ok());
  EXPECT_THAT(ErrorOf(TwoSteps("", "schedule: {cron: '0 3 * *'}\n")),
              HasSubstr("p.yaml:1: pipeline p: field 'schedule.cron': value '0 3 * *' is not a "
                        "valid cron expression: cron '0 3 * *': expected 5 fields"));
}

// A fan-out of two steps joined by a no-op step, then one step after it.
std::string NoopJoin(const std::string& join_extra) {
  return "kind: Pipeline\nname: p\nsteps:\n"
         "  - name: a\n    command: [\"true\"]\n"
         "  - name: b\n    command: [\"true\"]\n"
         "  - name: join\n    noop: true\n    depends_on: [a, b]\n" +
         join_extra +
         "  - name: after\n    command: [\"true\"]\n    depends_on: [join]\n";
}

TEST(PipelineNoopTest, ParsesAndValidates) {
  std::vector<PipelineSpec> specs = MustParse(NoopJoin("    cache: false\n"));
  ASSERT_EQ(specs.size(), 1u);
  const StepSpec& join = specs[0].steps[2];
  EXPECT_EQ(join.name, "join");
  EXPECT_TRUE(join.noop);
  EXPECT_THAT(join.depends_on, ElementsAre("a", "b"));
  EXPECT_TRUE(join.command.empty());
  EXPECT_TRUE(join.script.empty());
  EXPECT_FALSE(join.cache);
  EXPECT_FALSE(specs[0].steps[0].noop);
  EXPECT_TRUE(ValidatePipelines(specs, {}).ok()) << ValidatePipelines(specs, {});
  // depends_on as one name; noop: false is an ordinary step (which then needs a command).
  std::vector<PipelineSpec> one = MustParse(
      "kind: Pipeline\nname: p\nsteps:\n  - {name: a, command: [x]}\n"
      "  - {name: j, noop: true, depends_on: a}\n  - {name: solo, noop: true}\n");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_THAT(one[0].steps[1].depends_on, ElementsAre("a"));
  EXPECT_TRUE(one[0].steps[2].noop);
  EXPECT_TRUE(ValidatePipelines(one, {}).ok());
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n  - {name: a, noop: false}\n"),
            "p.yaml:4: pipeline p: step a: missing field 'command': give command: [\"python\", "
            "\"train.py\"] (arguments), script: \"...\" (a shell script run with sh -e) or "
            "noop: true (a step that runs nothing, such as a join)");
  EXPECT_EQ(ErrorOf("kind: Pipeline\nname: p\nsteps:\n  - {name: a, noop: maybe}\n"),
            "p.yaml:4: pipeline p: step a: field 'noop': value 'maybe' must be true or false");
}

TEST(PipelineNoopTest, EveryFieldThatRunsSomethingIsRejected) {
  const std::string what =
      " is not allowed with noop: true (a no-op step runs nothing): remove it, or remove "
      "noop: true to run the step";
  const std::pair<std::string, std::string> cases[] = {
      {"    command: [\"true\"]\n", "field 'command': value a list of 1"},
      {"    script: echo hi\n", "field 'script': value 'echo hi'"},
      {"    env: {A: \"1\"}\n", "field 'env': value a map of 1 keys"},
      {"    workdir: /tmp\n", "field 'workdir': value '/tmp'"},
      {"    inputs: [{name: x, path: /x}]\n", "field 'inputs': value a list of 1"},
      {"    outputs: [{name: x}]\n", "field 'outputs': value a list of 1"},
      {"    resources: {cpus: 2}\n", "field 'resources': value a map of 1 keys"},
      {"    resources: {timeout: 5m}\n", "field 'resources': value a map of 1 keys"},
      {"    retry: {attempts: 3}\n", "field 'retry': value a map of 1 keys"},
      {"    executor: local\n", "field 'executor': value 'local'"},
      {"    partition: gpu\n", "field 'partition': value 'gpu'"},
  };
  for (const auto& [extra, field] : cases) {
    EXPECT_EQ(ErrorOf(NoopJoin(extra)), "p.yaml:11: pipeline p: step join: " + field + what)
        << extra;
  }
}

TEST(PipelineNoopTest, ValidationRejectsTheSameFieldsInAParsedSpec) {
  // A spec that did not come through the YAML parser (the registry's JSON): validation
  // says the same, without the value.
  std::vector<PipelineSpec> base = MustParse(NoopJoin(""));
  ASSERT_EQ(base.size(), 1u);
  const std::string what =
      " is not allowed with noop: true (a no-op step runs nothing): remove it, or remove "
      "noop: true to run the step";
  auto error_with = [&](const std::function<void(StepSpec&)>& change) {
    std::vector<PipelineSpec> specs = base;
    change(specs[0].steps[2]);
    absl::Status status = ValidatePipelines(specs, {});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    return std::string(status.message());
  };
  const std::string prefix = "p.yaml:8: pipeline p: step join: field ";
  EXPECT_EQ(error_with([](StepSpec& s) { s.command = {"true"}; }), prefix + "'command'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.script = "echo"; }), prefix + "'script'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.env = {{"A", "1"}}; }), prefix + "'env'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.workdir = "/w"; }), prefix + "'workdir'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.inputs.push_back({.name = "x", .path = "/x"}); }),
            prefix + "'inputs'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.outputs.push_back({.name = "x", .path = "x"}); }),
            prefix + "'outputs'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.resources.gpus = 1; }), prefix + "'resources'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.resources.timeout_ms = 1000; }),
            prefix + "'resources'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.retry.attempts = 2; }), prefix + "'retry'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.executor = "slurm"; }), prefix + "'executor'" + what);
  EXPECT_EQ(error_with([](StepSpec& s) { s.partition = "gpu"; }), prefix + "'partition'" + what);
  // Its dependencies are checked like any step's.
  EXPECT_EQ(error_with([](StepSpec& s) { s.depends_on = {"a", "zzzzzzzz"}; }),
            "p.yaml:8: pipeline p: step join: field 'depends_on[1]': value 'zzzzzzzz' is not a "
            "step of this pipeline; steps: a, b, join, after");
  // Neither command nor script nor noop.
  EXPECT_EQ(error_with([](StepSpec& s) { s.noop = false; }),
            "p.yaml:8: pipeline p: step join: field 'command' and 'script': give exactly one "
            "(command: a list of arguments; script: a shell script), or noop: true for a step "
            "that runs nothing");
}

TEST(TemplateRefsTest, FindsReferencesWithSpacesAndLeavesOtherBracesAlone) {
  auto refs = FindTemplateRefs("a {{params.x}} b {{ inputs.in_1 }} {x} {{run.id}} {{ no close");
  ASSERT_TRUE(refs.ok()) << refs.status();
  ASSERT_EQ(refs->size(), 3u);
  EXPECT_EQ((*refs)[0].scope, "params");
  EXPECT_EQ((*refs)[0].name, "x");
  EXPECT_EQ((*refs)[0].begin, 2u);
  EXPECT_EQ((*refs)[0].end, 14u);
  EXPECT_EQ((*refs)[1].scope, "inputs");
  EXPECT_EQ((*refs)[1].name, "in_1");
  EXPECT_EQ((*refs)[2].scope, "run");
  EXPECT_FALSE(FindTemplateRefs("{{}}").ok());
}

TEST(NormalizeParamValueTest, CanonicalTextPerType) {
  EXPECT_EQ(*NormalizeParamValue(ParamType::kInt, "06"), "6");
  EXPECT_EQ(*NormalizeParamValue(ParamType::kInt, "-3"), "-3");
  EXPECT_EQ(*NormalizeParamValue(ParamType::kFloat, "1.50"), "1.5");
  EXPECT_EQ(*NormalizeParamValue(ParamType::kFloat, "2"), "2");
  EXPECT_EQ(*NormalizeParamValue(ParamType::kBool, "True"), "true");
  EXPECT_EQ(*NormalizeParamValue(ParamType::kBool, "no"), "false");
  EXPECT_EQ(*NormalizeParamValue(ParamType::kString, " x "), " x ");
  EXPECT_FALSE(NormalizeParamValue(ParamType::kInt, "1e3").ok());
  EXPECT_FALSE(NormalizeParamValue(ParamType::kFloat, "nan").ok());
}

}  // namespace
}  // namespace cairn::pipelines
