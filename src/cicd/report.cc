#include "cicd/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/timestamp.h"

namespace cairn::cicd {
namespace {

bool Failing(const GateResult& gate) { return gate.verdict != "pass" && gate.verdict != "skipped"; }

int Group(const GateResult& gate) {
  if (Failing(gate)) return 0;
  return gate.verdict == "skipped" ? 1 : 2;
}

// 4 decimal places, trailing zeros dropped; integers without a point; tiny or huge values
// in exponent form so they never print as "0".
std::string Number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
    return buffer;
  }
  if (std::fabs(value) < 0.0001 || std::fabs(value) >= 1e15) {
    std::snprintf(buffer, sizeof(buffer), "%.4g", value);
    return buffer;
  }
  std::snprintf(buffer, sizeof(buffer), "%.4f", value);
  std::string text = buffer;
  while (!text.empty() && text.back() == '0') text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  if (text == "-0") text = "0";
  return text;
}

std::string Optional(const std::optional<double>& value) {
  return value.has_value() ? Number(*value) : "";
}

std::string Change(const GateResult& gate) {
  if (!gate.value.has_value() || !gate.baseline.has_value()) return "";
  const double change = *gate.value - *gate.baseline;
  std::string text = Number(change);
  if (change > 0) text = "+" + text;
  return text;
}

struct Summary {
  int failed = 0;   // fail or error
  int skipped = 0;
  int total = 0;
};

Summary Summarize(const Evaluation& evaluation) {
  Summary out;
  for (const GateResult& gate : evaluation.gates) {
    ++out.total;
    if (Failing(gate)) ++out.failed;
    if (gate.verdict == "skipped") ++out.skipped;
  }
  return out;
}

std::string Baseline(const Evaluation& evaluation) {
  return evaluation.baseline_version > 0
             ? absl::StrCat("baseline v", evaluation.baseline_version)
             : std::string("no baseline (no version held the target alias)");
}

std::string Counts(const Summary& summary) {
  std::string text = absl::StrCat(summary.failed, " of ", summary.total, " gate",
                                  summary.total == 1 ? "" : "s", " failed");
  if (summary.skipped > 0) absl::StrAppend(&text, ", ", summary.skipped, " skipped");
  return text;
}

std::string Subject(const Evaluation& evaluation) {
  std::string text = absl::StrCat(evaluation.model, " v", evaluation.version);
  return text;
}

std::string PolicyText(const Evaluation& evaluation) {
  if (evaluation.policy.empty()) return "no policy";
  return absl::StrCat("policy ", evaluation.policy, " v", evaluation.policy_version);
}

std::string Provenance(const Evaluation& evaluation) {
  std::string text = absl::StrCat("evaluation ", evaluation.id);
  if (!evaluation.actor.empty()) absl::StrAppend(&text, " by ", evaluation.actor);
  if (evaluation.created_ms > 0) {
    absl::StrAppend(&text, " at ", FormatTimestamp(evaluation.created_ms));
  }
  return text;
}

bool AnySlice(const std::vector<GateResult>& gates) {
  return std::any_of(gates.begin(), gates.end(),
                     [](const GateResult& gate) { return !gate.slice.empty(); });
}

std::string TextVerdict(const GateResult& gate) {
  if (gate.verdict == "fail") return "FAIL";
  if (gate.verdict == "error") return "ERROR";
  return gate.verdict;
}

std::string MarkdownVerdict(const GateResult& gate) {
  if (gate.verdict == "pass") return "✅ pass";
  if (gate.verdict == "fail") return "❌ fail";
  if (gate.verdict == "skipped") return "➖ skipped";
  return absl::StrCat("⚠️ ", gate.verdict);
}

std::string MarkdownCell(std::string_view text) {
  std::string out = absl::StrReplaceAll(
      std::string(text), {{"\\", "\\\\"}, {"|", "\\|"}, {"\r\n", " "}, {"\n", " "}, {"\r", " "}});
  return out;
}

// Display width in terminal columns: UTF-8 continuation bytes take none.
size_t Width(std::string_view text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string Gate(const GateResult& gate) {
  return gate.gate.empty() ? gate.name : gate.gate;
}

}  // namespace

std::vector<GateResult> GatesInReportOrder(const Evaluation& evaluation) {
  std::vector<GateResult> gates = evaluation.gates;
  std::stable_sort(gates.begin(), gates.end(), [](const GateResult& a, const GateResult& b) {
    return Group(a) < Group(b);
  });
  return gates;
}

std::string EvaluationToText(const Evaluation& evaluation) {
  const Summary summary = Summarize(evaluation);
  std::string out = absl::StrCat(evaluation.passed ? "PASSED " : "FAILED ", Subject(evaluation),
                                 ": ", PolicyText(evaluation), ", ", Baseline(evaluation), ", ",
                                 evaluation.rows, " evaluation rows, ", Counts(summary), "\n");
  absl::StrAppend(&out, "(", Provenance(evaluation), ")\n");
  const std::vector<GateResult> gates = GatesInReportOrder(evaluation);
  if (gates.empty()) {
    absl::StrAppend(&out, "\nno gates\n");
    return out;
  }
  const bool slices = AnySlice(gates);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"gate"};
  if (slices) header.push_back("slice");
  for (const char* column : {"value", "baseline", "change", "verdict"}) header.push_back(column);
  rows.push_back(header);
  for (const GateResult& gate : gates) {
    std::vector<std::string> row = {Gate(gate)};
    if (slices) row.push_back(gate.slice.empty() ? "(all)" : gate.slice);
    row.push_back(Optional(gate.value));
    row.push_back(Optional(gate.baseline));
    row.push_back(Change(gate));
    row.push_back(TextVerdict(gate));
    rows.push_back(std::move(row));
  }
  std::vector<size_t> widths(header.size(), 0);
  for (const auto& row : rows) {
    for (size_t column = 0; column < row.size(); ++column) {
      widths[column] = std::max(widths[column], Width(row[column]));
    }
  }
  out += "\n";
  for (const auto& row : rows) {
    std::string line;
    for (size_t column = 0; column < row.size(); ++column) {
      if (column > 0) line += "  ";
      line += row[column];
      if (column + 1 < row.size()) line.append(widths[column] - Width(row[column]), ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  bool details = false;
  for (const GateResult& gate : gates) {
    if (gate.detail.empty()) continue;
    if (!details) {
      out += "\n";
      details = true;
    }
    absl::StrAppend(&out, TextVerdict(gate), "  ", Gate(gate));
    if (!gate.slice.empty()) absl::StrAppend(&out, " [", gate.slice, "]");
    absl::StrAppend(&out, ": ", gate.detail, "\n");
  }
  return out;
}

std::string EvaluationToMarkdown(const Evaluation& evaluation) {
  const Summary summary = Summarize(evaluation);
  std::string out =
      absl::StrCat("### ", evaluation.passed ? "✅ " : "❌ ", MarkdownCell(Subject(evaluation)),
                   evaluation.passed ? " passed " : " failed ", MarkdownCell(PolicyText(evaluation)),
                   "\n\n");
  absl::StrAppend(&out, Counts(summary), " · ", Baseline(evaluation), " · ", evaluation.rows,
                  " evaluation rows · ", MarkdownCell(Provenance(evaluation)), "\n\n");
  const std::vector<GateResult> gates = GatesInReportOrder(evaluation);
  if (gates.empty()) {
    absl::StrAppend(&out, "No gates.\n");
    return out;
  }
  const bool slices = AnySlice(gates);
  absl::StrAppend(&out, slices ? "| gate | slice | value | baseline | change | verdict |\n"
                               : "| gate | value | baseline | change | verdict |\n");
  absl::StrAppend(&out, slices ? "|---|---|--:|--:|--:|---|\n" : "|---|--:|--:|--:|---|\n");
  for (const GateResult& gate : gates) {
    absl::StrAppend(&out, "| ", MarkdownCell(Gate(gate)), " | ");
    if (slices) absl::StrAppend(&out, gate.slice.empty() ? "(all)" : MarkdownCell(gate.slice), " | ");
    absl::StrAppend(&out, Optional(gate.value), " | ", Optional(gate.baseline), " | ",
                    Change(gate), " | ", MarkdownVerdict(gate), " |\n");
  }
  // Why each failing gate failed is shown; the rest of the explanations fold away.
  std::string failing, others;
  for (const GateResult& gate : gates) {
    if (gate.detail.empty()) continue;
    std::string item = absl::StrCat("- ", MarkdownVerdict(gate), " **", MarkdownCell(Gate(gate)),
                                    "**");
    if (!gate.slice.empty()) absl::StrAppend(&item, " (", MarkdownCell(gate.slice), ")");
    absl::StrAppend(&item, ": ", MarkdownCell(gate.detail), "\n");
    (Failing(gate) ? failing : others) += item;
  }
  if (!failing.empty()) absl::StrAppend(&out, "\n", failing);
  if (!others.empty()) {
    absl::StrAppend(&out, "\n<details><summary>Other gates</summary>\n\n", others,
                    "\n</details>\n");
  }
  return out;
}

}  // namespace cairn::cicd
