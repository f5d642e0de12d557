// Cron parsing (errors name the field and the value) and fire times: known dates (month
// ends, leap years, the day-of-month / day-of-week rule), agreement between the forward
// and backward searches, and a minute-by-minute reference over a year.

#include "pipelines/cron.h"

#include <time.h>

#include <chrono>
#include <functional>
#include <random>

#include "common/timestamp.h"
#include "gtest/gtest.h"

namespace cairn::pipelines {
namespace {

int64_t T(std::string_view text) {
  auto ms = ParseTimestamp(text);
  EXPECT_TRUE(ms.has_value()) << text;
  return ms.value_or(0);
}

std::string Next(std::string_view cron, std::string_view after) {
  auto schedule = ParseCron(cron);
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  if (!schedule.ok()) return "";
  auto next = schedule->NextFireTime(T(after));
  return next ? FormatTimestamp(*next) : "never";
}

std::string Last(std::string_view cron, std::string_view at) {
  auto schedule = ParseCron(cron);
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  if (!schedule.ok()) return "";
  auto last = schedule->LastFireTimeAtOrBefore(T(at));
  return last ? FormatTimestamp(*last) : "never";
}

std::string ParseError(std::string_view cron) {
  auto schedule = ParseCron(cron);
  EXPECT_FALSE(schedule.ok()) << cron;
  if (schedule.ok()) return "";
  EXPECT_EQ(schedule.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(schedule.status().message());
}

TEST(Cron, NextFireTimeOfKnownSchedules) {
  // Strictly after: a fire time equal to `after` is not returned again.
  EXPECT_EQ(Next("*/15 * * * *", "2024-01-01T00:07:30Z"), "2024-01-01T00:15:00.000Z");
  EXPECT_EQ(Next("*/15 * * * *", "2024-01-01T00:15:00Z"), "2024-01-01T00:30:00.000Z");
  EXPECT_EQ(Next("*/15 * * * *", "2024-01-01T23:59:59.999Z"), "2024-01-02T00:00:00.000Z");
  EXPECT_EQ(Next("* * * * *", "1969-12-31T23:59:59.999Z"), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Next("5/20 * * * *", "2024-01-01T00:26:00Z"), "2024-01-01T00:45:00.000Z");
  EXPECT_EQ(Next("1-30/5 * * * *", "2024-01-01T00:27:00Z"), "2024-01-01T01:01:00.000Z");
  EXPECT_EQ(Next("0,30 8-10 * * *", "2024-01-01T10:30:00Z"), "2024-01-02T08:00:00.000Z");
  // UTC: the US and EU daylight-saving switches change nothing.
  EXPECT_EQ(Next("0 3 * * *", "2024-03-10T03:00:00Z"), "2024-03-11T03:00:00.000Z");
  EXPECT_EQ(Next("30 2 * * *", "2024-03-31T00:00:00Z"), "2024-03-31T02:30:00.000Z");
  EXPECT_EQ(Next("30 1 * * *", "2024-10-27T01:30:00Z"), "2024-10-28T01:30:00.000Z");
}

TEST(Cron, MonthEndsAndLeapYears) {
  EXPECT_EQ(Next("0 0 31 * *", "2024-01-31T00:00:00Z"), "2024-03-31T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 31 * *", "2024-03-31T00:00:00Z"), "2024-05-31T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 30 * *", "2024-01-30T00:00:00Z"), "2024-03-30T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 29 2 *", "2024-03-01T00:00:00Z"), "2028-02-29T00:00:00.000Z");
  // 2100 is not a leap year: eight years to the next 29 February.
  EXPECT_EQ(Next("0 0 29 2 *", "2096-03-01T00:00:00Z"), "2104-02-29T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 29 2 *", "1999-03-01T00:00:00Z"), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 28-31 2 *", "2023-02-28T00:00:00Z"), "2024-02-28T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 28-31 2 *", "2024-02-28T00:00:00Z"), "2024-02-29T00:00:00.000Z");
  EXPECT_EQ(Next("59 23 31 12 *", "2024-12-31T23:59:00Z"), "2025-12-31T23:59:00.000Z");
  EXPECT_EQ(Next("@yearly", "2023-12-31T23:59:59.999Z"), "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(Next("@monthly", "2024-02-01T00:00:00Z"), "2024-03-01T00:00:00.000Z");
}

TEST(Cron, DayOfMonthAndDayOfWeek) {
  // 2024-01-01 was a Monday. Both restricted: either matches.
  EXPECT_EQ(Next("0 0 1,15 * mon", "2024-01-01T00:00:00Z"), "2024-01-08T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 1,15 * mon", "2024-01-08T00:00:00Z"), "2024-01-15T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 13 * fri", "2024-01-12T00:00:00Z"), "2024-01-13T00:00:00.000Z");
  // Day of month beginning with '*': both must match (odd days that are Mondays).
  EXPECT_EQ(Next("0 0 */2 * mon", "2024-01-01T00:00:00Z"), "2024-01-15T00:00:00.000Z");
  EXPECT_EQ(Next("0 9 * * mon-fri", "2024-01-05T09:00:00Z"), "2024-01-08T09:00:00.000Z");
  EXPECT_EQ(Next("0 9 * * MON-Fri", "2024-01-03T09:00:00Z"), "2024-01-04T09:00:00.000Z");
  // 0 and 7 are Sunday; ranges may end at 7.
  EXPECT_EQ(Next("0 0 * * 0", "2024-01-01T00:00:00Z"), "2024-01-07T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 * * 7", "2024-01-01T00:00:00Z"), "2024-01-07T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 * * sun", "2024-01-01T00:00:00Z"), "2024-01-07T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 * * 6-7", "2024-01-01T00:00:00Z"), "2024-01-06T00:00:00.000Z");
  EXPECT_EQ(Next("@weekly", "2024-01-07T00:00:00Z"), "2024-01-14T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 * jan-jun/2 *", "2024-01-31T12:00:00Z"), "2024-03-01T00:00:00.000Z");
  EXPECT_EQ(Next("0 12 * DEC *", "2024-01-01T00:00:00Z"), "2024-12-01T12:00:00.000Z");
}

TEST(Cron, LastFireTimeAtOrBefore) {
  EXPECT_EQ(Last("0 3 * * *", "2024-03-11T03:00:00Z"), "2024-03-11T03:00:00.000Z");
  EXPECT_EQ(Last("0 3 * * *", "2024-03-11T02:59:59.999Z"), "2024-03-10T03:00:00.000Z");
  EXPECT_EQ(Last("*/15 * * * *", "2024-01-01T00:14:59Z"), "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(Last("0 0 29 2 *", "2104-02-28T00:00:00Z"), "2096-02-29T00:00:00.000Z");
  EXPECT_EQ(Last("0 0 31 * *", "2024-05-30T00:00:00Z"), "2024-03-31T00:00:00.000Z");
  EXPECT_EQ(Last("0 0 1,15 * mon", "2024-01-14T23:59:00Z"), "2024-01-08T00:00:00.000Z");
  EXPECT_EQ(Last("@yearly", "2024-01-01T00:00:00Z"), "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(Last("* * * * *", "1970-01-01T00:00:30Z"), "1970-01-01T00:00:00.000Z");
}

TEST(Cron, ShorthandsAndWhitespace) {
  EXPECT_EQ(Next("@hourly", "2024-01-01T00:00:00Z"), "2024-01-01T01:00:00.000Z");
  EXPECT_EQ(Next("@daily", "2024-01-01T00:00:00Z"), "2024-01-02T00:00:00.000Z");
  EXPECT_EQ(Next("@midnight", "2024-01-01T00:00:00Z"), "2024-01-02T00:00:00.000Z");
  EXPECT_EQ(Next("@annually", "2024-01-01T00:00:00Z"), "2025-01-01T00:00:00.000Z");
  EXPECT_EQ(Next("  0\t3  * *   * ", "2024-01-01T00:00:00Z"), "2024-01-01T03:00:00.000Z");
  auto daily = ParseCron("@daily");
  ASSERT_TRUE(daily.ok());
  EXPECT_EQ(daily->text(), "@daily");
}

TEST(Cron, ErrorsNameTheFieldAndTheValue) {
  EXPECT_EQ(ParseError("0 25 * * *"), "cron '0 25 * * *': field 'hour': 25 is out of range 0-23");
  EXPECT_EQ(ParseError("60 * * * *"), "cron '60 * * * *': field 'minute': 60 is out of range 0-59");
  EXPECT_EQ(ParseError("0 0 0 * *"),
            "cron '0 0 0 * *': field 'day-of-month': 0 is out of range 1-31");
  EXPECT_EQ(ParseError("0 0 * 13 *"), "cron '0 0 * 13 *': field 'month': 13 is out of range 1-12");
  EXPECT_EQ(ParseError("0 0 * * 8"),
            "cron '0 0 * * 8': field 'day-of-week': 8 is out of range 0-7");
  EXPECT_EQ(ParseError("0 0 * jna *"),
            "cron '0 0 * jna *': field 'month': 'jna' is not a number or a month name "
            "(jan … dec)");
  EXPECT_EQ(ParseError("0 0 * * monday"),
            "cron '0 0 * * monday': field 'day-of-week': 'monday' is not a number or a weekday "
            "name (sun … sat)");
  EXPECT_EQ(ParseError("x * * * *"), "cron 'x * * * *': field 'minute': 'x' is not a number");
  EXPECT_EQ(ParseError("*/0 * * * *"),
            "cron '*/0 * * * *': field 'minute': step 0 in '*/0' must be at least 1");
  EXPECT_EQ(ParseError("*/x * * * *"),
            "cron '*/x * * * *': field 'minute': step 'x' in '*/x' is not a positive number");
  EXPECT_EQ(ParseError("0 5-2 * * *"),
            "cron '0 5-2 * * *': field 'hour': range '5-2' runs backwards (5 > 2); write the "
            "smaller value first");
  EXPECT_EQ(ParseError("1,,2 * * * *"),
            "cron '1,,2 * * * *': field 'minute': an empty item in a list (two commas, or a "
            "comma at an end)");
  EXPECT_EQ(ParseError("0 -3 * * *"),
            "cron '0 -3 * * *': field 'hour': a value is missing (write a number, '*' or a "
            "range a-b)");
  EXPECT_EQ(ParseError("0 3 * *"),
            "cron '0 3 * *': expected 5 fields (minute hour day-of-month month day-of-week) or "
            "@hourly/@daily/@weekly/@monthly/@yearly, got 4 fields (times are UTC; seconds and "
            "years are not supported)");
  EXPECT_EQ(ParseError(""),
            "cron '': expected 5 fields (minute hour day-of-month month day-of-week) or "
            "@hourly/@daily/@weekly/@monthly/@yearly, got 0 fields (times are UTC; seconds and "
            "years are not supported)");
  EXPECT_EQ(ParseError("0 0 3 * * 2024"),
            "cron '0 0 3 * * 2024': expected 5 fields (minute hour day-of-month month "
            "day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly, got 6 fields (times are "
            "UTC; seconds and years are not supported)");
  EXPECT_EQ(ParseError("@reboot"),
            "cron '@reboot': '@reboot' is not a known shorthand; use @hourly, @daily, @weekly, "
            "@monthly or @yearly, or 5 fields (minute hour day-of-month month day-of-week)");
  EXPECT_EQ(ParseError("0 0 30 2 *"),
            "cron '0 0 30 2 *': day-of-month 30 never occurs in month 2, so the schedule would "
            "never fire; pick days that exist in those months");
  EXPECT_EQ(ParseError("0 0 31 2,4,6 *"),
            "cron '0 0 31 2,4,6 *': day-of-month 31 never occurs in month 2,4,6, so the schedule "
            "would never fire; pick days that exist in those months");
  // With a weekday restriction the OR rule makes it fire on Mondays.
  EXPECT_TRUE(ParseCron("0 0 30 2 mon").ok());
}

// Forward and backward searches are separate code; they must agree everywhere.
TEST(Cron, NextAndLastAgree) {
  const char* kExpressions[] = {"*/7 */5 * * *", "0 0 29 2 *",      "0 0 1,15 * mon",
                                "0 0 */2 * mon", "15 10 31 * *",    "0 0 * * 7",
                                "30 23 28-31 * *", "0 12 * feb,mar fri", "* * * * *"};
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> when(T("1999-01-01"), T("2110-01-01"));
  for (const char* expression : kExpressions) {
    auto schedule = ParseCron(expression);
    ASSERT_TRUE(schedule.ok()) << schedule.status();
    for (int i = 0; i < 500; ++i) {
      int64_t t = when(rng);
      auto next = schedule->NextFireTime(t);
      ASSERT_TRUE(next.has_value()) << expression;
      ASSERT_GT(*next, t);
      ASSERT_EQ(*next % 60'000, 0);
      EXPECT_EQ(schedule->LastFireTimeAtOrBefore(*next), next) << expression;
      // Nothing fires between t and next.
      EXPECT_EQ(schedule->LastFireTimeAtOrBefore(*next - 1), schedule->LastFireTimeAtOrBefore(t))
          << expression << " at " << FormatTimestamp(t);
      auto last = schedule->LastFireTimeAtOrBefore(t);
      ASSERT_TRUE(last.has_value());
      EXPECT_EQ(schedule->NextFireTime(*last), next) << expression;
    }
  }
}

// A minute-by-minute reference (gmtime) over a year, for a few expressions.
TEST(Cron, MatchesAMinuteByMinuteReference) {
  struct Case {
    const char* expression;
    std::function<bool(const tm&)> matches;
  };
  const Case kCases[] = {
      {"*/20 9-17 * * mon-fri",
       [](const tm& t) {
         return t.tm_min % 20 == 0 && t.tm_hour >= 9 && t.tm_hour <= 17 && t.tm_wday >= 1 &&
                t.tm_wday <= 5;
       }},
      {"0 0 1,15 * sun",
       [](const tm& t) {
         return t.tm_min == 0 && t.tm_hour == 0 &&
                (t.tm_mday == 1 || t.tm_mday == 15 || t.tm_wday == 0);
       }},
      {"45 23 31 * *",
       [](const tm& t) { return t.tm_min == 45 && t.tm_hour == 23 && t.tm_mday == 31; }},
      {"0 6 * 2 *",
       [](const tm& t) { return t.tm_min == 0 && t.tm_hour == 6 && t.tm_mon == 1; }},
  };
  const int64_t start = T("2023-12-01T00:00:00Z");
  const int64_t end = T("2025-01-15T00:00:00Z");
  for (const Case& c : kCases) {
    auto schedule = ParseCron(c.expression);
    ASSERT_TRUE(schedule.ok()) << schedule.status();
    std::vector<int64_t> expected, got;
    for (int64_t ms = start + 60'000; ms <= end; ms += 60'000) {
      time_t seconds = ms / 1000;
      tm fields;
      gmtime_r(&seconds, &fields);
      if (c.matches(fields)) expected.push_back(ms);
    }
    for (auto t = schedule->NextFireTime(start); t && *t <= end; t = schedule->NextFireTime(*t)) {
      got.push_back(*t);
    }
    EXPECT_EQ(got, expected) << c.expression;
    EXPECT_FALSE(expected.empty()) << c.expression;
  }
}

TEST(Cron, NextFireTimeIsFast) {
  auto schedule = ParseCron("0 0 29 2 *");
  ASSERT_TRUE(schedule.ok());
  auto start = std::chrono::steady_clock::now();
  int64_t t = T("2000-03-01");
  for (int i = 0; i < 10'000; ++i) t = schedule->NextFireTime(t).value();
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                  .count();
  // Printed, not asserted (no timing assertions): 10,000 leap days, ~40,000 years on.
  std::printf("NextFireTime('0 0 29 2 *'): %.2f us per call\n", us / 10'000);
  EXPECT_GT(t, T("2100-01-01"));
}

}  // namespace
}  // namespace cairn::pipelines
