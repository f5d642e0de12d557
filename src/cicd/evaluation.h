#pragma once
// One evaluation of a candidate model version against a policy (issue 6 item 4): every
// gate's value, baseline and verdict, stored (evaluation_store.h) and reported as text,
// Markdown (a pull-request comment) or JSON (report.h).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"

namespace cairn::cicd {

struct GateResult {
  std::string gate;     // the gate as written, e.g. "auc >= 0.7", "auc vs production"
  std::string kind;     // GateSpec::kind
  std::string name;     // GateSpec::name
  std::string slice;    // "" overall, or "plan=basic"
  std::optional<double> value;     // the candidate's
  std::optional<double> baseline;  // the target alias's version's (comparison gates)
  std::string verdict;  // "pass" | "fail" | "skipped" (no baseline) | "error"
  std::string detail;   // one sentence: why (the bound, the change, the error)
  bool operator==(const GateResult&) const = default;
};

struct Evaluation {
  std::string id;  // unique, e.g. "ev-…"
  std::string model;
  int64_t version = 0;
  int64_t baseline_version = 0;  // the target alias's version at evaluation time; 0: none
  std::string policy;
  int64_t policy_version = 0;
  bool passed = false;  // every gate "pass" or "skipped"
  std::vector<GateResult> gates;
  // Computed metrics: {"candidate": {"auc": …, …}, "baseline": {…},
  //                    "slices": {"plan=basic": {"candidate": {…}, "baseline": {…}}}}
  Json metrics = Json::object();
  int64_t rows = 0;  // evaluation rows
  std::string actor;  // who asked for it
  int64_t created_ms = 0;
  bool operator==(const Evaluation&) const = default;
};

}  // namespace cairn::cicd
