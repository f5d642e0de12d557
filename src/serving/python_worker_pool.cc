#include "serving/python_worker_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/status.h"
#include "serving/python_worker_io.h"

extern char** environ;

namespace cairn::serving {
namespace internal {
extern const std::string_view kPythonWorkerScript;
}  // namespace internal

namespace {

using internal::ReadExact;
using internal::ReadFrame;
using internal::ReadResult;
using internal::SendAll;
using internal::SendFd;
using internal::SteadyMs;
using internal::WaitPeerClosed;

constexpr int64_t kKillGraceMs = 2'000;    // SIGTERM → SIGKILL
constexpr int kScalerTickMs = 100;         // idle checks (the clock may be fake)
constexpr int64_t kZygoteRetryMs = 5'000;  // between restarts of a dead zygote

std::string ExitText(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exit code ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return absl::StrCat("signal ", WTERMSIG(wait_status));
  return "unknown status";
}

// ---- the zygote ---------------------------------------------------------------------

struct Zygote {
  pid_t pid = -1;
  int control = -1;  // our end of the Unix socket (its fd 3)
};

// Spawns `python -c SCRIPT MODEL_DIR` and waits for its READY frame.
absl::StatusOr<Zygote> StartZygote(const ModelInfo& info, const PythonPoolOptions& options) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::InternalError(absl::StrCat("socketpair: ", std::strerror(errno)));
  }
  std::string script(internal::kPythonWorkerScript);
  std::vector<const char*> argv = {options.python.c_str(), "-c", script.c_str(),
                                   info.model_dir.c_str(), nullptr};
  // One thread per worker: native thread pools (OpenMP, BLAS) would oversubscribe the
  // cores the pool already spreads its replicas over, and do not survive fork().
  std::vector<std::string> env_storage;
  std::vector<const char*> envp;
  bool has_omp = false, has_blas = false, has_mkl = false;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    has_omp |= entry.rfind("OMP_NUM_THREADS=", 0) == 0;
    has_blas |= entry.rfind("OPENBLAS_NUM_THREADS=", 0) == 0;
    has_mkl |= entry.rfind("MKL_NUM_THREADS=", 0) == 0;
    envp.push_back(*e);
  }
  if (!has_omp) envp.push_back("OMP_NUM_THREADS=1");
  if (!has_blas) envp.push_back("OPENBLAS_NUM_THREADS=1");
  if (!has_mkl) envp.push_back("MKL_NUM_THREADS=1");
  envp.push_back(nullptr);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);  // model prints → the server's stderr
  posix_spawn_file_actions_adddup2(&actions, pair[1], 3);
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  pid_t pid = -1;
  int rc =
      posix_spawnp(&pid, options.python.c_str(), &actions, &attr,
                   const_cast<char* const*>(argv.data()), const_cast<char* const*>(envp.data()));
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(pair[1]);
  if (rc != 0) {
    close(pair[0]);
    if (rc == ENOENT) {
      return absl::NotFoundError(absl::StrCat(
          "python: interpreter '", options.python,
          "' not found in PATH; install Python with mlflow or give the interpreter's path"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("python: cannot start '", options.python, "': ", std::strerror(rc)));
  }
  Zygote zygote{pid, pair[0]};
  auto fail = [&](absl::Status status) {
    kill(pid, SIGKILL);
    int ignored;
    waitpid(pid, &ignored, 0);
    close(pair[0]);
    return status;
  };
  std::string body;
  ReadResult r = ReadFrame(zygote.control, body, SteadyMs() + options.startup_timeout_ms);
  if (r == ReadResult::kTimeout) {
    return fail(absl::DeadlineExceededError(absl::StrCat(
        "model ", info.model_dir, ": the Python worker did not load it within ",
        options.startup_timeout_ms, " ms (startup_timeout_ms); raise it or check the model")));
  }
  if (r == ReadResult::kEof || body.empty()) {
    int status = 0;
    waitpid(pid, &status, 0);
    close(pair[0]);
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", info.model_dir, ": the Python worker (", options.python, ") exited (",
        ExitText(status), ") before loading it; its error is in the server's log"));
  }
  if (body[0] != 'R') {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("model ", info.model_dir, ": Python cannot load it with ",
                     "mlflow.pyfunc.load_model: ", absl::string_view(body).substr(1))));
  }
  return zygote;
}

// SIGTERM, then SIGKILL after the grace period; reaped.
void StopZygote(Zygote& zygote) {
  if (zygote.pid <= 0) return;
  shutdown(zygote.control, SHUT_WR);  // EOF on its fd 3 ends it
  kill(zygote.pid, SIGTERM);
  if (!WaitPeerClosed(zygote.control, SteadyMs() + kKillGraceMs)) kill(zygote.pid, SIGKILL);
  int status;
  while (waitpid(zygote.pid, &status, 0) < 0 && errno == EINTR) {
  }
  close(zygote.control);
  zygote = Zygote{};
}

// ---- the pool -----------------------------------------------------------------------

class PythonWorkerPool final : public ModelRuntime {
 public:
  PythonWorkerPool(ModelInfo info, PythonPoolOptions options, Zygote zygote)
      : info_(std::move(info)),
        options_(std::move(options)),
        clock_(options_.clock ? options_.clock : &RealClock()),
        zygote_(zygote) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }

  ~PythonWorkerPool() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      for (Waiter* waiter : waiters_) {
        waiter->status = absl::UnavailableError("endpoint shutting down; retry");
        waiter->done = true;
      }
      waiters_.clear();
    }
    Wake();
    if (scaler_.joinable()) scaler_.join();
    std::vector<std::unique_ptr<Worker>> workers;
    {
      absl::MutexLock lock(&mu_);
      workers = std::move(workers_);
      for (auto& retiring : retiring_) workers.push_back(std::move(retiring));
      retiring_.clear();
      idle_.clear();
    }
    for (auto& worker : workers) {
      shutdown(worker->fd, SHUT_WR);
      kill(worker->pid, SIGTERM);
    }
    int64_t deadline = SteadyMs() + kKillGraceMs;
    for (auto& worker : workers) {
      if (!WaitPeerClosed(worker->fd, deadline)) kill(worker->pid, SIGKILL);
      close(worker->fd);
    }
    StopZygote(zygote_);
    close(wake_fd_);
  }

  // Forks `count` workers now (start-up). false with the error when one cannot start.
  absl::Status StartWorkers(int count) {
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<std::unique_ptr<Worker>> worker = ForkWorker();
      if (!worker.ok()) return worker.status();
      absl::MutexLock lock(&mu_);
      AddReadyLocked(std::move(*worker));
    }
    return absl::OkStatus();
  }

  void StartScaler() {
    scaler_ = std::thread([this] { ScalerLoop(); });
  }

  const ModelInfo& info() const override { return info_; }

  absl::StatusOr<std::vector<double>> Predict(const ModelInput& input) override {
    if (input.cells.size() != input.rows * input.columns.size()) {
      return absl::InvalidArgumentError(absl::StrCat("input: ", input.cells.size(), " cells for ",
                                                     input.rows, " rows × ", input.columns.size(),
                                                     " columns"));
    }
    for (const std::string& needed : info_.input_columns) {
      bool found = false;
      for (const std::string& column : input.columns) {
        if (column == needed) {
          found = true;
          break;
        }
      }
      if (!found) {
        return absl::InvalidArgumentError(absl::StrCat("input: the model needs column '", needed,
                                                       "', which the request does not have"));
      }
    }
    if (input.rows == 0) return std::vector<double>{};
    const int64_t deadline_ms =
        options_.request_timeout_ms > 0 ? SteadyMs() + options_.request_timeout_ms : -1;
    thread_local std::string request;
    thread_local std::string response;
    internal::EncodeRequest(input, request);

    Worker* worker = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return absl::UnavailableError("endpoint shutting down; retry");
      if (!idle_.empty() && waiters_.empty()) {
        worker = idle_.back();
        idle_.pop_back();
        worker->idle = false;
        ++worker->uses;
        ++in_flight_;
        if (NeedsMoreLocked()) Wake();
      } else {
        // The bound grows with the pool: a scale-up decided for this load counts at once.
        const size_t bound = static_cast<size_t>(options_.max_queue_per_replica) *
                             static_cast<size_t>(std::max(1, ReplicasLocked()));
        if (waiters_.size() >= bound) {
          ++rejected_;
          return absl::ResourceExhaustedError(absl::StrCat("endpoint busy: ", waiters_.size(),
                                                           " requests queued; retry after 1 s"));
        }
        Waiter waiter;
        waiter.deadline_ms = deadline_ms;
        waiters_.push_back(&waiter);
        if (NeedsMoreLocked()) Wake();
        if (deadline_ms < 0) {
          mu_.Await(absl::Condition(&waiter.done));
        } else if (!mu_.AwaitWithTimeout(
                       absl::Condition(&waiter.done),
                       absl::Milliseconds(std::max<int64_t>(0, deadline_ms - SteadyMs())))) {
          // Still queued at the deadline (every path that takes a waiter off the queue
          // sets done): leave the queue, never reaching a worker.
          waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
          return QueuedTooLongLocked();
        }
        if (!waiter.status.ok()) return waiter.status;
        worker = waiter.worker;  // in_flight_ counted by the hand-over
        if (deadline_ms >= 0 && SteadyMs() >= deadline_ms) {
          // Handed over as the deadline passed: give the worker on, unused.
          --in_flight_;
          HandOverLocked(worker);
          return QueuedTooLongLocked();
        }
      }
    }

    // Sent and read against the deadline: a send blocks only on a worker that does not
    // read (its socket buffer full), a read on a model that does not answer.
    ReadResult read = ReadResult::kEof;
    if (SendAll(worker->fd, request.data(), request.size(), deadline_ms)) {
      read = ReadFrame(worker->fd, response, deadline_ms);
    } else if (deadline_ms >= 0 && SteadyMs() >= deadline_ms) {
      read = ReadResult::kTimeout;
    }
    if (read == ReadResult::kTimeout) {
      pid_t pid = worker->pid;
      KillWorker(worker);
      return absl::DeadlineExceededError(absl::StrCat(
          EndpointLabel(), ": the model did not answer within the timeout of ",
          FormatDuration(options_.request_timeout_ms), " (Python worker ", pid,
          " killed and replaced); make the model faster or raise the endpoint's timeout"));
    }
    bool alive = read == ReadResult::kOk && !response.empty();
    if (!alive) {
      pid_t pid = worker->pid;
      DropWorker(worker, "died during a request");
      return absl::UnavailableError(
          absl::StrCat("the Python worker (pid ", pid, ") serving model ", info_.model_dir,
                       " died during the request; the pool replaces it; retry"));
    }
    Release(worker);

    const char kind = response[0];
    if (kind == 'O' && response.size() >= 5) {
      uint32_t n;
      std::memcpy(&n, response.data() + 1, 4);
      if (n == input.rows && response.size() == 5 + 8 * static_cast<size_t>(n)) {
        std::vector<double> predictions(n);
        std::memcpy(predictions.data(), response.data() + 5, 8 * static_cast<size_t>(n));
        return predictions;
      }
      return absl::InternalError("the Python worker answered a malformed frame");
    }
    absl::string_view message = absl::string_view(response).substr(1);
    if (kind == 'I') {
      return absl::InvalidArgumentError(absl::StrCat("input: the model refused it: ", message));
    }
    return absl::InternalError(absl::StrCat("model error: ", message));
  }

  RuntimeStats Stats() const override {
    absl::MutexLock lock(&mu_);
    RuntimeStats stats;
    stats.replicas = static_cast<int>(workers_.size()) + starting_;
    stats.in_flight = in_flight_;
    stats.queued = static_cast<int>(waiters_.size());
    stats.rejected = rejected_;
    return stats;
  }

 private:
  struct Worker {
    pid_t pid = -1;
    int fd = -1;  // our end of its Unix socket
    bool idle = false;
    int64_t idle_since_ms = 0;  // options_.clock
    uint64_t uses = 0;          // requests handed to it (a generation for the idle check)
    int64_t kill_at_ms = 0;     // steady; retiring workers only
  };
  struct Waiter {
    int64_t deadline_ms = -1;  // steady; -1: none
    bool done = false;
    Worker* worker = nullptr;
    absl::Status status;
  };

  void Wake() {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }

  int LoadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return in_flight_ + static_cast<int>(waiters_.size());
  }
  int ReplicasLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(workers_.size()) + starting_;
  }
  // Replicas the load calls for, within [min_replicas, max_replicas].
  int WantedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int wanted = static_cast<int>(std::ceil(
        static_cast<double>(LoadLocked()) / options_.target_in_flight_per_replica - 1e-9));
    return std::clamp(wanted, options_.min_replicas, options_.max_replicas);
  }
  bool NeedsMoreLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return WantedLocked() > ReplicasLocked();
  }

  // A ready worker: to the first waiter, else idle.
  void AddReadyLocked(std::unique_ptr<Worker> worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Worker* raw = worker.get();
    workers_.push_back(std::move(worker));
    HandOverLocked(raw);
  }

  std::string EndpointLabel() const {
    return options_.endpoint.empty() ? absl::StrCat("model ", info_.model_dir)
                                     : absl::StrCat("endpoint '", options_.endpoint, "'");
  }

  absl::Status QueuedTooLongLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::DeadlineExceededError(absl::StrCat(
        EndpointLabel(), ": no Python worker was free within the timeout of ",
        FormatDuration(options_.request_timeout_ms), " (", in_flight_, " requests in flight, ",
        waiters_.size(), " queued, ", ReplicasLocked(), " of at most ", options_.max_replicas,
        " replicas); retry later, raise replicas.max or the endpoint's timeout"));
  }

  void HandOverLocked(Worker* worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!waiters_.empty()) {
      Waiter* waiter = waiters_.front();
      waiters_.pop_front();
      if (waiter->deadline_ms >= 0 && SteadyMs() >= waiter->deadline_ms) {
        // Its deadline passed while it waited (it has not woken up yet): not sent.
        waiter->status = QueuedTooLongLocked();
        waiter->done = true;
        continue;
      }
      waiter->worker = worker;
      waiter->done = true;
      worker->idle = false;
      ++worker->uses;
      ++in_flight_;
      return;
    }
    worker->idle = true;
    worker->idle_since_ms = clock_->NowMillis();
    idle_.push_back(worker);
  }

  void Release(Worker* worker) {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    HandOverLocked(worker);
  }

  // A worker whose socket failed: killed, forgotten, reported by the scaler.
  void DropWorker(Worker* worker, const char* what) {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    replacing_.push_back(absl::StrCat("worker ", worker->pid, " (", what, ")"));
    RemoveLocked(worker, absl::StrCat("worker ", worker->pid, " ", what));
    Wake();
  }

  // A worker whose request ran past its deadline: SIGKILL now (the model may never give
  // the interpreter back), dropped; its replacement is reported with the reason.
  void KillWorker(Worker* worker) {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    std::string what = absl::StrCat("killed after the request timeout of ",
                                    FormatDuration(options_.request_timeout_ms));
    replacing_.push_back(absl::StrCat("worker ", worker->pid, " (", what, ")"));
    RemoveLocked(worker, absl::StrCat("worker ", worker->pid, " ", what), /*force=*/true);
    Wake();
  }

  // Moves `worker` from workers_ to retiring_ (SIGTERM now and SIGKILL after the grace, or
  // SIGKILL now when `force`) and queues the scaling event.
  void RemoveLocked(Worker* worker, std::string reason, bool force = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int from = ReplicasLocked();
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (*it == worker) {
        idle_.erase(it);
        break;
      }
    }
    for (auto it = workers_.begin(); it != workers_.end(); ++it) {
      if (it->get() == worker) {
        shutdown(worker->fd, SHUT_WR);
        kill(worker->pid, force ? SIGKILL : SIGTERM);
        worker->kill_at_ms = force ? 0 : SteadyMs() + kKillGraceMs;
        retiring_.push_back(std::move(*it));
        workers_.erase(it);
        break;
      }
    }
    QueueEventLocked(from, ReplicasLocked(), std::move(reason));
  }

  void QueueEventLocked(int from, int to, std::string reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (from == to) return;
    if (to < from) last_scale_down_ms_ = clock_->NowMillis();
    events_.push_back(
        ScalingEvent{clock_->NowMillis(), options_.endpoint, from, to, std::move(reason)});
  }

  void Report() {
    std::vector<ScalingEvent> events;
    {
      absl::MutexLock lock(&mu_);
      events.swap(events_);
    }
    for (const ScalingEvent& event : events) {
      Log(LogLevel::kInfo, absl::StrCat("python pool ", options_.endpoint, ": replicas ",
                                        event.from, " -> ", event.to, ": ", event.reason));
      if (options_.on_scaling) options_.on_scaling(event);
    }
  }

  // Asks the zygote for one more worker. Runs on the scaler thread (or at start-up),
  // without mu_.
  absl::StatusOr<std::unique_ptr<Worker>> ForkWorker() {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return absl::InternalError(absl::StrCat("socketpair: ", std::strerror(errno)));
    }
    bool sent = SendFd(zygote_.control, 'F', pair[1]);
    close(pair[1]);
    char reply[5];
    if (!sent ||
        !ReadExact(zygote_.control, reply, sizeof(reply),
                   SteadyMs() + options_.startup_timeout_ms) ||
        reply[0] != 'P') {
      close(pair[0]);
      zygote_dead_ = true;
      return absl::UnavailableError(absl::StrCat("the Python zygote of model ", info_.model_dir,
                                                 " stopped answering; restarting it"));
    }
    int32_t pid;
    std::memcpy(&pid, reply + 1, 4);
    if (pid <= 0) {
      close(pair[0]);
      return absl::InternalError("the Python zygote could not fork a worker");
    }
    auto worker = std::make_unique<Worker>();
    worker->pid = pid;
    worker->fd = pair[0];
    return worker;
  }

  void RestartZygoteIfDead() {
    if (!zygote_dead_) return;
    int64_t now = SteadyMs();
    if (now < zygote_retry_at_ms_) return;
    zygote_retry_at_ms_ = now + kZygoteRetryMs;
    StopZygote(zygote_);
    absl::StatusOr<Zygote> zygote = StartZygote(info_, options_);
    if (!zygote.ok()) {
      Log(LogLevel::kError,
          absl::StrCat("python pool ", options_.endpoint,
                       ": cannot restart the zygote: ", zygote.status().message()));
      FailWaitersIfNoWorkers(zygote.status());
      return;
    }
    zygote_ = *zygote;
    zygote_dead_ = false;
  }

  void FailWaitersIfNoWorkers(const absl::Status& cause) {
    absl::MutexLock lock(&mu_);
    if (!workers_.empty()) return;
    for (Waiter* waiter : waiters_) {
      waiter->status = absl::UnavailableError(absl::StrCat("no Python worker can start for model ",
                                                           info_.model_dir, ": ", cause.message(),
                                                           "; retry later"));
      waiter->done = true;
    }
    waiters_.clear();
  }

  void ScalerLoop() {
    std::vector<pollfd> fds;
    std::vector<std::pair<Worker*, uint64_t>> watched;
    while (true) {
      fds.clear();
      watched.clear();
      fds.push_back(pollfd{wake_fd_, POLLIN, 0});
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        // An idle worker's socket is readable only when its process ended.
        for (Worker* worker : idle_) {
          fds.push_back(pollfd{worker->fd, POLLIN, 0});
          watched.emplace_back(worker, worker->uses);
        }
        for (auto& retiring : retiring_) fds.push_back(pollfd{retiring->fd, POLLIN, 0});
      }
      poll(fds.data(), fds.size(), kScalerTickMs);
      uint64_t drained;
      ssize_t ignored = read(wake_fd_, &drained, sizeof(drained));
      (void)ignored;

      int to_start = 0;
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        for (size_t i = 0; i < watched.size(); ++i) {
          auto [worker, uses] = watched[i];
          if ((fds[1 + i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
          // Not handed out since the poll set was built: nothing was asked, so the
          // readable socket is an EOF.
          if (worker->idle && worker->uses == uses) {
            RemoveLocked(worker, absl::StrCat("worker ", worker->pid, " exited while idle"));
          }
        }
        ReapRetiringLocked();
        int wanted = WantedLocked();
        int replicas = ReplicasLocked();
        if (wanted > replicas && !zygote_dead_) {
          to_start = wanted - replicas;
          std::string reason = StartReasonLocked(replicas);
          for (size_t i = 0; i < replacing_.size(); ++i) {
            absl::StrAppend(&reason, i == 0 ? "; replaces " : ", ", replacing_[i]);
          }
          replacing_.clear();
          QueueEventLocked(replicas, wanted, std::move(reason));
          starting_ += to_start;
        } else {
          // Nothing calls for a replacement now (e.g. min_replicas 0 and no load).
          if (wanted <= replicas) replacing_.clear();
          if (replicas > options_.min_replicas && !idle_.empty() && waiters_.empty()) {
            int64_t now = clock_->NowMillis();
            Worker* oldest = idle_.front();
            if (now - oldest->idle_since_ms >= options_.scale_down_idle_ms &&
                now - last_scale_down_ms_ >= options_.scale_down_idle_ms &&
                LoadLocked() <= options_.target_in_flight_per_replica * (replicas - 1)) {
              RemoveLocked(oldest, absl::StrCat("worker ", oldest->pid, " idle for ",
                                                now - oldest->idle_since_ms, " ms (",
                                                "scale_down_idle_ms ",
                                                options_.scale_down_idle_ms, ")"));
            }
          }
        }
      }
      Report();
      for (int i = 0; i < to_start; ++i) {
        absl::StatusOr<std::unique_ptr<Worker>> worker = ForkWorker();
        if (worker.ok()) {
          absl::MutexLock lock(&mu_);
          --starting_;
          AddReadyLocked(std::move(*worker));
          continue;
        }
        {
          absl::MutexLock lock(&mu_);
          int remaining = to_start - i;
          starting_ -= remaining;
          int replicas = ReplicasLocked();
          QueueEventLocked(replicas + remaining, replicas,
                           absl::StrCat("cannot start a worker: ", worker.status().message()));
        }
        if (!zygote_dead_) FailWaitersIfNoWorkers(worker.status());
        break;
      }
      Report();
      RestartZygoteIfDead();
    }
  }

  std::string StartReasonLocked(int replicas) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (replicas < options_.min_replicas) {
      return absl::StrCat("below min_replicas ", options_.min_replicas);
    }
    return absl::StrCat("load ", LoadLocked(), " (", in_flight_, " in flight, ", waiters_.size(),
                        " queued) over target ", options_.target_in_flight_per_replica,
                        " per replica");
  }

  void ReapRetiringLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int64_t now = SteadyMs();
    for (auto it = retiring_.begin(); it != retiring_.end();) {
      Worker& worker = **it;
      if (WaitPeerClosed(worker.fd, now)) {
        close(worker.fd);
        it = retiring_.erase(it);
        continue;
      }
      if (now >= worker.kill_at_ms && worker.kill_at_ms != 0) {
        kill(worker.pid, SIGKILL);  // alive: it still holds its end of the socket
        worker.kill_at_ms = 0;
      }
      ++it;
    }
  }

  const ModelInfo info_;
  const PythonPoolOptions options_;
  Clock* const clock_;
  int wake_fd_ = -1;
  std::thread scaler_;
  // The zygote and its restart state belong to the scaler thread (and start-up).
  Zygote zygote_;
  bool zygote_dead_ = false;
  int64_t zygote_retry_at_ms_ = 0;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<Worker>> workers_ ABSL_GUARDED_BY(mu_);   // ready: idle or busy
  std::vector<Worker*> idle_ ABSL_GUARDED_BY(mu_);                      // most recent last
  std::vector<std::unique_ptr<Worker>> retiring_ ABSL_GUARDED_BY(mu_);  // until they exit
  std::deque<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);                    // FIFO
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  // Workers dropped since the last start decision ("worker 4242 (died during a request)"),
  // named in the event of the start that replaces them.
  std::vector<std::string> replacing_ ABSL_GUARDED_BY(mu_);
  int64_t last_scale_down_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<ScalingEvent> events_ ABSL_GUARDED_BY(mu_);
};

absl::Status ValidateOptions(const PythonPoolOptions& options) {
  if (options.min_replicas < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_replicas: ", options.min_replicas, " is negative; give 0 or more"));
  }
  if (options.max_replicas < 1 || options.max_replicas < options.min_replicas) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_replicas: ", options.max_replicas,
                     " must be at least 1 and at least min_replicas (", options.min_replicas, ")"));
  }
  if (options.max_queue_per_replica < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue_per_replica: ", options.max_queue_per_replica,
                     " is negative; give 0 (no queue) or more"));
  }
  if (!(options.target_in_flight_per_replica > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("target_in_flight_per_replica: ", options.target_in_flight_per_replica,
                     " must be greater than 0 (e.g. 1.0)"));
  }
  if (options.scale_down_idle_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("scale_down_idle_ms: ", options.scale_down_idle_ms, " is negative"));
  }
  if (options.request_timeout_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request_timeout_ms: ", options.request_timeout_ms, " is negative; give 0 (no limit) "
        "or more"));
  }
  if (options.startup_timeout_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "startup_timeout_ms: ", options.startup_timeout_ms, " must be greater than 0"));
  }
  if (options.python.empty()) {
    return absl::InvalidArgumentError("python: the interpreter is empty; e.g. python3");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelRuntime>> StartPythonRuntime(const ModelInfo& info,
                                                                 const PythonPoolOptions& options) {
  CAIRN_RETURN_IF_ERROR(ValidateOptions(options));
  struct stat st;
  if (stat(info.model_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("model_dir: '", info.model_dir, "' is not a directory"));
  }
  CAIRN_ASSIGN_OR_RETURN(Zygote zygote, StartZygote(info, options));
  auto pool = std::make_unique<PythonWorkerPool>(info, options, zygote);
  CAIRN_RETURN_IF_ERROR(pool->StartWorkers(options.min_replicas));
  if (options.min_replicas > 0 && options.on_scaling) {
    options.on_scaling(ScalingEvent{(options.clock ? options.clock : &RealClock())->NowMillis(),
                                    options.endpoint, 0, options.min_replicas,
                                    absl::StrCat("start: min_replicas ", options.min_replicas)});
  }
  pool->StartScaler();
  return pool;
}

}  // namespace cairn::serving
