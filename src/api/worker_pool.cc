#include "api/worker_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
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
  num_threads_ = static_cast<size_t>(threads);
  threads_.reserve(static_cast<size_t>(threads));
  for (int thread_idx = 0; thread_idx < threads; ++thread_idx) {
    threads_.emplace_back([this] { Run(); });
  }
}

WorkerPool::~WorkerPool() { Join(); }

void WorkerPool::Post(Task task) { TryPost(std::move(task), SIZE_MAX); }

bool WorkerPool::TryPost(Task task, size_t max_waiting) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return true;
    // The task would wait unless an idle worker is left for it after the queued ones.
    const size_t idle = num_threads_ - std::min(busy_, num_threads_);
    if (max_waiting != SIZE_MAX && queue_.size() >= idle + max_waiting) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return false;  // `task` is destroyed outside the lock, by the caller's frame
    }
    queue_.push_back(std::move(task));
    queued_.fetch_add(1, std::memory_order_release);
    // A spinning worker will find the task; it decremented spinning_ before it locks mu_
    // to go to sleep, so a sleeper is woken whenever nobody is left looking.
    wake = sleeping_ > 0 && spinning_.load(std::memory_order_acquire) == 0;
  }
  if (wake) wake_.notify_one();
  return true;
}

size_t WorkerPool::WaitingLocked() const {
  const size_t idle = num_threads_ - std::min(busy_, num_threads_);
  return queue_.size() > idle ? queue_.size() - idle : 0;
}

size_t WorkerPool::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return WaitingLocked();
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
  bool ran = false;
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (ran) --busy_;
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
      ++busy_;
      ran = true;
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
