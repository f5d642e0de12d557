#include "compute/process_launch.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
  // The working directory matters only for a relative path with a '/' or an empty PATH
  // entry: leaving it out otherwise lets the steps of a run (one folder each) share entries.
  const bool slash = command.find('/') != std::string::npos;
  const bool uses_workdir =
      slash ? !command.empty() && command[0] != '/'
            : path.empty() || path.front() == ':' || path.back() == ':' ||
                  path.find("::") != std::string::npos;
  std::string key = command;
  key.push_back('\0');
  if (!slash) key += path;
  key.push_back('\0');
  if (uses_workdir) key += workdir;
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

// What the shim's process is started with.
struct SpawnPlan {
  const char* path;
  const char* const* argv;
  const char* const* envp;
  int log_fd;
  const char* workdir;  // nullptr: the server's
};

// RLIMIT_NOFILE's soft limit, at most 1 << 20: one past the highest descriptor the server
// may hold. Only where close_range is missing (the vfork child asks: getrlimit is a plain
// system call), so a launch on Linux >= 5.9 makes no getrlimit call.
int DescriptorLimit() {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY ||
      limit.rlim_cur > (rlim_t{1} << 20)) {
    return 1 << 20;
  }
  return static_cast<int>(limit.rlim_cur);
}

// vfork, then in the child: a new session, signals at their defaults, stdin from /dev/null,
// stdout and stderr to the log, the working directory, no descriptors but 0-2, exec. Like
// posix_spawn, without its ~120 rt_sigaction calls per spawn (glibc 2.36 visits all 64
// signals twice in the child): the child keeps every signal blocked until exec, which resets
// caught signals, and sets every signal to SIG_DFL (one rt_sigaction each), undoing a SIG_IGN
// the server inherited (nohup, `&` in a script, glibc's posix_spawn) or set. The shim unblocks its
// signals itself. Returns the pid, or -1 with *error set (then no child is left).
pid_t SpawnShim(const SpawnPlan& plan, int* error) {
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  volatile int child_error = 0;  // written by the child before it exits (shared memory)
  pid_t pid = vfork();
  if (pid == 0) {
    auto fail = [&child_error](int e) {
      child_error = e;
      _exit(127);
    };
    if (setsid() < 0) fail(errno);
    // Every signal, the real-time ones and glibc's reserved 32 and 33 included (libc's
    // sigaction refuses those, hence the system call): posix_spawn in the server's parent
    // (make, for one) leaves 32 and 33 ignored, and an ignored signal stays ignored across
    // exec. The kernel's struct sigaction: handler, flags, restorer, mask.
    struct {
      void (*handler)(int);
      unsigned long flags;
      void (*restorer)();
      uint64_t mask;
    } dfl{SIG_DFL, 0, nullptr, 0};
    for (int sig = 1; sig < _NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) {
        syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
      }
    }
    // The log first: it may be fd 0 in a server started without stdin. dup2 onto itself
    // keeps close-on-exec, so clear it then.
    for (int fd : {1, 2}) {
      if (plan.log_fd == fd ? fcntl(fd, F_SETFD, 0) < 0 : dup2(plan.log_fd, fd) < 0) fail(errno);
    }
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0) fail(errno);
    if (null_fd != 0 && (dup2(null_fd, 0) < 0 || close(null_fd) < 0)) fail(errno);
    if (plan.workdir != nullptr && chdir(plan.workdir) < 0) fail(errno);
    // Not every descriptor of the server is close-on-exec (Asio's sockets, Beast's files
    // are not): close them all. close_range needs Linux 5.9; before it, one by one.
    if (close_range(3, ~0U, 0) != 0) CloseDescriptorsFrom3();
    execve(plan.path, const_cast<char* const*>(plan.argv), const_cast<char* const*>(plan.envp));
    fail(errno);
  }
  int spawn_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) {
    *error = spawn_errno;
    return -1;
  }
  if (child_error != 0) {
    *error = child_error;
    int ignored;
    while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  *error = 0;
  return pid;
}

}  // namespace

void CloseDescriptorsFrom3() {
  const int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    const int fd_limit = DescriptorLimit();
    for (int fd = 3; fd < fd_limit; ++fd) close(fd);
    return;
  }
  alignas(8) char buffer[4096];
  for (;;) {
    const long n = syscall(SYS_getdents64, dir, buffer, sizeof(buffer));
    if (n <= 0) break;
    for (long offset = 0; offset < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      unsigned short reclen;
      std::memcpy(&reclen, buffer + offset + 16, sizeof(reclen));
      const char* name = buffer + offset + 19;
      int fd = 0;
      bool number = *name != '\0';
      for (const char* c = name; *c != '\0'; ++c) {
        if (*c < '0' || *c > '9') {
          number = false;
          break;
        }
        fd = fd * 10 + (*c - '0');
      }
      if (number && fd >= 3 && fd != dir) close(fd);
      offset += reclen;
    }
  }
  close(dir);
}

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

  SpawnPlan plan{shim_path.c_str(), argv.data(), envp.data(), log_fd,
                 spec.workdir.empty() ? nullptr : spec.workdir.c_str()};
  int spawn_error = 0;
  pid_t pid = SpawnShim(plan, &spawn_error);
  close(log_fd);
  if (pid < 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot start '", spec.argv[0], "' in '",
                                                      spec.workdir,
                                                      "': ", std::strerror(spawn_error)));
  }
  return pid;
}

}  // namespace cairn::compute
