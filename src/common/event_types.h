#pragma once
// The events of the in-server bus (event_bus.h) and their attributes. Publishers use these
// constants; pipeline triggers (`on:` in a Pipeline, pipelines/trigger_service.h) name
// the type strings. Attribute values are text (numbers in decimal).

#include <span>
#include <string_view>

namespace cairn {

// Rows were ingested into a feature-store source.
//   source: the source name; rows: how many rows were accepted.
inline constexpr char kEventSourceIngested[] = "source_ingested";
// A model version was registered in the model registry.
//   model: the registered model name; version: its new version number.
inline constexpr char kEventModelVersionRegistered[] = "model_version_registered";
// A monitor raised an alert.
//   monitor: the monitor name; severity: "info" | "warning" | "critical"; more
//   attributes as the monitor defines (metric, value, threshold, …).
inline constexpr char kEventAlert[] = "alert";
// A pipeline run reached a terminal state.
//   pipeline: the pipeline name; run_id: the run; state: "succeeded" | "failed" |
//   "cancelled".
inline constexpr char kEventPipelineRunFinished[] = "pipeline_run_finished";
// A registered model's alias was set, moved or deleted (registry API, promotion,
// rollback, a canary's verdict).
//   model: the registered model; alias: the alias; from_version / to_version: the
//   versions before and after ("" when the alias did not exist / was deleted);
//   actor, reason: who moved it and why.
inline constexpr char kEventModelAliasMoved[] = "model_alias_moved";
// A candidate version was evaluated against a policy (cicd).
//   model, version, policy, evaluation_id; passed: "true" | "false".
inline constexpr char kEventEvaluationFinished[] = "evaluation_finished";

// The six types above, in that order (validation of `on:`, "did you mean").
std::span<const std::string_view> KnownEventTypes();
bool IsKnownEventType(std::string_view type);

// Registry changes that MLflow's server announces to webhooks (cicd/webhooks.h); not
// pipeline triggers (KnownEventTypes lists the six above). A model is a prompt (MLflow's
// prompt registry) when it has tag mlflow.prompt.is_prompt=true; these events carry
// prompt: "true" for a prompt, "false" otherwise.
//
// A registered model was created.
//   model; tags: the request's tags as a JSON object {"key": "value"} in request order;
//   description: as given ("" when none); prompt.
inline constexpr char kEventRegisteredModelCreated[] = "registered_model_created";
// A version of a prompt was created (a model's versions: model_version_registered).
//   model, version; tags: the request's tags as a JSON object (the template is tag
//   mlflow.prompt.text); description: as given ("" when none).
inline constexpr char kEventPromptVersionCreated[] = "prompt_version_created";
// A model version's tag was set / deleted.
//   model, version, key, value (set only), prompt.
inline constexpr char kEventModelVersionTagSet[] = "model_version_tag_set";
inline constexpr char kEventModelVersionTagDeleted[] = "model_version_tag_deleted";
// A registered model's tag was set / deleted.
//   model, key, value (set only), prompt.
inline constexpr char kEventRegisteredModelTagSet[] = "registered_model_tag_set";
inline constexpr char kEventRegisteredModelTagDeleted[] = "registered_model_tag_deleted";

}  // namespace cairn
