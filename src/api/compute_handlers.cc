#include "api/compute_handlers.h"

#include <string>
#include <utility>

#include "api/errors.h"

namespace cairn::api {

Json ResourcesToJson(const compute::Resources& resources) {
  return Json{{"cpus", resources.cpus},
              {"memory_bytes", resources.memory_bytes},
              {"memory", compute::FormatMemory(resources.memory_bytes)},
              {"gpus", resources.gpus},
              {"timeout_ms", resources.timeout_ms}};
}

Json JobStatusToJson(const compute::JobStatus& job) {
  Json out = {{"job_id", job.job_id},
              {"state", std::string(compute::JobStateName(job.state))},
              {"reason", std::string(compute::FailureReasonName(job.reason))},
              {"exit_code", job.exit_code ? Json(*job.exit_code) : Json()},
              {"signal", job.signal ? Json(*job.signal) : Json()},
              {"message", job.message},
              {"host", job.host},
              {"gpus", job.gpus},
              {"queued_ms", job.queued_ms},
              {"started_ms", job.started_ms},
              {"ended_ms", job.ended_ms}};
  return out;
}

Json ExecutorStatusToJson(const compute::ExecutorStatus& status) {
  Json jobs = Json::array();
  for (const compute::JobStatus& job : status.jobs) jobs.push_back(JobStatusToJson(job));
  return Json{{"name", status.name},
              {"capacity", ResourcesToJson(status.capacity)},
              {"in_use", ResourcesToJson(status.in_use)},
              {"running", status.running},
              {"queued", status.queued},
              {"jobs", std::move(jobs)},
              {"detail", status.detail}};
}

void RegisterComputeRoutes(Router& router, std::vector<compute::Executor*> executors) {
  router.Add("GET", "/api/v1/compute/status", [executors](const HttpRequest&) {
    Json list = Json::array();
    for (compute::Executor* executor : executors) {
      list.push_back(ExecutorStatusToJson(executor->Status()));
    }
    return JsonResponse(DumpJson(Json{{"executors", std::move(list)}}));
  });
}

}  // namespace cairn::api
