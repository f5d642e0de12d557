#pragma once
// Catch-up policies of cron schedules (`schedule: {cron: …, catchup: latest}`), shared by
// pipelines' schedules (schedule_service.h) and monitors' (monitoring/monitors/
// monitor_service.h). Given what a schedule has handled and the time now, PlanCatchup says
// which fire times are due:
//   none    the missed ones are skipped; only a fire time at most `on_time_grace_ms` old
//           runs (a server that is up runs every fire time within milliseconds);
//   latest  one run, for the most recent missed fire time (the default);
//   all     one run per missed fire time, oldest first, at most `max_catchup_runs` (the
//           most recent ones).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pipelines/cron.h"

namespace cairn::pipelines {

enum class Catchup { kNone, kLatest, kAll };
std::string_view CatchupName(Catchup catchup);  // "none" | "latest" | "all"
// InvalidArgument names the value and the three policies.
absl::StatusOr<Catchup> ParseCatchup(std::string_view name);
// The policy a definition's `schedule.catchup` names (`text`: its string; nullopt when the
// value is not a string). InvalidArgument whose message is what the parsers' field error
// says of the value: "is not a catch-up policy: use none, latest or all" and, for a
// misspelling, "; did you mean 'all'?".
absl::StatusOr<Catchup> ParseCatchupField(std::optional<std::string_view> text);

struct CatchupOptions {
  int max_catchup_runs = 100;         // all: at most this many runs per catch-up
  int64_t on_time_grace_ms = 60'000;  // none: a fire time this late still runs
};

struct CatchupPlan {
  // The latest fire time at or before now; nullopt (and nothing due) when none is newer
  // than handled_until_ms. After running `due`, every fire time up to it is handled.
  std::optional<int64_t> latest;
  std::vector<int64_t> due;  // the fire times to run now, oldest first
  // For the log, empty when nothing was skipped: which missed fire times the policy skips,
  // e.g. "skipping missed fire times from 2024-05-01T03:00:00.000Z before …".
  std::string skipped;
};

// The fire times of `cron` after `handled_until_ms` and at or before `now_ms`, thinned by
// `catchup`.
CatchupPlan PlanCatchup(const CronSchedule& cron, Catchup catchup, int64_t handled_until_ms,
                        int64_t now_ms, const CatchupOptions& options = {});

}  // namespace cairn::pipelines
