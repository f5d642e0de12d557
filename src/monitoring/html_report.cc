#include "monitoring/html_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/strings.h"
#include "common/timestamp.h"

namespace cairn::monitoring {
namespace {

// The length of the valid UTF-8 sequence at text[i] (1..4), or 0 when it is not one.
size_t Utf8Length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b = byte(i);
  if (b < 0x80) return b == 0 ? 0 : 1;  // NUL: PostgreSQL refuses it in text
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0) lo = 0xA0;  // overlong
    if (b == 0xED) hi = 0x9F;  // surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0) lo = 0x90;  // overlong
    if (b == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

// `text` as valid UTF-8: every byte that does not start a valid sequence (and NUL) becomes
// U+FFFD, so the report can be stored as text (PostgreSQL refuses invalid UTF-8).
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8Length(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

// At most `max_chars` characters of `text` (valid UTF-8 afterwards); a longer text keeps
// max_chars - 1 of them and ends with "…". Never splits a character.
std::string Shorten(std::string_view text, size_t max_chars) {
  const std::string valid = ValidUtf8(text);
  size_t chars = 0;
  size_t cut = 0;  // the byte offset after max_chars - 1 characters
  for (size_t i = 0; i < valid.size(); ++i) {
    if ((static_cast<unsigned char>(valid[i]) & 0xC0) == 0x80) continue;
    if (chars == max_chars - 1) cut = i;
    ++chars;
  }
  if (chars <= max_chars) return valid;
  return valid.substr(0, cut) + "…";
}

std::string Escape(std::string_view raw) {
  const std::string text = ValidUtf8(raw);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return absl::StrFormat("%.6g", value);
}

// One bar of a histogram: its label and the reference / current counts.
struct Bar {
  std::string label;
  double reference = 0;
  double current = 0;
};

std::vector<Bar> Bars(const ColumnDrift& column) {
  const stats::BinnedCounts& bins = column.histogram;
  std::vector<Bar> bars;
  const size_t n = std::min(bins.reference.size(), bins.current.size());
  for (size_t i = 0; i < n; ++i) {
    Bar bar;
    bar.reference = bins.reference[i];
    bar.current = bins.current[i];
    if (bins.edges.size() == n + 1) {
      bar.label = absl::StrCat("[", Number(bins.edges[i]), ", ", Number(bins.edges[i + 1]),
                               i + 1 == n ? "]" : ")");
    } else if (i < bins.values.size()) {
      const double value = bins.values[i];
      const bool code = column.categorical && value >= 0 &&
                        value < static_cast<double>(column.categories.size());
      bar.label = code ? column.categories[static_cast<size_t>(value)]
                       : column.categorical ? absl::StrCat("code ", Number(value)) : Number(value);
    } else {
      bar.label = absl::StrCat("bin ", i + 1);
    }
    bars.push_back(std::move(bar));
  }
  if (bins.edges.empty() && static_cast<int>(bars.size()) > kMaxHistogramBars) {
    // Keep the most frequent values (both samples together), fold the rest into "other".
    std::stable_sort(bars.begin(), bars.end(), [](const Bar& a, const Bar& b) {
      return a.reference + a.current > b.reference + b.current;
    });
    Bar other;
    for (size_t i = kMaxHistogramBars - 1; i < bars.size(); ++i) {
      other.reference += bars[i].reference;
      other.current += bars[i].current;
    }
    other.label = absl::StrCat("other (", bars.size() - (kMaxHistogramBars - 1), " values)");
    bars.resize(kMaxHistogramBars - 1);
    bars.push_back(std::move(other));
  }
  return bars;
}

// Reference vs current shares per bin as grouped bars, with the bin labels under them
// (rotated when there are many) and the largest share on the y axis.
std::string HistogramSvg(const ColumnDrift& column) {
  const std::vector<Bar> bars = Bars(column);
  if (bars.empty()) return "<p class=\"muted\">No histogram for this column.</p>";
  double reference_total = 0;
  double current_total = 0;
  for (const Bar& bar : bars) {
    reference_total += bar.reference;
    current_total += bar.current;
  }
  auto share = [](double count, double total) { return total > 0 ? count / total : 0.0; };
  double top = 0;
  for (const Bar& bar : bars) {
    top = std::max({top, share(bar.reference, reference_total), share(bar.current, current_total)});
  }
  if (top <= 0) top = 1;
  const bool rotate = bars.size() > 8;
  const double left = 48, right = 8, plot_top = 12, plot_height = 160;
  const double label_height = rotate ? 110 : 28;
  const double group = std::max(14.0, std::min(60.0, 720.0 / bars.size()));
  const double width = left + right + group * bars.size();
  const double height = plot_top + plot_height + label_height;
  std::string svg = absl::StrFormat(
      "<svg class=\"hist\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
      "aria-label=\"%s: reference vs current histogram\">",
      width, height, width, height, Escape(column.column));
  const double base = plot_top + plot_height;
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>",
                        left, base, width - right, base);
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>",
                        left, plot_top, left, base);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%s</text>",
                        left - 4, plot_top + 8, absl::StrFormat("%.3g", top));
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">0</text>",
                        left - 4, base);
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& bar = bars[i];
    const double x = left + group * i;
    const double bar_width = std::max(2.0, (group - 4) / 2);
    const double r = share(bar.reference, reference_total);
    const double c = share(bar.current, current_total);
    const double rh = plot_height * r / top;
    const double ch = plot_height * c / top;
    const std::string label = Escape(bar.label);
    absl::StrAppendFormat(
        &svg,
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"ref\"><title>%s — "
        "reference: %s (%.4g%%)</title></rect>",
        x + 2, base - rh, bar_width, rh, label, Number(bar.reference), 100 * r);
    absl::StrAppendFormat(
        &svg,
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"cur\"><title>%s — "
        "current: %s (%.4g%%)</title></rect>",
        x + 2 + bar_width, base - ch, bar_width, ch, label, Number(bar.current), 100 * c);
    const std::string shown = Shorten(bar.label, 18);
    const double cx = x + group / 2;
    if (rotate) {
      absl::StrAppendFormat(&svg,
                            "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\" "
                            "transform=\"rotate(-60 %.1f %.1f)\">%s</text>",
                            cx, base + 12, cx, base + 12, Escape(shown));
    } else {
      absl::StrAppendFormat(
          &svg, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">%s</text>", cx,
          base + 16, Escape(shown));
    }
  }
  svg += "</svg>";
  return svg;
}

constexpr std::string_view kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2933}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.muted{color:#6b7785}.verdict{padding:10px 14px;border-radius:6px;margin:14px 0;font-weight:600}
.drift{background:#fde2e1;color:#8a1c17}.nodrift{background:#e0f2e9;color:#1d5b3a}
table{border-collapse:collapse;font-size:14px}th,td{padding:4px 10px;border-bottom:1px solid #e4e7eb;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.yes{color:#b42318;font-weight:600}.no{color:#1d7a46}
.hist .ref{fill:#5b8def}.hist .cur{fill:#f59e0b}.hist .axis{stroke:#9aa5b1}
.hist .tick{font-size:10px;fill:#52606d}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
section{margin-bottom:18px}
)";

}  // namespace

std::string DriftReportHtml(const DriftReport& report, const HtmlReportOptions& options) {
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  absl::StrAppend(&html, "<title>", Escape(options.title), "</title><style>", ToAbsl(kStyle),
                  "</style></head><body>\n");
  absl::StrAppend(&html, "<h1>", Escape(options.title), "</h1>\n<p class=\"muted\">Reference: ",
                  Escape(options.reference_label), " (", report.reference_rows,
                  " rows) · current: ", Escape(options.current_label), " (", report.current_rows,
                  " rows)");
  if (options.generated_ms != 0) {
    absl::StrAppend(&html, " · generated ", FormatTimestamp(options.generated_ms));
  }
  html += "</p>\n";
  const size_t columns = report.columns.size();
  absl::StrAppend(
      &html, "<div class=\"verdict ", report.dataset_drift ? "drift" : "nodrift", "\">",
      report.dataset_drift ? "Data set drift detected" : "No data set drift", ": ",
      report.drifted_columns, " of ", columns, " columns drifted (share ",
      absl::StrFormat("%.3g", report.drift_share), report.dataset_drift ? " ≥ " : " &lt; ",
      "threshold ", absl::StrFormat("%.3g", report.share_threshold), ")</div>\n");

  html +=
      "<table><thead><tr><th>column</th><th>kind</th><th>test</th><th>statistic</th>"
      "<th>p-value</th><th>threshold</th><th>drifted</th><th>reference n</th>"
      "<th>current n</th></tr></thead><tbody>\n";
  for (size_t i = 0; i < columns; ++i) {
    const ColumnDrift& column = report.columns[i];
    const stats::TestResult& result = column.result;
    absl::StrAppend(
        &html, "<tr><td><a href=\"#col-", i, "\">", Escape(column.column), "</a></td><td>",
        column.categorical ? "categorical" : "numeric", "</td><td>", Escape(result.test),
        "</td><td class=\"num\">", Number(result.statistic), "</td><td class=\"num\">",
        result.p_value.has_value() ? Number(*result.p_value) : "—", "</td><td class=\"num\">",
        Number(result.threshold), "</td><td class=\"", result.drifted ? "yes" : "no", "\">",
        result.drifted ? "yes" : column.tested ? "no" : "not tested",
        column.reason.empty() ? std::string() : absl::StrCat(" (", Escape(column.reason), ")"),
        "</td><td class=\"num\">", column.reference_count,
        "</td><td class=\"num\">", column.current_count, "</td></tr>\n");
  }
  html += "</tbody></table>\n";

  for (size_t i = 0; i < columns; ++i) {
    const ColumnDrift& column = report.columns[i];
    const stats::TestResult& result = column.result;
    absl::StrAppend(&html, "<section id=\"col-", i, "\"><h2>", Escape(column.column), " <span class=\"",
                    result.drifted ? "yes" : "no", "\">", result.drifted ? "drifted" : "no drift",
                    "</span></h2>\n<p class=\"muted\">",
                    column.categorical ? "categorical" : "numeric", " · ", Escape(result.test),
                    " = ", Number(result.statistic));
    if (result.p_value.has_value()) absl::StrAppend(&html, ", p-value ", Number(*result.p_value));
    absl::StrAppend(&html, " · threshold ", Number(result.threshold));
    if (!result.method.empty()) absl::StrAppend(&html, " · ", Escape(result.method));
    absl::StrAppend(&html, " · missing: ", column.reference_missing, " reference, ",
                    column.current_missing, " current</p>\n");
    if (!column.reason.empty()) {
      absl::StrAppend(&html, "<p class=\"", result.drifted ? "yes" : "no", "\">",
                      Escape(column.reason), "</p>\n");
    }
    absl::StrAppend(&html,
                    "<div class=\"legend muted\"><span style=\"background:#5b8def\"></span>",
                    Escape(options.reference_label),
                    "<span style=\"background:#f59e0b\"></span>", Escape(options.current_label),
                    " (share of each sample per bin)</div>\n", HistogramSvg(column),
                    "</section>\n");
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace cairn::monitoring
