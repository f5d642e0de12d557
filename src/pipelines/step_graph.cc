#include "pipelines/step_graph.h"

#include <algorithm>
#include <map>
#include <queue>
#include <string>

#include "absl/strings/str_cat.h"

namespace cairn::pipelines {

absl::StatusOr<StepGraph> BuildStepGraph(const PipelineSpec& spec) {
  const int n = static_cast<int>(spec.steps.size());
  std::map<std::string, int> index;
  for (int i = 0; i < n; ++i) index[spec.steps[i].name] = i;
  StepGraph graph;
  graph.upstream.resize(n);
  graph.downstream.resize(n);
  for (int i = 0; i < n; ++i) {
    const StepSpec& step = spec.steps[i];
    std::vector<std::string> names = step.depends_on;
    for (const InputSpec& input : step.inputs) {
      if (!input.from.empty()) names.push_back(input.from.substr(0, input.from.find('.')));
    }
    for (const std::string& name : names) {
      auto it = index.find(name);
      if (it == index.end() || it->second == i) {
        return absl::InternalError(absl::StrCat("pipeline '", spec.name, "' step '", step.name,
                                                "' depends on '", name,
                                                "', which is not another step of it"));
      }
      graph.upstream[i].push_back(it->second);
    }
    std::sort(graph.upstream[i].begin(), graph.upstream[i].end());
    graph.upstream[i].erase(std::unique(graph.upstream[i].begin(), graph.upstream[i].end()),
                            graph.upstream[i].end());
    for (int up : graph.upstream[i]) graph.downstream[up].push_back(i);
  }
  std::vector<int> pending(n);
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i) {
    pending[i] = static_cast<int>(graph.upstream[i].size());
    if (pending[i] == 0) ready.push(i);
  }
  while (!ready.empty()) {
    int step = ready.top();
    ready.pop();
    graph.order.push_back(step);
    for (int down : graph.downstream[step])
      if (--pending[down] == 0) ready.push(down);
  }
  if (static_cast<int>(graph.order.size()) != n) {
    return absl::InternalError(absl::StrCat("pipeline '", spec.name, "' has a dependency cycle"));
  }
  return graph;
}

}  // namespace cairn::pipelines
