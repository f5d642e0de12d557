// cairn-job-shim: the first process of every local job (DESIGN.md §5 "compute").
//
//   cairn-job-shim RECORD TOKEN PATH ARGV0 [ARGS...]
//
// Runs PATH with ARGV0 ARGS as its child, waits for it and records how it ended in the job
// record file RECORD (process_record.h), so a server that was down (even SIGKILLed) when
// the job ended can still learn its exit status. The shim is the leader of the job's
// session and process group (the executor spawns it with setsid) and exits the way its
// child did: the same exit code, or the same signal re-raised on itself.
//
// It ignores SIGTERM/SIGINT/SIGHUP/SIGQUIT (the child gets them with their defaults), so a
// signal sent to the whole group ends the command first and the shim lives to record it.
// Only libc, statically linked: it starts in well under a millisecond.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace {

constexpr int kShielded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
char g_prefix[768];  // "cairn-job 1 token=… pid=… starttime=… start_ms=…"
const char* g_record = nullptr;
char g_tmp[4200];

long long NowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Field 22 of /proc/self/stat (start time in clock ticks since boot), 0 when unreadable.
unsigned long long StartTime() {
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buffer[1024];
  ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
  close(fd);
  if (n <= 0) return 0;
  buffer[n] = '\0';
  char* p = strrchr(buffer, ')');  // the command name may contain spaces and parentheses
  if (p == nullptr) return 0;
  p += 2;  // now at field 3 (state)
  for (int field = 3; field < 22 && *p != '\0'; ++field) {
    p = strchr(p, ' ');
    if (p == nullptr) return 0;
    ++p;
  }
  return strtoull(p, nullptr, 10);
}

// Replaces the record atomically (write a temporary file, rename it over the record).
void WriteRecord(const char* suffix) {
  char line[1024];
  int len = snprintf(line, sizeof(line), "%s %s\n", g_prefix, suffix);
  if (len <= 0) return;
  if (len >= static_cast<int>(sizeof(line))) len = sizeof(line) - 1;
  int fd = open(g_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t written = write(fd, line, static_cast<size_t>(len));
  close(fd);
  if (written == len)
    rename(g_tmp, g_record);
  else
    unlink(g_tmp);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    static const char kUsage[] = "usage: cairn-job-shim RECORD TOKEN PATH ARGV0 [ARGS...]\n";
    ssize_t ignored = write(2, kUsage, sizeof(kUsage) - 1);
    (void)ignored;
    return 2;
  }
  g_record = argv[1];
  const char* token = argv[2];
  const char* path = argv[3];
  snprintf(g_tmp, sizeof(g_tmp), "%s.%d.tmp", g_record, static_cast<int>(getpid()));
  const char* gpus = getenv("CUDA_VISIBLE_DEVICES");
  snprintf(g_prefix, sizeof(g_prefix), "cairn-job 1 token=%s pid=%d starttime=%llu start_ms=%lld",
           token, static_cast<int>(getpid()), StartTime(), NowMs());
  char running[300];
  snprintf(running, sizeof(running), "state=running gpus=%.200s", gpus == nullptr ? "" : gpus);
  WriteRecord(running);

  // Exec failures travel back over a close-on-exec pipe.
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    char line[96];
    snprintf(line, sizeof(line), "state=launch_error errno=%d end_ms=%lld", errno, NowMs());
    WriteRecord(line);
    return 127;
  }
  sigset_t shielded, previous;
  sigemptyset(&shielded);
  for (int sig : kShielded) sigaddset(&shielded, sig);
  sigprocmask(SIG_BLOCK, &shielded, &previous);
  pid_t child = fork();
  if (child == 0) {
    close(error_pipe[0]);
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    execv(path, argv + 4);
    int error = errno;
    ssize_t ignored = write(error_pipe[1], &error, sizeof(error));
    (void)ignored;
    _exit(127);
  }
  int fork_errno = errno;
  close(error_pipe[1]);
  for (int sig : kShielded) signal(sig, SIG_IGN);
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  if (child < 0) {
    char line[96];
    snprintf(line, sizeof(line), "state=launch_error errno=%d end_ms=%lld", fork_errno, NowMs());
    WriteRecord(line);
    return 127;
  }
  int exec_errno = 0;
  ssize_t got;
  do {
    got = read(error_pipe[0], &exec_errno, sizeof(exec_errno));
  } while (got < 0 && errno == EINTR);
  close(error_pipe[0]);

  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
  char line[96];
  if (got == static_cast<ssize_t>(sizeof(exec_errno))) {
    snprintf(line, sizeof(line), "state=launch_error errno=%d end_ms=%lld", exec_errno, NowMs());
    WriteRecord(line);
    return 127;
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    snprintf(line, sizeof(line), "state=signaled signal=%d end_ms=%lld", sig, NowMs());
    WriteRecord(line);
    // Die the same way, without a core file of the shim.
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    raise(sig);
    return 128 + sig;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  snprintf(line, sizeof(line), "state=exited code=%d end_ms=%lld", code, NowMs());
  WriteRecord(line);
  return code;
}
