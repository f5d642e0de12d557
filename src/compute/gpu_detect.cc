#include "compute/gpu_detect.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"

extern char** environ;

namespace cairn::compute {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// Runs `nvidia-smi -L` and returns its stdout; nullopt when it cannot be run, fails, or
// takes longer than 10 s (a wedged driver must not hang server start).
std::optional<std::string> RunNvidiaSmi() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  char arg0[] = "nvidia-smi";
  char arg1[] = "-L";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "nvidia-smi", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return std::nullopt;
  }
  std::string output;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool timed_out = false;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left)) < 0) break;
    char buffer[4096];
    ssize_t n = read(fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    output.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    Log(LogLevel::kWarning, "nvidia-smi -L took longer than 10 s; assuming no GPUs");
    return std::nullopt;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return output;
}

}  // namespace

absl::StatusOr<std::vector<int>> ParseGpuList(std::string_view text) {
  std::vector<int> indices;
  std::string_view rest = Trim(text);
  if (rest.empty()) return indices;
  std::set<int> seen;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view entry = Trim(rest.substr(0, comma));
    bool digits = !entry.empty() && entry.size() <= 6 &&
                  std::all_of(entry.begin(), entry.end(),
                              [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!digits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GPU list '", std::string(text), "': entry '", std::string(entry),
          "' is not a device number; write device numbers separated by commas, e.g. 0,1"));
    }
    int index = std::atoi(std::string(entry).c_str());
    if (!seen.insert(index).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("GPU list '", std::string(text), "': device ", index, " is listed twice"));
    }
    indices.push_back(index);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  std::sort(indices.begin(), indices.end());
  return indices;
}

std::vector<int> ParseNvidiaSmiList(std::string_view output) {
  std::set<int> indices;
  while (!output.empty()) {
    size_t newline = output.find('\n');
    std::string_view line = Trim(output.substr(0, newline));
    output = newline == std::string_view::npos ? std::string_view() : output.substr(newline + 1);
    if (line.substr(0, 4) != "GPU ") continue;
    line.remove_prefix(4);
    size_t digits = 0;
    while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits]))) {
      ++digits;
    }
    if (digits == 0 || digits > 6 || digits >= line.size() || line[digits] != ':') continue;
    indices.insert(std::atoi(std::string(line.substr(0, digits)).c_str()));
  }
  return {indices.begin(), indices.end()};
}

GpuInventory DetectGpus() {
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"); visible != nullptr) {
    absl::StatusOr<std::vector<int>> parsed = ParseGpuList(visible);
    if (parsed.ok()) return GpuInventory{*std::move(parsed), "CUDA_VISIBLE_DEVICES"};
    Log(LogLevel::kWarning,
        absl::StrCat("ignoring CUDA_VISIBLE_DEVICES: ", std::string(parsed.status().message()),
                     "; asking nvidia-smi instead"));
  }
  if (std::optional<std::string> output = RunNvidiaSmi(); output.has_value()) {
    return GpuInventory{ParseNvidiaSmiList(*output), "nvidia-smi"};
  }
  return GpuInventory{{}, "none"};
}

std::string FormatGpuList(const std::vector<int>& indices) { return absl::StrJoin(indices, ","); }

}  // namespace cairn::compute
