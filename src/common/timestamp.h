#pragma once
// Event timestamps as they appear in data files and JSON: RFC 3339 / ISO 8601 text, or
// a number of milliseconds since the Unix epoch. Parsed without allocation (ingestion
// parses one per row).
//
// Accepted text: "YYYY-MM-DD", "YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]]" with an optional
// "Z" or "±HH:MM" / "±HHMM" offset (no offset means UTC). Fractions beyond milliseconds
// are truncated. Integers (optionally signed) are epoch milliseconds.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cairn {

// nullopt when `text` is neither form or a field is out of range (month 13, hour 25).
std::optional<int64_t> ParseTimestamp(std::string_view text);

// "2024-05-01T12:00:00.250Z" (milliseconds always shown), UTC.
std::string FormatTimestamp(int64_t millis);

// Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard Hinnant's
// algorithms). Used by date-part functions of expressions.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
void CivilFromDays(int64_t days, int64_t* y, unsigned* m, unsigned* d);

}  // namespace cairn
