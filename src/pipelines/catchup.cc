#include "pipelines/catchup.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/did_you_mean.h"
#include "common/strings.h"
#include "common/timestamp.h"

namespace cairn::pipelines {

std::string_view CatchupName(Catchup catchup) {
  switch (catchup) {
    case Catchup::kNone: return "none";
    case Catchup::kLatest: return "latest";
    case Catchup::kAll: return "all";
  }
  return "latest";
}

absl::StatusOr<Catchup> ParseCatchup(std::string_view name) {
  if (name == "none") return Catchup::kNone;
  if (name == "latest") return Catchup::kLatest;
  if (name == "all") return Catchup::kAll;
  return absl::InvalidArgumentError(
      absl::StrCat("'", ToAbsl(name), "' is not a catch-up policy (none, latest, all)"));
}

absl::StatusOr<Catchup> ParseCatchupField(std::optional<std::string_view> text) {
  if (text.has_value()) {
    absl::StatusOr<Catchup> parsed = ParseCatchup(*text);
    if (parsed.ok()) return parsed;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("is not a catch-up policy: use none, latest or all",
                   text.has_value() ? DidYouMean(*text, {"none", "latest", "all"}) : ""));
}

CatchupPlan PlanCatchup(const CronSchedule& cron, Catchup catchup, int64_t handled_until_ms,
                        int64_t now_ms, const CatchupOptions& options) {
  CatchupPlan plan;
  std::optional<int64_t> latest = cron.LastFireTimeAtOrBefore(now_ms);
  if (!latest || *latest <= handled_until_ms) return plan;
  plan.latest = latest;
  const int64_t first_missed = cron.NextFireTime(handled_until_ms).value_or(*latest);
  std::vector<int64_t>& due = plan.due;
  switch (catchup) {
    case Catchup::kNone:
      if (now_ms - *latest <= options.on_time_grace_ms) due.push_back(*latest);
      break;
    case Catchup::kLatest:
      due.push_back(*latest);
      break;
    case Catchup::kAll: {
      const size_t cap = static_cast<size_t>(std::max(1, options.max_catchup_runs));
      for (std::optional<int64_t> t = latest; t && *t > handled_until_ms && due.size() <= cap;
           t = cron.LastFireTimeAtOrBefore(*t - 1)) {
        due.push_back(*t);
      }
      if (due.size() > cap) {
        due.pop_back();  // the (cap+1)-th most recent: it and everything older are skipped
        plan.skipped = absl::StrCat("more than ", cap, " fire times were missed since ",
                                    FormatTimestamp(first_missed), "; running the latest ", cap,
                                    " from ", FormatTimestamp(due.back()),
                                    " and skipping the older ones");
      }
      std::reverse(due.begin(), due.end());
      return plan;
    }
  }
  const int64_t first_run = due.empty() ? *latest + 1 : due.front();
  if (first_missed < first_run) {
    plan.skipped = absl::StrCat("skipping missed fire times from ", FormatTimestamp(first_missed),
                                due.empty() ? absl::StrCat(" to ", FormatTimestamp(*latest))
                                            : absl::StrCat(" before ", FormatTimestamp(first_run)));
  }
  return plan;
}

}  // namespace cairn::pipelines
