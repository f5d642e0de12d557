#include "compute/process_launch.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace cairn::compute {
namespace {

constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

std::string PathOf(const std::vector<std::string>& environment) {
  for (const std::string& entry : environment) {
    if (entry.compare(0, 5, "PATH=") == 0) return entry.substr(5);
  }
  return kDefaultPath;
}

// Commands resolved in the last second (a fan-out launches the same command a thousand
// times; each resolution is a few stat/access calls per PATH entry). Only successes are
// kept, and only briefly: a command removed meanwhile fails in the shim's exec instead,
// with the same launch-error reason.
constexpr auto kResolvedTtl = std::chrono::seconds(1);
constexpr size_t kResolvedMax = 256;

struct ResolvedCommand {
  std::string path;
  std::chrono::steady_clock::time_point expires;
};

absl::Mutex resolved_mu(absl::kConstInit);
absl::flat_hash_map<std::string, ResolvedCommand>& Resolved()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(resolved_mu) {
  static auto* cache = new absl::flat_hash_map<std::string, ResolvedCommand>();
  return *cache;
}

absl::StatusOr<std::string> ResolveCommandCached(const std::string& command,
                                                 const std::string& path,
                                                 const std::string& workdir) {
  std::string key = command;
  key.push_back('\0');
  key += path;
  key.push_back('\0');
  key += workdir;
  auto now = std::chrono::steady_clock::now();
  {
    absl::MutexLock lock(&resolved_mu);
    auto it = Resolved().find(key);
    if (it != Resolved().end() && it->second.expires > now) return it->second.path;
  }
  absl::StatusOr<std::string> resolved = ResolveCommand(command, path, workdir);
  if (resolved.ok()) {
    absl::MutexLock lock(&resolved_mu);
    if (Resolved().size() >= kResolvedMax) Resolved().clear();
    Resolved()[key] = ResolvedCommand{*resolved, now + kResolvedTtl};
  }
  return resolved;
}

}  // namespace

std::vector<std::string> MergeEnvironment(const std::vector<std::string>& base,
                                          const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> merged;
  merged.reserve(base.size() + overrides.size());
  for (const std::string& entry : base) {
    std::string_view key = std::string_view(entry).substr(0, entry.find('='));
    if (overrides.find(std::string(key)) == overrides.end()) merged.push_back(entry);
  }
  for (const auto& [key, value] : overrides) merged.push_back(absl::StrCat(key, "=", value));
  return merged;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

absl::StatusOr<std::string> ResolveCommand(const std::string& command, const std::string& path,
                                           const std::string& workdir) {
  if (command.empty()) return absl::InvalidArgumentError("argv[0]: the command is empty");
  if (command.find('/') != std::string::npos) {
    std::string full =
        command[0] == '/' || workdir.empty() ? command : absl::StrCat(workdir, "/", command);
    if (access(full.c_str(), F_OK) != 0) {
      return absl::NotFoundError(absl::StrCat("command '", command, "' does not exist"));
    }
    if (!IsExecutableFile(full)) {
      return absl::PermissionDeniedError(
          absl::StrCat("command '", command, "' is not an executable file"));
    }
    return full;
  }
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate = dir.empty()
                                ? absl::StrCat(workdir.empty() ? "." : workdir, "/", command)
                                : absl::StrCat(dir, "/", command);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("command '", command, "' not found in PATH (", path,
                                          "); give its absolute path or install it"));
}

absl::StatusOr<pid_t> LaunchProcess(const std::string& shim_path, const std::string& record_path,
                                    const std::string& token, const JobSpec& spec,
                                    const std::vector<std::string>& environment) {
  std::error_code error;
  // The log's folder is usually the working directory, which the caller usually created
  // already: open the log first, and create folders only when something is missing.
  const std::filesystem::path log_dir = std::filesystem::path(spec.log_path).parent_path();
  int log_fd = open(spec.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  const bool workdir_exists = log_fd >= 0 && !spec.workdir.empty() &&
                              std::filesystem::path(spec.workdir) == log_dir;
  if (!spec.workdir.empty() && !workdir_exists) {
    std::filesystem::create_directories(spec.workdir, error);
    if (error) {
      if (log_fd >= 0) close(log_fd);
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create working directory '", spec.workdir, "': ", error.message()));
    }
  }
  absl::StatusOr<std::string> command = ResolveCommandCached(
      spec.argv.empty() ? "" : spec.argv[0], PathOf(environment), spec.workdir);
  if (!command.ok()) {
    if (log_fd >= 0) close(log_fd);
    return command.status();
  }
  if (log_fd < 0) {
    std::filesystem::create_directories(log_dir, error);
    log_fd = open(spec.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  }
  if (log_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open log file '", spec.log_path, "': ", std::strerror(errno)));
  }

  std::vector<const char*> argv = {shim_path.c_str(), record_path.c_str(), token.c_str(),
                                   command->c_str()};
  argv.reserve(argv.size() + spec.argv.size() + 1);
  for (const std::string& arg : spec.argv) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  std::vector<const char*> envp;
  envp.reserve(environment.size() + 1);
  for (const std::string& entry : environment) envp.push_back(entry.c_str());
  envp.push_back(nullptr);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);  // undo the server's SIG_IGN (SIGPIPE, …)
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
  if (!spec.workdir.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.workdir.c_str());
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  pid_t pid = 0;
  int rc =
      posix_spawn(&pid, shim_path.c_str(), &actions, &attr, const_cast<char* const*>(argv.data()),
                  const_cast<char* const*>(envp.data()));
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(log_fd);
  if (rc != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot start '", spec.argv[0], "' in '",
                                                      spec.workdir, "': ", std::strerror(rc)));
  }
  return pid;
}

}  // namespace cairn::compute
