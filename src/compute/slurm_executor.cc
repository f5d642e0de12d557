#include "compute/slurm_executor.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/plural.h"
#include "common/status.h"
#include "common/strings.h"
#include "compute/run_command.h"
#include "compute/slurm_text.h"

namespace cairn::compute {
namespace {

constexpr int64_t kMiB = 1024 * 1024;
// A Slurm command that takes longer than this is killed (a hung controller must not stall
// the polling thread forever; Slurm's own MessageTimeout is 10 s).
constexpr int64_t kCommandTimeoutMs = 30'000;
// Recently ended jobs are remembered so Cancel() on them is a no-op, not NotFound.
constexpr size_t kRememberEnded = 10'000;
// Names per `squeue --name=a,b,…` look-up: the argument stays far below Linux's 128 KiB
// limit for one argument (job names are at most a few hundred bytes).
constexpr size_t kLookupNames = 100;

std::string Trimmed(std::string_view text) {
  return std::string(absl::StripAsciiWhitespace(ToAbsl(text)));
}

// The '|'-separated fields of one line of squeue --Format=…:|, trimmed.
std::vector<std::string> Fields(absl::string_view line) {
  std::vector<std::string> fields;
  for (absl::string_view field : absl::StrSplit(line, '|')) fields.push_back(Trimmed(ToStd(field)));
  return fields;
}

// "what failed: stderr" for a command that ran but failed.
std::string CommandError(const std::vector<std::string>& argv, const CommandResult& r) {
  std::string err = Trimmed(r.err.empty() ? r.out : r.err);
  return absl::StrCat("'", argv[0], " ", argv.size() > 1 ? argv[1] : "", "' failed (exit ",
                      r.exit_code, ")", err.empty() ? "" : ": ", err);
}

bool ValidEnvName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool IsNumericId(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

// Ids from NewJobId: "slurm:<token>". Stored by the caller before sbatch runs; the Slurm
// job's name ends in "-<token>", so a restarted server finds its Slurm id again by name.
constexpr char kReservedPrefix[] = "slurm:";
constexpr size_t kReservedPrefixSize = sizeof(kReservedPrefix) - 1;

bool IsReservedId(const std::string& id) {
  return id.size() > kReservedPrefixSize && absl::StartsWith(id, kReservedPrefix);
}

// The spec as sbatch gets it: a reserved id's token appended to the job's name.
JobSpec NamedSpec(const JobSpec& spec, const std::string& reserved_id) {
  JobSpec named = spec;
  if (IsReservedId(reserved_id)) {
    named.name = absl::StrCat(spec.name, "-", reserved_id.substr(kReservedPrefixSize));
  }
  return named;
}

// The --job-name sbatch gets for `spec` (after SbatchArgs' clean-up of the name).
std::string SlurmJobName(const JobSpec& spec) {
  for (const auto& arg : slurm::SbatchArgs(spec, "", "/x")) {
    if (absl::StartsWith(arg, "--job-name=")) return arg.substr(11);
  }
  return spec.name;
}

// An sbatch that failed in a way that does not say whether the controller took the job:
// killed for its time limit or by a signal, or a lost reply.
bool SubmissionUnknown(const absl::StatusOr<CommandResult>& result) {
  if (!result.ok()) return result.status().code() == absl::StatusCode::kDeadlineExceeded;
  if (result->exit_code == 0) return false;
  if (result->exit_code < 0) return true;
  const std::string& err = result->err;
  return err.find("timed out") != std::string::npos ||
         err.find("Zero Bytes were transmitted") != std::string::npos ||
         err.find("receive failure") != std::string::npos;
}

// Whether `path` exists; `on_error` when it cannot be told (a stat error is not an
// exception on the polling thread).
bool Exists(const std::string& path, bool on_error = false) {
  if (path.empty()) return false;
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  return ec ? on_error : exists;
}

// "9 (SIGKILL)".
std::string SignalText(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? absl::StrCat(sig, " (SIG", abbrev, ")") : absl::StrCat(sig);
}

}  // namespace

using slurm::SlurmNode;

// ---------------------------------------------------------------------------------------
// The executor.

struct SlurmExecutor::Impl {
  struct Job {
    // Slurm's job id; a re-attached reserved id ("slurm:<token>") until Resolve finds the
    // Slurm id by job name, then Slurm's; "rejected-N" for a job sbatch refused.
    std::string id;
    std::string reserved_id;      // the JobSpec::job_id it was submitted with, if any
    std::string slurm_name;       // an unresolved reserved id: the Slurm job name to look up
    int64_t lookup_since_ms = 0;  // an unresolved reserved id: when the look-up began
    // An unresolved reserved id whose sbatch failed without saying whether Slurm took the
    // job (it timed out): the launch error to report when no job by its name turns up.
    std::string submit_error;
    std::string abandoned_path;    // the marker that keeps a late job from running (Resolve)
    std::string marker_error;      // writing the marker failed: why
    std::string not_run_path;      // left by a batch script the marker stopped (Apply)
    // Its abandoned marker existed when its Slurm id was found (Resolve) or when it was
    // re-attached by that id: it may exit at its start without running the command.
    bool marked = false;
    bool scancel_pending = false;  // cancelled, its scancel still to be sent (Poll)
    std::string name;
    Resources resources;
    JobCallback callback;
    bool reattached = false;
    std::optional<JobState> reported;  // the last state given to the callback
    JobStatus status;
    bool cancel_requested = false;
    bool timed_out = false;   // we scancelled it for its time limit
    int64_t deadline_ms = 0;  // 0: none (yet)
    bool gpus_looked_up = false;
    int missing_polls = 0;                // successful polls that did not list it
    std::string status_path;              // the batch script's exit-status record
    std::optional<std::string> rejected;  // sbatch refused it: the message
  };
  using Event = std::pair<JobCallback, JobStatus>;

  Impl(SlurmOptions o, Clock& c) : options(std::move(o)), clock(c) {}

  SlurmOptions options;
  Clock& clock;

  mutable absl::Mutex mu;
  std::map<std::string, std::shared_ptr<Job>> jobs ABSL_GUARDED_BY(mu);
  std::set<std::string> submitting ABSL_GUARDED_BY(mu);  // reserved ids in Submit's sbatch
  std::deque<std::string> ended_order ABSL_GUARDED_BY(mu);
  std::set<std::string> ended ABSL_GUARDED_BY(mu);
  bool stop ABSL_GUARDED_BY(mu) = false;
  bool kicked ABSL_GUARDED_BY(mu) = false;
  int64_t next_poll_ms ABSL_GUARDED_BY(mu) = 0;
  int64_t rejected_seq ABSL_GUARDED_BY(mu) = 0;
  int64_t last_warning_ms = 0;  // polling thread only
  std::thread thread;

  mutable absl::Mutex nodes_mu;
  mutable std::vector<SlurmNode> nodes_cache ABSL_GUARDED_BY(nodes_mu);
  mutable int64_t nodes_cached_ms ABSL_GUARDED_BY(nodes_mu) = 0;

  absl::StatusOr<CommandResult> Run(const std::string& exe, std::vector<std::string> args) const {
    args.insert(args.begin(), exe);
    std::map<std::string, std::string> env;
    if (!options.slurm_conf.empty()) env["SLURM_CONF"] = options.slurm_conf;
    return RunCommand(args, env, kCommandTimeoutMs);
  }

  std::string ChoosePartition(const Resources& r) const {
    for (const auto& p : options.partitions) {
      if (p.gpus == (r.gpus > 0)) return p.name;
    }
    return "";
  }

  absl::StatusOr<std::vector<SlurmNode>> Nodes(bool fresh) const {
    const int64_t now = clock.NowMillis();
    {
      absl::MutexLock lock(&nodes_mu);
      if (!fresh && nodes_cached_ms > 0 && now - nodes_cached_ms < options.node_cache_ms) {
        return nodes_cache;
      }
    }
    std::vector<std::string> args = {"show", "node", "-d", "-o"};
    auto result = Run(options.scontrol, args);
    if (!result.ok()) return result.status();
    if (result->exit_code != 0) {
      args.insert(args.begin(), options.scontrol);
      return absl::UnavailableError(
          absl::StrCat("cannot list the Slurm nodes: ", CommandError(args, *result)));
    }
    std::vector<SlurmNode> nodes = slurm::ParseNodes(result->out);
    absl::MutexLock lock(&nodes_mu);
    nodes_cache = nodes;
    nodes_cached_ms = now;
    return nodes;
  }

  void Remember(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!ended.insert(id).second) return;
    ended_order.push_back(id);
    if (ended_order.size() > kRememberEnded) {
      ended.erase(ended_order.front());
      ended_order.pop_front();
    }
  }

  // Moves `job` to `state` (with the states in between that the callback has not seen)
  // and queues the callbacks.
  void Transition(Job& job, JobState state, std::vector<Event>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (job.reported && IsTerminal(*job.reported)) return;
    auto emit = [&](JobState s) {
      job.status.state = s;
      job.reported = s;
      events.emplace_back(job.callback, job.status);
    };
    if (!job.reported && !job.reattached && state != JobState::kQueued) emit(JobState::kQueued);
    // A marked job that ran (NotRun clears the host of one that did not) had its running
    // state held back: it is reported now, so that its end is not taken for a restart's.
    if (IsTerminal(state) && job.reported != JobState::kRunning && !job.status.host.empty() &&
        (!(job.reattached && !job.reported) || job.marked)) {
      emit(JobState::kRunning);  // it ran between two polls
    }
    if (job.reported == state) return;
    emit(state);
    if (IsTerminal(state)) {
      Remember(job.id);
      if (!job.reserved_id.empty()) Remember(job.reserved_id);
      jobs.erase(job.id);
    }
  }

  void Fail(Job& job, FailureReason reason, std::string message, std::vector<Event>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    job.status.reason = reason;
    job.status.message = std::move(message);
    if (job.status.ended_ms == 0) job.status.ended_ms = clock.NowMillis();
    Transition(job, reason == FailureReason::kCancelled ? JobState::kCancelled : JobState::kFailed,
               events);
  }

  // The end of a job Slurm has forgotten, from the exit status its batch script recorded
  // (128 + N: killed by signal N, as the shell reports it).
  void FinishFromStatusFile(Job& job, int rc, std::vector<Event>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const int64_t now = clock.NowMillis();
    if (job.status.started_ms == 0) job.status.started_ms = now;
    job.status.ended_ms = std::max(now, job.status.started_ms);
    if (rc == 0) {
      job.status.exit_code = 0;
      job.status.reason = FailureReason::kNone;
      job.status.message = "exited with code 0 (from its status file: Slurm had forgotten the job)";
      Transition(job, JobState::kSucceeded, events);
    } else if (rc > 128) {
      job.status.signal = rc - 128;
      Fail(job, FailureReason::kSignal,
           absl::StrCat("killed by signal ", SignalText(rc - 128),
                        " (from its status file: Slurm had forgotten the job)"),
           events);
    } else {
      job.status.exit_code = rc;
      Fail(job, FailureReason::kExitCode,
           absl::StrCat("exited with code ", rc,
                        " (from its status file: Slurm had forgotten the job)"),
           events);
    }
  }

  // A job whose batch script found its abandoned marker and did not run the command.
  // No running state is reported (Transition adds one for a job with a host).
  void NotRun(Job& job, std::vector<Event>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    job.status.host.clear();
    Fail(job, FailureReason::kLostNode,
         absl::StrCat("node lost: the job was given up (", job.abandoned_path,
                      ") before Slurm started it, so it did not run its command",
                      job.submit_error.empty() ? "" : absl::StrCat("; ", job.submit_error)),
         events);
  }

  std::string TimeLimitText(const Job& job) const {
    return job.resources.timeout_ms > 0 ? absl::StrCat("exceeded its time limit of ",
                                                       FormatDuration(job.resources.timeout_ms))
                                        : std::string("exceeded its Slurm time limit");
  }

  // One row of the poll: JobID|State|exit_code|NodeList|Reason|StartTime|EndTime.
  void Apply(Job& job, const std::vector<std::string>& f, std::vector<Event>& events,
             std::vector<std::string>& to_cancel) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::string& state = f[1];
    int raw = 0;
    if (!absl::SimpleAtoi(f[2], &raw)) raw = 0;
    const std::string& nodes = f[3];
    const std::string& slurm_reason = f[4];
    const int64_t now = clock.NowMillis();
    job.missing_polls = 0;
    if (!nodes.empty() && nodes != "(null)") job.status.host = nodes;
    if (state == "PENDING" || state == "REQUEUED" || state == "REQUEUE_HOLD" ||
        state == "REQUEUE_FED" || state == "RESV_DEL_HOLD") {
      Transition(job, JobState::kQueued, events);
      return;
    }
    const bool terminal = state == "COMPLETED" || state == "FAILED" || state == "CANCELLED" ||
                          state == "TIMEOUT" || state == "OUT_OF_MEMORY" || state == "NODE_FAIL" ||
                          state == "BOOT_FAIL" || state == "DEADLINE" || state == "PREEMPTED" ||
                          state == "REVOKED" || state == "SPECIAL_EXIT";
    if (job.status.started_ms == 0 && (terminal || !job.status.host.empty())) {
      // Submitted here: when we saw it start (Slurm's StartTime is cut to the second).
      // Re-attached: Slurm's StartTime is all there is.
      int64_t slurm_start = slurm::ParseSlurmTime(f[5]);
      job.status.started_ms = job.reattached && slurm_start > 0 ? slurm_start : now;
      if (job.status.queued_ms > 0) {
        job.status.started_ms = std::max(job.status.started_ms, job.status.queued_ms);
      }
      if (job.resources.timeout_ms > 0) {
        job.deadline_ms = job.status.started_ms + job.resources.timeout_ms;
      }
    }
    if (!terminal) {
      // A marked job exits at its start without running the command (or started before the
      // marker and runs it): no running state is reported until its end tells which, so that
      // one that did not run is a restart's lost attempt, not a failure of one that ran.
      // RUNNING, COMPLETING, CONFIGURING, SUSPENDED, STOPPED, SIGNALING, RESIZING, STAGE_OUT
      if (!job.marked) Transition(job, JobState::kRunning, events);
      if (job.deadline_ms > 0 && now >= job.deadline_ms && !job.timed_out &&
          !job.cancel_requested) {
        job.timed_out = true;
        to_cancel.push_back(job.id);
      }
      return;
    }
    if (job.marked && Exists(job.not_run_path)) {
      NotRun(job, events);
      return;
    }
    const int64_t slurm_end = slurm::ParseSlurmTime(f[6]);
    job.status.ended_ms =
        std::max(job.reattached && slurm_end > 0 ? slurm_end : now, job.status.started_ms);
    if (WIFSIGNALED(raw) || (raw & 0x7f) != 0) {
      job.status.signal = raw & 0x7f;
      job.status.exit_code.reset();
    } else {
      job.status.exit_code = (raw >> 8) & 0xff;
    }
    if (job.timed_out || state == "TIMEOUT" || state == "DEADLINE") {
      Fail(job, FailureReason::kTimeout, TimeLimitText(job), events);
    } else if (state == "COMPLETED") {
      job.status.reason = FailureReason::kNone;
      job.status.message = "exited with code 0";
      Transition(job, JobState::kSucceeded, events);
    } else if (state == "CANCELLED" || state == "REVOKED") {
      Fail(job, FailureReason::kCancelled,
           job.cancel_requested ? "cancelled"
                                : "cancelled outside cairn (scancel by a person or an "
                                  "administrator)",
           events);
    } else if (state == "OUT_OF_MEMORY") {
      Fail(job, FailureReason::kOutOfMemory,
           job.resources.memory_bytes > 0
               ? absl::StrCat("out of memory: Slurm killed it for exceeding its memory limit of ",
                              FormatMemory(job.resources.memory_bytes))
               : std::string("out of memory: Slurm killed it for exceeding its memory"),
           events);
    } else if (state == "NODE_FAIL" || state == "BOOT_FAIL") {
      Fail(job, FailureReason::kLostNode,
           absl::StrCat("node lost: Slurm node ", job.status.host.empty() ? "?" : job.status.host,
                        " failed while the job ran (", state, ")"),
           events);
    } else if (state == "PREEMPTED") {
      Fail(job, FailureReason::kLostNode, "node lost: Slurm preempted the job", events);
    } else if (job.status.signal) {
      Fail(job, FailureReason::kSignal,
           absl::StrCat("killed by signal ", SignalText(*job.status.signal)), events);
    } else if (job.status.exit_code.value_or(0) != 0) {
      Fail(job, FailureReason::kExitCode, absl::StrCat("exited with code ", *job.status.exit_code),
           events);
    } else {
      // FAILED with status 0: Slurm could not launch it (bad workdir, log not writable…).
      Fail(job, FailureReason::kLaunchError,
           absl::StrCat("Slurm could not start the job (", state, ", reason ", slurm_reason,
                        "); see its log and the slurmd log"),
           events);
    }
  }

  void Deliver(std::vector<Event>& events) {
    for (auto& [callback, status] : events) {
      if (callback) callback(status);
    }
    events.clear();
  }

  // A cluster that stays unreachable is logged every 30 s, not every poll.
  void Warn(const std::string& message) {
    const int64_t now = clock.NowMillis();
    if (now - last_warning_ms < 30'000) return;
    last_warning_ms = now;
    Log(LogLevel::kWarning, absl::StrCat(options.name, " executor: ", message, " (retrying every ",
                                         options.poll_interval_ms, " ms)"));
  }

  // Unresolved reserved ids (re-attached, or an sbatch that timed out): their Slurm job ids,
  // looked up by job name, kLookupNames names per squeue (which lists the jobs that ended
  // less than MinJobAge ago too; --all: hidden partitions included). Found: the job is
  // followed by its Slurm id from then on, and its reports carry that id. Not found for
  // reserved_lookup_grace_ms: the job's abandoned marker is written, and the look-up that
  // follows decides — a job it finds is followed (one the marker stopped ends as not run:
  // Apply), none is given up (GiveUp): any job submitted for it later finds the marker and
  // does not run its command. So a job that started before the marker is always followed,
  // never run a second time.
  void Resolve(std::vector<Event>& events) {
    struct Lookup {
      std::string id;
      std::string marker;
      bool marked = false;   // the marker existed before this look-up
      bool unknown = false;  // its existence could not be told (a stat error)
    };
    std::map<std::string, Lookup> todo;  // lower-cased Slurm job name → the job
    {
      absl::MutexLock lock(&mu);
      for (const auto& [id, job] : jobs) {
        if (!job->rejected && IsReservedId(id))
          todo[absl::AsciiStrToLower(job->slurm_name)] = {id, job->abandoned_path};
      }
    }
    std::vector<std::string> names;
    for (const auto& [name, lookup] : todo) names.push_back(name);
    for (size_t begin = 0; begin < names.size(); begin += kLookupNames) {
      const std::vector<std::string> batch(
          names.begin() + begin, names.begin() + std::min(names.size(), begin + kLookupNames));
      for (const std::string& name : batch) {
        Lookup& lookup = todo[name];
        std::error_code ec;
        lookup.marked = !lookup.marker.empty() && std::filesystem::exists(lookup.marker, ec);
        lookup.unknown = static_cast<bool>(ec);
      }
      std::vector<std::string> args = {"--all", "--states=all", "--noheader",
                                       "--name=" + absl::StrJoin(batch, ","),
                                       "--Format=JobID:|,Name:|"};
      auto result = Run(options.squeue, args);
      if (!result.ok() || result->exit_code != 0) {
        args.insert(args.begin(), options.squeue);
        Warn(absl::StrCat(
            "looking up ", Plural(static_cast<int>(batch.size()), "job"), " by name: ",
            result.ok() ? CommandError(args, *result) : std::string(result.status().message())));
        continue;  // the next poll retries
      }
      // Lower-cased name → Slurm id (squeue compares names without case). Names have no '|'
      // (SbatchArgs), so the name is the second field.
      std::map<std::string, std::string> found;
      for (absl::string_view line : absl::StrSplit(result->out, '\n', absl::SkipEmpty())) {
        std::vector<std::string> f = Fields(line);
        if (f.size() >= 2 && IsNumericId(f[0])) found.emplace(absl::AsciiStrToLower(f[1]), f[0]);
      }
      absl::MutexLock lock(&mu);
      const int64_t now = clock.NowMillis();
      for (const std::string& name : batch) {
        const Lookup& lookup = todo[name];
        auto it = jobs.find(lookup.id);
        if (it == jobs.end()) continue;
        std::shared_ptr<Job> job = it->second;
        auto slurm_id = found.find(name);
        if (slurm_id == found.end()) {
          if (now - job->lookup_since_ms < options.reserved_lookup_grace_ms) continue;
          // Given up now: after a look-up that began with the marker in place, or when it ran
          // and Slurm forgot it (its status file), or when the marker cannot be written.
          if (lookup.marked || job->abandoned_path.empty() ||
              slurm::ReadStatusFile(job->status_path) || !WriteMarker(*job)) {
            GiveUp(*job, events);
          }  // else the next look-up decides
          continue;
        }
        if (jobs.contains(slurm_id->second)) continue;  // cannot happen: tokens are unique
        jobs.erase(it);
        job->id = slurm_id->second;
        job->status.job_id = slurm_id->second;
        job->marked = lookup.marked || lookup.unknown;  // unknown: its end decides
        jobs[job->id] = job;
        if (job->cancel_requested) job->scancel_pending = true;  // Cancel() came first
      }
    }
  }

  // Writes the abandoned marker of a job about to be given up (Resolve); false (with
  // job.marker_error set, and a warning) when it cannot.
  bool WriteMarker(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::ofstream marker(job.abandoned_path, std::ios::trunc);
    marker << "given up by cairn at " << clock.NowMillis() << " ms (" << job.slurm_name << ")\n";
    marker.close();
    if (marker) return true;
    job.marker_error = absl::StrCat("; writing ", job.abandoned_path,
                                    " failed, so a job submitted for it later could still run");
    Log(LogLevel::kWarning, absl::StrCat(options.name, " executor: ", job.id, job.marker_error));
    return false;
  }

  // A reserved id that Slurm has no job for, after its marker was written: see Resolve.
  void GiveUp(Job& job, std::vector<Event>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::string recorded_id;
    if (std::optional<int> rc = slurm::ReadStatusFile(job.status_path, &recorded_id)) {
      if (!recorded_id.empty()) job.status.job_id = recorded_id;
      FinishFromStatusFile(job, *rc, events);  // it ran, and Slurm has forgotten it
      return;
    }
    const std::string what =
        absl::StrCat("Slurm has no job named '", job.slurm_name, "' after ",
                     FormatDuration(options.reserved_lookup_grace_ms), job.marker_error);
    if (!job.submit_error.empty()) {
      Fail(job, FailureReason::kLaunchError, absl::StrCat(job.submit_error, "; ", what), events);
    } else {
      Fail(job, FailureReason::kLostNode,
           absl::StrCat("node lost: ", what,
                        " (sbatch never submitted it before the server stopped, or it ended "
                        "more than MinJobAge ago); its outcome is unknown"),
           events);
    }
  }

  // Poll once: one squeue for every followed job.
  void Poll(std::vector<Event>& events) {
    Resolve(events);
    std::vector<std::string> ids;
    std::vector<std::string> pending_scancels;
    {
      absl::MutexLock lock(&mu);
      for (const auto& [id, job] : jobs) {
        if (!job->rejected && IsNumericId(id)) ids.push_back(id);
        if (job->scancel_pending && IsNumericId(id)) {
          job->scancel_pending = false;
          pending_scancels.push_back(id);
        }
      }
    }
    // Cancels that came before the job's Slurm id was known, or whose scancel failed.
    if (!pending_scancels.empty()) {
      auto r = Run(options.scancel, pending_scancels);
      if (!r.ok() || (r->exit_code != 0 &&
                      r->err.find("already completing or completed") == std::string::npos &&
                      r->err.find("Invalid job id") == std::string::npos)) {
        Warn(absl::StrCat(
            "scancel of Slurm jobs ", absl::StrJoin(pending_scancels, ","),
            " failed: ", r.ok() ? Trimmed(r->err) : std::string(r.status().message())));
        absl::MutexLock lock(&mu);
        for (const auto& id : pending_scancels) {
          if (auto it = jobs.find(id); it != jobs.end()) it->second->scancel_pending = true;
        }
      }
    }
    if (ids.empty()) return;
    std::vector<std::string> args = {
        "--states=all", "--noheader", "--jobs=" + absl::StrJoin(ids, ","),
        "--Format=JobID:|,State:|,exit_code:|,NodeList:|,Reason:|,StartTime:|,EndTime:|"};
    auto result = Run(options.squeue, args);
    bool all_unknown = false;
    if (!result.ok()) {
      Warn(absl::StrCat("polling jobs: ", result.status().message()));
      return;
    }
    if (result->exit_code != 0) {
      // squeue fails when none of the ids is known; any other failure is transient.
      if (result->err.find("Invalid job id") == std::string::npos) {
        args.insert(args.begin(), options.squeue);
        Warn(absl::StrCat("polling jobs: ", CommandError(args, *result)));
        return;
      }
      all_unknown = true;
    }
    std::map<std::string, std::vector<std::string>> rows;
    if (!all_unknown) {
      for (absl::string_view line : absl::StrSplit(result->out, '\n', absl::SkipEmpty())) {
        std::vector<std::string> f = Fields(line);
        if (f.size() < 7) continue;
        rows[f[0]] = std::move(f);
      }
    }
    std::vector<std::string> to_cancel;
    std::vector<std::string> need_gpus;
    {
      absl::MutexLock lock(&mu);
      for (const auto& id : ids) {
        auto it = jobs.find(id);
        if (it == jobs.end()) continue;
        std::shared_ptr<Job> job = it->second;
        auto row = rows.find(id);
        if (row == rows.end()) {
          // Absent twice in a row (not a race with a just-accepted submission): Slurm has
          // forgotten it.
          if (++job->missing_polls < 2) continue;
          if (job->marked && Exists(job->not_run_path)) {
            NotRun(*job, events);
            continue;
          }
          if (std::optional<int> rc = slurm::ReadStatusFile(job->status_path)) {
            // It ended long enough ago for Slurm to forget it; its script left the status.
            FinishFromStatusFile(*job, *rc, events);
            continue;
          }
          Fail(*job, FailureReason::kLostNode,
               absl::StrCat("node lost: Slurm no longer knows job ", id,
                            " (it ended more than MinJobAge ago, or the controller lost its "
                            "state); its outcome is unknown"),
               events);
          continue;
        }
        Apply(*job, row->second, events, to_cancel);
        if (job->resources.gpus > 0 && !job->gpus_looked_up &&
            job->reported == JobState::kRunning) {
          job->gpus_looked_up = true;
          need_gpus.push_back(id);
        }
      }
    }
    // GPU indices are only in scontrol's detail view: one call per GPU job, once.
    for (const auto& id : need_gpus) {
      auto detail = Run(options.scontrol, {"show", "job", "-d", "-o", id});
      if (!detail.ok() || detail->exit_code != 0) continue;
      std::vector<int> gpus;
      size_t pos = detail->out.find(" GRES=");
      if (pos != std::string::npos) {
        size_t end = detail->out.find(' ', pos + 1);
        gpus = slurm::GresGpuIndices(
            std::string_view(detail->out)
                .substr(pos + 6, end == std::string::npos ? end : end - pos - 6));
      }
      absl::MutexLock lock(&mu);
      auto it = jobs.find(id);
      if (it != jobs.end()) it->second->status.gpus = std::move(gpus);
    }
    if (!to_cancel.empty()) {
      auto r = Run(options.scancel, to_cancel);
      const bool failed = !r.ok() || r->exit_code != 0;
      if (failed) {
        Warn(absl::StrCat(
            "scancel of jobs past their time limit (", absl::StrJoin(to_cancel, ","),
            ") failed: ", r.ok() ? Trimmed(r->err) : std::string(r.status().message())));
      }
      absl::MutexLock lock(&mu);
      for (const auto& id : to_cancel) {
        auto it = jobs.find(id);
        if (failed && it != jobs.end()) it->second->timed_out = false;  // the next poll retries
      }
      next_poll_ms = 0;  // see them end soon
      kicked = true;
    }
  }

  void Loop() {
    std::vector<Event> events;
    while (true) {
      bool poll_now = false;
      {
        absl::MutexLock lock(&mu);
        auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return stop || kicked; };
        bool active = false;
        for (const auto& [id, job] : jobs) active |= !job->rejected.has_value();
        int64_t now = clock.NowMillis();
        if (active && now < next_poll_ms) {
          mu.AwaitWithTimeout(absl::Condition(&wake), absl::Milliseconds(next_poll_ms - now));
        } else if (!active) {
          mu.Await(absl::Condition(&wake));
        }
        if (stop) break;
        kicked = false;
        // Newly accepted jobs are queued at once; jobs sbatch refused end here.
        std::vector<std::shared_ptr<Job>> snapshot;
        for (const auto& [id, job] : jobs) snapshot.push_back(job);
        for (const auto& job : snapshot) {
          if (job->rejected) {
            Fail(*job, job->reattached ? FailureReason::kLostNode : FailureReason::kLaunchError,
                 *job->rejected, events);
          } else if (!job->reported && !job->reattached) {
            Transition(*job, JobState::kQueued, events);
          }
        }
        now = clock.NowMillis();
        active = false;
        for (const auto& [id, job] : jobs) active |= !job->rejected.has_value();
        if (active && now >= next_poll_ms) {
          poll_now = true;
          next_poll_ms = now + options.poll_interval_ms;
        }
      }
      Deliver(events);
      if (poll_now) {
        Poll(events);
        Deliver(events);
      }
    }
  }

  void Kick() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { kicked = true; }

  // The followed job with this id, or submitted with it as its reserved id; null if none.
  std::shared_ptr<Job> Find(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (auto it = jobs.find(id); it != jobs.end()) return it->second;
    if (!IsReservedId(id)) return nullptr;
    for (const auto& [key, job] : jobs) {
      if (job->reserved_id == id) return job;
    }
    return nullptr;
  }

  // A job with this id (or reserved id) is followed, or ended recently.
  bool Follows(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return Find(id) != nullptr || ended.contains(id);
  }
};

SlurmExecutor::SlurmExecutor(SlurmOptions options, Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), clock)) {
  impl_->thread = std::thread([this] { impl_->Loop(); });
}

SlurmExecutor::~SlurmExecutor() { Shutdown(); }

std::string_view SlurmExecutor::name() const { return impl_->options.name; }

std::string SlurmExecutor::NewJobId() {
  return absl::StrCat(kReservedPrefix, NewUuidHex().substr(0, 20));
}

absl::Status SlurmExecutor::CheckSatisfiable(const Resources& r) const {
  CAIRN_ASSIGN_OR_RETURN(std::vector<SlurmNode> all, impl_->Nodes(/*fresh=*/false));
  const std::string partition = impl_->ChoosePartition(r);
  std::vector<SlurmNode> nodes;
  for (const auto& n : all) {
    if (partition.empty() ||
        std::find(n.partitions.begin(), n.partitions.end(), partition) != n.partitions.end()) {
      nodes.push_back(n);
    }
  }
  const std::string where =
      partition.empty() ? "the largest Slurm node"
                        : absl::StrCat("the largest node of Slurm partition '", partition, "'");
  if (nodes.empty()) {
    return absl::InvalidArgumentError(
        partition.empty() ? "the Slurm cluster has no nodes"
                          : absl::StrCat("Slurm partition '", partition, "' (configured for ",
                                         r.gpus > 0 ? "GPU" : "CPU",
                                         " jobs) has no nodes; fix the executor configuration"));
  }
  int max_cpus = 0, max_gpus = 0;
  int64_t max_mib = 0;
  bool one_fits = false;
  const int64_t want_cpus = std::max<int64_t>(1, std::llround(std::ceil(r.cpus)));
  const int64_t want_mib = (r.memory_bytes + kMiB - 1) / kMiB;
  for (const auto& n : nodes) {
    max_cpus = std::max(max_cpus, n.cpus);
    max_gpus = std::max(max_gpus, n.gpus);
    max_mib = std::max(max_mib, n.memory_mib);
    one_fits |= n.cpus >= want_cpus && n.memory_mib >= want_mib && n.gpus >= r.gpus;
  }
  if (want_cpus > max_cpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("asks for ", want_cpus, " CPUs; ", where, " has ", max_cpus));
  }
  if (want_mib > max_mib) {
    return absl::InvalidArgumentError(absl::StrCat("asks for ", FormatMemory(r.memory_bytes),
                                                   " of memory; ", where, " has ",
                                                   FormatMemory(max_mib * kMiB)));
  }
  if (r.gpus > max_gpus) {
    return absl::InvalidArgumentError(absl::StrCat(
        "asks for ", r.gpus, " GPU", r.gpus == 1 ? "" : "s", "; ", where, " has ", max_gpus));
  }
  if (!one_fits) {
    return absl::InvalidArgumentError(
        absl::StrCat("asks for ", FormatResources(r), "; no single Slurm node",
                     partition.empty() ? "" : absl::StrCat(" of partition '", partition, "'"),
                     " has all of it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SlurmExecutor::Submit(const JobSpec& spec, JobCallback callback) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job '", spec.name, "': argv must name a command"));
  }
  if (spec.log_path.empty() || spec.log_path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("job '", spec.name, "': log_path '", spec.log_path, "' must be absolute"));
  }
  if (!spec.workdir.empty() && spec.workdir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("job '", spec.name, "': workdir '", spec.workdir, "' must be absolute"));
  }
  for (const auto& [key, value] : spec.env) {
    if (!ValidEnvName(key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "job '", spec.name, "': env: '", key,
          "' is not a valid variable name (letters, digits and _, not starting with a digit)"));
    }
  }
  if (!spec.job_id.empty() && !IsReservedId(spec.job_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("job '", spec.name, "': job id '", spec.job_id,
                     "' is not a Slurm executor job id (slurm:<token>, from NewJobId)"));
  }
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->stop) return absl::FailedPreconditionError("the Slurm executor is shut down");
    if (!spec.job_id.empty() &&
        (impl_->Follows(spec.job_id) || !impl_->submitting.insert(spec.job_id).second)) {
      return absl::AlreadyExistsError(absl::StrCat("job ", spec.job_id, " was submitted already"));
    }
  }
  auto job = std::make_shared<Impl::Job>();
  job->reserved_id = spec.job_id;
  job->name = spec.name;
  job->resources = spec.resources;
  job->status_path = slurm::StatusPath(spec);
  job->abandoned_path = slurm::AbandonedPath(spec);
  job->not_run_path = slurm::NotRunPath(spec);
  job->callback = std::move(callback);
  job->status.queued_ms = impl_->clock.NowMillis();

  // Launch errors (directories, the script, sbatch) become a rejected job.
  std::string rejected;
  std::string submit_error;
  std::string slurm_id;
  const std::string script_path = spec.log_path + ".sbatch";
  std::error_code ec;
  const std::filesystem::path log_dir = std::filesystem::path(spec.log_path).parent_path();
  std::filesystem::create_directories(log_dir, ec);
  if (ec)
    rejected =
        absl::StrCat("cannot create the log directory ", log_dir.string(), ": ", ec.message());
  if (rejected.empty() && !spec.workdir.empty()) {
    std::filesystem::create_directories(spec.workdir, ec);
    if (ec) rejected = absl::StrCat("cannot create workdir ", spec.workdir, ": ", ec.message());
  }
  if (rejected.empty()) {
    std::ofstream script(script_path, std::ios::trunc);
    script << slurm::BatchScript(spec);
    script.close();
    if (!script) rejected = absl::StrCat("cannot write the batch script ", script_path);
  }
  if (rejected.empty()) {
    const std::string partition =
        spec.partition.empty() ? impl_->ChoosePartition(spec.resources) : spec.partition;
    std::vector<std::string> args =
        slurm::SbatchArgs(NamedSpec(spec, spec.job_id), partition, script_path);
    auto result = impl_->Run(impl_->options.sbatch, args);
    if (!spec.job_id.empty() && SubmissionUnknown(result)) {
      // Slurm may have taken the job: found by its name (Resolve), or a launch error.
      submit_error =
          absl::StrCat("sbatch failed without saying whether Slurm took the job (",
                       result.ok() ? Trimmed(result->err.empty() ? result->out : result->err)
                                   : std::string(result.status().message()),
                       ")");
    } else if (!result.ok()) {
      rejected = absl::StrCat("sbatch could not run: ", result.status().message(),
                              " (install slurm-client, or set the path of sbatch in the "
                              "executor configuration)");
    } else if (result->exit_code != 0) {
      rejected =
          absl::StrCat("sbatch refused the job",
                       partition.empty() ? "" : absl::StrCat(" (partition '", partition, "')"),
                       ": ", Trimmed(result->err.empty() ? result->out : result->err));
    } else {
      // --parsable: "4711" or "4711;cluster".
      std::string out = Trimmed(result->out);
      slurm_id = out.substr(0, out.find(';'));
      if (!IsNumericId(slurm_id)) {
        // It took the job (exit 0): with a reserved id, the job is found by its name.
        (spec.job_id.empty() ? rejected : submit_error) =
            absl::StrCat("sbatch answered '", out, "', not a job id");
        slurm_id.clear();
      }
    }
  }

  // Slurm has the job now: its id is returned even when Shutdown raced with sbatch (a
  // restarted server can re-attach to it); only its callbacks stop.
  absl::MutexLock lock(&impl_->mu);
  impl_->submitting.erase(spec.job_id);
  if (!rejected.empty()) {
    job->id = absl::StrCat("rejected-", ++impl_->rejected_seq);
    job->rejected = rejected;
  } else if (!submit_error.empty()) {
    job->id = spec.job_id;  // followed by the reserved id until its job is found
    job->submit_error = submit_error;
    job->slurm_name = SlurmJobName(NamedSpec(spec, spec.job_id));
    job->lookup_since_ms = impl_->clock.NowMillis();
    impl_->next_poll_ms = 0;
  } else {
    job->id = slurm_id;
  }
  job->status.job_id = job->id;
  impl_->jobs[job->id] = job;
  impl_->Kick();
  return job->id;
}

absl::Status SlurmExecutor::Reattach(const std::string& job_id, const JobSpec& spec,
                                     JobCallback callback) {
  auto job = std::make_shared<Impl::Job>();
  job->id = job_id;
  job->name = spec.name;
  job->resources = spec.resources;
  job->status_path = slurm::StatusPath(spec);
  job->abandoned_path = slurm::AbandonedPath(spec);
  job->not_run_path = slurm::NotRunPath(spec);
  job->callback = std::move(callback);
  job->reattached = true;
  job->status.job_id = job_id;
  if (IsReservedId(job_id)) {
    job->reserved_id = job_id;
    job->slurm_name = SlurmJobName(NamedSpec(spec, job_id));  // its Slurm id: Resolve
    job->lookup_since_ms = impl_->clock.NowMillis();
  } else if (!IsNumericId(job_id)) {
    job->rejected = absl::StrCat("node lost: '", job_id,
                                 "' is not a Slurm job id (sbatch had refused that job)");
  } else {
    // Found by name after its marker, earlier (unknown: its end decides).
    job->marked = Exists(job->abandoned_path, /*on_error=*/true);
  }
  absl::MutexLock lock(&impl_->mu);
  if (impl_->stop) return absl::FailedPreconditionError("the Slurm executor is shut down");
  if (impl_->Find(job_id) != nullptr || impl_->submitting.contains(job_id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("Slurm job ", job_id, " is already followed by this executor"));
  }
  impl_->jobs[job_id] = job;
  impl_->next_poll_ms = 0;
  impl_->Kick();
  return absl::OkStatus();
}

absl::Status SlurmExecutor::Cancel(const std::string& job_id) {
  std::string slurm_id;
  {
    absl::MutexLock lock(&impl_->mu);
    std::shared_ptr<Impl::Job> job = impl_->Find(job_id);
    if (job == nullptr) {
      if (impl_->ended.contains(job_id)) return absl::OkStatus();
      return absl::NotFoundError(
          absl::StrCat("Slurm job '", job_id, "' is not followed by this executor"));
    }
    if (job->rejected) return absl::OkStatus();  // never ran; ends on its own
    job->cancel_requested = true;
    slurm_id = job->id;
  }
  // A reserved id whose Slurm id is not known yet: scancelled once Resolve finds it.
  if (!IsNumericId(slurm_id)) return absl::OkStatus();
  auto result = impl_->Run(impl_->options.scancel, {slurm_id});
  const bool failed =
      !result.ok() || (result->exit_code != 0 &&
                       result->err.find("already completing or completed") == std::string::npos &&
                       result->err.find("Invalid job id") == std::string::npos);
  if (failed) {  // the next poll sends it again
    absl::MutexLock lock(&impl_->mu);
    if (auto job = impl_->jobs.find(slurm_id); job != impl_->jobs.end())
      job->second->scancel_pending = true;
    impl_->Kick();
  }
  if (!result.ok()) return result.status();
  if (failed) {
    return absl::UnavailableError(
        absl::StrCat("cannot cancel Slurm job ", slurm_id, ": ",
                     CommandError({impl_->options.scancel, slurm_id}, *result)));
  }
  absl::MutexLock lock(&impl_->mu);
  impl_->next_poll_ms = 0;
  impl_->Kick();
  return absl::OkStatus();
}

ExecutorStatus SlurmExecutor::Status() const {
  ExecutorStatus out;
  out.name = impl_->options.name;
  out.capacity.cpus = 0;
  out.in_use.cpus = 0;
  auto nodes = impl_->Nodes(/*fresh=*/true);
  if (!nodes.ok()) {
    out.detail = std::string(nodes.status().message());
    return out;
  }
  std::vector<std::string> node_texts;
  for (const auto& n : *nodes) {
    out.capacity.cpus += n.cpus;
    out.capacity.memory_bytes += n.memory_mib * kMiB;
    out.capacity.gpus += n.gpus;
    out.in_use.cpus += n.cpus_alloc;
    out.in_use.memory_bytes += n.memory_alloc_mib * kMiB;
    out.in_use.gpus += n.gpus_alloc;
    std::string state = n.state;
    std::transform(state.begin(), state.end(), state.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    node_texts.push_back(absl::StrCat(n.name, " (", state, ", ", n.cpus, " CPUs, ",
                                      FormatMemory(n.memory_mib * kMiB), ", ", n.gpus, " GPUs)"));
  }
  std::string partitions;
  auto parts = impl_->Run(impl_->options.sinfo, {"--noheader", "--format=%P|%a|%N"});
  if (parts.ok() && parts->exit_code == 0) {
    std::vector<std::string> texts;
    for (absl::string_view line : absl::StrSplit(parts->out, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = absl::StrSplit(line, '|');
      if (f.size() < 3) continue;
      bool is_default = absl::EndsWith(f[0], "*");
      std::string name = is_default ? f[0].substr(0, f[0].size() - 1) : f[0];
      std::string role;
      for (const auto& p : impl_->options.partitions) {
        if (p.name == name) role = p.gpus ? ", GPU jobs" : ", CPU jobs";
      }
      texts.push_back(
          absl::StrCat(name, " (", is_default ? "default, " : "", f[1], role, ": ", f[2], ")"));
    }
    partitions = absl::StrJoin(texts, "; ");
  }
  out.detail = absl::StrCat("partitions: ", partitions.empty() ? "?" : partitions,
                            "; nodes: ", absl::StrJoin(node_texts, ", "));
  auto queue =
      impl_->Run(impl_->options.squeue,
                 {"--noheader", "--Format=JobID:|,State:|,NodeList:|,SubmitTime:|,StartTime:|"});
  if (queue.ok() && queue->exit_code == 0) {
    for (absl::string_view line : absl::StrSplit(queue->out, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = Fields(line);
      if (f.size() < 5) continue;
      JobStatus job;
      job.job_id = f[0];
      if (f[1] == "PENDING") {
        job.state = JobState::kQueued;
        ++out.queued;
      } else {
        job.state = JobState::kRunning;
        job.host = f[2];
        job.started_ms = slurm::ParseSlurmTime(f[4]);
        ++out.running;
      }
      job.queued_ms = slurm::ParseSlurmTime(f[3]);
      out.jobs.push_back(std::move(job));
    }
  }
  return out;
}

void SlurmExecutor::Shutdown() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->stop = true;
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace cairn::compute
