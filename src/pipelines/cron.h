#pragma once
// Cron expressions for pipeline schedules (`schedule: {cron: "0 3 * * *"}`), always in UTC
// (no daylight-saving gaps or repeats). Five fields:
//
//   minute (0-59)  hour (0-23)  day-of-month (1-31)  month (1-12 or jan-dec)
//   day-of-week (0-7 or sun-sat; 0 and 7 are Sunday)
//
// Each field is `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (a to the
// field's maximum), or a comma-separated list of those. Names are case-insensitive and
// may appear in ranges (`mon-fri`, `jan-jun/2`). Day rule (Vixie cron's): when both
// day-of-month and day-of-week are restricted (neither begins with `*`), a day matches if
// EITHER matches ("0 0 1,15 * mon": the 1st, the 15th and every Monday); otherwise both
// must match. Shorthands: @hourly, @daily (@midnight), @weekly, @monthly, @yearly
// (@annually). A schedule that can never fire ("0 0 30 2 *") is rejected.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cairn::pipelines {

class CronSchedule {
 public:
  // The first fire time strictly after `after_ms` (epoch ms, UTC; fire times are whole
  // minutes). nullopt when there is none within 400 years, which never happens for a
  // schedule ParseCron accepted. Walks months and days, not minutes: microseconds.
  std::optional<int64_t> NextFireTime(int64_t after_ms) const;
  // The last fire time at or before `at_ms`; nullopt when there is none within 400 years.
  std::optional<int64_t> LastFireTimeAtOrBefore(int64_t at_ms) const;

  // The expression as written ("@daily" stays "@daily").
  const std::string& text() const { return text_; }

 private:
  friend absl::StatusOr<CronSchedule> ParseCron(std::string_view text);
  bool DayMatches(int64_t days_since_epoch, unsigned day_of_month) const;

  std::string text_;
  uint64_t minutes_ = 0;  // bit m: minute m (0-59)
  uint32_t hours_ = 0;    // bit h: hour h (0-23)
  uint32_t days_ = 0;     // bit d: day of month d (1-31)
  uint32_t months_ = 0;   // bit m: month m (1-12)
  uint32_t weekdays_ = 0; // bit w: weekday w (0 = Sunday … 6)
  bool days_star_ = false;      // day-of-month field began with '*'
  bool weekdays_star_ = false;  // day-of-week field began with '*'
};

// Parses a cron expression. InvalidArgument names the expression, the field and the
// value: "cron '0 25 * * *': field 'hour': 25 is out of range 0-23".
absl::StatusOr<CronSchedule> ParseCron(std::string_view text);

}  // namespace cairn::pipelines
