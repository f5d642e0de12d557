#include "features/ingest/csv_reader.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "features/ingest/record_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

using ::testing::HasSubstr;
using ingest_internal::MakeCsvReader;
using ingest_internal::StringSource;

struct ReadResult {
  absl::Status status;  // of the open or the first failing Next
  Table rows;
  std::vector<BadRow> bad;
  int64_t bad_count = 0;
  int64_t rows_read = 0;
  std::vector<size_t> batch_sizes;
};

ReadResult ReadCsv(std::string_view text, const Schema& schema, ReaderOptions options = {}) {
  ReadResult result;
  result.rows = Table::FromSchema(schema);
  auto reader = MakeCsvReader(StringSource(text), "t.csv", schema, options);
  if (!reader.ok()) {
    result.status = reader.status();
    return result;
  }
  Table batch;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&batch, &result.bad);
    if (!more.ok()) {
      result.status = more.status();
      break;
    }
    if (!*more) {
      EXPECT_EQ(batch.num_rows(), 0u);
      break;
    }
    EXPECT_LE(batch.num_rows(), options.batch_rows);
    EXPECT_EQ(batch.names, result.rows.names);
    result.batch_sizes.push_back(batch.num_rows());
    for (size_t row = 0; row < batch.num_rows(); ++row) result.rows.AppendRow(batch, row);
  }
  result.bad_count = (*reader)->bad_rows();
  result.rows_read = (*reader)->rows_read();
  return result;
}

Schema FeatureSchema() {
  return {{"id", FeatureType::kInt64, false},
          {"ts", FeatureType::kTimestamp, false},
          {"amount", FeatureType::kDouble, true},
          {"name", FeatureType::kString, true},
          {"flag", FeatureType::kBool, true}};
}

TEST(CsvReaderTest, ReadsEveryType) {
  ReadResult r = ReadCsv(
      "id,ts,amount,name,flag\n"
      "1,2024-05-01T12:00:00Z,1.5,alice,true\n"
      "-2,1714564800250,-3e2,bob,0\n",
      FeatureSchema());
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.num_rows(), 2u);
  EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{1, -2}));
  EXPECT_EQ(r.rows.columns[1].ints, (std::vector<int64_t>{1714564800000, 1714564800250}));
  EXPECT_EQ(r.rows.columns[2].doubles, (std::vector<double>{1.5, -300.0}));
  EXPECT_EQ(r.rows.columns[3].strings, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(r.rows.columns[4].ints, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(r.rows_read, 2);
  EXPECT_EQ(r.bad_count, 0);
}

TEST(CsvReaderTest, EmptyUnquotedIsNullAndQuotedEmptyIsTheEmptyString) {
  ReadResult r = ReadCsv(
      "id,ts,amount,name,flag\n"
      "1,0,,,\n"
      "2,0,\"\",\"\",\"\"\n"
      "3,0, , ,\t\n",
      FeatureSchema());
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.num_rows(), 3u);
  const Column& amount = r.rows.columns[2];
  const Column& name = r.rows.columns[3];
  const Column& flag = r.rows.columns[4];
  EXPECT_EQ(amount.valid, (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(flag.valid, (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(name.valid, (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ(name.strings[1], "");
  EXPECT_EQ(name.strings[2], " ");  // strings are never trimmed
}

TEST(CsvReaderTest, QuotedFieldsHoldCommasQuotesAndLineBreaks) {
  Schema schema = {{"id", FeatureType::kInt64, false}, {"name", FeatureType::kString, true}};
  ReadResult r = ReadCsv(
      "id,name\n"
      "1,\"a,b\"\n"
      "2,\"say \"\"hi\"\"\"\n"
      "3,\"two\nlines\r\nthree\"\n"
      "\"4\",\"\"\"\"\n",
      schema);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(r.rows.columns[1].strings,
            (std::vector<std::string>{"a,b", "say \"hi\"", "two\nlines\r\nthree", "\""}));
}

TEST(CsvReaderTest, LineNumbersCountLineBreaksInsideQuotesAndBlankLines) {
  Schema schema = {{"id", FeatureType::kInt64, false}, {"name", FeatureType::kString, true}};
  ReadResult r = ReadCsv(
      "id,name\n"
      "1,\"multi\nline\nvalue\"\n"
      "\n"
      "x,ok\n",
      schema);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(), "t.csv: line 6: column 'id': value 'x' is not an int64");

  // A bad record spanning lines reports the line where it starts.
  r = ReadCsv("id,name\n\"y\",\"a\nb\"\n", schema);
  EXPECT_EQ(r.status.message(), "t.csv: line 2: column 'id': value 'y' is not an int64");
}

TEST(CsvReaderTest, CrlfAndByteOrderMark) {
  Schema schema = {{"a", FeatureType::kInt64, true}, {"b", FeatureType::kString, true}};
  ReadResult r = ReadCsv("\xEF\xBB\xBF" "a,b\r\n1,x\r\n2,\"y\"\r\n3,\r\n", schema);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(r.rows.columns[1].strings, (std::vector<std::string>{"x", "y", ""}));
  EXPECT_EQ(r.rows.columns[1].valid, (std::vector<uint8_t>{1, 1, 0}));
}

TEST(CsvReaderTest, LastRecordWithoutLineBreak) {
  Schema schema = {{"a", FeatureType::kInt64, true}, {"b", FeatureType::kString, true}};
  for (std::string text : {"a,b\n1,x", "a,b\n1,\"x\"", "a,b\r\n1,x\r", "a,b\n1,x\n"}) {
    ReadResult r = ReadCsv(text, schema);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_EQ(r.rows.num_rows(), 1u) << text;
    EXPECT_EQ(r.rows.columns[1].strings[0], "x") << text;
  }
  ReadResult r = ReadCsv("a,b\n1,", schema);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.num_rows(), 1u);
  EXPECT_TRUE(r.rows.columns[1].IsNull(0));
}

TEST(CsvReaderTest, ColumnsMatchedByNameExtraIgnoredMissingNullableNull) {
  Schema schema = {{"id", FeatureType::kInt64, false},
                   {"amount", FeatureType::kDouble, true},
                   {"note", FeatureType::kString, true}};
  ReadResult r = ReadCsv("extra,amount,id,more\nq,2.5,7,z\nr,,8,w\n", schema);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.num_rows(), 2u);
  EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(r.rows.columns[1].valid, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(r.rows.columns[1].doubles[0], 2.5);
  EXPECT_EQ(r.rows.columns[2].valid, (std::vector<uint8_t>{0, 0}));
}

TEST(CsvReaderTest, MissingNonNullableColumnFailsAtOpen) {
  ReadResult r = ReadCsv("id,amount\n1,2\n", FeatureSchema());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(),
            "t.csv: header: no column 'ts', which the source schema requires (it is not "
            "nullable); the header has: id, amount");
  // Also for a file with a header and no rows.
  r = ReadCsv("id,amount\n", FeatureSchema());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(CsvReaderTest, DuplicateSchemaColumnInHeaderFailsAtOpen) {
  Schema schema = {{"id", FeatureType::kInt64, false}};
  ReadResult r = ReadCsv("id,x,x,id\n1,2,3,4\n", schema);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(), "t.csv: line 1: header: column 'id' appears more than once; keep one");
}

TEST(CsvReaderTest, WrongFieldCountIsABadRow) {
  Schema schema = {{"a", FeatureType::kInt64, true}, {"b", FeatureType::kInt64, true}};
  ReadResult r = ReadCsv("a,b,c\n1,2,3\n1,2\n", schema);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(), "t.csv: line 3: expected 3 fields, found 2");
  r = ReadCsv("a,b,c\n1,2,3,4\n", schema);
  EXPECT_EQ(r.status.message(), "t.csv: line 2: expected 3 fields, found 4");
}

TEST(CsvReaderTest, BadValueOfEachTypeNamesFileLineColumnAndValue) {
  struct Case {
    std::string row;
    std::string message;
  };
  const Case cases[] = {
      {"abc,0,1,x,true", "t.csv: line 2: column 'id': value 'abc' is not an int64"},
      {"1.5,0,1,x,true", "t.csv: line 2: column 'id': value '1.5' is not an int64 (it has a fraction)"},
      {"99999999999999999999,0,1,x,true",
       "t.csv: line 2: column 'id': value '99999999999999999999' is out of range for int64"},
      {"1,0,abc,x,true", "t.csv: line 2: column 'amount': value 'abc' is not a double"},
      {"1,0,1,x,yes",
       "t.csv: line 2: column 'flag': value 'yes' is not a bool (expected true, false, 1 or 0)"},
      {"1,2024-02-30,1,x,true",
       "t.csv: line 2: column 'ts': value '2024-02-30' is not a timestamp (expected RFC 3339 "
       "like 2024-05-01T12:00:00Z, or epoch milliseconds)"},
      {",0,1,x,true",
       "t.csv: line 2: column 'id': is empty, but the column is not nullable; give a value"},
      {"1,\"\",1,x,true",
       "t.csv: line 2: column 'ts': is empty, but the column is not nullable; give a value"},
  };
  for (const Case& c : cases) {
    ReadResult r = ReadCsv("id,ts,amount,name,flag\n" + c.row + "\n", FeatureSchema());
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << c.row;
    EXPECT_EQ(r.status.message(), c.message) << c.row;
  }
}

TEST(CsvReaderTest, LongBadValueIsShortenedInTheMessage) {
  Schema schema = {{"a", FeatureType::kDouble, true}};
  std::string value(1000, 'z');
  ReadResult r = ReadCsv("a\n" + value + "\n", schema);
  EXPECT_EQ(r.status.message(),
            "t.csv: line 2: column 'a': value '" + std::string(200, 'z') +
                "...' (1000 bytes) is not a double");
}

TEST(CsvReaderTest, MalformedQuotingIsABadRow) {
  Schema schema = {{"a", FeatureType::kString, true}, {"b", FeatureType::kString, true}};
  ReadResult r = ReadCsv("a,b\n\"x\"y,1\n", schema);
  EXPECT_EQ(r.status.message(),
            "t.csv: line 2: unexpected text after the closing quote of field 1 (a quote inside "
            "a quoted field is written as \"\")");
  r = ReadCsv("a,b\n1,2\n3,\"open\n4,5\n", schema);
  EXPECT_EQ(r.status.message(),
            "t.csv: line 3: a quoted field is not closed before the end of the file");
  // A quote inside an unquoted field is kept as text.
  r = ReadCsv("a,b\nx\"y,1\n", schema);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.columns[0].strings[0], "x\"y");
}

TEST(CsvReaderTest, QuarantineKeepsBadRowsAndGoesOn) {
  ReaderOptions options;
  options.quarantine = true;
  options.batch_rows = 2;
  ReadResult r = ReadCsv(
      "id,ts,amount,name,flag\n"
      "1,0,1.0,a,true\n"
      "2,0,oops,b,true\n"
      "3,0,3.0,\"c\nc\",false\n"
      "4,0\n"
      "5,bad,5.0,\"e\ne\",true\n"
      "6,0,6.0,f,1\n"
      "\"x\"y,0,1,2,3\n",
      FeatureSchema(), options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{1, 3, 6}));
  EXPECT_EQ(r.rows.columns[3].strings, (std::vector<std::string>{"a", "c\nc", "f"}));
  EXPECT_EQ(r.rows_read, 3);
  EXPECT_EQ(r.bad_count, 4);
  ASSERT_EQ(r.bad.size(), 4u);
  EXPECT_EQ(r.bad[0].file, "t.csv");
  EXPECT_EQ(r.bad[0].line, 3);
  EXPECT_EQ(r.bad[0].column, "amount");
  EXPECT_EQ(r.bad[0].value, "oops");
  EXPECT_EQ(r.bad[0].reason, "t.csv: line 3: column 'amount': value 'oops' is not a double");
  EXPECT_EQ(r.bad[0].raw, "2,0,oops,b,true");
  EXPECT_EQ(r.bad[1].line, 6);
  EXPECT_EQ(r.bad[1].column, "");
  EXPECT_EQ(r.bad[1].reason, "t.csv: line 6: expected 5 fields, found 2");
  EXPECT_EQ(r.bad[1].raw, "4,0");
  EXPECT_EQ(r.bad[2].line, 7);
  EXPECT_EQ(r.bad[2].column, "ts");
  EXPECT_EQ(r.bad[2].raw, "5,bad,5.0,\"e\ne\",true");
  EXPECT_EQ(r.bad[3].line, 10);
  EXPECT_EQ(r.bad[3].raw, "\"x\"y,0,1,2,3");
  for (size_t size : r.batch_sizes) EXPECT_LE(size, 2u);
}

TEST(CsvReaderTest, QuarantineKeepsAtMostMaxBadRowsButCountsAll) {
  ReaderOptions options;
  options.quarantine = true;
  options.max_bad_rows_kept = 3;
  Schema schema = {{"a", FeatureType::kInt64, true}};
  std::string text = "a\n";
  for (int row = 0; row < 10; ++row) text += "x\n1\n";
  ReadResult r = ReadCsv(text, schema, options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.num_rows(), 10u);
  EXPECT_EQ(r.bad_count, 10);
  ASSERT_EQ(r.bad.size(), 3u);
  EXPECT_EQ(r.bad[2].line, 6);
}

TEST(CsvReaderTest, QuarantineWithAllRowsBadReturnsEmptyBatchesThenFalse) {
  ReaderOptions options;
  options.quarantine = true;
  Schema schema = {{"a", FeatureType::kInt64, true}};
  ReadResult r = ReadCsv("a\nx\ny\n", schema, options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.num_rows(), 0u);
  EXPECT_EQ(r.bad_count, 2);
  EXPECT_EQ(r.batch_sizes, (std::vector<size_t>{0}));
}

TEST(CsvReaderTest, BatchesHoldAtMostBatchRows) {
  ReaderOptions options;
  options.batch_rows = 2;
  Schema schema = {{"a", FeatureType::kInt64, true}};
  ReadResult r = ReadCsv("a\n1\n2\n3\n4\n5\n", schema, options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.batch_sizes, (std::vector<size_t>{2, 2, 1}));
  EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

TEST(CsvReaderTest, ErrorIsSticky) {
  Schema schema = {{"a", FeatureType::kInt64, true}};
  auto reader = MakeCsvReader(StringSource("a\nx\n1\n"), "t.csv", schema, {});
  ASSERT_TRUE(reader.ok());
  Table batch;
  std::vector<BadRow> bad;
  EXPECT_EQ((*reader)->Next(&batch, &bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*reader)->Next(&batch, &bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(batch.num_rows(), 0u);
  EXPECT_TRUE(bad.empty());
}

// Every read size from 1 byte up puts the refill boundary at every position of the input:
// inside quoted fields, between the quotes of a "" pair, between CR and LF, inside the BOM.
TEST(CsvReaderTest, EveryBufferSizeGivesTheSameRows) {
  Schema schema = {{"id", FeatureType::kInt64, false},
                   {"name", FeatureType::kString, true},
                   {"amount", FeatureType::kDouble, true}};
  const std::string text =
      "\xEF\xBB\xBF" "id,name,amount\r\n"
      "1,\"a,\"\"b\"\"\r\nc\",1.5\r\n"
      "\r\n"
      "2,,\r\n"
      "3,\"\",\"2.25\"\r\n"
      "4,plain text,-1e3\r\n"
      "5,\"x\"\"\",7";
  ReadResult expected = ReadCsv(text, schema);
  ASSERT_TRUE(expected.status.ok()) << expected.status;
  ASSERT_EQ(expected.rows.num_rows(), 5u);
  EXPECT_EQ(expected.rows.columns[1].strings[0], "a,\"b\"\r\nc");
  EXPECT_EQ(expected.rows.columns[1].strings[4], "x\"");
  for (size_t buffer = 1; buffer <= text.size() + 1; ++buffer) {
    ReaderOptions options;
    options.buffer_bytes = buffer;
    options.batch_rows = 2;
    ReadResult r = ReadCsv(text, schema, options);
    ASSERT_TRUE(r.status.ok()) << "buffer " << buffer << ": " << r.status;
    for (size_t col = 0; col < schema.size(); ++col) {
      EXPECT_EQ(r.rows.columns[col].ints, expected.rows.columns[col].ints) << buffer;
      EXPECT_EQ(r.rows.columns[col].doubles, expected.rows.columns[col].doubles) << buffer;
      EXPECT_EQ(r.rows.columns[col].strings, expected.rows.columns[col].strings) << buffer;
      EXPECT_EQ(r.rows.columns[col].valid, expected.rows.columns[col].valid) << buffer;
    }
  }
}

TEST(CsvReaderTest, ErrorLinesAreRightWhateverTheBufferSize) {
  Schema schema = {{"a", FeatureType::kInt64, true}, {"b", FeatureType::kString, true}};
  const std::string text = "a,b\r\n1,\"x\r\ny\"\r\n\r\n2,z\r\nbad,w\r\n";
  for (size_t buffer = 1; buffer <= text.size(); ++buffer) {
    ReaderOptions options;
    options.buffer_bytes = buffer;
    ReadResult r = ReadCsv(text, schema, options);
    EXPECT_EQ(r.status.message(), "t.csv: line 6: column 'a': value 'bad' is not an int64")
        << buffer;
  }
}

TEST(CsvReaderTest, HugeRecordLargerThanTheBuffer) {
  Schema schema = {{"a", FeatureType::kInt64, true}, {"b", FeatureType::kString, true}};
  const std::string big(3 << 20, 'q');
  const std::string text = "a,b\n1,\"" + big + "\"\n2," + big + "\n3,x\n";
  ReaderOptions options;
  options.buffer_bytes = 4096;
  ReadResult r = ReadCsv(text, schema, options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.num_rows(), 3u);
  EXPECT_EQ(r.rows.columns[1].strings[0], big);
  EXPECT_EQ(r.rows.columns[1].strings[1], big);
  EXPECT_EQ(r.rows.columns[1].strings[2], "x");
}

TEST(CsvReaderTest, EmptyFileAndHeaderOnly) {
  Schema schema = {{"a", FeatureType::kInt64, false}};
  for (std::string text : {"", "\xEF\xBB\xBF", "\n\n", "a\n", "a", "\xEF\xBB\xBF" "a\r\n\r\n"}) {
    ReadResult r = ReadCsv(text, schema);
    EXPECT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.rows.num_rows(), 0u);
    EXPECT_TRUE(r.batch_sizes.empty());
  }
}

TEST(CsvReaderTest, OpensFilesByPathAndLabelsErrors) {
  const std::string path = ::testing::TempDir() + "/csv_reader_test_rows.csv";
  {
    std::ofstream out(path, std::ios::binary);
    out << "a\n1\nx\n";
  }
  Schema schema = {{"a", FeatureType::kInt64, true}};
  ReaderOptions options;
  auto reader = OpenCsvReader(path, schema, options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  Table batch;
  absl::StatusOr<bool> more = (*reader)->Next(&batch, nullptr);
  EXPECT_EQ(more.status().message(), path + ": line 3: column 'a': value 'x' is not an int64");

  options.file_label = "upload.csv";
  options.quarantine = true;
  reader = OpenCsvReader(path, schema, options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<BadRow> bad;
  more = (*reader)->Next(&batch, &bad);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(*more);
  EXPECT_EQ(batch.num_rows(), 1u);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].file, "upload.csv");
  std::remove(path.c_str());

  auto missing = OpenCsvReader(path + ".missing", schema, options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(".missing"));
}

}  // namespace
}  // namespace cairn::features
