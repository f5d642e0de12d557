#include "monitoring/csv_frame.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::monitoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

DataFrame Parse(std::string_view text, CsvFrameOptions options = {}) {
  absl::StatusOr<DataFrame> frame = ParseCsvFrame(text, "data.csv", options);
  EXPECT_TRUE(frame.ok()) << frame.status();
  return frame.ok() ? *std::move(frame) : DataFrame();
}

absl::Status ParseError(std::string_view text, CsvFrameOptions options = {}) {
  return ParseCsvFrame(text, "data.csv", options).status();
}

// The labels of a categorical column, row by row ("" for missing).
std::vector<std::string> Labels(const FrameColumn& column) {
  std::vector<std::string> labels;
  for (int32_t code : column.codes) labels.push_back(code < 0 ? "" : column.categories[code]);
  return labels;
}

TEST(CsvFrameTest, InfersNumericAndCategoricalColumns) {
  DataFrame frame = Parse("x,city,n\n1.5,Paris,3\n-2e3,Oslo,4\n0.25,Paris,5\n");
  ASSERT_EQ(frame.columns.size(), 3u);
  EXPECT_EQ(frame.rows, 3);
  EXPECT_FALSE(frame.columns[0].categorical);
  EXPECT_THAT(frame.columns[0].numbers, ElementsAre(1.5, -2000, 0.25));
  EXPECT_TRUE(frame.columns[1].categorical);
  EXPECT_THAT(frame.columns[1].categories, ElementsAre("Paris", "Oslo"));
  EXPECT_THAT(frame.columns[1].codes, ElementsAre(0, 1, 0));
  EXPECT_THAT(frame.columns[2].numbers, ElementsAre(3, 4, 5));
  EXPECT_EQ(frame.Find("city"), &frame.columns[1]);
  EXPECT_EQ(frame.Find("nope"), nullptr);
}

TEST(CsvFrameTest, MissingValuesAndNonFiniteNumbersAreNaN) {
  DataFrame frame = Parse("a,b\n,x\nNA,\n inf ,NULL\n+2, 1\nnan,N/A\n7\n");
  ASSERT_EQ(frame.rows, 6);
  const std::vector<double>& a = frame.columns[0].numbers;
  ASSERT_EQ(a.size(), 6u);
  EXPECT_TRUE(std::isnan(a[0]));
  EXPECT_TRUE(std::isnan(a[1]));
  EXPECT_TRUE(std::isnan(a[2]));  // inf is not finite
  EXPECT_EQ(a[3], 2);
  EXPECT_TRUE(std::isnan(a[4]));
  EXPECT_EQ(a[5], 7);
  // b: a label with a space is kept as written; the short last row is missing.
  EXPECT_TRUE(frame.columns[1].categorical);
  EXPECT_THAT(Labels(frame.columns[1]), ElementsAre("x", "", "", " 1", "", ""));
  EXPECT_THAT(frame.columns[1].categories, ElementsAre("x", " 1"));
}

TEST(CsvFrameTest, NumbersWithSpacesAndSigns) {
  DataFrame frame = Parse("a\n 1.5\n+3 \n-0.5e-2\n.5\n1e999\n");
  EXPECT_FALSE(frame.columns[0].categorical);
  const std::vector<double>& a = frame.columns[0].numbers;
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a[0], 1.5);
  EXPECT_EQ(a[1], 3);
  EXPECT_EQ(a[2], -0.005);
  EXPECT_EQ(a[3], 0.5);
  EXPECT_TRUE(std::isnan(a[4]));  // overflows to inf
}

TEST(CsvFrameTest, OneTextValueMakesTheColumnCategoricalWithLabelsAsWritten) {
  DataFrame frame = Parse("v\n1\n2.50\n\nx\n1\n");
  ASSERT_TRUE(frame.columns[0].categorical);
  EXPECT_THAT(Labels(frame.columns[0]), ElementsAre("1", "2.50", "x", "1"));
  EXPECT_THAT(frame.columns[0].categories, ElementsAre("1", "2.50", "x"));
}

TEST(CsvFrameTest, ForcedCategoricalAndColumnSelection) {
  CsvFrameOptions options;
  options.categorical = {"zip"};
  options.columns = {"zip", "a"};  // kept in file order
  DataFrame frame = Parse("a,b,zip\n1,u,75001\n2,v,75002\n3,w,75001\n", options);
  ASSERT_EQ(frame.columns.size(), 2u);
  EXPECT_EQ(frame.columns[0].name, "a");
  EXPECT_FALSE(frame.columns[0].categorical);
  EXPECT_EQ(frame.columns[1].name, "zip");
  EXPECT_TRUE(frame.columns[1].categorical);
  EXPECT_THAT(frame.columns[1].categories, ElementsAre("75001", "75002"));
  EXPECT_THAT(frame.columns[1].codes, ElementsAre(0, 1, 0));
}

TEST(CsvFrameTest, ForcedCategoricalNumbersAreLabelledByValue) {
  // pandas reads the column as floats: "1.50", "1.5" and " 1.5" are the category 1.5, "2"
  // and "2.0" the category 2; inf is dropped as Evidently does (category_label.h).
  CsvFrameOptions options;
  options.categorical = {"score"};
  DataFrame frame = Parse("score\n1.50\n2\n 1.5\n2.0\ninf\nNA\n1e-05\n0.10\n", options);
  ASSERT_TRUE(frame.columns[0].categorical);
  EXPECT_THAT(frame.columns[0].categories, ElementsAre("1.5", "2", "1e-05", "0.1"));
  EXPECT_THAT(frame.columns[0].codes, ElementsAre(0, 1, 0, 1, -1, -1, 2, 3));
}

TEST(CsvFrameTest, ForcedCategoricalLargeIntegerIdsStayDistinct) {
  // 19-digit ids differ beyond a double's 17 significant digits: labelled exactly.
  CsvFrameOptions options;
  options.categorical = {"id"};
  DataFrame frame = Parse("id\n1234567890123456789\n1234567890123456790\n007\n7\n", options);
  ASSERT_TRUE(frame.columns[0].categorical);
  EXPECT_THAT(frame.columns[0].categories,
              ElementsAre("1234567890123456789", "1234567890123456790", "7"));
  EXPECT_THAT(frame.columns[0].codes, ElementsAre(0, 1, 2, 2));
}

TEST(CsvFrameTest, IntegerColumnsAreThoseWrittenAsIntegersWithNothingMissing) {
  // pandas: a (int64), b float64 ("3.0"), c float64 (a missing value), d float64 (1.5).
  DataFrame frame = Parse("a,b,c,d\n1, 2,1,1\n-3,3.0,,1.5\n+4,4,2,2\n");
  EXPECT_TRUE(frame.columns[0].integer);
  EXPECT_FALSE(frame.columns[1].integer);
  EXPECT_FALSE(frame.columns[2].integer);
  EXPECT_FALSE(frame.columns[3].integer);
}

TEST(CsvFrameTest, QuotedFieldsCommasEscapedQuotesAndLineBreaks) {
  DataFrame frame = Parse(
      "\"name, full\",q\n\"Smith, J\",\"1\"\n\"say \"\"hi\"\"\",2\n\"two\nlines\",\"3.5\"\n");
  ASSERT_EQ(frame.columns.size(), 2u);
  EXPECT_EQ(frame.columns[0].name, "name, full");
  EXPECT_THAT(Labels(frame.columns[0]), ElementsAre("Smith, J", "say \"hi\"", "two\nlines"));
  EXPECT_FALSE(frame.columns[1].categorical);
  EXPECT_THAT(frame.columns[1].numbers, ElementsAre(1, 2, 3.5));
}

TEST(CsvFrameTest, BomCrLfBlankLinesNoFinalNewlineAndUnnamedColumns) {
  DataFrame frame = Parse("\xEF\xBB\xBF,a\r\n0,1\r\n\r\n1,2\r\n\n2,3");
  ASSERT_EQ(frame.columns.size(), 2u);
  EXPECT_EQ(frame.columns[0].name, "Unnamed: 0");
  EXPECT_EQ(frame.columns[1].name, "a");
  EXPECT_EQ(frame.rows, 3);
  EXPECT_THAT(frame.columns[1].numbers, ElementsAre(1, 2, 3));
}

TEST(CsvFrameTest, HeaderOnlyHasNoRows) {
  DataFrame frame = Parse("a,b\n");
  EXPECT_EQ(frame.rows, 0);
  ASSERT_EQ(frame.columns.size(), 2u);
  EXPECT_TRUE(frame.columns[0].numbers.empty());
}

TEST(CsvFrameTest, ErrorsNameTheFileLineAndColumn) {
  absl::Status empty = ParseError("");
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.message(), HasSubstr("data.csv: the file is empty"));

  absl::Status twice = ParseError("a,b,a\n1,2,3\n");
  EXPECT_EQ(twice.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.message(), HasSubstr("data.csv:1: column 'a' appears twice"));
  EXPECT_THAT(twice.message(), HasSubstr("columns 1 and 3"));

  absl::Status wide = ParseError("a,b\n1,2\n3,4\n5,6,7\n");
  EXPECT_EQ(wide.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wide.message(), HasSubstr("data.csv:4: this row has more fields than the 2 columns"));

  absl::Status unclosed = ParseError("a,b\n1,x\n2,\"oops\n3,y\n");
  EXPECT_EQ(unclosed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unclosed.message(), HasSubstr("data.csv:3: column 'b': a quoted field starts here"));

  CsvFrameOptions categorical;
  categorical.categorical = {"colour"};
  absl::Status unknown = ParseError("color,size\nred,1\n", categorical);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.message(),
            "data.csv: no column 'colour' to read as categorical (did you mean 'color'?); its "
            "columns: color, size");

  CsvFrameOptions columns;
  columns.columns = {"weight"};
  absl::Status missing = ParseError("color,size\nred,1\n", columns);
  EXPECT_EQ(missing.message(), "data.csv: no column 'weight'; its columns: color, size");
}

TEST(CsvFrameTest, ReadsAFileAndSaysWhenItIsMissing) {
  char dir[] = "/tmp/csv_frame_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/ref.csv");
  std::ofstream(path) << "a,b\n1,x\n2,y\n";
  absl::StatusOr<DataFrame> frame = ReadCsvFrame(path, {});
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->rows, 2);
  EXPECT_THAT(frame->columns[0].numbers, ElementsAre(1, 2));

  absl::StatusOr<DataFrame> missing = ReadCsvFrame(absl::StrCat(dir, "/nope.csv"), {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.csv: cannot open the file"));

  const std::string empty = absl::StrCat(dir, "/empty.csv");
  std::ofstream(empty).flush();
  EXPECT_THAT(ReadCsvFrame(empty, {}).status().message(), HasSubstr("empty.csv: the file is empty"));
  EXPECT_THAT(ReadCsvFrame(dir, {}).status().message(), HasSubstr("not a regular file"));
  std::remove(path.c_str());
  std::remove(empty.c_str());
  rmdir(dir);
}

// ReadCsvFrame and ReadCsvFrameChunks open and map the file the same way: the same errors
// for a missing file, a folder and an empty file, and the same rows from a real one.
TEST(CsvFrameTest, WholeAndChunkedReadsOpenFilesAlike) {
  char dir[] = "/tmp/csv_frame_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/ref.csv");
  std::ofstream(path) << "a,b\n1,x\n2,y\n3,z\n";
  const std::string empty = absl::StrCat(dir, "/empty.csv");
  std::ofstream(empty).flush();
  auto chunked = [](const std::string& file, std::vector<int64_t>* rows) {
    return ReadCsvFrameChunks(file, {}, /*chunk_bytes=*/4, [rows](DataFrame& piece) {
      if (rows != nullptr) rows->push_back(piece.rows);
      return absl::OkStatus();
    });
  };
  for (const std::string& bad : {absl::StrCat(dir, "/nope.csv"), std::string(dir), empty}) {
    const absl::Status whole = ReadCsvFrame(bad, {}).status();
    EXPECT_FALSE(whole.ok()) << bad;
    EXPECT_EQ(chunked(bad, nullptr), whole) << bad;
  }
  EXPECT_EQ(ReadCsvFrame(absl::StrCat(dir, "/nope.csv"), {}).status().code(),
            absl::StatusCode::kNotFound);
  std::vector<int64_t> rows;
  ASSERT_TRUE(chunked(path, &rows).ok());
  EXPECT_GE(rows.size(), 2u) << "read in pieces";
  EXPECT_EQ(std::accumulate(rows.begin(), rows.end(), int64_t{0}), 3);
  EXPECT_EQ(ReadCsvFrame(path, {})->rows, 3);
  std::remove(path.c_str());
  std::remove(empty.c_str());
  rmdir(dir);
}

// Several MB so that the text is cut into chunks: a column that turns categorical late,
// quoted fields with line breaks around the cuts, NA tokens, short rows.
std::string BigCsv(int rows) {
  std::string text = "id,x,late,label,note\n";
  uint64_t state = 42;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  for (int row = 0; row < rows; ++row) {
    absl::StrAppend(&text, row, ",", static_cast<double>(next() % 100000) / 7.0, ",");
    if (row == rows - 10) {
      text += "late-text";
    } else if (row % 97 == 0) {
      text += "NA";
    } else {
      absl::StrAppend(&text, next() % 1000);
    }
    absl::StrAppend(&text, ",c", next() % 13);
    if (row % 5 == 0) {
      absl::StrAppend(&text, ",\"multi\nline, \"\"", row % 3, "\"\"\"\n");
    } else if (row % 7 == 0) {
      text += "\n";  // short row: note missing
    } else {
      text += ",plain\n";
    }
  }
  return text;
}

// Plain decimals take a fast path: it must give from_chars' double bit for bit, at every
// length, sign and scale, and hand the rest (exponents, 2^53 < digits, "1.", ".5") over.
TEST(CsvFrameTest, DecimalsParseBitForBitLikeFromChars) {
  std::mt19937_64 random(11);
  std::vector<std::string> fields = {"0",  "-0", "-0.0", "9007199254740992", "9007199254740993",
                                     "12345678901234567890", "0.1", "1.",  ".5", "-.5",
                                     "1e5", "2.5E-3", "0.0000000000000000000001",
                                     "0.00000000000000000000001", "123456789.987654321"};
  for (int i = 0; i < 20000; ++i) {
    std::string digits = std::to_string(random() % 10000000000000000000ull);
    digits.resize(1 + random() % digits.size());
    const size_t point = random() % (digits.size() + 1);
    std::string field = (random() % 2 ? "-" : "") + digits.substr(0, point);
    if (point == 0) field += "0";
    if (point < digits.size()) field += "." + digits.substr(point);
    fields.push_back(field);
  }
  std::string text = "x\n";
  for (const std::string& field : fields) absl::StrAppend(&text, field, "\n");
  DataFrame frame = Parse(text);
  ASSERT_EQ(frame.columns.size(), 1u);
  ASSERT_FALSE(frame.columns[0].categorical);
  ASSERT_EQ(frame.columns[0].numbers.size(), fields.size());
  for (size_t row = 0; row < fields.size(); ++row) {
    const std::string& field = fields[row];
    double expected = 0;
    const char* begin = field.data();
    std::from_chars(begin, begin + field.size(), expected);
    if (field[0] == '.' || (field[0] == '-' && field[1] == '.')) continue;  // both fall back
    EXPECT_EQ(std::bit_cast<uint64_t>(frame.columns[0].numbers[row]),
              std::bit_cast<uint64_t>(expected))
        << field;
  }
}

// The eight-bytes-at-a-time path takes up to 7 digits on each side of the point with
// 17 bytes of text left; around those limits (8 digits, a field at the end of the text,
// CRLF, a letter after the digits) it must agree with from_chars or hand over.
TEST(CsvFrameTest, DecimalsAtTheLimitsOfTheWordAtATimePath) {
  std::vector<std::string> fields;
  for (int whole = 1; whole <= 9; ++whole) {
    for (int fraction = 0; fraction <= 9; ++fraction) {
      std::string field = std::string(whole, '7').substr(0, whole - 1) + "9";
      if (fraction > 0) field += "." + std::string(fraction - 1, '0') + "3";
      fields.push_back(field);
      fields.push_back("-" + field);
    }
  }
  for (const char* field : {"0.5", "-0", "00012.50", "9999999.9999999", "1234567.1234567"}) {
    fields.push_back(field);
  }
  std::string text = "x,y\r\n";
  for (const std::string& field : fields) absl::StrAppend(&text, field, ",", field, "\r\n");
  absl::StrAppend(&text, "1.25,2.5");  // the last fields: fewer than 17 bytes left
  DataFrame frame = Parse(text);
  ASSERT_EQ(frame.columns.size(), 2u);
  ASSERT_EQ(frame.rows, static_cast<int64_t>(fields.size() + 1));
  for (size_t row = 0; row < fields.size(); ++row) {
    double expected = 0;
    std::from_chars(fields[row].data(), fields[row].data() + fields[row].size(), expected);
    for (const FrameColumn& column : frame.columns) {
      EXPECT_EQ(std::bit_cast<uint64_t>(column.numbers[row]), std::bit_cast<uint64_t>(expected))
          << fields[row];
    }
  }
  EXPECT_EQ(frame.columns[0].numbers.back(), 1.25);
  EXPECT_EQ(frame.columns[1].numbers.back(), 2.5);
  // A letter right after the digits is text: the column turns categorical.
  DataFrame text_frame = Parse("x\n12.5\n1.25x\n3.125\n4\n5\n6\n7\n8\n9\n10\n");
  ASSERT_TRUE(text_frame.columns[0].categorical);
  EXPECT_EQ(Labels(text_frame.columns[0])[1], "1.25x");
}

// Short labels go through a small cache in front of the label index: codes must still
// follow first appearance, with NA tokens missing, whatever the cache evicts.
TEST(CsvFrameTest, ManyShortLabelsKeepTheirCodes) {
  std::mt19937_64 random(5);
  std::vector<std::string> pool = {"NA", "null", "#N/A", "abcdefg", "abcdefgh", "a,b"};
  for (int i = 0; i < 600; ++i) pool.push_back(absl::StrCat("L", i));
  std::string text = "label\n";
  std::vector<std::string> expected;
  for (int row = 0; row < 20000; ++row) {
    const std::string& label = pool[random() % pool.size()];
    absl::StrAppend(&text, label == "a,b" ? "\"a,b\"" : label, "\n");
    const bool missing = label == "NA" || label == "null" || label == "#N/A";
    expected.push_back(missing ? "" : label);
  }
  DataFrame frame = Parse(text);
  ASSERT_EQ(frame.rows, 20000);
  ASSERT_TRUE(frame.columns[0].categorical);
  EXPECT_EQ(Labels(frame.columns[0]), expected);
  std::vector<std::string> first_seen;
  for (const std::string& label : expected) {
    if (!label.empty() && std::find(first_seen.begin(), first_seen.end(), label) == first_seen.end()) {
      first_seen.push_back(label);
    }
  }
  EXPECT_EQ(frame.columns[0].categories, first_seen);
}

TEST(CsvFrameTest, ParallelChunksGiveTheSameFrameAsOneThread) {
  const std::string text = BigCsv(120000);
  ASSERT_GT(text.size(), 2u << 20);
  CsvFrameOptions one;
  one.threads = 1;
  CsvFrameOptions many;
  many.threads = 3;
  DataFrame a = Parse(text, one);
  DataFrame b = Parse(text, many);
  ASSERT_EQ(a.rows, 120000);
  ASSERT_EQ(b.rows, a.rows);
  ASSERT_EQ(a.columns.size(), 5u);
  ASSERT_EQ(b.columns.size(), 5u);
  EXPECT_FALSE(a.columns[0].categorical);
  EXPECT_TRUE(a.columns[2].categorical);  // "late-text" near the end
  EXPECT_EQ(a.columns[2].codes[97], -1);  // NA
  EXPECT_EQ(a.columns[4].categories.size(), 4u);  // three multi-line notes and "plain"
  for (size_t c = 0; c < a.columns.size(); ++c) {
    SCOPED_TRACE(a.columns[c].name);
    EXPECT_EQ(a.columns[c].name, b.columns[c].name);
    EXPECT_EQ(a.columns[c].categorical, b.columns[c].categorical);
    EXPECT_EQ(a.columns[c].categories, b.columns[c].categories);
    EXPECT_EQ(a.columns[c].codes, b.columns[c].codes);
    ASSERT_EQ(a.columns[c].numbers.size(), b.columns[c].numbers.size());
    for (size_t row = 0; row < a.columns[c].numbers.size(); ++row) {
      const double x = a.columns[c].numbers[row];
      const double y = b.columns[c].numbers[row];
      ASSERT_TRUE(x == y || (std::isnan(x) && std::isnan(y))) << "row " << row;
    }
  }
  EXPECT_EQ(a.columns[0].numbers[119999], 119999);
  EXPECT_THAT(a.columns[4].categories[0], "multi\nline, \"0\"");
}

TEST(CsvFrameTest, ParallelErrorsMatchOneThread) {
  std::string text = BigCsv(60000);
  text += "1,2,3,c1,note,extra\n";
  CsvFrameOptions many;
  many.threads = 4;
  absl::Status status = ParseError(text, many);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  int64_t lines = std::count(text.begin(), text.end(), '\n');
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("data.csv:", lines, ": this row has more")));
}

}  // namespace
}  // namespace cairn::monitoring
