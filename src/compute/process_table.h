#pragma once
// What /proc says about processes: the fields of /proc/<pid>/stat the local executor needs
// to recognise a job's process after a restart and to measure the memory of a job's whole
// session. Linux only. Thread-safe (reads /proc, keeps no state).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace cairn::compute {

struct ProcessInfo {
  pid_t pid = 0;
  char state = '?';  // R, S, D, Z (zombie), T, …
  pid_t pgrp = 0;
  pid_t session = 0;
  uint64_t starttime = 0;  // clock ticks since boot (field 22)
  int64_t rss_bytes = 0;
};

// nullopt when the process does not exist (or /proc/<pid>/stat cannot be read).
std::optional<ProcessInfo> ReadProcessInfo(pid_t pid);

// Every process whose session is in `sessions` (sorted ascending).
std::vector<ProcessInfo> ProcessesInSessions(const std::vector<pid_t>& sessions);

// True when `pid` exists, is not a zombie and started at `starttime`.
bool ProcessAlive(pid_t pid, uint64_t starttime);

// True when `pid` exists, is not a zombie and is the cairn-job-shim of the job `token`: its
// command line's third word (RECORD TOKEN …, process_shim.cc) is the token. Tokens are
// unique, so a reused pid is never taken for the job.
bool JobShimAlive(pid_t pid, std::string_view token);

}  // namespace cairn::compute
