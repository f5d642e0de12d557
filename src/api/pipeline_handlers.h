#pragma once
// Pipelines and their runs over HTTP (Cairn's API; errors in the Cairn dialect: 400
// INVALID_PARAMETER_VALUE naming the field and value, 404 RESOURCE_DOES_NOT_EXIST naming
// the pipeline / version / run / step). Handlers only translate HTTP ↔ the registry and
// the engine.
//
//   POST /api/v1/pipelines/apply {"files": [{"path", "content"}], "dry_run", "prune"}
//        → {"changes": [{"kind": "Pipeline", "name", "action", "old_version",
//           "new_version", "diffs": [{"path", "old", "new"}], "file", "line"}], "applied"}
//        (documents of other kinds are skipped; every pipeline is validated first: a bad
//        one answers 400 with its file:line message and nothing is applied)
//   GET  /api/v1/pipelines → {"pipelines": [summary]}; summary = {"name", "version",
//        "content_hash", "description", "owner", "steps": [names], "schedule" (cron or
//        null), "created_ms", "removed"}
//   GET  /api/v1/pipelines/{name}[/versions/{v}] → {"pipeline": summary + {"spec": {…}}}
//   GET  /api/v1/pipelines/{name}/versions → {"versions": [summary…]} (oldest first)
//   GET  /api/v1/pipelines/{name}/diff?v1=1&v2=2 → {"name", "v1", "v2", "diffs": [{"path",
//        "old", "new"}]}
//   POST /api/v1/pipelines/{name}/runs {"params": {k: v}, "version", "no_cache",
//        "wait_ms"} → {"run": run} (wait_ms > 0: answers when the run ends or after
//        wait_ms, at most 30 s; the run's state says which)
//   GET  /api/v1/pipeline-runs?pipeline=&state=&limit=&page_token=
//        → {"runs": [run without steps], "next_page_token"}
//   GET  /api/v1/pipeline-runs/{id}[?wait_ms=N] → {"run": run with "steps" and their
//        "attempts"} (wait_ms as above)
//   POST /api/v1/pipeline-runs/{id}/cancel → {"run": run}
//   GET  /api/v1/pipeline-runs/{id}/steps/{step}/logs?attempt=&offset=&max_bytes=&follow=
//        &format= → text/plain: the attempt's log from byte `offset` (attempt 0 or
//        absent: the latest), with headers X-Cairn-Log-Offset (the offset after this
//        text) and X-Cairn-Log-Done ("true" once the attempt has ended and the text
//        reaches the end). format=json answers {"text", "offset", "next_offset", "done"}
//        instead. follow=true (text): a chunked stream from `offset` (header
//        X-Cairn-Log-Offset: that start), each piece sent as it is written, that ends
//        when the attempt ends (attempt 0 follows the latest attempt at the time the step
//        has one); `curl -N` prints it live. follow=true&format=json: a long poll that
//        waits (at most 20 s) until there is new text or the attempt ends; a client
//        follows by asking again from next_offset until done.
//
// A run: {"id", "pipeline", "version", "params", "trigger", "trigger_detail", "state",
// "message", "tracking_run_id", "no_cache", "created_ms", "started_ms", "ended_ms",
// "steps": [{"name", "state", "message", "log_tail", "cache_key", "cached_from",
// "tracking_run_id", "outputs", "input_hashes", "started_ms", "ended_ms", "attempts":
// [{"attempt", "state", "reason", "exit_code", "signal", "message", "executor",
// "job_id", "host", "resources", "gpus", "queued_ms", "started_ms", "ended_ms"}]}]}.

#include <functional>

#include "absl/status/status.h"
#include "api/router.h"
#include "common/json.h"
#include "pipelines/pipeline_validation.h"
#include "pipelines/run_types.h"

namespace cairn::pipelines {
class PipelineRegistry;
class PipelineEngine;
}  // namespace cairn::pipelines

namespace cairn::api {

// What the pipeline routes reach; everything must outlive the router.
struct PipelineApi {
  pipelines::PipelineRegistry* registry = nullptr;  // required
  pipelines::PipelineEngine* engine = nullptr;      // required
  // How apply validates the parsed pipelines: the configured executor names and cron
  // syntax (and resources per named executor, when check_resources below is unset).
  pipelines::ValidationOptions validation;
  // Whether `step` of `pipeline` can ever run on the executor that would run it (the
  // server's routing: the step's executor, else GPU steps to the GPU executor, else the
  // pipeline's); an error saying what does not fit. Called per step after `validation`
  // passed; its message is prefixed with FILE:LINE, pipeline and step. Unset: skipped.
  std::function<absl::Status(const pipelines::PipelineSpec& pipeline,
                             const pipelines::StepSpec& step)>
      check_resources;
  // Called after an apply that changed something (schedules and triggers reload).
  std::function<void()> on_applied;
};

Json RunToJson(const pipelines::RunRecord& run);

void RegisterPipelineRoutes(Router& router, const PipelineApi& api);

}  // namespace cairn::api
