#pragma once
// The label a number gets in a categorical column, the same whichever way the column came
// in — a CSV field ("1.50"), a JSON value (1.5), a feature view's double or integer
// feature — so that a monitor comparing a feature view with a CSV reference sees the same
// categories for the same values.
//
// Semantics (pandas/Evidently): pandas reads a numeric CSV column as numbers, so "1.5",
// "1.50" and " 1.5" are one category, the float 1.5, and Evidently's categories are those
// numbers. The label is the number's text as Python shows it: whole numbers below 1e16 in
// magnitude as integers ("1", "-3", "0"; what pandas shows for an int64 column), every
// other finite value as Python's repr(float) (shortest text that reads back the same:
// "1.5", "0.0001", "1e-05", "1e+16", "1.5e+300"). So a category is identified by its value:
// 1, 1.0 and "1.00" share the label "1". Text that is not a number stays as written.

#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::monitoring {

// The label of a finite number (non-finite values: "inf", "-inf", "nan", which no data
// path produces — they are missing values there).
std::string NumberCategoryLabel(double value);
// The same for an integer, always exact ("1234567890123456789"): pandas reads integer
// text as int64, so distinct large ids stay distinct categories. CSV text that is an
// integer literal within int64 is labelled through this overload too.
std::string NumberCategoryLabel(int64_t value);

}  // namespace cairn::monitoring
