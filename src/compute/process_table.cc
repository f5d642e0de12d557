#include "compute/process_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace cairn::compute {
namespace {

const int64_t kPageSize = sysconf(_SC_PAGESIZE);

std::optional<ProcessInfo> ParseStat(pid_t pid, char* text) {
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
  //  stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss …";
  // comm may contain spaces and ')', so fields are counted from the last ')'.
  char* p = std::strrchr(text, ')');
  if (p == nullptr || p[1] != ' ') return std::nullopt;
  p += 2;
  ProcessInfo info;
  info.pid = pid;
  info.state = *p;
  uint64_t fields[25] = {};  // fields[i] = field number i + 3 (from ppid on)
  int field = 3;
  char* cursor = p;
  while (field < 24) {
    cursor = std::strchr(cursor, ' ');
    if (cursor == nullptr) return std::nullopt;
    ++cursor;
    ++field;
    fields[field - 3] = std::strtoull(cursor, nullptr, 10);
  }
  info.pgrp = static_cast<pid_t>(fields[5 - 3]);
  info.session = static_cast<pid_t>(fields[6 - 3]);
  info.starttime = fields[22 - 3];
  info.rss_bytes = static_cast<int64_t>(fields[24 - 3]) * kPageSize;
  return info;
}

std::optional<ProcessInfo> ReadAt(int proc_fd, const char* name, pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "%s/stat", name);
  int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buffer[1024];
  ssize_t n;
  do {
    n = read(fd, buffer, sizeof(buffer) - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return std::nullopt;
  buffer[n] = '\0';
  return ParseStat(pid, buffer);
}

}  // namespace

std::optional<ProcessInfo> ReadProcessInfo(pid_t pid) {
  char name[32];
  std::snprintf(name, sizeof(name), "/proc/%d", static_cast<int>(pid));
  return ReadAt(AT_FDCWD, name, pid);
}

std::vector<ProcessInfo> ProcessesInSessions(const std::vector<pid_t>& sessions) {
  std::vector<ProcessInfo> found;
  if (sessions.empty()) return found;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return found;
  int proc_fd = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    std::optional<ProcessInfo> info = ReadAt(proc_fd, entry->d_name, pid);
    if (!info.has_value()) continue;
    if (std::binary_search(sessions.begin(), sessions.end(), info->session)) {
      found.push_back(*info);
    }
  }
  closedir(dir);
  return found;
}

bool JobShimAlive(pid_t pid, std::string_view token) {
  std::optional<ProcessInfo> info = ReadProcessInfo(pid);
  if (!info.has_value() || info->state == 'Z' || info->state == 'X') return false;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/cmdline", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // The whole command line (argv[0] and the record's path may be long): to the end, at
  // most 1 MiB.
  std::string cmdline;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    cmdline.append(buffer, static_cast<size_t>(n));
    if (cmdline.size() > (size_t{1} << 20)) break;
  }
  close(fd);
  if (cmdline.empty()) return false;
  // argv[0] NUL argv[1] NUL argv[2] NUL …
  std::string_view words(cmdline);
  for (int skip = 0; skip < 2; ++skip) {
    size_t end = words.find('\0');
    if (end == std::string_view::npos) return false;
    words.remove_prefix(end + 1);
  }
  return words.substr(0, words.find('\0')) == token;
}

bool ProcessAlive(pid_t pid, uint64_t starttime) {
  std::optional<ProcessInfo> info = ReadProcessInfo(pid);
  return info.has_value() && info->state != 'Z' && info->state != 'X' &&
         info->starttime == starttime;
}

}  // namespace cairn::compute
