#include "pipelines/cron.h"

#include <array>
#include <bit>
#include <span>
#include <cctype>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"
#include "common/timestamp.h"

namespace cairn::pipelines {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kMinutesPerDay = 1440;
// A schedule ParseCron accepts fires at least once in 8 years (29 February); 400 years is
// the full Gregorian cycle, so a search that long that finds nothing never will.
constexpr int kMaxMonthsSearched = 400 * 12 + 1;

constexpr std::array<std::string_view, 12> kMonthNames = {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"sun", "mon", "tue", "wed",
                                                           "thu", "fri", "sat"};

struct FieldDef {
  std::string_view name;
  int min, max;
  int names_base;                    // value of names[0]
  std::span<const std::string_view> names;
  std::string_view names_hint;       // "a month name (jan … dec)"
};

constexpr FieldDef kFields[5] = {
    {"minute", 0, 59, 0, {}, ""},
    {"hour", 0, 23, 0, {}, ""},
    {"day-of-month", 1, 31, 0, {}, ""},
    {"month", 1, 12, 1, kMonthNames, "a month name (jan … dec)"},
    {"day-of-week", 0, 7, 0, kWeekdayNames, "a weekday name (sun … sat)"},
};

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// The lowest set bit at or above `from`, or -1.
int NextBit(uint64_t bits, int from) {
  if (from >= 64) return -1;
  uint64_t rest = bits >> from;
  return rest == 0 ? -1 : from + std::countr_zero(rest);
}

// The highest set bit at or below `upto`, or -1.
int PrevBit(uint64_t bits, int upto) {
  if (upto < 0) return -1;
  uint64_t below = upto >= 63 ? bits : bits & ((uint64_t{1} << (upto + 1)) - 1);
  return below == 0 ? -1 : 63 - std::countl_zero(below);
}

class FieldParser {
 public:
  FieldParser(std::string_view cron, const FieldDef& def) : cron_(cron), def_(def) {}

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("cron '", ToAbsl(cron_), "': field '",
                                                   ToAbsl(def_.name), "': ", ToAbsl(what)));
  }

  absl::StatusOr<int> Value(std::string_view text) const {
    if (text.empty()) return Error("a value is missing (write a number, '*' or a range a-b)");
    bool digits = true;
    for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (digits) {
      if (text.size() > 4) return OutOfRange(text);
      int value = 0;
      for (char c : text) value = value * 10 + (c - '0');
      if (value < def_.min || value > def_.max) return OutOfRange(text);
      return value;
    }
    std::string lower = absl::AsciiStrToLower(ToAbsl(text));
    for (size_t i = 0; i < def_.names.size(); ++i) {
      if (lower == def_.names[i]) return def_.names_base + static_cast<int>(i);
    }
    if (!def_.names.empty()) {
      return Error(absl::StrCat("'", ToAbsl(text), "' is not a number or ",
                                ToAbsl(def_.names_hint)));
    }
    return Error(absl::StrCat("'", ToAbsl(text), "' is not a number"));
  }

  // Sets the bits of one comma-separated item ("*", "5", "1-5", "*/15", "1-30/5", "5/10").
  absl::Status Item(std::string_view item, uint64_t* bits) const {
    if (item.empty()) return Error("an empty item in a list (two commas, or a comma at an end)");
    std::string_view range = item, step_text;
    bool has_step = false;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      step_text = item.substr(slash + 1);
      has_step = true;
    }
    int lo, hi;
    if (range == "*") {
      lo = def_.min;
      hi = def_.max;
    } else if (size_t dash = range.find('-'); dash != std::string_view::npos) {
      auto a = Value(range.substr(0, dash));
      if (!a.ok()) return a.status();
      auto b = Value(range.substr(dash + 1));
      if (!b.ok()) return b.status();
      lo = *a;
      hi = *b;
      if (lo > hi) {
        return Error(absl::StrCat("range '", ToAbsl(range), "' runs backwards (", lo, " > ", hi,
                                  "); write the smaller value first"));
      }
    } else {
      auto a = Value(range);
      if (!a.ok()) return a.status();
      lo = *a;
      hi = has_step ? def_.max : *a;
    }
    int step = 1;
    if (has_step) {
      bool digits = !step_text.empty() && step_text.size() <= 4;
      for (char c : step_text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
      if (!digits) {
        return Error(absl::StrCat("step '", ToAbsl(step_text), "' in '", ToAbsl(item),
                                  "' is not a positive number"));
      }
      step = std::stoi(std::string(step_text));
      if (step < 1) {
        return Error(absl::StrCat("step 0 in '", ToAbsl(item), "' must be at least 1"));
      }
    }
    for (int v = lo; v <= hi; v += step) *bits |= uint64_t{1} << v;
    return absl::OkStatus();
  }

  absl::Status Field(std::string_view text, uint64_t* bits) const {
    for (absl::string_view item : absl::StrSplit(ToAbsl(text), ',')) {
      absl::Status status = Item(ToStd(item), bits);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

 private:
  absl::Status OutOfRange(std::string_view text) const {
    return Error(absl::StrCat(ToAbsl(text), " is out of range ", def_.min, "-", def_.max));
  }

  std::string_view cron_;
  const FieldDef& def_;
};

std::string_view Expand(std::string_view macro) {
  if (macro == "@hourly") return "0 * * * *";
  if (macro == "@daily" || macro == "@midnight") return "0 0 * * *";
  if (macro == "@weekly") return "0 0 * * 0";
  if (macro == "@monthly") return "0 0 1 * *";
  if (macro == "@yearly" || macro == "@annually") return "0 0 1 1 *";
  return {};
}

std::string BitList(uint64_t bits, int lo, int hi) {
  std::vector<int> values;
  for (int v = lo; v <= hi; ++v) {
    if (bits & (uint64_t{1} << v)) values.push_back(v);
  }
  return absl::StrJoin(values, ",");
}

}  // namespace

absl::StatusOr<CronSchedule> ParseCron(std::string_view text) {
  std::string_view trimmed = ToStd(absl::StripAsciiWhitespace(ToAbsl(text)));
  std::string_view fields_text = trimmed;
  if (!trimmed.empty() && trimmed[0] == '@') {
    std::string lower = absl::AsciiStrToLower(ToAbsl(trimmed));
    fields_text = Expand(lower);
    if (fields_text.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cron '", ToAbsl(text), "': '", ToAbsl(trimmed),
          "' is not a known shorthand; use @hourly, @daily, @weekly, @monthly or @yearly, or "
          "5 fields (minute hour day-of-month month day-of-week)"));
    }
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(ToAbsl(fields_text), absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cron '", ToAbsl(text), "': expected 5 fields (minute hour day-of-month month "
        "day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly, got ", fields.size(),
        " field", fields.size() == 1 ? "" : "s", " (times are UTC; seconds and years are not "
        "supported)"));
  }
  CronSchedule schedule;
  schedule.text_ = std::string(trimmed);
  uint64_t bits[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < 5; ++i) {
    absl::Status status = FieldParser(text, kFields[i]).Field(ToStd(fields[i]), &bits[i]);
    if (!status.ok()) return status;
  }
  schedule.minutes_ = bits[0];
  schedule.hours_ = static_cast<uint32_t>(bits[1]);
  schedule.days_ = static_cast<uint32_t>(bits[2]);
  schedule.months_ = static_cast<uint32_t>(bits[3]);
  uint64_t weekdays = bits[4];
  if (weekdays & (uint64_t{1} << 7)) weekdays = (weekdays | 1) & 0x7f;  // 7 is Sunday
  schedule.weekdays_ = static_cast<uint32_t>(weekdays);
  schedule.days_star_ = !fields[2].empty() && fields[2][0] == '*';
  schedule.weekdays_star_ = !fields[4].empty() && fields[4][0] == '*';

  // With the weekday unrestricted, the listed days of month must occur in a listed month.
  if (schedule.weekdays_star_) {
    bool possible = false;
    for (unsigned m = 1; m <= 12 && !possible; ++m) {
      if (!(schedule.months_ & (1u << m))) continue;
      unsigned max_day = m == 2 ? 29 : DaysInMonth(2001, m);
      possible = PrevBit(schedule.days_, static_cast<int>(max_day)) >= 1;
    }
    if (!possible) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cron '", ToAbsl(text), "': day-of-month ", BitList(schedule.days_, 1, 31),
          " never occurs in month ", BitList(schedule.months_, 1, 12),
          ", so the schedule would never fire; pick days that exist in those months"));
    }
  }
  return schedule;
}

bool CronSchedule::DayMatches(int64_t days_since_epoch, unsigned day_of_month) const {
  const int64_t shifted = days_since_epoch + 4;  // 1970-01-01 was a Thursday (4)
  const int64_t weekday = shifted - FloorDiv(shifted, 7) * 7;
  bool day = days_ & (1u << day_of_month);
  bool weekday_ok = weekdays_ & (1u << weekday);
  if (days_star_ || weekdays_star_) return day && weekday_ok;
  return day || weekday_ok;
}

std::optional<int64_t> CronSchedule::NextFireTime(int64_t after_ms) const {
  const int64_t first = FloorDiv(after_ms, kMinuteMs) + 1;  // in minutes since the epoch
  int64_t day = FloorDiv(first, kMinutesPerDay);
  int minute_of_day = static_cast<int>(first - day * kMinutesPerDay);
  int64_t y;
  unsigned m, d;
  CivilFromDays(day, &y, &m, &d);
  for (int months = 0; months < kMaxMonthsSearched; ++months) {
    if (months_ & (1u << m)) {
      const unsigned days_in_month = DaysInMonth(y, m);
      for (; d <= days_in_month; ++d, ++day, minute_of_day = 0) {
        if (!DayMatches(day, d)) continue;
        int hour = minute_of_day / 60;
        if (hours_ & (1u << hour)) {
          int minute = NextBit(minutes_, minute_of_day % 60);
          if (minute >= 0) return (day * kMinutesPerDay + hour * 60 + minute) * kMinuteMs;
        }
        hour = NextBit(hours_, hour + 1);
        if (hour >= 0) {
          return (day * kMinutesPerDay + hour * 60 + NextBit(minutes_, 0)) * kMinuteMs;
        }
      }
    } else {
      day += DaysInMonth(y, m) - d + 1;
    }
    d = 1;
    minute_of_day = 0;
    if (++m > 12) {
      m = 1;
      ++y;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> CronSchedule::LastFireTimeAtOrBefore(int64_t at_ms) const {
  const int64_t last = FloorDiv(at_ms, kMinuteMs);
  int64_t day = FloorDiv(last, kMinutesPerDay);
  int minute_of_day = static_cast<int>(last - day * kMinutesPerDay);
  int64_t y;
  unsigned m, d;
  CivilFromDays(day, &y, &m, &d);
  for (int months = 0; months < kMaxMonthsSearched; ++months) {
    if (months_ & (1u << m)) {
      for (; d >= 1; --d, --day, minute_of_day = kMinutesPerDay - 1) {
        if (!DayMatches(day, d)) continue;
        int hour = minute_of_day / 60;
        if (hours_ & (1u << hour)) {
          int minute = PrevBit(minutes_, minute_of_day % 60);
          if (minute >= 0) return (day * kMinutesPerDay + hour * 60 + minute) * kMinuteMs;
        }
        hour = PrevBit(hours_, hour - 1);
        if (hour >= 0) {
          return (day * kMinutesPerDay + hour * 60 + PrevBit(minutes_, 59)) * kMinuteMs;
        }
      }
    } else {
      day -= d;
    }
    if (--m < 1) {
      m = 12;
      --y;
    }
    d = DaysInMonth(y, m);
    minute_of_day = kMinutesPerDay - 1;
  }
  return std::nullopt;
}

}  // namespace cairn::pipelines
