#pragma once
// An evaluation as a person reads it: plain text for the terminal (`cairn ci check`) and
// Markdown for a pull-request comment. Both start with a verdict line (PASSED / FAILED,
// model and version, policy and version, the baseline version or "no baseline", rows,
// failing gate count), then a gate table with value / baseline / change / verdict, the
// failing (and erroring) gates first, then skipped, then passed, each group in the
// policy's order; each gate's detail sentence follows the table (in Markdown the failing
// ones shown, the others folded in <details>). Numbers print with at most 4 decimals,
// trailing zeros dropped ("0.8123", "12.5", "-0.0042", "5"; below 0.0001 as "1.2e-05");
// change is value − baseline with a sign ("+0.02"; blank without a baseline). The slice
// column appears only when a gate has a slice. Pure; thread-safe.

#include <string>
#include <vector>

#include "cicd/evaluation.h"

namespace cairn::cicd {

// Plain text, columns aligned with spaces, lines end with '\n'.
std::string EvaluationToText(const Evaluation& evaluation);

// GitHub-flavoured Markdown: "### ✅ churn v3 passed …" / "### ❌ churn v3 failed …", a
// table (| gate | slice | value | baseline | change | verdict |, '|' in cells escaped),
// a details list. Lines end with '\n'.
std::string EvaluationToMarkdown(const Evaluation& evaluation);

// The gate results in report order (failing and erroring first, then skipped, then
// passed; stable within a group).
std::vector<GateResult> GatesInReportOrder(const Evaluation& evaluation);

}  // namespace cairn::cicd
