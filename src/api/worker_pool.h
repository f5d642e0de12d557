#pragma once
// The thread pool that runs HTTP handlers (blocking work) off the I/O threads.
//
// Why not asio::thread_pool: with it, half of the server's CPU time for a trivial request
// went to condition-variable wake-ups (every hand-off woke a sleeping thread). Here a worker
// that finishes a task keeps looking for the next one for a short while (yielding the CPU
// between looks) before it sleeps, and Post wakes a sleeper only when nobody is looking, so
// under load the hand-off costs no futex calls; an idle pool sleeps and uses no CPU.
//
// Thread-safe. Tasks run in FIFO order on any worker. TryPost bounds the backlog (tasks
// queued and not yet started) for callers that can refuse work instead of queueing it
// without bound (the HTTP server answers 429).

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace cairn::api {

class WorkerPool {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  // Starts `threads` workers (at least 1). `on_thread_start` runs first on each of them.
  explicit WorkerPool(int threads, absl::AnyInvocable<void() const> on_thread_start = nullptr);
  // Joins (see Join).
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`. After Join has started, the task is dropped (destroyed, not run).
  void Post(Task task);

  // Queues `task` unless `max_waiting` tasks already wait for a thread (queued tasks beyond
  // those the idle workers are about to take): then returns false and destroys `task`
  // without running it. Otherwise as Post (true, also when the task is dropped because
  // Join has started).
  bool TryPost(Task task, size_t max_waiting);

  // Tasks waiting for a thread, as TryPost counts them (a snapshot).
  size_t waiting() const;

  // Tasks refused by TryPost so far.
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

  // Runs every task already queued, then stops and joins the workers. Idempotent; must not
  // be called from a worker.
  void Join();

 private:
  void Run();
  // Looks for queued work for a short while without the lock; true if some appeared.
  bool SpinForWork();

  // Queued tasks that no idle worker will take. Requires mu_.
  size_t WaitingLocked() const;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Task> queue_;   // guarded by mu_
  int sleeping_ = 0;         // guarded by mu_
  size_t busy_ = 0;          // workers running a task; guarded by mu_
  size_t num_threads_ = 0;
  bool stopping_ = false;    // guarded by mu_
  std::atomic<size_t> queued_{0};
  std::atomic<int> spinning_{0};
  std::atomic<uint64_t> refused_{0};
  absl::AnyInvocable<void() const> on_thread_start_;
  std::vector<std::thread> threads_;
  std::once_flag joined_;
};

}  // namespace cairn::api
