#include "compute/process_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"
#include "compute/gpu_detect.h"

namespace cairn::compute {

std::string JobRecordPath(std::string_view log_path) {
  return absl::StrCat(ToAbsl(log_path), ".status");
}

absl::StatusOr<JobRecord> ParseJobRecord(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("job record '", ToAbsl(text.substr(0, 200)), "': ", ToAbsl(why)));
  };
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  std::vector<absl::string_view> words = absl::StrSplit(ToAbsl(text), ' ');
  if (words.size() < 3 || words[0] != "cairn-job" || words[1] != "1") {
    return invalid("does not start with 'cairn-job 1'");
  }
  std::map<std::string, std::string, std::less<>> fields;
  for (size_t i = 2; i < words.size(); ++i) {
    size_t eq = words[i].find('=');
    if (eq == absl::string_view::npos) return invalid(absl::StrCat("no '=' in '", words[i], "'"));
    fields[std::string(words[i].substr(0, eq))] = std::string(words[i].substr(eq + 1));
  }
  auto number = [&](std::string_view key, auto* out) -> bool {
    auto it = fields.find(key);
    return it != fields.end() && absl::SimpleAtoi(it->second, out);
  };
  JobRecord record;
  auto token = fields.find("token");
  if (token == fields.end() || token->second.empty()) return invalid("no token");
  record.token = token->second;
  int pid = 0;
  if (!number("pid", &pid) || pid <= 0) return invalid("no pid");
  record.pid = pid;
  if (!number("starttime", &record.starttime)) return invalid("no starttime");
  if (!number("start_ms", &record.start_ms)) return invalid("no start_ms");
  auto state = fields.find("state");
  if (state == fields.end()) return invalid("no state");
  if (state->second == "running") {
    record.state = JobRecord::State::kRunning;
    if (auto gpus = fields.find("gpus"); gpus != fields.end()) {
      absl::StatusOr<std::vector<int>> parsed = ParseGpuList(gpus->second);
      if (parsed.ok()) record.gpus = *std::move(parsed);
    }
    return record;
  }
  if (!number("end_ms", &record.end_ms)) return invalid("no end_ms");
  if (state->second == "exited") {
    record.state = JobRecord::State::kExited;
    if (!number("code", &record.exit_code)) return invalid("no code");
  } else if (state->second == "signaled") {
    record.state = JobRecord::State::kSignaled;
    if (!number("signal", &record.signal)) return invalid("no signal");
  } else if (state->second == "launch_error") {
    record.state = JobRecord::State::kLaunchError;
    if (!number("errno", &record.error)) return invalid("no errno");
  } else {
    return invalid(absl::StrCat("unknown state '", state->second, "'"));
  }
  return record;
}

absl::StatusOr<JobRecord> ReadJobRecord(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat("no job record at ", path));
    return absl::InternalError(
        absl::StrCat("cannot read job record ", path, ": ", std::strerror(error)));
  }
  // Two lines of at most 1 KiB each (the shim's start line and its end line).
  char buffer[4096];
  size_t size = 0;
  while (size < sizeof(buffer)) {
    ssize_t n = read(fd, buffer + size, sizeof(buffer) - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("cannot read job record ", path));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  close(fd);
  // The last complete line counts: a line still being appended has no newline yet.
  std::string_view text(buffer, size);
  size_t end = text.rfind('\n');
  if (end == std::string_view::npos) {
    if (size == sizeof(buffer)) return ParseJobRecord(text);  // InvalidArgument: not a record
    return absl::NotFoundError(absl::StrCat("the job record at ", path, " is not written yet"));
  }
  text = text.substr(0, end);
  size_t begin = text.rfind('\n');
  return ParseJobRecord(begin == std::string_view::npos ? text : text.substr(begin + 1));
}

std::string KillNotePath(std::string_view log_path) {
  return absl::StrCat(ToAbsl(log_path), ".kill");
}

void WriteKillNote(const std::string& path, std::string_view token, const KillNote& note) {
  std::string text = absl::StrCat("cairn-kill 1 token=", ToAbsl(token), " reason=", note.reason,
                                  "\n", note.message, "\n");
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t written = write(fd, text.data(), text.size());
  (void)written;
  close(fd);
}

std::optional<KillNote> ReadKillNote(const std::string& path, std::string_view token) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buffer[2048];
  ssize_t n = read(fd, buffer, sizeof(buffer));
  close(fd);
  if (n <= 0) return std::nullopt;
  std::string_view text(buffer, static_cast<size_t>(n));
  size_t newline = text.find('\n');
  if (newline == std::string_view::npos) return std::nullopt;
  std::string head = absl::StrCat("cairn-kill 1 token=", ToAbsl(token), " reason=");
  std::string_view first = text.substr(0, newline);
  if (first.substr(0, head.size()) != head) return std::nullopt;
  KillNote note;
  note.reason = std::string(first.substr(head.size()));
  std::string_view message = text.substr(newline + 1);
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  note.message = std::string(message);
  return note;
}

}  // namespace cairn::compute
