#pragma once
// A drift report as one self-contained HTML page (`cairn drift --html`, a monitor run's
// stored report): the data-set verdict, a table of every column (kind, test, statistic,
// p-value, threshold, drifted), and per column the reference vs current histogram as
// inline SVG (shares per bin: the report's BinnedCounts — Sturges bins for numeric
// columns, one bar per value or category otherwise; at most kMaxHistogramBars bars, the
// rarest categories folded into "other"). No scripts, fonts, images or style sheets from
// anywhere else: the file opens offline and can be mailed or stored as it is.

#include <cstdint>
#include <string>

#include "monitoring/drift.h"

namespace cairn::monitoring {

inline constexpr int kMaxHistogramBars = 40;

struct HtmlReportOptions {
  std::string title = "Data drift report";
  std::string reference_label = "reference";  // e.g. the reference file's name
  std::string current_label = "current";
  int64_t generated_ms = 0;  // when the report was made (epoch ms, shown in UTC); 0: not shown
};

// The page, UTF-8. Every name and label from the data is HTML-escaped.
std::string DriftReportHtml(const DriftReport& report, const HtmlReportOptions& options = {});

}  // namespace cairn::monitoring
