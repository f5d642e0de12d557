#include "api/worker_pool.h"

#include <sched.h>

#include <chrono>
#include <utility>

namespace cairn::api {
namespace {
// How long a worker keeps looking for work before it sleeps. Long enough to bridge the gap
// between requests under load, short enough not to matter when the server is idle.
constexpr std::chrono::microseconds kSpinTime{50};
}  // namespace

WorkerPool::WorkerPool(int threads, absl::AnyInvocable<void() const> on_thread_start)
    : on_thread_start_(std::move(on_thread_start)) {
  if (threads < 1) threads = 1;
  threads_.reserve(static_cast<size_t>(threads));
  for (int thread_idx = 0; thread_idx < threads; ++thread_idx) {
    threads_.emplace_back([this] { Run(); });
  }
}

WorkerPool::~WorkerPool() { Join(); }

void WorkerPool::Post(Task task) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(task));
    queued_.fetch_add(1, std::memory_order_release);
    // A spinning worker will find the task; it decremented spinning_ before it locks mu_
    // to go to sleep, so a sleeper is woken whenever nobody is left looking.
    wake = sleeping_ > 0 && spinning_.load(std::memory_order_acquire) == 0;
  }
  if (wake) wake_.notify_one();
}

void WorkerPool::Join() {
  std::call_once(joined_, [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  });
}

bool WorkerPool::SpinForWork() {
  // One spinner at a time is enough to catch the next task; the others sleep.
  if (spinning_.fetch_add(1, std::memory_order_acq_rel) != 0) {
    spinning_.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  bool found = false;
  while (!found) {
    if (queued_.load(std::memory_order_acquire) > 0) {
      found = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    // Give the core to a runnable I/O thread instead of burning it.
    sched_yield();
  }
  spinning_.fetch_sub(1, std::memory_order_acq_rel);
  return found;
}

void WorkerPool::Run() {
  if (on_thread_start_) on_thread_start_();
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      bool spun = false;
      while (queue_.empty()) {
        // Drain before stopping: Join runs every task already queued.
        if (stopping_) return;
        if (!spun) {
          spun = true;
          lock.unlock();
          SpinForWork();
          lock.lock();
          continue;
        }
        ++sleeping_;
        wake_.wait(lock);
        --sleeping_;
        spun = false;
      }
      task = std::move(queue_.front());
      queue_.pop_front();
      queued_.fetch_sub(1, std::memory_order_release);
      // More work and nobody looking: hand it to a sleeper rather than let it wait for us.
      if (!queue_.empty() && sleeping_ > 0 && spinning_.load(std::memory_order_acquire) == 0) {
        wake_.notify_one();
      }
    }
    std::move(task)();
  }
}

}  // namespace cairn::api
