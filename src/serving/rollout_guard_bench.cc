// Measures RolloutGuard on the request path: the cost of Record from 1 and 2 threads (the
// endpoint service calls it once per answered request), and of Judge / Snapshot (on a
// timer). Prints one line per measurement; no assertions.
//
//   build/release/src/serving/rollout_guard_bench [records_per_thread]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "serving/rollout_guard.h"

namespace {

double NsPerRecord(int threads, int64_t per_thread) {
  cairn::serving::GuardSpec spec;
  spec.max_prediction_drift = 0.2;
  cairn::serving::RolloutGuard guard(spec, 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&guard, per_thread, t] {
      for (int64_t i = 0; i < per_thread; ++i) {
        guard.Record((i & 7) == 0, 80 + (i * 7 + t) % 400, (i % 1000) == 0,
                     static_cast<double>(i % 997) / 997.0);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  return ns / static_cast<double>(per_thread);  // wall ns per record per thread
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t per_thread = argc > 1 ? std::atoll(argv[1]) : 10'000'000;
  for (int threads : {1, 2}) {
    std::printf("Record: %d thread(s), %lld records each: %.1f ns per record (wall, per thread)\n",
                threads, static_cast<long long>(per_thread), NsPerRecord(threads, per_thread));
  }
  cairn::serving::GuardSpec spec;
  spec.window_ms = 0;
  spec.min_requests = 1;
  spec.max_prediction_drift = 0.2;
  cairn::serving::RolloutGuard guard(spec, 0);
  for (int64_t i = 0; i < 1'000'000; ++i) {
    guard.Record((i & 7) == 0, 80 + i % 400, false, static_cast<double>(i % 997) / 997.0);
  }
  constexpr int kJudges = 200;
  const auto start = std::chrono::steady_clock::now();
  bool passed = true;
  for (int i = 0; i < kJudges; ++i) passed &= guard.Judge(1).value().passed;
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  std::printf("Judge (psi on 2 x 4096 sampled predictions, 1M records): %.1f us per call (%s)\n",
              us / kJudges, passed ? "passed" : "failed");
  return 0;
}
