#include "monitoring/html_report.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::monitoring {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t Count(const std::string& text, const std::string& word) {
  size_t n = 0;
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
  return n;
}

DriftReport SampleReport() {
  DriftReport report;
  report.reference_rows = 1000;
  report.current_rows = 900;
  ColumnDrift price;
  price.column = "price<script>";
  price.reference_count = 1000;
  price.current_count = 890;
  price.current_missing = 10;
  price.result.test = "wasserstein";
  price.result.statistic = 0.25;
  price.result.threshold = 0.1;
  price.result.drifted = true;
  price.histogram.edges = {0, 1, 2, 3};
  price.histogram.reference = {500, 300, 200};
  price.histogram.current = {100, 300, 490};
  ColumnDrift city;
  city.column = "city";
  city.categorical = true;
  city.reference_count = 1000;
  city.current_count = 900;
  city.result.test = "chisquare";
  city.result.statistic = 1.5;
  city.result.p_value = 0.47;
  city.result.threshold = 0.05;
  city.categories = {"Paris", "O&slo"};
  city.histogram.values = {0, 1};
  city.histogram.reference = {600, 400};
  city.histogram.current = {500, 400};
  report.columns = {price, city};
  report.drifted_columns = 1;
  report.drift_share = 0.5;
  report.share_threshold = 0.5;
  report.dataset_drift = true;
  return report;
}

TEST(HtmlReportTest, VerdictTableAndOneSvgHistogramPerColumn) {
  HtmlReportOptions options;
  options.reference_label = "ref.csv";
  options.current_label = "cur.csv";
  options.generated_ms = 1700000000000;
  const std::string html = DriftReportHtml(SampleReport(), options);
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("Data set drift detected: 1 of 2 columns drifted (share 0.5 ≥ "
                              "threshold 0.5)"));
  EXPECT_THAT(html, HasSubstr("ref.csv (1000 rows)"));
  EXPECT_THAT(html, HasSubstr("generated 2023-11-14T22:13:20.000Z"));
  EXPECT_EQ(Count(html, "<svg"), 2u);
  EXPECT_EQ(Count(html, "class=\"ref\""), 5u);  // 3 bins + 2 categories
  EXPECT_THAT(html, HasSubstr("<td>wasserstein</td><td class=\"num\">0.25</td><td "
                              "class=\"num\">—</td><td class=\"num\">0.1</td><td "
                              "class=\"yes\">yes</td>"));
  EXPECT_THAT(html, HasSubstr("p-value 0.47"));
  EXPECT_THAT(html, HasSubstr("[2, 3]"));  // last Sturges bin is closed
  EXPECT_THAT(html, HasSubstr(">Paris</text>"));
  EXPECT_THAT(html, HasSubstr(">O&amp;slo</text>"));
  EXPECT_THAT(html, HasSubstr("price&lt;script&gt;"));
  // Self-contained: nothing fetched from elsewhere, no scripts.
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("http")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
}

TEST(HtmlReportTest, NoDriftVerdict) {
  DriftReport report = SampleReport();
  report.dataset_drift = false;
  report.columns[0].result.drifted = false;
  report.drifted_columns = 0;
  report.drift_share = 0;
  const std::string html = DriftReportHtml(report);
  EXPECT_THAT(html, HasSubstr("No data set drift: 0 of 2 columns drifted (share 0 &lt;"));
}

TEST(HtmlReportTest, ManyCategoriesFoldIntoOther) {
  DriftReport report;
  ColumnDrift column;
  column.column = "sku";
  column.categorical = true;
  for (int i = 0; i < 100; ++i) {
    column.categories.push_back(absl::StrCat("sku-", i));
    column.histogram.values.push_back(i);
    column.histogram.reference.push_back(100 - i);
    column.histogram.current.push_back(100 - i);
  }
  report.columns = {column};
  const std::string html = DriftReportHtml(report);
  EXPECT_EQ(Count(html, "class=\"ref\""), static_cast<size_t>(kMaxHistogramBars));
  EXPECT_THAT(html, HasSubstr("other (61 values)"));
  EXPECT_THAT(html, HasSubstr(">sku-0</text>"));
  EXPECT_THAT(html, Not(HasSubstr(">sku-99</text>")));
}

// Whether `text` is valid UTF-8 without NUL (what PostgreSQL stores as text).
bool IsStorableUtf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    size_t n = b == 0 ? 0 : b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3
                                      : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    if (b == 0xE0 && static_cast<unsigned char>(text[i + 1]) < 0xA0) return false;
    if (b == 0xED && static_cast<unsigned char>(text[i + 1]) > 0x9F) return false;
    if (b == 0xF0 && static_cast<unsigned char>(text[i + 1]) < 0x90) return false;
    if (b == 0xF4 && static_cast<unsigned char>(text[i + 1]) > 0x8F) return false;
    i += n;
  }
  return true;
}

TEST(HtmlReportTest, LabelsAreCutAtCharactersAndInvalidUtf8IsReplaced) {
  DriftReport report;
  ColumnDrift column;
  column.column = "ville\xff";  // invalid UTF-8 in a column name
  column.categorical = true;
  // 16 ASCII characters then "é" (2 bytes) at the 17th/18th byte, 20 characters in all:
  // a cut at 17 bytes would split the "é".
  column.categories = {"abcdefghijklmnopéxyz", "Zürich", std::string("bad\xc3(\0z", 7),
                       "\xed\xa0\x80surrogate"};
  column.histogram.values = {0, 1, 2, 3};
  column.histogram.reference = {10, 10, 10, 10};
  column.histogram.current = {10, 10, 10, 10};
  report.columns = {column};
  const std::string html = DriftReportHtml(report);
  EXPECT_TRUE(IsStorableUtf8(html));
  EXPECT_THAT(html, HasSubstr(">abcdefghijklmnopé…</text>"));
  EXPECT_THAT(html, HasSubstr("<title>abcdefghijklmnopéxyz — reference"));
  EXPECT_THAT(html, HasSubstr(">Zürich</text>"));
  EXPECT_THAT(html, HasSubstr(">bad\xEF\xBF\xBD(\xEF\xBF\xBDz</text>"));
  EXPECT_THAT(html, HasSubstr(">\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDsurrogate</text>"));
  EXPECT_THAT(html, HasSubstr("ville\xEF\xBF\xBD"));
}

TEST(HtmlReportTest, ColumnWithoutHistogram) {
  DriftReport report;
  ColumnDrift column;
  column.column = "x";
  report.columns = {column};
  EXPECT_THAT(DriftReportHtml(report), HasSubstr("No histogram for this column."));
}

}  // namespace
}  // namespace cairn::monitoring
