#include "pipelines/dag.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::pipelines {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

StepSpec Step(std::string name, std::vector<std::string> deps = {},
              std::vector<std::string> from = {}) {
  StepSpec step;
  step.name = std::move(name);
  step.command = {"true"};
  step.depends_on = std::move(deps);
  for (size_t i = 0; i < from.size(); ++i) {
    step.inputs.push_back(InputSpec{.name = "in" + std::to_string(i), .from = from[i]});
  }
  return step;
}

PipelineSpec Pipeline(std::vector<StepSpec> steps) {
  PipelineSpec spec;
  spec.name = "p";
  spec.steps = std::move(steps);
  return spec;
}

TEST(DagTest, ExplicitAndImpliedDependencies) {
  auto dag = Dag::Build(Pipeline({Step("build"), Step("features"),
                                  Step("train", {"features"}, {"build.train", "build.test"}),
                                  Step("eval", {}, {"train.model"})}));
  ASSERT_TRUE(dag.ok()) << dag.status();
  EXPECT_EQ(dag->size(), 4);
  EXPECT_THAT(dag->upstream(2), ElementsAre(0, 1));  // deduplicated, ascending
  EXPECT_THAT(dag->downstream(0), ElementsAre(2));
  EXPECT_THAT(dag->upstream(3), ElementsAre(2));
  EXPECT_THAT(dag->Roots(), ElementsAre(0, 1));
  EXPECT_THAT(dag->order(), ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(dag->IndexOf("eval"), 3);
  EXPECT_EQ(dag->IndexOf("nope"), std::nullopt);
  EXPECT_EQ(dag->name(2), "train");
}

TEST(DagTest, OrderIsStableFileOrderAmongReadySteps) {
  // d is written first but waits for c; a and b are ready at once and keep file order.
  auto dag = Dag::Build(Pipeline({Step("d", {"c"}), Step("b"), Step("a"), Step("c", {"a", "b"}),
                                  Step("e", {"b"})}));
  ASSERT_TRUE(dag.ok()) << dag.status();
  std::vector<std::string> names;
  for (int i : dag->order()) names.push_back(dag->name(i));
  EXPECT_THAT(names, ElementsAre("b", "a", "c", "d", "e"));
}

TEST(DagTest, AllDownstreamInTopologicalOrder) {
  //   a → b → d
  //   a → c → d → e ;  f alone
  auto dag = Dag::Build(Pipeline({Step("a"), Step("b", {"a"}), Step("c", {"a"}),
                                  Step("d", {"c", "b"}), Step("e", {"d"}), Step("f")}));
  ASSERT_TRUE(dag.ok());
  EXPECT_THAT(dag->AllDownstream(0), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(dag->AllDownstream(2), ElementsAre(3, 4));
  EXPECT_THAT(dag->AllDownstream(4), IsEmpty());
  EXPECT_THAT(dag->AllDownstream(5), IsEmpty());
}

TEST(DagTest, CyclesAreReportedWithTheirPath) {
  auto two = Dag::Build(Pipeline({Step("a", {"b"}), Step("b", {"a"})}));
  EXPECT_EQ(two.status().message(),
            "steps 'a' → 'b' → 'a' form a cycle: each waits for the one before it; remove one "
            "of these dependencies (depends_on or an input's from)");
  // A cycle downstream of a valid prefix, through an implied dependency; the path starts
  // at the first of its steps in file order and follows the flow of work.
  auto three = Dag::Build(Pipeline({Step("ok"), Step("x", {"ok", "z"}), Step("y", {}, {"x.o"}),
                                    Step("z", {"y"}), Step("after", {"z"})}));
  EXPECT_EQ(three.status().message(),
            "steps 'x' → 'y' → 'z' → 'x' form a cycle: each waits for the one before it; remove "
            "one of these dependencies (depends_on or an input's from)");
}

TEST(DagTest, UnknownAndSelfDependencies) {
  EXPECT_EQ(Dag::Build(Pipeline({Step("build"), Step("t", {"bild"})})).status().message(),
            "step 't': depends_on 'bild' is not a step of this pipeline; did you mean 'build'?");
  EXPECT_EQ(Dag::Build(Pipeline({Step("a", {}, {"a.x"})})).status().message(),
            "step 'a': input 'in0' (from: a.x) names the step itself: a step cannot depend on "
            "its own outputs");
  EXPECT_EQ(Dag::Build(Pipeline({Step("a"), Step("a")})).status().message(),
            "step 'a': two steps are named 'a': give each step its own name");
}

TEST(DagTest, LargeFanOutFanIn) {
  std::vector<StepSpec> steps = {Step("start")};
  std::vector<std::string> middle;
  for (int i = 0; i < 1000; ++i) {
    steps.push_back(Step("m" + std::to_string(i), {"start"}));
    middle.push_back("m" + std::to_string(i));
  }
  steps.push_back(Step("end", middle));
  auto dag = Dag::Build(Pipeline(steps));
  ASSERT_TRUE(dag.ok());
  EXPECT_EQ(dag->order().front(), 0);
  EXPECT_EQ(dag->order().back(), 1001);
  EXPECT_EQ(dag->AllDownstream(0).size(), 1001u);
  EXPECT_EQ(dag->upstream(1001).size(), 1000u);
}

}  // namespace
}  // namespace cairn::pipelines
