#include "pipelines/pipeline_engine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <filesystem>
#include <limits>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"
#include "common/plural.h"
#include "common/status.h"
#include "common/strings.h"
#include "pipelines/dag.h"
#include "pipelines/engine_tracking.h"
#include "pipelines/retry_policy.h"
#include "pipelines/run_store.h"
#include "pipelines/step_cache.h"
#include "pipelines/step_launch.h"

namespace cairn::pipelines {
namespace {

namespace fs = std::filesystem;
using compute::FailureReason;
using compute::JobState;

constexpr int kLogTailLines = 20;
constexpr int64_t kMaxTimerWaitMs = 50;  // re-reads the (possibly fake) clock while retries wait
constexpr int64_t kSaveRetryMs = 1000;   // after a failed Save of run state
// Group commit: how long a turn that only recorded job reports waits for more reports
// before their one commit (see Loop). Readers of a run wait at most this long.
constexpr int64_t kGroupCommitMs = 4;

bool JobEnded(JobState state) { return state != JobState::kQueued && state != JobState::kRunning; }

// `text` as valid UTF-8: NULs dropped, each invalid or truncated sequence replaced with
// U+FFFD (PostgreSQL refuses invalid UTF-8 in TEXT, and a NUL would cut the value short).
std::string ValidUtf8(std::string_view text) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0) {
      ++i;
      continue;
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    // The length of the sequence and the range of its second byte (RFC 3629: no overlong
    // forms, no surrogates, nothing above U+10FFFF).
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    }
    size_t valid = 0;  // bytes of a well-formed prefix
    if (length > 0) {
      valid = 1;
      while (valid < length && i + valid < text.size()) {
        unsigned char next = static_cast<unsigned char>(text[i + valid]);
        unsigned char lo = valid == 1 ? low : 0x80, hi = valid == 1 ? high : 0xBF;
        if (next < lo || next > hi) break;
        ++valid;
      }
    }
    if (length > 0 && valid == length) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append(kReplacement);  // one replacement per maximal ill-formed prefix
      i += std::max<size_t>(valid, 1);
    }
  }
  return out;
}

// The last `lines` lines of a log file (reads at most its last 64 KiB), as valid UTF-8
// (see ValidUtf8; a character cut by the 64 KiB window is left out).
std::string LogTail(const std::string& path, int lines) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  off_t size = ::lseek(fd, 0, SEEK_END);
  off_t start = std::max<off_t>(0, size - 65536);
  std::string text(static_cast<size_t>(size - start), '\0');
  ssize_t n = ::pread(fd, text.data(), text.size(), start);
  ::close(fd);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (start > 0) {  // the window may begin inside a character: skip its continuation bytes
    size_t skip = 0;
    while (skip < 3 && skip < text.size() &&
           (static_cast<unsigned char>(text[skip]) & 0xC0) == 0x80) {
      ++skip;
    }
    text.erase(0, skip);
  }
  while (!text.empty() && text.back() == '\n') text.pop_back();
  // Walk back over `lines` line breaks; fewer lines than that (or none): the whole text.
  // A line break is always a character boundary.
  size_t begin = text.size();
  for (int i = 0; i < lines && begin > 0; ++i) {
    size_t newline = text.rfind('\n', begin - 1);
    if (newline == std::string::npos) return ValidUtf8(text);
    begin = newline;
  }
  return ValidUtf8(begin >= text.size() ? text : std::string_view(text).substr(begin + 1));
}

// The name of an attempt's job ("churn/1f2e3d4c/train#2"), the same at launch and when a
// restarted server re-attaches it: the Slurm executor finds a job by this name.
std::string JobName(const RunRecord& run, const std::string& step, int attempt) {
  return absl::StrCat(run.pipeline, "/", run.id.substr(0, 8), "/", step, "#", attempt);
}

}  // namespace

// ---------------------------------------------------------------------------------------

class PipelineEngine::Impl {
 public:
  Impl(storage::Database& db, Clock& clock, VersionLookup lookup,
       std::map<std::string, compute::Executor*> executors, tracking::TrackingStore* tracking,
       EngineOptions options, std::unique_ptr<RunStore> store)
      : clock_(clock),
        lookup_(std::move(lookup)),
        executors_(std::move(executors)),
        options_(std::move(options)),
        store_(std::move(store)),
        tracking_(tracking, options_.artifacts),
        ends_in_save_(tracking_.SharesDatabase(db)),
        inbox_(std::make_shared<Inbox>()) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Impl() { Shutdown(); }

  absl::Status Recover();
  absl::StatusOr<RunRecord> StartRun(const StartRunRequest& request);
  absl::Status CancelRun(std::string_view run_id);
  absl::StatusOr<RunRecord> GetRun(std::string_view run_id);
  absl::StatusOr<ListRunsResult> ListRuns(const ListRunsRequest& request) {
    return store_->ListRuns(request);
  }
  absl::StatusOr<std::string> ReadLog(std::string_view run_id, std::string_view step,
                                      int attempt, int64_t offset, int64_t max_bytes, bool* done);
  absl::StatusOr<RunRecord> WaitForRun(std::string_view run_id, int64_t timeout_ms);
  void OnRunFinished(std::function<void(const RunRecord&)> fn) {
    absl::MutexLock lock(&mu_);
    finished_callbacks_.push_back(std::move(fn));
  }
  void Shutdown();
  void SetServerUrl(std::string url) {
    absl::MutexLock lock(&server_url_mu_);
    server_url_ = std::move(url);
  }

 private:
  // Executor callbacks and requests, handed to the dispatcher thread. Shared with the
  // callbacks so that a late callback after the engine is gone finds a closed inbox.
  struct Event {
    enum Kind { kJob, kStart, kCancel, kRecover } kind = kJob;
    std::string run_id;
    int step = 0;
    int attempt = 0;
    compute::JobStatus status;
  };
  struct Inbox {
    absl::Mutex mu;
    std::vector<Event> events ABSL_GUARDED_BY(mu);
    bool closed ABSL_GUARDED_BY(mu) = false;
    bool Ready() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return closed || !events.empty(); }
    void Push(Event event) {
      absl::MutexLock lock(&mu);
      if (!closed) events.push_back(std::move(event));
    }
  };

  struct StepRuntime {
    int spec_index = 0;
    std::vector<int> upstream, downstream;  // positions in RunRecord::steps
    int pending = 0;                        // upstream steps not yet succeeded / cached
    compute::Executor* executor = nullptr;  // of the current attempt
    bool retry_waiting = false;
    // The attempt Recover re-attached, until the executor reports it alive: an attempt that
    // the executor then reports lost (its process gone, or it never started) was lost to
    // the restart, and runs again outside the retry budget.
    int reattached_attempt = 0;
  };
  struct ActiveRun {
    RunRecord record;
    PipelineSpec spec;
    std::vector<StepRuntime> steps;  // by position
    bool cancel_requested = false;
    bool started = false;
    int remaining = 0;  // steps not terminal
    bool finished = false;
    bool header_dirty = true;
    bool recovered = false;  // Recover's event was handled
    std::set<int> dirty;
  };
  struct Timer {
    int64_t due_ms;
    std::string run_id;
    int step;
    bool operator<(const Timer& other) const {
      return std::tie(due_ms, run_id, step) < std::tie(other.due_ms, other.run_id, other.step);
    }
  };

  void Loop();
  bool Turn(const std::vector<Event>& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GatherReports() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Saved() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !unsaved_; }
  void HandleEvent(const Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleJob(ActiveRun& run, const Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleStart(ActiveRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleCancel(ActiveRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleRecover(ActiveRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DrainReady() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DrainReadyOnce() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunNoop(ActiveRun& run, int pos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FireTimers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Prepare(ActiveRun& run, int pos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Launch(ActiveRun& run, int pos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SubmitPending() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AttemptFailed(ActiveRun& run, int pos, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StepSucceeded(ActiveRun& run, int pos, StepState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StepEnded(ActiveRun& run, int pos, StepState state, std::string message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeFinish(ActiveRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Touch(ActiveRun& run, int pos) { run.dirty.insert(pos); }
  std::string StepDir(const RunRecord& run, const std::string& step) const {
    return absl::StrCat(options_.data_dir, "/pipelines/runs/", run.id, "/", step);
  }
  std::string ExecutorName(const PipelineSpec& spec, const StepSpec& step) const;
  std::string ServerUrl() {
    absl::MutexLock lock(&server_url_mu_);
    return server_url_.empty() ? options_.server_url : server_url_;
  }
  compute::JobCallback CallbackFor(const std::string& run_id, int pos, int attempt);
  absl::StatusOr<std::unique_ptr<ActiveRun>> Plan(RunRecord record, PipelineSpec spec);

  Clock& clock_;
  VersionLookup lookup_;
  std::map<std::string, compute::Executor*> executors_;
  EngineOptions options_;
  absl::Mutex server_url_mu_;
  std::string server_url_ ABSL_GUARDED_BY(server_url_mu_);  // SetServerUrl; else options_'s
  std::unique_ptr<RunStore> store_;
  EngineTracking tracking_;
  const bool ends_in_save_;  // tracking ends are written in Save's transaction
  InputHasher hasher_;
  std::shared_ptr<Inbox> inbox_;
  std::atomic<int64_t> next_timer_ms_{std::numeric_limits<int64_t>::max()};
  std::atomic<bool> stopped_{false};
  std::thread thread_;

  absl::Mutex mu_;
  absl::CondVar changed_;  // a run finished or a cancel was handled
  std::map<std::string, std::unique_ptr<ActiveRun>> runs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<std::string, int>> ready_ ABSL_GUARDED_BY(mu_);
  std::set<Timer> timers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(const RunRecord&)>> finished_callbacks_ ABSL_GUARDED_BY(mu_);
  std::vector<RunRecord> just_finished_ ABSL_GUARDED_BY(mu_);
  int64_t launches_ ABSL_GUARDED_BY(mu_) = 0;  // Launch calls so far (Turn compares)
  // Jobs launched this turn whose attempts, with the ids their executors reserved
  // (NewJobId), are to be committed before they are submitted (Loop, SubmitPending).
  struct PendingSubmit {
    std::string run_id;
    int step = 0;
    int attempt = 0;
    compute::JobSpec job;
    compute::Executor* executor = nullptr;
  };
  std::vector<PendingSubmit> to_submit_ ABSL_GUARDED_BY(mu_);
  // The dispatcher has handled reports it has not committed yet and released mu_ while it
  // gathers more (GatherReports): GetRun waits, so that readers see only committed states.
  bool unsaved_ ABSL_GUARDED_BY(mu_) = false;
};

// ---- Requests --------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PipelineEngine::Impl::ActiveRun>> PipelineEngine::Impl::Plan(
    RunRecord record, PipelineSpec spec) {
  CAIRN_ASSIGN_OR_RETURN(Dag dag, Dag::Build(spec));
  const std::vector<int>& order = dag.order();
  auto run = std::make_unique<ActiveRun>();
  std::vector<int> position_of(spec.steps.size());
  for (size_t pos = 0; pos < order.size(); ++pos) position_of[order[pos]] = pos;
  std::map<std::string, StepRecord> stored;
  for (StepRecord& step : record.steps) stored[step.name] = std::move(step);
  record.steps.clear();
  run->steps.resize(order.size());
  for (size_t pos = 0; pos < order.size(); ++pos) {
    int index = order[pos];
    StepRuntime& runtime = run->steps[pos];
    runtime.spec_index = index;
    for (int up : dag.upstream(index)) runtime.upstream.push_back(position_of[up]);
    for (int down : dag.downstream(index)) runtime.downstream.push_back(position_of[down]);
    auto it = stored.find(spec.steps[index].name);
    if (it != stored.end()) {
      record.steps.push_back(std::move(it->second));
    } else {
      StepRecord step;
      step.name = spec.steps[index].name;
      record.steps.push_back(std::move(step));
    }
  }
  for (size_t pos = 0; pos < run->steps.size(); ++pos) {
    StepRuntime& runtime = run->steps[pos];
    for (int up : runtime.upstream) {
      StepState state = record.steps[up].state;
      if (state != StepState::kSucceeded && state != StepState::kCached) ++runtime.pending;
    }
    if (!IsTerminal(record.steps[pos].state)) ++run->remaining;
  }
  run->record = std::move(record);
  run->spec = std::move(spec);
  return run;
}

absl::StatusOr<RunRecord> PipelineEngine::Impl::StartRun(const StartRunRequest& request) {
  if (stopped_) return absl::UnavailableError("the pipeline engine is shutting down");
  CAIRN_ASSIGN_OR_RETURN(PipelineVersion version, lookup_(request.pipeline, request.version));
  CAIRN_ASSIGN_OR_RETURN(auto params, ResolveParams(version.spec, request.params));
  RunRecord record;
  record.id = NewUuidHex();
  record.pipeline = version.name;
  record.version = version.version;
  record.params = std::move(params);
  record.trigger = request.trigger.empty() ? "manual" : request.trigger;
  record.trigger_detail = request.trigger_detail;
  record.no_cache = request.no_cache;
  record.created_ms = clock_.NowMillis();
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ActiveRun> run,
                         Plan(std::move(record), std::move(version.spec)));
  RunChange change{&run->record, {}};
  for (size_t pos = 0; pos < run->record.steps.size(); ++pos)
    change.steps.push_back(static_cast<int>(pos));
  CAIRN_RETURN_IF_ERROR(store_->Save({&change, 1}));
  RunRecord out = run->record;
  std::string id = out.id;
  {
    absl::MutexLock lock(&mu_);
    runs_[id] = std::move(run);
  }
  inbox_->Push(Event{.kind = Event::kStart, .run_id = id, .status = {}});
  return out;
}

absl::Status PipelineEngine::Impl::CancelRun(std::string_view run_id) {
  {
    absl::MutexLock lock(&mu_);
    if (!runs_.count(std::string(run_id))) {
      CAIRN_ASSIGN_OR_RETURN(RunRecord stored, store_->GetRun(run_id));
      return absl::FailedPreconditionError(
          absl::StrCat("pipeline run '", ToAbsl(run_id), "' has already ended (",
                       ToAbsl(RunStateName(stored.state)), "); there is nothing to cancel"));
    }
  }
  inbox_->Push(Event{.kind = Event::kCancel, .run_id = std::string(run_id), .status = {}});
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  absl::MutexLock lock(&mu_);
  for (;;) {
    auto it = runs_.find(std::string(run_id));
    if (it == runs_.end() || it->second->finished) return absl::OkStatus();
    if (changed_.WaitWithDeadline(&mu_, deadline)) return absl::OkStatus();
  }
}

absl::StatusOr<RunRecord> PipelineEngine::Impl::GetRun(std::string_view run_id) {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Impl::Saved));
    auto it = runs_.find(std::string(run_id));
    if (it != runs_.end()) return it->second->record;
  }
  return store_->GetRun(run_id);
}

absl::StatusOr<RunRecord> PipelineEngine::Impl::WaitForRun(std::string_view run_id,
                                                           int64_t timeout_ms) {
  absl::Time deadline = absl::Now() + absl::Milliseconds(timeout_ms);
  {
    absl::MutexLock lock(&mu_);
    for (;;) {
      auto it = runs_.find(std::string(run_id));
      if (it == runs_.end()) break;
      if (changed_.WaitWithDeadline(&mu_, deadline)) {
        if (runs_.count(std::string(run_id))) {
          return absl::DeadlineExceededError(absl::StrCat(
              "pipeline run '", ToAbsl(run_id), "' is still ",
              ToAbsl(RunStateName(runs_[std::string(run_id)]->record.state)), " after ",
              FormatDuration(timeout_ms)));
        }
        break;
      }
    }
  }
  return store_->GetRun(run_id);
}

absl::StatusOr<std::string> PipelineEngine::Impl::ReadLog(std::string_view run_id,
                                                         std::string_view step_name,
                                                         int attempt, int64_t offset,
                                                         int64_t max_bytes, bool* done) {
  CAIRN_ASSIGN_OR_RETURN(RunRecord run, GetRun(run_id));
  const StepRecord* step = nullptr;
  std::vector<std::string> names;
  for (const StepRecord& candidate : run.steps) {
    names.push_back(candidate.name);
    if (candidate.name == step_name) step = &candidate;
  }
  if (step == nullptr) {
    return absl::NotFoundError(absl::StrCat("pipeline run '", ToAbsl(run_id),
                                            "' has no step '", ToAbsl(step_name),
                                            "'; its steps are ", absl::StrJoin(names, ", ")));
  }
  if (done) *done = false;
  if (step->attempts.empty()) {
    if (done) *done = IsTerminal(step->state);
    return std::string();
  }
  int count = static_cast<int>(step->attempts.size());
  if (attempt < 0 || attempt > count) {
    return absl::NotFoundError(absl::StrCat("attempt: step '", ToAbsl(step_name), "' has ",
                                            Plural(count, "attempt"), "; give 1 to ", count,
                                            " (0: the latest)"));
  }
  const AttemptRecord& record = step->attempts[attempt == 0 ? count - 1 : attempt - 1];
  if (offset < 0) return absl::InvalidArgumentError("offset: must not be negative");
  std::string out;
  int fd = ::open(record.log_path.c_str(), O_RDONLY | O_CLOEXEC);
  int64_t size = 0;
  if (fd >= 0) {
    size = ::lseek(fd, 0, SEEK_END);
    if (offset < size) {
      out.resize(static_cast<size_t>(std::min<int64_t>(size - offset, std::max<int64_t>(max_bytes, 0))));
      ssize_t n = ::pread(fd, out.data(), out.size(), offset);
      out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    }
    ::close(fd);
  }
  if (done) *done = JobEnded(record.state) && offset + static_cast<int64_t>(out.size()) >= size;
  return out;
}

absl::Status PipelineEngine::Impl::Recover() {
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> ids, store_->UnfinishedRuns());
  std::vector<std::string> resumed;
  for (const std::string& id : ids) {
    {
      absl::MutexLock lock(&mu_);
      if (runs_.count(id)) continue;
    }
    CAIRN_ASSIGN_OR_RETURN(RunRecord record, store_->GetRun(id));
    absl::StatusOr<PipelineVersion> version = lookup_(record.pipeline, record.version);
    absl::StatusOr<std::unique_ptr<ActiveRun>> run =
        version.ok() ? Plan(record, version->spec) : version.status();
    if (!run.ok()) {
      record.state = RunState::kFailed;
      record.message = absl::StrCat("cannot resume after the restart: ", run.status().message());
      record.ended_ms = clock_.NowMillis();
      RunChange change{&record, {}};
      CAIRN_RETURN_IF_ERROR(store_->Save({&change, 1}));
      continue;
    }
    (*run)->started = true;
    {
      absl::MutexLock lock(&mu_);
      runs_[id] = std::move(*run);
    }
    Log(LogLevel::kInfo, absl::StrCat("pipelines: resuming run ", id, " of ", record.pipeline));
    inbox_->Push(Event{.kind = Event::kRecover, .run_id = id, .status = {}});
    resumed.push_back(id);
  }
  // Return once every resumed run's jobs are re-attached (or retried), so that the caller
  // sees the recovered state.
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::MutexLock lock(&mu_);
  for (const std::string& id : resumed) {
    for (;;) {
      auto it = runs_.find(id);
      if (it == runs_.end() || it->second->recovered) break;
      if (changed_.WaitWithDeadline(&mu_, deadline)) break;
    }
  }
  return absl::OkStatus();
}

void PipelineEngine::Impl::Shutdown() {
  if (stopped_.exchange(true)) return;
  {
    absl::MutexLock lock(&inbox_->mu);
    inbox_->closed = true;
  }
  if (thread_.joinable()) thread_.join();
}

// ---- The dispatcher --------------------------------------------------------------------

void PipelineEngine::Impl::Loop() {
  bool retry_save = false;  // the last Save failed: its changes are still dirty
  for (;;) {
    std::vector<Event> batch;
    {
      absl::MutexLock lock(&inbox_->mu);
      const absl::Condition ready(inbox_.get(), &Inbox::Ready);
      while (!inbox_->closed && inbox_->events.empty() &&
             next_timer_ms_.load() > clock_.NowMillis()) {
        if (retry_save) {  // real time, not clock_ (a fake clock may stand still)
          inbox_->mu.AwaitWithTimeout(ready, absl::Milliseconds(kSaveRetryMs));
          break;
        }
        int64_t next = next_timer_ms_.load();
        if (next == std::numeric_limits<int64_t>::max()) {
          inbox_->mu.Await(ready);
        } else {
          int64_t wait = std::clamp<int64_t>(next - clock_.NowMillis(), 1, kMaxTimerWaitMs);
          inbox_->mu.AwaitWithTimeout(ready, absl::Milliseconds(wait));
        }
      }
      if (inbox_->closed) return;
      batch.swap(inbox_->events);
    }
    std::vector<RunRecord> finished;
    std::vector<std::function<void(const RunRecord&)>> callbacks;
    {
      absl::MutexLock lock(&mu_);
      if (Turn(batch) && !retry_save) GatherReports();
      // One transaction for everything this batch changed; then the jobs whose attempts it
      // stored are submitted (what that changes — a refused job — is stored the same way).
      for (;;) {
        std::vector<RunChange> changes;
        for (auto& [id, run] : runs_) {
          if (!run->header_dirty && run->dirty.empty()) continue;
          changes.push_back(RunChange{&run->record,
                                      std::vector<int>(run->dirty.begin(), run->dirty.end()),
                                      run->header_dirty});
        }
        // A failed Save keeps the changes (and the finished runs, which GetRun serves from
        // memory meanwhile) for the next turn, kSaveRetryMs later unless events come first.
        // The step runs' tracking ends go into the same commit when the tracking store
        // shares the database (the server); otherwise Flush writes them below.
        absl::Status saved = absl::OkStatus();
        if (ends_in_save_ && tracking_.HasEnds()) {
          tracking_.LinkOutputs();
          saved = store_->Save(changes, [this](storage::SqlSession& session) {
            return tracking_.WriteEnds(session);
          });
          tracking_.EndsWritten(saved.ok());
        } else if (!changes.empty()) {
          saved = store_->Save(changes);
        }
        retry_save = !saved.ok();
        if (retry_save) {
          Log(LogLevel::kError,
              absl::StrCat("pipelines: cannot store the state of ",
                           Plural(static_cast<int>(changes.size()), "run"), " (retrying in ",
                           FormatDuration(kSaveRetryMs), "): ", saved.message()));
        } else {
          for (auto& [id, run] : runs_) {
            run->header_dirty = false;
            run->dirty.clear();
          }
        }
        if (retry_save || to_submit_.empty()) break;
        SubmitPending();
      }
      if (!ends_in_save_) tracking_.Flush();
      if (!retry_save) {
        for (auto& [id, run] : runs_)
          if (run->finished) finished.push_back(run->record);
      }
      int64_t next = timers_.empty() ? std::numeric_limits<int64_t>::max() : timers_.begin()->due_ms;
      next_timer_ms_.store(next);
      callbacks = finished_callbacks_;
      changed_.SignalAll();
    }
    if (finished.empty()) continue;
    for (const RunRecord& run : finished) {
      for (const auto& callback : callbacks) callback(run);
    }
    // Waiters wake after the callbacks ran (a finished run's events are ignored until then).
    absl::MutexLock lock(&mu_);
    for (const RunRecord& run : finished) runs_.erase(run.id);
    changed_.SignalAll();
  }
}

// Handles `batch`, fires due timers and launches ready steps. True when the turn only
// recorded job reports: no run started, was cancelled, recovered or finished, nothing was
// launched (nor is a retry due within kGroupCommitMs) — its rows may wait for the reports
// that follow (GatherReports); anything else is committed at once.
bool PipelineEngine::Impl::Turn(const std::vector<Event>& batch) {
  const int64_t launches = launches_;
  bool reports_only = true;
  for (const Event& event : batch) {
    if (event.kind != Event::kJob) reports_only = false;
    HandleEvent(event);
  }
  FireTimers();
  DrainReady();
  if (launches_ != launches) return false;
  if (!timers_.empty() && timers_.begin()->due_ms <= clock_.NowMillis() + kGroupCommitMs)
    return false;
  for (const auto& [id, run] : runs_)
    if (run->finished) return false;
  return reports_only;
}

// Group commit. When many jobs change state at about the same time (a fan-out: hundreds of
// steps end one after another as the executor starts the next), committing each report on
// its own costs a write transaction per step. A turn that only recorded reports (Turn)
// instead waits up to kGroupCommitMs for more and handles them, so that one transaction
// stores them all; the wait ends at once when a report makes a step ready (its launch, and
// the commit with it, are not delayed), when any other event arrives or at shutdown.
// What waits is re-derived after a crash: every attempt's job id was committed by the turn
// that launched it (such a turn never waits; with an executor that reserves ids, before the
// job was submitted), and a restarted server learns the jobs' states by re-attaching them
// (Recover), as it does for reports that arrived after the last commit; a step made ready,
// a run started or ended, a cancel is committed at once.
// Meanwhile GetRun waits (unsaved_), so readers never see a state that is not stored.
void PipelineEngine::Impl::GatherReports() {
  const absl::Time deadline = absl::Now() + absl::Milliseconds(kGroupCommitMs);
  unsaved_ = true;
  for (;;) {
    std::vector<Event> more;
    mu_.Unlock();
    {
      absl::MutexLock lock(&inbox_->mu);
      inbox_->mu.AwaitWithDeadline(absl::Condition(inbox_.get(), &Inbox::Ready), deadline);
      if (!inbox_->closed) more.swap(inbox_->events);
    }
    mu_.Lock();
    // Past the deadline the turn's reports are still handled, but the gathering ends:
    // reports that keep arriving do not hold the commit (and GetRun) back beyond it.
    if (more.empty() || !Turn(more) || absl::Now() >= deadline) break;
  }
  unsaved_ = false;
}

void PipelineEngine::Impl::HandleEvent(const Event& event) {
  auto it = runs_.find(event.run_id);
  if (it == runs_.end() || it->second->finished) return;
  ActiveRun& run = *it->second;
  switch (event.kind) {
    case Event::kStart: HandleStart(run); break;
    case Event::kCancel: HandleCancel(run); break;
    case Event::kRecover: HandleRecover(run); break;
    case Event::kJob: HandleJob(run, event); break;
  }
  MaybeFinish(run);
}

void PipelineEngine::Impl::HandleStart(ActiveRun& run) {
  if (run.started) return;
  run.started = true;
  run.record.state = RunState::kRunning;
  run.record.started_ms = clock_.NowMillis();
  run.header_dirty = true;
  run.record.tracking_run_id = tracking_.StartPipelineRun(run.record);
  for (size_t pos = 0; pos < run.steps.size(); ++pos) {
    if (run.steps[pos].pending == 0) ready_.emplace_back(run.record.id, static_cast<int>(pos));
  }
}

void PipelineEngine::Impl::HandleRecover(ActiveRun& run) {
  run.recovered = true;
  if (run.record.state == RunState::kQueued) {
    run.record.state = RunState::kRunning;
    run.record.started_ms = clock_.NowMillis();
    run.header_dirty = true;
  }
  if (run.record.tracking_run_id.empty())
    run.record.tracking_run_id = tracking_.StartPipelineRun(run.record);
  for (size_t index = 0; index < run.steps.size(); ++index) {
    int pos = static_cast<int>(index);
    StepRecord& step = run.record.steps[pos];
    if (IsTerminal(step.state)) continue;
    if (!step.attempts.empty() && !JobEnded(step.attempts.back().state)) {
      AttemptRecord& attempt = step.attempts.back();
      auto executor = executors_.find(attempt.executor);
      if (executor == executors_.end() && !attempt.job_id.empty()) {
        // Its job may still run there: leave it alone, and say how to follow it.
        std::string message = absl::StrCat(
            "attempt ", attempt.attempt, " runs as ", attempt.executor, " job ", attempt.job_id,
            ", but this server has no ", attempt.executor, " executor: restart it with ",
            attempt.executor == "slurm" ? "--slurm"
                                        : absl::StrCat("the '", attempt.executor, "' executor"),
            " to follow it");
        attempt.state = JobState::kFailed;
        attempt.message = absl::StrCat("not followed after the restart: ", message);
        attempt.ended_ms = clock_.NowMillis();
        Touch(run, pos);
        StepEnded(run, pos, StepState::kFailed, message);
        continue;
      }
      absl::Status attached = absl::NotFoundError("no job id was stored");
      if (!attempt.job_id.empty()) {
        run.steps[pos].executor = executor->second;
        compute::JobSpec spec;
        spec.name = JobName(run.record, step.name, attempt.attempt);
        spec.log_path = attempt.log_path;
        spec.resources = attempt.resources;
        attached = executor->second->Reattach(attempt.job_id, spec,
                                              CallbackFor(run.record.id, pos, attempt.attempt));
        if (attached.ok()) run.steps[pos].reattached_attempt = attempt.attempt;
      }
      if (!attached.ok()) {
        attempt.state = JobState::kFailed;
        attempt.reason = FailureReason::kLostNode;
        attempt.message = absl::StrCat(
            "node lost: the server stopped while the step ran and its job cannot be followed (",
            attached.message(), ")");
        attempt.ended_ms = clock_.NowMillis();
        Touch(run, pos);
        AttemptFailed(run, pos, attempt.message);
      }
      continue;
    }
    if (!step.attempts.empty()) {  // waiting for a retry when the server stopped
      run.steps[pos].retry_waiting = true;
      timers_.insert(Timer{clock_.NowMillis(), run.record.id, pos});
      continue;
    }
    if (run.steps[pos].pending == 0) ready_.emplace_back(run.record.id, pos);
  }
}

void PipelineEngine::Impl::HandleCancel(ActiveRun& run) {
  if (run.cancel_requested) return;
  run.cancel_requested = true;
  for (size_t index = 0; index < run.steps.size(); ++index) {
    int pos = static_cast<int>(index);
    StepRecord& step = run.record.steps[pos];
    if (IsTerminal(step.state)) continue;
    if (!step.attempts.empty() && !JobEnded(step.attempts.back().state) &&
        !step.attempts.back().job_id.empty() && run.steps[pos].executor != nullptr) {
      absl::Status status = run.steps[pos].executor->Cancel(step.attempts.back().job_id);
      if (status.ok()) continue;  // the executor reports kCancelled
      Log(LogLevel::kWarning, absl::StrCat("pipelines: cancel ", step.attempts.back().job_id,
                                           ": ", status.message()));
    }
    StepEnded(run, pos, StepState::kCancelled,
              step.attempts.empty() ? "cancelled before it started"
                                    : "cancelled while waiting to retry");
  }
}

void PipelineEngine::Impl::FireTimers() {
  int64_t now = clock_.NowMillis();
  while (!timers_.empty() && timers_.begin()->due_ms <= now) {
    Timer timer = *timers_.begin();
    timers_.erase(timers_.begin());
    auto it = runs_.find(timer.run_id);
    if (it == runs_.end()) continue;
    ActiveRun& run = *it->second;
    if (!run.steps[timer.step].retry_waiting) continue;
    run.steps[timer.step].retry_waiting = false;
    if (IsTerminal(run.record.steps[timer.step].state)) continue;
    Launch(run, timer.step);
    MaybeFinish(run);
  }
}

void PipelineEngine::Impl::DrainReady() {
  // A no-op step that succeeds makes its downstream steps ready in the same turn.
  while (!ready_.empty()) DrainReadyOnce();
}

void PipelineEngine::Impl::DrainReadyOnce() {
  // Prepare every ready step first (cache hits end here and may make more steps ready),
  // then create the child runs of those to launch in one tracking transaction per run
  // (they must exist before launch: the step gets MLFLOW_RUN_ID), then launch them.
  // A no-op step (noop: true) is never prepared (no inputs, never cached): it gets its
  // child run with the others and then succeeds at once instead of launching (RunNoop).
  std::vector<std::pair<ActiveRun*, std::vector<int>>> to_launch;  // in the order first ready
  std::set<std::pair<ActiveRun*, int>> seen;
  while (!ready_.empty()) {
    auto [run_id, pos] = ready_.front();
    ready_.pop_front();
    auto it = runs_.find(run_id);
    if (it == runs_.end()) continue;
    ActiveRun& run = *it->second;
    if (run.record.steps[pos].state != StepState::kQueued) continue;
    if (!run.record.steps[pos].attempts.empty()) continue;  // already launched
    if (!seen.insert({&run, pos}).second) continue;          // already prepared
    if (run.cancel_requested) {
      StepEnded(run, pos, StepState::kCancelled, "cancelled before it started");
    } else if (run.spec.steps[run.steps[pos].spec_index].noop || Prepare(run, pos)) {
      auto batch = std::find_if(to_launch.begin(), to_launch.end(),
                                [&](const auto& entry) { return entry.first == &run; });
      if (batch == to_launch.end()) batch = to_launch.insert(to_launch.end(), {&run, {}});
      batch->second.push_back(pos);
    }
    MaybeFinish(run);
  }
  for (auto& [run, positions] : to_launch) {
    std::vector<StepRecord*> new_runs;
    for (int pos : positions) {
      if (run->record.steps[pos].tracking_run_id.empty())
        new_runs.push_back(&run->record.steps[pos]);
    }
    tracking_.StartStepRuns(run->record, new_runs);
    for (int pos : positions) {
      if (run->record.steps[pos].state != StepState::kQueued) continue;
      if (run->spec.steps[run->steps[pos].spec_index].noop) {
        RunNoop(*run, pos);
      } else {
        Launch(*run, pos);
      }
    }
    MaybeFinish(*run);
  }
}

// ---- Steps -----------------------------------------------------------------------------

std::string PipelineEngine::Impl::ExecutorName(const PipelineSpec& spec,
                                               const StepSpec& step) const {
  if (!step.executor.empty()) return step.executor;
  if (step.resources.gpus > 0 && !options_.gpu_executor.empty()) return options_.gpu_executor;
  return spec.executor.empty() ? "local" : spec.executor;
}

compute::JobCallback PipelineEngine::Impl::CallbackFor(const std::string& run_id, int pos,
                                                       int attempt) {
  std::shared_ptr<Inbox> inbox = inbox_;
  return [inbox, run_id, pos, attempt](const compute::JobStatus& status) {
    inbox->Push(Event{.kind = Event::kJob, .run_id = run_id, .step = pos, .attempt = attempt,
                      .status = status});
  };
}

// Inputs, their hashes and the cache key; then a cache hit (or a failure) or true: launch it.
bool PipelineEngine::Impl::Prepare(ActiveRun& run, int pos) {
  StepRecord& step = run.record.steps[pos];
  const StepSpec& spec = run.spec.steps[run.steps[pos].spec_index];
  Touch(run, pos);
  step.input_hashes.clear();
  for (const InputSpec& input : spec.inputs) {
    std::string path;
    if (!input.from.empty()) {
      size_t dot = input.from.find('.');
      std::string from_step = input.from.substr(0, dot);
      std::string output = dot == std::string::npos ? "" : input.from.substr(dot + 1);
      for (const StepRecord& upstream : run.record.steps) {
        if (upstream.name != from_step) continue;
        auto it = upstream.outputs.find(output);
        if (it != upstream.outputs.end()) path = it->second;
      }
      if (path.empty()) {
        StepEnded(run, pos, StepState::kFailed,
                  absl::StrCat("input '", input.name, "': step '", from_step,
                               "' has no output '", output, "'"));
        return false;
      }
    } else {
      std::error_code ec;
      path = fs::absolute(input.path, ec).lexically_normal().string();
    }
    absl::StatusOr<std::string> hash = hasher_.Hash(path);
    if (!hash.ok()) {
      StepEnded(run, pos, StepState::kFailed,
                absl::StrCat("input '", input.name, "' (", path, ") cannot be read: ",
                             hash.status().message(), "; create it or fix the step's path"));
      return false;
    }
    step.input_hashes[input.name] = *hash;
  }
  step.cache_key = StepCacheKey(spec, run.record.params, step.input_hashes);
  if (spec.cache && !run.record.no_cache) {
    absl::StatusOr<std::vector<CachedStep>> hits = store_->FindCached(step.cache_key, run.record.id);
    if (!hits.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("pipelines: cache look-up: ", hits.status().message()));
    } else {
      for (const CachedStep& hit : *hits) {
        bool complete = true;
        for (const OutputSpec& output : spec.outputs) {
          auto it = hit.outputs.find(output.name);
          std::error_code ec;
          if (it == hit.outputs.end() || !fs::exists(it->second, ec)) complete = false;
        }
        if (!complete) continue;
        step.outputs = hit.outputs;
        step.cached_from = hit.run_id;
        step.started_ms = clock_.NowMillis();
        step.tracking_run_id = tracking_.StartStepRun(run.record, step);
        StepSucceeded(run, pos, StepState::kCached);
        return false;
      }
    }
  }
  return true;
}

// A no-op step: no executor, job, step folder or attempt — it succeeds now, its state and
// times stored with this turn's commit (counted as a launch, so the turn commits at once).
// A restart before that commit finds it queued with no attempt, all its upstream steps
// done, and so ready again (HandleRecover): it simply succeeds then.
void PipelineEngine::Impl::RunNoop(ActiveRun& run, int pos) {
  ++launches_;
  StepRecord& step = run.record.steps[pos];
  step.started_ms = clock_.NowMillis();
  StepSucceeded(run, pos, StepState::kSucceeded);
  step.message = "noop: nothing to run";
}

void PipelineEngine::Impl::Launch(ActiveRun& run, int pos) {
  ++launches_;
  StepRecord& step = run.record.steps[pos];
  const StepSpec& spec = run.spec.steps[run.steps[pos].spec_index];
  Touch(run, pos);
  const int attempt_no = static_cast<int>(step.attempts.size()) + 1;
  std::string step_dir = StepDir(run.record, step.name);
  StepContext context;
  context.run_id = run.record.id;
  context.step = step.name;
  context.params = run.record.params;
  std::error_code ec;
  // The step's directory (its working directory by default, and where its log goes) and,
  // for declared outputs, out/ and their parents (one mkdir fewer per step without).
  // (A single mkdir when the run's folder exists, as it does after the first step.)
  const std::string first_dir = spec.outputs.empty() ? step_dir : step_dir + "/out";
  if (::mkdir(first_dir.c_str(), 0777) != 0 && errno != EEXIST)
    fs::create_directories(first_dir, ec);
  for (const OutputSpec& output : spec.outputs) {
    std::string path = fs::path(step_dir + "/out/" + output.path).lexically_normal().string();
    context.outputs[output.name] = path;
    fs::create_directories(fs::path(path).parent_path(), ec);
  }
  for (const InputSpec& input : spec.inputs) {
    if (!input.from.empty()) {
      size_t dot = input.from.find('.');
      std::string from_step = input.from.substr(0, dot);
      std::string output = input.from.substr(dot + 1);
      for (const StepRecord& upstream : run.record.steps) {
        if (upstream.name == from_step && upstream.outputs.count(output))
          context.inputs[input.name] = upstream.outputs.at(output);
      }
    } else {
      context.inputs[input.name] = fs::absolute(input.path, ec).lexically_normal().string();
    }
  }
  // Set by DrainReady's batch; a retry keeps the step's child run.
  if (step.tracking_run_id.empty()) step.tracking_run_id = tracking_.StartStepRun(run.record, step);

  AttemptRecord attempt;
  attempt.attempt = attempt_no;
  attempt.executor = ExecutorName(run.spec, spec);
  attempt.resources = spec.resources;
  attempt.queued_ms = clock_.NowMillis();
  attempt.log_path = absl::StrCat(step_dir, "/attempt-", attempt_no, ".log");
  LaunchOptions launch;
  launch.step_dir = step_dir;
  launch.log_path = attempt.log_path;
  launch.server_url = ServerUrl();
  launch.tracking_run_id = step.tracking_run_id;
  launch.job_name = JobName(run.record, step.name, attempt_no);
  absl::StatusOr<compute::JobSpec> job = BuildJobSpec(spec, context, launch);
  auto executor = executors_.find(attempt.executor);
  if (!job.ok() || executor == executors_.end()) {
    std::vector<std::string> names;
    for (const auto& [name, unused] : executors_) names.push_back(name);
    StepEnded(run, pos, StepState::kFailed,
              !job.ok() ? std::string(job.status().message())
                        : absl::StrCat("step '", step.name, "' asks for executor '",
                                       attempt.executor, "', which this server does not have (",
                                       names.empty() ? "none" : absl::StrJoin(names, ", "),
                                       "); slurm needs cairn server --slurm"));
    return;
  }
  run.steps[pos].executor = executor->second;
  if (std::string reserved = executor->second->NewJobId(); !reserved.empty()) {
    // The attempt, with the job's id, is committed before the job can start (Loop submits it
    // after the turn's commit): a restarted server always finds a started job by its id, and
    // re-attaching one that never started reports it lost, so it runs again, once.
    attempt.job_id = reserved;
    job->job_id = reserved;
    step.attempts.push_back(attempt);
    to_submit_.push_back(PendingSubmit{.run_id = run.record.id,
                                       .step = pos,
                                       .attempt = attempt_no,
                                       .job = *std::move(job),
                                       .executor = executor->second});
    return;
  }
  // Executors that cannot reserve ids (NewJobId empty): submitted now, stored with this
  // turn's commit.
  step.attempts.push_back(attempt);
  absl::StatusOr<std::string> job_id =
      executor->second->Submit(*job, CallbackFor(run.record.id, pos, attempt_no));
  AttemptRecord& stored = step.attempts.back();
  if (!job_id.ok()) {
    stored.state = JobState::kFailed;
    stored.reason = FailureReason::kLaunchError;
    stored.message = std::string(job_id.status().message());
    stored.ended_ms = clock_.NowMillis();
    AttemptFailed(run, pos, stored.message);
    return;
  }
  stored.job_id = *job_id;
}

void PipelineEngine::Impl::SubmitPending() {
  std::vector<PendingSubmit> pending;
  pending.swap(to_submit_);
  for (PendingSubmit& one : pending) {
    auto it = runs_.find(one.run_id);
    if (it == runs_.end()) continue;
    ActiveRun& run = *it->second;
    StepRecord& step = run.record.steps[one.step];
    if (static_cast<int>(step.attempts.size()) != one.attempt) continue;
    AttemptRecord& attempt = step.attempts.back();
    if (JobEnded(attempt.state)) continue;
    if (IsTerminal(step.state)) {  // cancelled while its commit was retried: never started
      attempt.state = JobState::kCancelled;
      attempt.reason = FailureReason::kCancelled;
      attempt.message = "cancelled before it started";
      attempt.ended_ms = clock_.NowMillis();
      Touch(run, one.step);
      continue;
    }
    absl::StatusOr<std::string> job_id =
        one.executor->Submit(one.job, CallbackFor(run.record.id, one.step, one.attempt));
    if (job_id.ok()) {
      // The executor's own id (Slurm's job number) replaces the reserved one: stored by the
      // commit that follows; a restart before it finds the job by the reserved id.
      if (*job_id != attempt.job_id) {
        attempt.job_id = *job_id;
        Touch(run, one.step);
      }
      continue;
    }
    attempt.state = JobState::kFailed;
    attempt.reason = FailureReason::kLaunchError;
    attempt.message = std::string(job_id.status().message());
    attempt.ended_ms = clock_.NowMillis();
    AttemptFailed(run, one.step, attempt.message);
    MaybeFinish(run);
  }
}

void PipelineEngine::Impl::HandleJob(ActiveRun& run, const Event& event) {
  if (event.step < 0 || event.step >= static_cast<int>(run.steps.size())) return;
  int pos = event.step;
  StepRecord& step = run.record.steps[pos];
  if (event.attempt != static_cast<int>(step.attempts.size())) return;  // an older attempt
  AttemptRecord& attempt = step.attempts.back();
  if (JobEnded(attempt.state) || IsTerminal(step.state)) return;
  const compute::JobStatus& status = event.status;
  StepRuntime& runtime = run.steps[pos];
  const bool lost_to_restart = runtime.reattached_attempt == event.attempt &&
                               status.state == JobState::kFailed &&
                               status.reason == FailureReason::kLostNode;
  if (status.state != JobState::kQueued) runtime.reattached_attempt = 0;
  // A queued report of an attempt already queued only adds its host and times: they stay in
  // memory until the attempt's next change is stored (a restart re-derives them when it
  // re-attaches the job), instead of costing a fan-out one more row write per step.
  // A report with another id (a re-attached Slurm job found by its reserved id) is stored.
  const bool new_id = !status.job_id.empty() && status.job_id != attempt.job_id;
  const bool still_queued =
      status.state == JobState::kQueued && attempt.state == JobState::kQueued && !new_id;
  attempt.state = status.state;
  attempt.reason = status.reason;
  attempt.exit_code = status.exit_code;
  attempt.signal = status.signal;
  attempt.message = status.message;
  if (!status.host.empty()) attempt.host = status.host;
  if (!status.gpus.empty()) attempt.gpus = status.gpus;
  if (new_id) attempt.job_id = status.job_id;
  if (status.started_ms) attempt.started_ms = status.started_ms;
  if (status.ended_ms) attempt.ended_ms = status.ended_ms;
  if (!still_queued) Touch(run, pos);
  switch (status.state) {
    case JobState::kQueued:
      break;
    case JobState::kRunning:
      step.state = StepState::kRunning;
      if (step.started_ms == 0) step.started_ms = attempt.started_ms ? attempt.started_ms : clock_.NowMillis();
      if (run.record.state == RunState::kQueued) {
        run.record.state = RunState::kRunning;
        run.header_dirty = true;
      }
      break;
    case JobState::kSucceeded: {
      if (attempt.ended_ms == 0) attempt.ended_ms = clock_.NowMillis();
      const StepSpec& spec = run.spec.steps[run.steps[pos].spec_index];
      std::string step_dir = StepDir(run.record, step.name);
      std::map<std::string, std::string> outputs;
      for (const OutputSpec& output : spec.outputs) {
        std::string path = fs::path(step_dir + "/out/" + output.path).lexically_normal().string();
        std::error_code ec;
        if (!fs::exists(path, ec)) {
          attempt.state = JobState::kFailed;
          attempt.message = absl::StrCat("declared output '", output.name, "' (", output.path,
                                         ") was not produced");
          AttemptFailed(run, pos, attempt.message);
          return;
        }
        outputs[output.name] = path;
      }
      step.outputs = std::move(outputs);
      StepSucceeded(run, pos, StepState::kSucceeded);
      break;
    }
    case JobState::kFailed:
      if (attempt.ended_ms == 0) attempt.ended_ms = clock_.NowMillis();
      if (run.cancel_requested) {
        StepEnded(run, pos, StepState::kCancelled, "cancelled");
      } else if (lost_to_restart) {
        // The executor says its process is gone (or never started): it cannot run twice.
        step.state = StepState::kQueued;
        step.message = absl::StrCat("attempt ", event.attempt, " was lost in the restart (",
                                    attempt.message, "); running it again");
        Log(LogLevel::kInfo, absl::StrCat("pipelines: run ", run.record.id, " step ", step.name,
                                          ": ", step.message));
        Launch(run, pos);
      } else {
        AttemptFailed(run, pos, attempt.message.empty() ? "failed" : attempt.message);
      }
      break;
    case JobState::kCancelled:
      if (attempt.ended_ms == 0) attempt.ended_ms = clock_.NowMillis();
      StepEnded(run, pos, StepState::kCancelled,
                run.cancel_requested ? "cancelled"
                                     : "its job was cancelled outside the pipeline");
      break;
  }
}

void PipelineEngine::Impl::AttemptFailed(ActiveRun& run, int pos, const std::string& why) {
  StepRecord& step = run.record.steps[pos];
  const StepSpec& spec = run.spec.steps[run.steps[pos].spec_index];
  int attempts = static_cast<int>(step.attempts.size());
  Touch(run, pos);
  if (!run.cancel_requested && ShouldRetry(spec.retry, attempts)) {
    int64_t delay = RetryDelayMs(spec.retry, attempts);
    step.state = StepState::kQueued;
    step.message = absl::StrCat("attempt ", attempts, " failed: ", why, "; retrying in ",
                                FormatDuration(delay));
    run.steps[pos].retry_waiting = true;
    timers_.insert(Timer{clock_.NowMillis() + delay, run.record.id, pos});
    return;
  }
  step.log_tail = step.attempts.empty() ? "" : LogTail(step.attempts.back().log_path, kLogTailLines);
  StepEnded(run, pos, StepState::kFailed,
            absl::StrCat("failed after ", Plural(attempts, "attempt"), ": ", why));
}

void PipelineEngine::Impl::StepSucceeded(ActiveRun& run, int pos, StepState state) {
  StepRecord& step = run.record.steps[pos];
  step.state = state;
  step.message.clear();
  step.ended_ms = clock_.NowMillis();
  if (step.started_ms == 0) step.started_ms = step.ended_ms;
  --run.remaining;
  Touch(run, pos);
  tracking_.EndStepRun(step);
  for (int down : run.steps[pos].downstream) {
    if (--run.steps[down].pending == 0 && run.record.steps[down].state == StepState::kQueued)
      ready_.emplace_back(run.record.id, down);
  }
}

void PipelineEngine::Impl::StepEnded(ActiveRun& run, int pos, StepState state,
                                     std::string message) {
  StepRecord& step = run.record.steps[pos];
  if (IsTerminal(step.state)) return;
  step.state = state;
  step.message = std::move(message);
  step.ended_ms = clock_.NowMillis();
  run.steps[pos].retry_waiting = false;
  --run.remaining;
  Touch(run, pos);
  tracking_.EndStepRun(step);
  // Everything downstream that has not started can no longer run.
  std::string why = absl::StrCat("upstream step '", step.name, "' ",
                                 state == StepState::kFailed      ? "failed"
                                 : state == StepState::kCancelled ? "was cancelled"
                                                                  : "was skipped");
  std::deque<int> queue(run.steps[pos].downstream.begin(), run.steps[pos].downstream.end());
  while (!queue.empty()) {
    int down = queue.front();
    queue.pop_front();
    StepRecord& downstream = run.record.steps[down];
    if (downstream.state != StepState::kQueued || !downstream.attempts.empty()) continue;
    downstream.state = StepState::kSkipped;
    downstream.message = why;
    --run.remaining;
    Touch(run, down);
    queue.insert(queue.end(), run.steps[down].downstream.begin(), run.steps[down].downstream.end());
  }
}

void PipelineEngine::Impl::MaybeFinish(ActiveRun& run) {
  if (run.finished || run.remaining > 0 || !run.started) return;
  run.finished = true;
  RunRecord& record = run.record;
  record.ended_ms = clock_.NowMillis();
  run.header_dirty = true;
  const StepRecord* failed = nullptr;
  bool cancelled = run.cancel_requested;
  for (const StepRecord& step : record.steps) {
    if (step.state == StepState::kFailed && failed == nullptr) failed = &step;
    if (step.state == StepState::kCancelled) cancelled = true;
  }
  if (failed != nullptr) {
    record.state = RunState::kFailed;
    record.message = absl::StrCat("step '", failed->name, "' ", failed->message);
    if (!failed->log_tail.empty())
      absl::StrAppend(&record.message, "\nlast lines of its log:\n", failed->log_tail);
  } else if (cancelled) {
    record.state = RunState::kCancelled;
    record.message = "cancelled";
  } else {
    record.state = RunState::kSucceeded;
    record.message.clear();
  }
  tracking_.EndPipelineRun(record);
}

// ---- PipelineEngine --------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PipelineEngine>> PipelineEngine::Open(
    storage::Database& db, Clock& clock, VersionLookup lookup,
    std::map<std::string, compute::Executor*> executors, tracking::TrackingStore* tracking,
    EngineOptions options) {
  if (options.data_dir.empty())
    return absl::InvalidArgumentError("EngineOptions.data_dir: must not be empty");
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<RunStore> store, RunStore::Open(db));
  std::error_code ec;
  fs::create_directories(fs::path(options.data_dir) / "pipelines" / "runs", ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", options.data_dir,
                                            "/pipelines/runs: ", ec.message()));
  }
  auto impl = std::make_unique<Impl>(db, clock, std::move(lookup), std::move(executors), tracking,
                                     std::move(options), std::move(store));
  return std::unique_ptr<PipelineEngine>(new PipelineEngine(std::move(impl)));
}

PipelineEngine::PipelineEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PipelineEngine::~PipelineEngine() { Shutdown(); }

absl::Status PipelineEngine::Recover() { return impl_->Recover(); }
absl::StatusOr<RunRecord> PipelineEngine::StartRun(const StartRunRequest& request) {
  return impl_->StartRun(request);
}
absl::Status PipelineEngine::CancelRun(std::string_view run_id) { return impl_->CancelRun(run_id); }
absl::StatusOr<RunRecord> PipelineEngine::GetRun(std::string_view run_id) {
  return impl_->GetRun(run_id);
}
absl::StatusOr<ListRunsResult> PipelineEngine::ListRuns(const ListRunsRequest& request) {
  return impl_->ListRuns(request);
}
absl::StatusOr<std::string> PipelineEngine::ReadLog(std::string_view run_id,
                                                    std::string_view step, int attempt,
                                                    int64_t offset, int64_t max_bytes,
                                                    bool* done) {
  return impl_->ReadLog(run_id, step, attempt, offset, max_bytes, done);
}
absl::StatusOr<RunRecord> PipelineEngine::WaitForRun(std::string_view run_id,
                                                     int64_t timeout_ms) {
  return impl_->WaitForRun(run_id, timeout_ms);
}
void PipelineEngine::OnRunFinished(std::function<void(const RunRecord&)> fn) {
  impl_->OnRunFinished(std::move(fn));
}
void PipelineEngine::Shutdown() {
  if (impl_) impl_->Shutdown();
}
void PipelineEngine::SetServerUrl(std::string url) { impl_->SetServerUrl(std::move(url)); }

}  // namespace cairn::pipelines
