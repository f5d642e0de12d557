#pragma once
// The HTTP server's access log: one line per request on stderr in the format of
// cairn::Log ("<ISO time> INFO <message>\n"), written in batches instead of one write(2)
// per request (a system call and a time-zone formatting per request were a tenth of the
// server's CPU on a small request). A line is always written whole and in the order the
// lines were added. The batch goes out when it passes 32 KiB, at the latest 100 ms after
// a line was added (a flusher thread), and on Flush and destruction — so every line is
// written once the server has stopped; only a killed process (SIGKILL) loses the last
// 100 ms. Lines of cairn::Log (errors) are not delayed and may precede access lines of
// requests that finished before them. Thread-safe.

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cairn::api {

// Appends `time` as cairn::Log writes it: "%Y-%m-%dT%H:%M:%E3SZ" in UTC
// ("2026-11-28T21:03:50.123Z"; milliseconds truncated, as absl::FormatTime does).
void AppendLogTimestamp(std::chrono::system_clock::time_point time, std::string* out);

class AccessLog {
 public:
  // Writes to `out` (stderr unless a test passes another stream); starts the flusher.
  explicit AccessLog(std::FILE* out = stderr);
  ~AccessLog();  // flushes and joins the flusher
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Adds "<now> INFO <message>\n".
  void Write(std::string_view message);
  // Writes every line added so far.
  void Flush();

 private:
  void RunFlusher();
  bool Stopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; }

  std::FILE* const out_;
  absl::Mutex write_mu_;  // held while a batch is written: batches stay in order
  std::string writing_ ABSL_GUARDED_BY(write_mu_);
  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread flusher_;
};

}  // namespace cairn::api
