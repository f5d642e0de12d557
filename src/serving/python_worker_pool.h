#pragma once
// The Python worker runtime (DESIGN.md §5 "serving"): an MLflow pyfunc model (scikit-learn,
// a custom python_model, …) answered by a pool of Python worker processes that grows and
// shrinks with load.
//
// Processes. StartPythonRuntime spawns one "zygote": `python3 -c <worker script> MODEL_DIR`
// (the script is compiled into the binary from python_worker.py), which imports MLflow and
// calls mlflow.pyfunc.load_model once. Every worker is forked from the zygote, so a new
// replica is ready in milliseconds instead of the seconds an MLflow import takes. Each
// worker answers one request at a time over its own Unix socket (length-prefixed binary
// frames, python_worker.py documents the layout); its stdout goes to the server's stderr.
//
// Load. A Predict takes an idle worker (the most recently used first, so spare workers
// stay idle and can be retired) or waits in a FIFO queue of at most
// max_queue_per_replica × replicas callers (replicas ready or starting, at least 1);
// beyond that it fails at once with ResourceExhausted. Nothing is locked while a worker
// predicts.
//
// Scaling. Load = in-flight + queued requests. When load > target_in_flight_per_replica ×
// replicas the pool grows at once to ceil(load / target), at most max_replicas. A worker
// idle for scale_down_idle_ms is retired, one at a time (the next retirement waits another
// scale_down_idle_ms), never below min_replicas. min_replicas may be 0: the first request
// then forks a worker (milliseconds) and waits for it; the zygote, which holds the loaded
// model, stays (docs/python_runtime.md "Scale to zero": re-creating it costs an MLflow
// import and load_model, ≈ 8 CPU-seconds for a scikit-learn model, against ≈ 264 MiB kept
// resident).
// A worker that dies is dropped (its request fails with Unavailable) and replaced when the
// load or min_replicas calls for it; a zygote that dies is restarted (at most every 5 s;
// callers queued meanwhile get Unavailable if that fails). Every change of the replica
// count is reported to on_scaling with the reason; a start that replaces a dropped worker
// says so ("…; replaces worker 4242 (killed after the request timeout of 2s)").
//
// Deadline. A request has request_timeout_ms from the moment Predict is called: waiting
// in the queue and the model's predict together. A caller still queued at its deadline
// leaves the queue with DeadlineExceeded and is never sent to a worker. A caller whose
// worker has not answered by then gets DeadlineExceeded too; that worker is killed at
// once (SIGKILL: a hung model may hold the GIL or ignore SIGTERM; the zygote's children
// are reaped by the kernel), dropped and replaced like a dead one, so the queue keeps
// flowing. Both messages name the endpoint and the timeout.
//
// Shutdown (the runtime's destructor, called when no Predict is in progress — callers
// share the runtime through a shared_ptr): sockets closed and SIGTERM to every worker,
// SIGKILL after 2 s to those still alive; then the zygote the same way, reaped.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "serving/model_runtime.h"

namespace cairn::serving {

// One change of a pool's replica count.
struct ScalingEvent {
  int64_t time_ms = 0;
  std::string endpoint;  // PythonPoolOptions::endpoint
  int from = 0, to = 0;  // replicas before and after (starting workers count)
  // A sentence: "load 12 (10 in flight, 2 queued) over target 1 per replica",
  // "worker idle for 30000 ms", "worker 4242 died during a request", ….
  std::string reason;
};

struct PythonPoolOptions {
  std::string python = "python3";  // the interpreter (PATH is searched); needs mlflow
  int min_replicas = 1, max_replicas = 1;
  int max_queue_per_replica = 32;
  double target_in_flight_per_replica = 1.0;
  int64_t scale_down_idle_ms = 30'000;
  int64_t startup_timeout_ms = 60'000;  // zygote: import + load_model; a fork: the same bound
  // A request's deadline (queue + predict); 0: none (the default: CI/CD evaluations load
  // models without one). Endpoints pass their `timeout` (30 s unless set).
  int64_t request_timeout_ms = 0;
  std::string endpoint;                 // copied into ScalingEvent::endpoint
  Clock* clock = nullptr;               // nullptr → RealClock(); drives the idle times only
  // Called from the pool's scaler thread (the start event from StartPythonRuntime's
  // caller), never with a lock of the pool held; must not block for long.
  std::function<void(const ScalingEvent&)> on_scaling;
};

// Starts the zygote and min_replicas workers and waits until they are ready.
// Predict answers DeadlineExceeded past request_timeout_ms (see "Deadline" above).
// InvalidArgument for options out of range (naming the field and value); NotFound when
// the interpreter is not found; FailedPrecondition with the model's Python error when the
// model cannot be loaded (e.g. "ModuleNotFoundError: No module named 'sklearn'");
// DeadlineExceeded when loading takes longer than startup_timeout_ms.
// The returned runtime is thread-safe (model_runtime.h); Stats() reports the pool's
// replicas (ready and starting), in-flight and queued requests and rejections.
absl::StatusOr<std::unique_ptr<ModelRuntime>> StartPythonRuntime(const ModelInfo& info,
                                                                 const PythonPoolOptions& options);

}  // namespace cairn::serving
