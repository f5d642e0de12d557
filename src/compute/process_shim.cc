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
//
// On x86-64 and AArch64 it is built without libc (-nostdlib -static, CAIRN_SHIM_NOLIBC):
// raw system calls and its own _start. glibc's start-up alone (CPU feature detection with
// dozens of CPUID instructions, which trap to the hypervisor on virtual machines: ~16 µs
// each on the benchmark VM) cost ~0.6 ms of CPU per job; without it the shim costs a few
// system calls. Elsewhere it is an ordinary static libc program (the same code, through
// syscall(2)).

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#ifndef CAIRN_SHIM_NOLIBC
#include <unistd.h>
#endif

namespace {

// ---- System calls ----------------------------------------------------------------------
// Return the kernel's value: >= 0, or -errno.

#if defined(CAIRN_SHIM_NOLIBC) && defined(__x86_64__)
long Sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(CAIRN_SHIM_NOLIBC) && defined(__aarch64__)
long Sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
                   : "memory");
  return x0;
}
#elif defined(CAIRN_SHIM_NOLIBC)
#error "CAIRN_SHIM_NOLIBC is for x86-64 and AArch64 only"
#else
long Sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  long ret = syscall(n, a, b, c, d, e);
  return ret < 0 ? -errno : ret;
}
#endif

long L(const void* p) { return reinterpret_cast<long>(p); }

[[noreturn]] void Exit(int code) {
  for (;;) Sys(SYS_exit_group, code);
}
long Open(const char* path, int flags) { return Sys(SYS_openat, AT_FDCWD, L(path), flags, 0644); }
long Read(int fd, void* buffer, size_t size) { return Sys(SYS_read, fd, L(buffer), size); }
long Write(int fd, const void* buffer, size_t size) { return Sys(SYS_write, fd, L(buffer), size); }
void Close(int fd) { Sys(SYS_close, fd); }
int GetPid() { return static_cast<int>(Sys(SYS_getpid)); }

// The kernel's struct sigaction (not libc's): handler, flags, restorer, mask.
struct KernelSigaction {
  long handler;
  unsigned long flags;
  long restorer;
  uint64_t mask;
};
uint64_t Bit(int sig) { return uint64_t{1} << (sig - 1); }
void SetMask(int how, uint64_t set, uint64_t* old) {
  Sys(SYS_rt_sigprocmask, how, L(&set), L(old), sizeof(uint64_t));
}
void SetDisposition(int sig, long handler) {  // SIG_IGN or SIG_DFL only: no restorer needed
  KernelSigaction action{handler, 0, 0, 0};
  Sys(SYS_rt_sigaction, sig, L(&action), 0, sizeof(uint64_t));
}

// ---- Text ------------------------------------------------------------------------------

size_t Length(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

// Appends to a fixed buffer, truncating (always leaves it NUL-terminated).
struct Text {
  char* data;
  size_t capacity;
  size_t size = 0;
  Text& Add(const char* s, size_t max = SIZE_MAX) {
    for (size_t i = 0; s[i] != '\0' && i < max && size + 1 < capacity; ++i) data[size++] = s[i];
    data[size] = '\0';
    return *this;
  }
  Text& Add(long long value) {
    char digits[24];
    int n = 0;
    unsigned long long magnitude =
        value < 0 ? 0ULL - static_cast<unsigned long long>(value) : value;
    do {
      digits[n++] = static_cast<char>('0' + magnitude % 10);
      magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0) digits[n++] = '-';
    char text[24];
    for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
    text[n] = '\0';
    return Add(text);
  }
};

// ---- The record ------------------------------------------------------------------------

constexpr int kShielded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
char g_prefix[768];  // "cairn-job 1 token=… pid=… starttime=… start_ms=…"
const char* g_record = nullptr;

long long NowMs() {
  timespec ts{};
  Sys(SYS_clock_gettime, CLOCK_REALTIME, L(&ts));
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// The record file, open for appending: the shim writes one line when the job starts and
// appends one when it ends; readers take the last complete line (ReadJobRecord). Appending
// to the same file frees no disk blocks: replacing the record by rename freed the running
// line's block on every job end, and on a file system mounted with `discard` that is a
// synchronous discard request (~5 ms on the benchmark VM) before the shim could exit.
long g_record_fd = -1;

void WriteRecord(const char* suffix) {
  char buffer[1024];
  Text line{buffer, sizeof(buffer)};
  line.Add(g_prefix).Add(" ").Add(suffix);
  if (line.size + 1 >= line.capacity) line.size = line.capacity - 2;  // keep the newline
  line.data[line.size++] = '\n';
  if (g_record_fd < 0) {
    // O_TRUNC: a record an earlier job left at this path is replaced (its token differs).
    g_record_fd = Open(g_record, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC);
    if (g_record_fd < 0) return;
  }
  Write(static_cast<int>(g_record_fd), line.data, line.size);
}

void WriteEnd(const char* what, long long value) {
  char buffer[96];
  Text line{buffer, sizeof(buffer)};
  line.Add(what).Add(value).Add(" end_ms=").Add(NowMs());
  WriteRecord(buffer);
}

const char* GetEnv(char** envp, const char* name) {
  size_t length = Length(name);
  for (char** entry = envp; *entry != nullptr; ++entry) {
    const char* e = *entry;
    size_t i = 0;
    while (i < length && e[i] == name[i]) ++i;
    if (i == length && e[i] == '=') return e + length + 1;
  }
  return nullptr;
}

// ---- Starting the command ---------------------------------------------------------------
// Spawn runs PATH as a child with the signal mask `mask` and returns its pid (or -errno when
// no child was made); *exec_errno is the execve error when the child could not run PATH (it
// then exits 127), else 0.

#if defined(CAIRN_SHIM_NOLIBC) && defined(__x86_64__)
// vfork-style: clone(CLONE_VM | CLONE_VFORK) on a stack of its own. The shim is suspended
// until its child has exec'd (or exited), so the child copies no page tables, the shim takes
// no copy-on-write faults afterwards, and an exec failure comes back through memory instead
// of a pipe. The child runs ExecChild on g_child_stack and never returns into the shim's
// frames.
extern "C" long CairnShimVfork(long (*fn)(void*), void* arg, char* stack_top);
__asm__(
    ".text\n.global CairnShimVfork\nCairnShimVfork:\n"
    "  and $-16, %rdx\n  sub $16, %rdx\n  mov %rdi, (%rdx)\n  mov %rsi, 8(%rdx)\n"
    "  mov %rdx, %rsi\n  mov $0x4111, %edi\n"  // CLONE_VM | CLONE_VFORK | SIGCHLD
    "  xor %edx, %edx\n  xor %r10d, %r10d\n  xor %r8d, %r8d\n  mov $56, %eax\n  syscall\n"
    "  test %rax, %rax\n  jnz 1f\n"
    "  xor %ebp, %ebp\n  pop %rax\n  pop %rdi\n  call *%rax\n"  // the child: fn(arg)
    "  mov %rax, %rdi\n  mov $60, %eax\n  syscall\n  hlt\n"     // exit(its result)
    "1:\n  ret\n");

struct ChildArgs {
  const char* path;
  char** argv;
  char** envp;
  uint64_t mask;
  volatile int exec_errno;  // written by the child, read by the shim once it resumes
};
alignas(16) char g_child_stack[16384];

long ExecChild(void* raw) {
  auto* args = static_cast<ChildArgs*>(raw);
  SetMask(SIG_SETMASK, args->mask, nullptr);
  long rc = Sys(SYS_execve, L(args->path), L(args->argv), L(args->envp));
  args->exec_errno = static_cast<int>(-rc);
  return 127;
}

long Spawn(const char* path, char** argv, char** envp, uint64_t mask, int* exec_errno) {
  ChildArgs args{path, argv, envp, mask, 0};
  long child = CairnShimVfork(&ExecChild, &args, g_child_stack + sizeof(g_child_stack));
  *exec_errno = child > 0 ? args.exec_errno : 0;
  return child;
}
#else
// fork, and exec failures over a close-on-exec pipe.
long Fork() {
#ifdef CAIRN_SHIM_NOLIBC
  return Sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#else
  pid_t pid = fork();
  return pid < 0 ? -errno : pid;
#endif
}

long Spawn(const char* path, char** argv, char** envp, uint64_t mask, int* exec_errno) {
  *exec_errno = 0;
  int error_pipe[2];
  if (long rc = Sys(SYS_pipe2, L(error_pipe), O_CLOEXEC); rc < 0) return rc;
  long child = Fork();
  if (child == 0) {
    Close(error_pipe[0]);
    SetMask(SIG_SETMASK, mask, nullptr);
    long rc = Sys(SYS_execve, L(path), L(argv), L(envp));
    int error = static_cast<int>(-rc);
    Write(error_pipe[1], &error, sizeof(error));
    Exit(127);
  }
  Close(error_pipe[1]);
  if (child > 0) {
    int error = 0;
    long got;
    do {
      got = Read(error_pipe[0], &error, sizeof(error));
    } while (got == -EINTR);
    if (got == static_cast<long>(sizeof(error))) *exec_errno = error;
  }
  Close(error_pipe[0]);
  return child;
}
#endif

int ShimMain(int argc, char** argv, char** envp) {
  if (argc < 5) {
    static const char kUsage[] = "usage: cairn-job-shim RECORD TOKEN PATH ARGV0 [ARGS...]\n";
    Write(2, kUsage, sizeof(kUsage) - 1);
    return 2;
  }
  // The server starts the shim with every signal blocked (it spawns it vfork-style): none
  // stays blocked. One the job's group got before this is delivered now, as it would have
  // been to a shim started with none blocked.
  SetMask(SIG_SETMASK, 0, nullptr);
  g_record = argv[1];
  const char* token = argv[2];
  const char* path = argv[3];
  int pid = GetPid();
  const char* gpus = GetEnv(envp, "CUDA_VISIBLE_DEVICES");
  Text{g_prefix, sizeof(g_prefix)}
      .Add("cairn-job 1 token=")
      .Add(token)
      .Add(" pid=")
      .Add(pid)
      .Add(" starttime=0")  // the server recognises the shim by its token (JobShimAlive)
      .Add(" start_ms=")
      .Add(NowMs());
  char running[300];
  Text{running, sizeof(running)}.Add("state=running gpus=").Add(gpus == nullptr ? "" : gpus, 200);
  WriteRecord(running);

  // The shielded signals stay blocked from before the child exists until the shim ignores
  // them, so none can end the shim before it can record the job's end.
  uint64_t shielded = 0, previous = 0;
  for (int sig : kShielded) shielded |= Bit(sig);
  SetMask(SIG_BLOCK, shielded, &previous);
  int exec_errno = 0;
  long child = Spawn(path, argv + 4, envp, previous, &exec_errno);
  for (int sig : kShielded) SetDisposition(sig, reinterpret_cast<long>(SIG_IGN));
  SetMask(SIG_SETMASK, previous, nullptr);
  if (child < 0) {
    WriteEnd("state=launch_error errno=", -child);
    return 127;
  }

  int status = 0;
  while (Sys(SYS_wait4, child, L(&status), 0, 0) == -EINTR) {
  }
  if (exec_errno != 0) {
    WriteEnd("state=launch_error errno=", exec_errno);
    return 127;
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    char what[48];
    Text{what, sizeof(what)}.Add("state=signaled signal=").Add(sig);
    char line[96];
    Text{line, sizeof(line)}.Add(what).Add(" end_ms=").Add(NowMs());
    WriteRecord(line);
    // Die the same way, without a core file of the shim.
    rlimit no_core{0, 0};
    Sys(SYS_prlimit64, 0, RLIMIT_CORE, L(&no_core), 0);
    SetDisposition(sig, reinterpret_cast<long>(SIG_DFL));
    SetMask(SIG_SETMASK, 0, nullptr);
    Sys(SYS_kill, GetPid(), sig);
    return 128 + sig;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  char what[48];
  Text{what, sizeof(what)}.Add("state=exited code=").Add(code);
  char line[96];
  Text{line, sizeof(line)}.Add(what).Add(" end_ms=").Add(NowMs());
  WriteRecord(line);
  return code;
}

}  // namespace

#ifdef CAIRN_SHIM_NOLIBC
// The compiler may emit calls to these for copies and zeroing.
extern "C" void* memcpy(void* to, const void* from, size_t n) {
  auto* d = static_cast<volatile char*>(to);  // volatile: not turned back into a memcpy call
  const auto* s = static_cast<const char*>(from);
  for (size_t i = 0; i < n; ++i) d[i] = s[i];
  return to;
}
extern "C" void* memset(void* to, int value, size_t n) {
  auto* d = static_cast<volatile char*>(to);
  for (size_t i = 0; i < n; ++i) d[i] = static_cast<char>(value);
  return to;
}

// The stack at entry: argc, argv[0..argc-1], NULL, envp..., NULL.
extern "C" [[noreturn]] __attribute__((used)) void CairnShimStart(long* stack) {
  int argc = static_cast<int>(stack[0]);
  char** argv = reinterpret_cast<char**>(stack + 1);
  Exit(ShimMain(argc, argv, argv + argc + 1));
}
#if defined(__x86_64__)
__asm__(
    ".text\n.global _start\n_start:\n"
    "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call CairnShimStart\n  hlt\n");
#else
__asm__(
    ".text\n.global _start\n_start:\n"
    "  mov x29, #0\n  mov x30, #0\n  mov x0, sp\n  and sp, x0, #-16\n  bl CairnShimStart\n");
#endif
#else
extern char** environ;
int main(int argc, char** argv) { return ShimMain(argc, argv, environ); }
#endif
