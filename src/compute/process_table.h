#pragma once
// What /proc says about processes: the fields of /proc/<pid>/stat the local executor needs
// to recognise a job's process after a restart and to measure the memory of a job's whole
// session. Linux only. Thread-safe (reads /proc, keeps no state).

#include <sys/types.h>

#include <cstdint>
#include <optional>
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

}  // namespace cairn::compute
