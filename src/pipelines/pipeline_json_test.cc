#include "pipelines/pipeline_json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipelines/pipeline_diff.h"
#include "pipelines/pipeline_yaml.h"

namespace cairn::pipelines {
namespace {

PipelineSpec MustParseOne(const std::string& text) {
  auto parsed = ParsePipelinesYaml(text, "p.yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok() || parsed->size() != 1) return PipelineSpec();
  return (*parsed)[0];
}

constexpr char kBase[] = R"yaml(kind: Pipeline
name: churn
description: d
tags: {b: "2", a: "1"}
params:
  - {name: depth, type: int, default: 6}
  - {name: lr, type: float, default: 0.10}
steps:
  - name: build
    command: [make, data]
    env: {B: "2", A: "1"}
    outputs: [{name: train, path: train.csv}]
  - name: train
    command: [python, train.py, "--depth={{params.depth}}"]
    inputs: [{name: train, from: build.train}]
    resources: {cpus: 2, memory: 1Gi, timeout: 1h}
    retry: {attempts: 3, backoff: 1s}
schedule: {cron: "0 3 * * *"}
triggers: [{on: alert, match: {monitor: drift}}]
)yaml";

// The same content: other key order, flow vs block style, quoting, comments, whitespace,
// equivalent default text ("06", "0.1").
constexpr char kReordered[] = R"yaml(
# same pipeline, written differently
name:   "churn"
kind: Pipeline
triggers:
  - match: {monitor: "drift"}
    on: alert
schedule:
  cron: '0 3 * * *'
steps:
  - command: ["make", "data"]
    name: build
    outputs:
      - path: train.csv
        name: train
    env:
      A: "1"
      B: "2"
  - name: train
    retry: {backoff: 1s, attempts: 3}
    resources: {timeout: 60m, memory: 1073741824, cpus: 2.0}
    inputs: [{from: build.train, name: train}]
    command:
      - python
      - train.py
      - "--depth={{params.depth}}"
params:
  - {type: int, name: depth, default: "06"}
  - {name: lr, default: 0.1, type: float}
tags: {a: "1", b: "2"}
description: "d"
)yaml";

TEST(PipelineJsonTest, SameContentSameHashWhateverTheWriting) {
  PipelineSpec a = MustParseOne(kBase), b = MustParseOne(kReordered);
  EXPECT_EQ(PipelineCanonicalText(a), PipelineCanonicalText(b));
  EXPECT_EQ(PipelineContentHash(a), PipelineContentHash(b));
  EXPECT_EQ(PipelineContentHash(a).size(), 64u);
  // Lines and files are not content.
  b.file = "elsewhere.yaml";
  b.line = 99;
  b.steps[0].line = 7;
  EXPECT_EQ(PipelineContentHash(a), PipelineContentHash(b));
}

TEST(PipelineJsonTest, AnyContentChangeChangesTheHash) {
  const std::string base_hash = PipelineContentHash(MustParseOne(kBase));
  auto changed = [&](const std::string& from, const std::string& to) {
    std::string text = kBase;
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    return PipelineContentHash(MustParseOne(text));
  };
  EXPECT_NE(changed("[make, data]", "[make, data2]"), base_hash);  // a command
  EXPECT_NE(changed("default: 6", "default: 7"), base_hash);
  EXPECT_NE(changed("memory: 1Gi", "memory: 2Gi"), base_hash);
  EXPECT_NE(changed("attempts: 3", "attempts: 4"), base_hash);
  EXPECT_NE(changed("description: d", "description: e"), base_hash);
  EXPECT_NE(changed("0 3 * * *", "0 4 * * *"), base_hash);
  EXPECT_NE(changed("monitor: drift", "monitor: drift2"), base_hash);
  EXPECT_NE(changed("B: \"2\"", "B: \"3\""), base_hash);
  // Step order is content (it breaks ties in the run order).
  PipelineSpec swapped = MustParseOne(kBase);
  std::swap(swapped.steps[0], swapped.steps[1]);
  EXPECT_NE(PipelineContentHash(swapped), base_hash);
}

TEST(PipelineJsonTest, CanonicalFormIsExplicit) {
  Json json = PipelineToJson(MustParseOne(kBase));
  EXPECT_EQ(json["kind"], "Pipeline");
  EXPECT_EQ(json["executor"], "");
  EXPECT_EQ(json["params"][1]["default"], "0.1");
  EXPECT_EQ(json["steps"][1]["resources"]["memory_bytes"], 1LL << 30);
  EXPECT_EQ(json["steps"][1]["resources"]["timeout_ms"], 3'600'000);
  EXPECT_EQ(json["steps"][1]["retry"]["max_backoff_ms"], 60'000);
  EXPECT_EQ(json["steps"][0]["cache"], true);
  EXPECT_EQ(json["schedule"]["catchup"], "latest");
  EXPECT_FALSE(json.contains("file"));
  EXPECT_FALSE(json["steps"][0].contains("line"));
}

TEST(PipelineJsonTest, RoundTripsThroughJson) {
  PipelineSpec spec = MustParseOne(kBase);
  spec.params.push_back(ParamSpec{.name = "req", .type = ParamType::kBool});
  spec.steps[1].cache = false;
  spec.steps[1].executor = "slurm";
  spec.steps[1].partition = "gpu";
  spec.steps[1].resources.gpus = 2;
  spec.steps[1].resources.cpus = 0.5;
  spec.steps[1].retry.jitter = 0.25;
  spec.steps[1].retry.factor = 1.5;
  spec.steps[0].script = "echo";
  spec.steps[0].workdir = "/w";
  spec.schedule.catchup = Catchup::kNone;
  spec.triggers[0].params = {{"depth", "3"}};
  spec.owner = "me";
  auto back = PipelineFromJson(ParseJson(PipelineCanonicalText(spec)).value());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(PipelineContentHash(*back), PipelineContentHash(spec));
  // Equal apart from file/lines (and the default text, which is canonical: 0.10 → 0.1).
  PipelineSpec expected = spec;
  expected.file.clear();
  expected.line = 0;
  for (auto& s : expected.steps) s.line = 0;
  for (auto& p : expected.params) p.line = 0;
  for (auto& t : expected.triggers) t.line = 0;
  expected.params[1].default_value = "0.1";
  EXPECT_EQ(*back, expected);
}

TEST(PipelineJsonTest, FromJsonNamesTheBadField) {
  EXPECT_EQ(PipelineFromJson(Json::parse(R"({"steps": [{"name": 3}]})")).status().message(),
            "pipeline JSON: steps[0].name: must be a string");
  EXPECT_EQ(PipelineFromJson(Json::parse(R"({"kind": "Entity"})")).status().message(),
            "kind: 'Entity' is not Pipeline");
  EXPECT_FALSE(PipelineFromJson(Json::array()).ok());
}

TEST(PipelineJsonTest, StepCanonicalJsonIsTheStepAlone) {
  PipelineSpec a = MustParseOne(kBase), b = MustParseOne(kReordered);
  EXPECT_EQ(StepCanonicalJson(a.steps[1]), StepCanonicalJson(b.steps[1]));
  EXPECT_EQ(StepCanonicalJson(a.steps[1]), DumpJson(PipelineToJson(a)["steps"][1]));
  StepSpec changed = a.steps[1];
  changed.command.back() = "--depth=7";
  EXPECT_NE(StepCanonicalJson(changed), StepCanonicalJson(a.steps[1]));
  // Another step's change leaves it alone.
  a.steps[0].command = {"other"};
  EXPECT_EQ(StepCanonicalJson(a.steps[1]), StepCanonicalJson(b.steps[1]));
}

// ---- diff ----

TEST(PipelineDiffTest, FieldLevelPaths) {
  PipelineSpec a = MustParseOne(kBase);
  PipelineSpec b = a;
  b.steps[1].command[0] = "python3";
  b.params[0].default_value = "8";
  b.steps[1].resources.gpus = 1;
  b.schedule.cron = "";
  b.tags.erase("a");
  Json diffs = DiffPipelines(a, b);
  EXPECT_EQ(diffs, Json::parse(R"([
    {"path": "params[0].default", "old": "6", "new": "8"},
    {"path": "schedule.cron", "old": "0 3 * * *", "new": ""},
    {"path": "steps[1].command", "old": ["python", "train.py", "--depth={{params.depth}}"],
     "new": ["python3", "train.py", "--depth={{params.depth}}"]},
    {"path": "steps[1].resources.gpus", "old": 0, "new": 1},
    {"path": "tags.a", "old": "1", "new": null}
  ])")) << diffs.dump(2);
  EXPECT_EQ(DiffPipelines(a, a), Json::array());
}

TEST(PipelineJsonTest, NoopIsContentButOnlyWrittenWhenSet) {
  PipelineSpec spec = MustParseOne(kBase);
  const std::string before = PipelineCanonicalText(spec);
  // Absent when false: the canonical text (and hash) of pipelines without noop steps is
  // what it was before the field existed.
  EXPECT_EQ(before.find("noop"), std::string::npos);
  PipelineSpec with_join = spec;
  with_join.steps.push_back(StepSpec{.name = "join", .depends_on = {"train"}, .noop = true});
  Json json = PipelineToJson(with_join);
  EXPECT_EQ(json["steps"][2]["noop"], true);
  EXPECT_FALSE(json["steps"][1].contains("noop"));
  absl::StatusOr<PipelineSpec> back = PipelineFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->steps[2].noop);
  EXPECT_FALSE(back->steps[1].noop);
  EXPECT_EQ(PipelineContentHash(*back), PipelineContentHash(with_join));
  // Turning a step into a no-op (or back) is a new version, and the diff shows it.
  PipelineSpec plain = with_join;
  plain.steps[2].noop = false;
  plain.steps[2].command = {"true"};
  EXPECT_NE(PipelineContentHash(plain), PipelineContentHash(with_join));
  EXPECT_EQ(DiffPipelines(plain, with_join), Json::parse(R"([
    {"path": "steps[2].command", "old": ["true"], "new": []},
    {"path": "steps[2].noop", "old": null, "new": true}
  ])")) << DiffPipelines(plain, with_join).dump(2);
}

TEST(PipelineDiffTest, StepsAreMatchedByName) {
  PipelineSpec a = MustParseOne(kBase);
  PipelineSpec b = a;
  StepSpec check;
  check.name = "check";
  check.command = {"true"};
  b.steps.insert(b.steps.begin() + 1, check);  // inserted in the middle
  b.steps[2].retry.attempts = 5;                // train, now at index 2
  Json diffs = DiffPipelines(a, b);
  ASSERT_EQ(diffs.size(), 2u) << diffs.dump(2);
  EXPECT_EQ(diffs[0]["path"], "steps[1]");
  EXPECT_TRUE(diffs[0]["old"].is_null());
  EXPECT_EQ(diffs[0]["new"]["name"], "check");
  EXPECT_EQ(diffs[1], Json::parse(R"({"path": "steps[2].retry.attempts", "old": 3, "new": 5})"));

  // Removed, and reordered.
  PipelineSpec c = a;
  c.steps.erase(c.steps.begin());
  Json removed = DiffPipelines(a, c);
  ASSERT_EQ(removed.size(), 1u) << removed.dump(2);
  EXPECT_EQ(removed[0]["path"], "steps[0]");
  EXPECT_EQ(removed[0]["old"]["name"], "build");
  EXPECT_TRUE(removed[0]["new"].is_null());
  PipelineSpec d = a;
  std::swap(d.steps[0], d.steps[1]);
  EXPECT_EQ(DiffPipelines(a, d),
            Json::parse(R"([{"path": "steps", "old": ["build", "train"], "new": ["train", "build"]}])"));
}

}  // namespace
}  // namespace cairn::pipelines
