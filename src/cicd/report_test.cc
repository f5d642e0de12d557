#include "cicd/report.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::cicd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Evaluation Failed() {
  Evaluation e;
  e.id = "ev-42";
  e.model = "churn";
  e.version = 3;
  e.baseline_version = 2;
  e.policy = "churn-gate";
  e.policy_version = 1;
  e.passed = false;
  e.rows = 1000;
  e.actor = "alice";
  e.created_ms = 1'700'000'000'000;
  e.gates = {
      {.gate = "auc >= 0.7", .kind = "metric", .name = "auc", .value = 0.81234,
       .verdict = "pass", .detail = "0.8123 >= 0.7"},
      {.gate = "auc vs production: change >= -0.005", .kind = "metric", .name = "auc",
       .slice = "plan=basic", .value = 0.7, .baseline = 0.75, .verdict = "fail",
       .detail = "change -0.05 < -0.005"},
      {.gate = "run val_auc >= 0.7", .kind = "run_metric", .name = "val_auc",
       .verdict = "skipped", .detail = "no baseline"},
      {.gate = "latency_p99_ms <= 5", .kind = "check", .name = "latency_p99_ms", .value = 12.5,
       .verdict = "error", .detail = "model failed | to load"},
  };
  return e;
}

TEST(ReportTest, OrderPutsFailingFirst) {
  std::vector<GateResult> gates = GatesInReportOrder(Failed());
  ASSERT_EQ(gates.size(), 4u);
  EXPECT_EQ(gates[0].verdict, "fail");
  EXPECT_EQ(gates[1].verdict, "error");
  EXPECT_EQ(gates[2].verdict, "skipped");
  EXPECT_EQ(gates[3].verdict, "pass");
}

TEST(ReportTest, Text) {
  EXPECT_EQ(EvaluationToText(Failed()),
            "FAILED churn v3: policy churn-gate v1, baseline v2, 1000 evaluation rows, 2 of 4 "
            "gates failed, 1 skipped\n"
            "(evaluation ev-42 by alice at 2023-11-14T22:13:20.000Z)\n"
            "\n"
            "gate                                 slice       value   baseline  change  verdict\n"
            "auc vs production: change >= -0.005  plan=basic  0.7     0.75      -0.05   FAIL\n"
            "latency_p99_ms <= 5                  (all)       12.5                      ERROR\n"
            "run val_auc >= 0.7                   (all)                                 skipped\n"
            "auc >= 0.7                           (all)       0.8123                    pass\n"
            "\n"
            "FAIL  auc vs production: change >= -0.005 [plan=basic]: change -0.05 < -0.005\n"
            "ERROR  latency_p99_ms <= 5: model failed | to load\n"
            "skipped  run val_auc >= 0.7: no baseline\n"
            "pass  auc >= 0.7: 0.8123 >= 0.7\n");
}

TEST(ReportTest, TextPassedWithoutBaselineOrSlices) {
  Evaluation e;
  e.id = "ev-1";
  e.model = "churn";
  e.version = 1;
  e.policy = "g";
  e.policy_version = 2;
  e.passed = true;
  e.rows = 10;
  e.gates = {{.gate = "auc vs production: change >= 0", .kind = "metric", .name = "auc",
              .value = 0.9, .verdict = "skipped"},
             {.gate = "loads", .kind = "check", .name = "loads", .verdict = "pass"}};
  EXPECT_EQ(EvaluationToText(e),
            "PASSED churn v1: policy g v2, no baseline (no version held the target alias), 10 "
            "evaluation rows, 0 of 2 gates failed, 1 skipped\n"
            "(evaluation ev-1)\n"
            "\n"
            "gate                            value  baseline  change  verdict\n"
            "auc vs production: change >= 0  0.9                      skipped\n"
            "loads                                                    pass\n");
}

TEST(ReportTest, Markdown) {
  const std::string md = EvaluationToMarkdown(Failed());
  EXPECT_EQ(md,
            "### ❌ churn v3 failed policy churn-gate v1\n"
            "\n"
            "2 of 4 gates failed, 1 skipped · baseline v2 · 1000 evaluation rows · evaluation "
            "ev-42 by alice at 2023-11-14T22:13:20.000Z\n"
            "\n"
            "| gate | slice | value | baseline | change | verdict |\n"
            "|---|---|--:|--:|--:|---|\n"
            "| auc vs production: change >= -0.005 | plan=basic | 0.7 | 0.75 | -0.05 | ❌ fail |\n"
            "| latency_p99_ms <= 5 | (all) | 12.5 |  |  | ⚠️ error |\n"
            "| run val_auc >= 0.7 | (all) |  |  |  | ➖ skipped |\n"
            "| auc >= 0.7 | (all) | 0.8123 |  |  | ✅ pass |\n"
            "\n"
            "- ❌ fail **auc vs production: change >= -0.005** (plan=basic): change -0.05 < "
            "-0.005\n"
            "- ⚠️ error **latency_p99_ms <= 5**: model failed \\| to load\n"
            "\n"
            "<details><summary>Other gates</summary>\n"
            "\n"
            "- ➖ skipped **run val_auc >= 0.7**: no baseline\n"
            "- ✅ pass **auc >= 0.7**: 0.8123 >= 0.7\n"
            "\n"
            "</details>\n");
}

TEST(ReportTest, MarkdownPassedAndNumbers) {
  Evaluation e;
  e.id = "ev-2";
  e.model = "m";
  e.version = 4;
  e.baseline_version = 3;
  e.policy = "p";
  e.policy_version = 1;
  e.passed = true;
  e.gates = {{.gate = "rmse <= 3", .kind = "metric", .name = "rmse", .value = 0.00001234,
              .baseline = 2, .verdict = "pass"},
             {.gate = "r2 >= 0", .kind = "metric", .name = "r2", .value = 0.5,
              .baseline = 0.25, .verdict = "pass"}};
  const std::string md = EvaluationToMarkdown(e);
  EXPECT_THAT(md, HasSubstr("### ✅ m v4 passed policy p v1\n"));
  EXPECT_THAT(md, HasSubstr("| rmse <= 3 | 1.234e-05 | 2 | -2 | ✅ pass |\n"));
  EXPECT_THAT(md, HasSubstr("| r2 >= 0 | 0.5 | 0.25 | +0.25 | ✅ pass |\n"));
  EXPECT_THAT(md, Not(HasSubstr("<details>")));
  EXPECT_THAT(md, Not(HasSubstr("slice")));
}

TEST(ReportTest, NoGates) {
  Evaluation e;
  e.id = "ev-3";
  e.model = "m";
  e.version = 1;
  EXPECT_THAT(EvaluationToText(e), HasSubstr("\nno gates\n"));
  EXPECT_THAT(EvaluationToMarkdown(e), HasSubstr("No gates.\n"));
}

}  // namespace
}  // namespace cairn::cicd
