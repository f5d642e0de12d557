#pragma once
// The step graph of a pipeline: explicit dependencies (depends_on) plus those implied by
// inputs (`from: build.train` makes the step depend on build). Steps are numbered in file
// order (0 … n-1, the index into PipelineSpec::steps). Immutable after Build; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pipelines/pipeline_spec.h"

namespace cairn::pipelines {

class Dag {
 public:
  // InvalidArgument (without a FILE:LINE prefix; pipeline_validation.h adds it) when a
  // dependency names an unknown step ("step 'train': depends_on 'bild' is not a step of
  // this pipeline; did you mean 'build'?"), a step depends on itself, two steps share a
  // name, or the steps form a cycle ("steps 'a' → 'b' → 'a' form a cycle: …").
  static absl::StatusOr<Dag> Build(const PipelineSpec& spec);

  int size() const { return static_cast<int>(names_.size()); }
  const std::string& name(int step) const { return names_[step]; }
  std::optional<int> IndexOf(std::string_view step) const;

  // Direct dependencies / dependents of a step, ascending, without duplicates.
  const std::vector<int>& upstream(int step) const { return upstream_[step]; }
  const std::vector<int>& downstream(int step) const { return downstream_[step]; }

  // Every step once, each after all of its upstream steps; among steps that are ready at
  // the same time, file order.
  const std::vector<int>& order() const { return order_; }

  // Every step that (transitively) depends on `step`, in topological order, without
  // `step` itself: the steps to skip when it fails.
  std::vector<int> AllDownstream(int step) const;

  // Steps without dependencies, ascending.
  std::vector<int> Roots() const;

 private:
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, int> index_;
  std::vector<std::vector<int>> upstream_, downstream_;
  std::vector<int> order_;
  std::vector<int> position_;  // step → its index in order_
};

}  // namespace cairn::pipelines
