#include "pipelines/dag.h"

#include <algorithm>
#include <functional>
#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/did_you_mean.h"
#include "common/strings.h"

namespace cairn::pipelines {
namespace {

constexpr auto kAppend = [](std::string* out, std::string_view s) { out->append(s); };

void SortUnique(std::vector<int>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

}  // namespace

std::optional<int> Dag::IndexOf(std::string_view step) const {
  auto it = index_.find(ToAbsl(step));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<Dag> Dag::Build(const PipelineSpec& spec) {
  Dag dag;
  const int n = static_cast<int>(spec.steps.size());
  dag.names_.reserve(n);
  for (int i = 0; i < n; ++i) {
    const std::string& name = spec.steps[i].name;
    if (!dag.index_.emplace(name, i).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "step '", name, "': two steps are named '", name, "': give each step its own name"));
    }
    dag.names_.push_back(name);
  }
  std::vector<std::string_view> all_names(dag.names_.begin(), dag.names_.end());
  auto unknown = [&](const StepSpec& step, std::string_view what, std::string_view target) {
    std::string hint = NearestName(target, all_names);
    return absl::InvalidArgumentError(absl::StrCat(
        "step '", step.name, "': ", ToAbsl(what), " '", ToAbsl(target),
        "' is not a step of this pipeline",
        hint.empty() ? absl::StrCat("; steps: ", absl::StrJoin(dag.names_, ", ", kAppend))
                     : absl::StrCat("; did you mean '", hint, "'?")));
  };
  dag.upstream_.assign(n, {});
  dag.downstream_.assign(n, {});
  for (int i = 0; i < n; ++i) {
    const StepSpec& step = spec.steps[i];
    auto add = [&](int up, std::string_view what) -> absl::Status {
      if (up == i) {
        return absl::InvalidArgumentError(absl::StrCat(
            "step '", step.name, "': ", ToAbsl(what),
            " names the step itself: a step cannot depend on its own outputs"));
      }
      dag.upstream_[i].push_back(up);
      return absl::OkStatus();
    };
    for (const std::string& dep : step.depends_on) {
      std::optional<int> up = dag.IndexOf(dep);
      if (!up) return unknown(step, "depends_on", dep);
      absl::Status status = add(*up, absl::StrCat("depends_on '", dep, "'"));
      if (!status.ok()) return status;
    }
    for (const InputSpec& input : step.inputs) {
      if (input.from.empty()) continue;
      std::string_view from = input.from;
      std::string_view target = from.substr(0, from.find('.'));
      std::optional<int> up = dag.IndexOf(target);
      if (!up) {
        return unknown(step, absl::StrCat("input '", input.name, "' comes from step"), target);
      }
      absl::Status status =
          add(*up, absl::StrCat("input '", input.name, "' (from: ", input.from, ")"));
      if (!status.ok()) return status;
    }
    SortUnique(&dag.upstream_[i]);
    for (int up : dag.upstream_[i]) dag.downstream_[up].push_back(i);
  }
  // Kahn's algorithm; the ready set is a min-heap on the file index (stable order).
  std::vector<int> missing(n);
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i) {
    missing[i] = static_cast<int>(dag.upstream_[i].size());
    if (missing[i] == 0) ready.push(i);
  }
  dag.order_.reserve(n);
  while (!ready.empty()) {
    int step = ready.top();
    ready.pop();
    dag.order_.push_back(step);
    for (int down : dag.downstream_[step]) {
      if (--missing[down] == 0) ready.push(down);
    }
  }
  if (static_cast<int>(dag.order_.size()) != n) {
    // Every step left has an unfinished upstream step among those left: walking upstream
    // from the first of them must revisit a step; that loop is the cycle.
    int start = 0;
    while (missing[start] == 0) ++start;
    std::vector<int> seen_at(n, -1);
    std::vector<int> path;
    int at = start;
    while (seen_at[at] < 0) {
      seen_at[at] = static_cast<int>(path.size());
      path.push_back(at);
      int next = -1;
      for (int up : dag.upstream_[at]) {
        if (missing[up] > 0) {
          next = up;
          break;
        }
      }
      at = next;
    }
    std::vector<int> cycle(path.begin() + seen_at[at], path.end());
    // Upstream walk → reverse to the direction work flows; start at the first in file order.
    std::reverse(cycle.begin(), cycle.end());
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    std::string text;
    for (int step : cycle) absl::StrAppend(&text, "'", dag.names_[step], "' → ");
    absl::StrAppend(&text, "'", dag.names_[cycle[0]], "'");
    return absl::InvalidArgumentError(absl::StrCat(
        "steps ", text,
        " form a cycle: each waits for the one before it; remove one of these dependencies "
        "(depends_on or an input's from)"));
  }
  dag.position_.assign(n, 0);
  for (int i = 0; i < n; ++i) dag.position_[dag.order_[i]] = i;
  return dag;
}

std::vector<int> Dag::AllDownstream(int step) const {
  std::vector<char> seen(names_.size(), 0);
  std::vector<int> stack = {step}, out;
  while (!stack.empty()) {
    int at = stack.back();
    stack.pop_back();
    for (int down : downstream_[at]) {
      if (seen[down]) continue;
      seen[down] = 1;
      out.push_back(down);
      stack.push_back(down);
    }
  }
  std::sort(out.begin(), out.end(), [&](int a, int b) { return position_[a] < position_[b]; });
  return out;
}

std::vector<int> Dag::Roots() const {
  std::vector<int> out;
  for (int i = 0; i < size(); ++i) {
    if (upstream_[i].empty()) out.push_back(i);
  }
  return out;
}

}  // namespace cairn::pipelines
