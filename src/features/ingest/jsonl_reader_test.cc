#include "features/ingest/jsonl_reader.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "features/ingest/record_reader.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

using ingest_internal::MakeJsonlReader;
using ingest_internal::StringSource;

struct ReadResult {
  absl::Status status;
  Table rows;
  std::vector<BadRow> bad;
  int64_t bad_count = 0;
  std::vector<size_t> batch_sizes;
};

ReadResult ReadJsonl(std::string_view text, const Schema& schema, ReaderOptions options = {}) {
  ReadResult result;
  result.rows = Table::FromSchema(schema);
  auto reader = MakeJsonlReader(StringSource(text), "t.jsonl", schema, options);
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
    result.batch_sizes.push_back(batch.num_rows());
    for (size_t row = 0; row < batch.num_rows(); ++row) result.rows.AppendRow(batch, row);
  }
  result.bad_count = (*reader)->bad_rows();
  EXPECT_EQ((*reader)->rows_read(), static_cast<int64_t>(result.rows.num_rows()));
  return result;
}

Schema FeatureSchema() {
  return {{"id", FeatureType::kInt64, false},
          {"ts", FeatureType::kTimestamp, false},
          {"amount", FeatureType::kDouble, true},
          {"name", FeatureType::kString, true},
          {"flag", FeatureType::kBool, true}};
}

TEST(JsonlReaderTest, ReadsEveryType) {
  ReadResult r = ReadJsonl(
      R"({"id": 1, "ts": "2024-05-01T12:00:00Z", "amount": 1.5, "name": "alice", "flag": true})"
      "\n"
      R"({"flag":false,"name":"b\"o\\b\n\u00e9\ud83d\ude00","amount":-3e2,"ts":1714564800250,"id":-2})"
      "\n"
      R"({"id": 3.0, "ts": "1714564800000", "amount": 7})"
      "\n",
      FeatureSchema());
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.num_rows(), 3u);
  EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(r.rows.columns[1].ints,
            (std::vector<int64_t>{1714564800000, 1714564800250, 1714564800000}));
  EXPECT_EQ(r.rows.columns[2].doubles, (std::vector<double>{1.5, -300.0, 7.0}));
  EXPECT_EQ(r.rows.columns[3].strings[0], "alice");
  EXPECT_EQ(r.rows.columns[3].strings[1], "b\"o\\b\n\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(r.rows.columns[3].valid, (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(r.rows.columns[4].ints[0], 1);
  EXPECT_EQ(r.rows.columns[4].ints[1], 0);
  EXPECT_EQ(r.rows.columns[4].valid, (std::vector<uint8_t>{1, 1, 0}));
}

TEST(JsonlReaderTest, NullAndMissingKeysAreNullExtraKeysIgnored) {
  ReadResult r = ReadJsonl(
      R"({"id": 1, "ts": 0, "amount": null, "name": null, "flag": null, "x": {"a": [1, {"b": null}]}})"
      "\n"
      R"({"extra": [true, "s", -1.5e3], "ts": 0, "id": 2})"
      "\n",
      FeatureSchema());
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.num_rows(), 2u);
  for (int col : {2, 3, 4}) {
    EXPECT_EQ(r.rows.columns[col].valid, (std::vector<uint8_t>{0, 0})) << col;
  }
  EXPECT_EQ(r.rows.columns[3].strings, (std::vector<std::string>{"", ""}));
}

TEST(JsonlReaderTest, BlankLinesCrlfAndByteOrderMark) {
  Schema schema = {{"a", FeatureType::kInt64, true}};
  ReadResult r = ReadJsonl("\xEF\xBB\xBF{\"a\":1}\r\n\r\n   \n\t\n{\"a\":2}\r\n{\"a\":x}\n", schema);
  EXPECT_EQ(r.status.message(),
            "t.jsonl: line 6: invalid JSON at position 6: expected a value (a string, number, "
            "object, array, true, false or null)");
  r = ReadJsonl("{\"a\":1}\r\n\n{\"a\":2}", schema);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{1, 2}));
}

TEST(JsonlReaderTest, WrongKindOfEachTypeNamesFileLineColumnAndValue) {
  struct Case {
    std::string json;
    std::string message;
  };
  const Case cases[] = {
      {R"({"id": 1.5, "ts": 0})",
       "t.jsonl: line 1: column 'id': value '1.5' is not an int64 (it has a fraction)"},
      {R"({"id": "7", "ts": 0})",
       "t.jsonl: line 1: column 'id': value '\"7\"' is not an int64 (expected a JSON number)"},
      {R"({"id": 99999999999999999999, "ts": 0})",
       "t.jsonl: line 1: column 'id': value '99999999999999999999' is out of range for int64"},
      {R"({"id": 1, "ts": 0, "amount": "abc"})",
       "t.jsonl: line 1: column 'amount': value '\"abc\"' is not a double (expected a JSON "
       "number)"},
      {R"({"id": 1, "ts": 0, "amount": [1]})",
       "t.jsonl: line 1: column 'amount': value '[1]' is not a double (expected a JSON number)"},
      {R"({"id": 1, "ts": 0, "name": 5})",
       "t.jsonl: line 1: column 'name': value '5' is not a string (expected a JSON string)"},
      {R"({"id": 1, "ts": 0, "flag": 1})",
       "t.jsonl: line 1: column 'flag': value '1' is not a bool (expected true or false)"},
      {R"({"id": 1, "ts": "yesterday"})",
       "t.jsonl: line 1: column 'ts': value '\"yesterday\"' is not a timestamp (expected RFC "
       "3339 like 2024-05-01T12:00:00Z, or epoch milliseconds)"},
      {R"({"id": 1, "ts": 1.5})",
       "t.jsonl: line 1: column 'ts': value '1.5' is not a timestamp (expected an RFC 3339 "
       "string like \"2024-05-01T12:00:00Z\", or integer epoch milliseconds)"},
      {R"({"id": null, "ts": 0})",
       "t.jsonl: line 1: column 'id': is null, but the column is not nullable; give a value"},
      {R"({"ts": 0})",
       "t.jsonl: line 1: column 'id': is missing, but the column is not nullable; give a value"},
      {R"({"id": 1, "ts": 0, "id": 2})",
       "t.jsonl: line 1: column 'id': the key appears more than once in the object; keep one"},
      {R"([1, 2])",
       "t.jsonl: line 1: the line is not a JSON object (JSON Lines needs one object per line)"},
      {R"({"id": 1, "ts": 0} x)",
       "t.jsonl: line 1: invalid JSON at position 20: unexpected text after the object (one "
       "object per line)"},
      {R"({"id": 1 "ts": 0})",
       "t.jsonl: line 1: invalid JSON at position 10: expected ',' or '}' after a value"},
      {R"({"id": 1, "ts": 0, "name": "open)",
       "t.jsonl: line 1: invalid JSON at position 33: the string is not closed"},
      {R"({"id": 1, "ts": 0, "name": "\q"})",
       "t.jsonl: line 1: invalid JSON at position 30: unknown escape in a string"},
      {R"({"id": 01, "ts": 0})",
       "t.jsonl: line 1: invalid JSON at position 9: expected ',' or '}' after a value"},
      {R"({"id": 1, "ts": 0, "x": [1,,2]})",
       "t.jsonl: line 1: invalid JSON at position 28: expected a value (a string, number, "
       "object, array, true, false or null)"},
      {R"({"id": 1, "ts": 0)",
       "t.jsonl: line 1: invalid JSON at position 18: expected ',' or '}' after a value"},
  };
  for (const Case& c : cases) {
    ReadResult r = ReadJsonl(c.json + "\n", FeatureSchema());
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_EQ(r.status.message(), c.message) << c.json;
  }
}

TEST(JsonlReaderTest, QuarantineKeepsBadRowsAndGoesOn) {
  ReaderOptions options;
  options.quarantine = true;
  options.batch_rows = 2;
  ReadResult r = ReadJsonl(
      "{\"id\": 1, \"ts\": 0}\n"
      "{\"id\": \"x\", \"ts\": 0}\r\n"
      "not json\n"
      "\n"
      "{\"id\": 2, \"ts\": 0, \"amount\": 2.5}\n"
      "{\"ts\": 0}\n"
      "{\"id\": 3, \"ts\": 0}",
      FeatureSchema(), options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(r.rows.columns[2].valid, (std::vector<uint8_t>{0, 1, 0}));
  EXPECT_EQ(r.bad_count, 3);
  ASSERT_EQ(r.bad.size(), 3u);
  EXPECT_EQ(r.bad[0].line, 2);
  EXPECT_EQ(r.bad[0].column, "id");
  EXPECT_EQ(r.bad[0].value, "\"x\"");
  EXPECT_EQ(r.bad[0].raw, "{\"id\": \"x\", \"ts\": 0}");
  EXPECT_EQ(r.bad[1].line, 3);
  EXPECT_EQ(r.bad[1].column, "");
  EXPECT_EQ(r.bad[1].raw, "not json");
  EXPECT_EQ(r.bad[2].line, 6);
  EXPECT_EQ(r.bad[2].reason,
            "t.jsonl: line 6: column 'id': is missing, but the column is not nullable; give a "
            "value");

  options.max_bad_rows_kept = 1;
  r = ReadJsonl("x\ny\n{\"id\":1,\"ts\":0}\nz\n", FeatureSchema(), options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.num_rows(), 1u);
  EXPECT_EQ(r.bad_count, 3);
  ASSERT_EQ(r.bad.size(), 1u);
  EXPECT_EQ(r.bad[0].raw, "x");
}

TEST(JsonlReaderTest, EveryBufferSizeGivesTheSameRows) {
  Schema schema = {{"id", FeatureType::kInt64, false}, {"s", FeatureType::kString, true}};
  const std::string text =
      "\xEF\xBB\xBF{\"id\":1,\"s\":\"a\\\"b\"}\r\n\r\n{\"s\":\"\\u00e9\",\"id\":2}\r\n"
      "{\"id\":3}";
  for (size_t buffer = 1; buffer <= text.size() + 1; ++buffer) {
    ReaderOptions options;
    options.buffer_bytes = buffer;
    ReadResult r = ReadJsonl(text, schema, options);
    ASSERT_TRUE(r.status.ok()) << buffer << ": " << r.status;
    EXPECT_EQ(r.rows.columns[0].ints, (std::vector<int64_t>{1, 2, 3})) << buffer;
    EXPECT_EQ(r.rows.columns[1].strings, (std::vector<std::string>{"a\"b", "\xC3\xA9", ""}))
        << buffer;
  }
}

TEST(JsonlReaderTest, HugeLineAndDeepNesting) {
  Schema schema = {{"s", FeatureType::kString, true}};
  const std::string big(3 << 20, 'q');
  ReaderOptions options;
  options.buffer_bytes = 4096;
  ReadResult r = ReadJsonl("{\"s\":\"" + big + "\"}\n{\"s\":\"x\"}\n", schema, options);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.num_rows(), 2u);
  EXPECT_EQ(r.rows.columns[0].strings[0], big);

  std::string deep = "{\"x\":" + std::string(100000, '[') + "}\n";
  r = ReadJsonl(deep, schema);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(), "t.jsonl: line 1: invalid JSON at position 519: nested too deeply");
}

TEST(JsonlReaderTest, EmptyInputs) {
  Schema schema = {{"a", FeatureType::kInt64, false}};
  for (std::string text : {"", "\n", "\xEF\xBB\xBF", " \r\n\n"}) {
    ReadResult r = ReadJsonl(text, schema);
    EXPECT_TRUE(r.status.ok()) << r.status;
    EXPECT_TRUE(r.batch_sizes.empty());
  }
  // An empty object is a row with every column missing.
  Schema nullable = {{"a", FeatureType::kInt64, true}};
  ReadResult r = ReadJsonl("{}\n{ }\n", nullable);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.rows.columns[0].valid, (std::vector<uint8_t>{0, 0}));
}

TEST(JsonlReaderTest, OpensFilesByPath) {
  const std::string path = ::testing::TempDir() + "/jsonl_reader_test_rows.jsonl";
  {
    std::ofstream out(path, std::ios::binary);
    out << "{\"a\": 1}\n{\"a\": 2}\n";
  }
  Schema schema = {{"a", FeatureType::kInt64, true}};
  auto reader = OpenJsonlReader(path, schema, {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  Table batch;
  absl::StatusOr<bool> more = (*reader)->Next(&batch, nullptr);
  ASSERT_TRUE(more.ok() && *more);
  EXPECT_EQ(batch.columns[0].ints, (std::vector<int64_t>{1, 2}));
  std::remove(path.c_str());
  EXPECT_EQ(OpenJsonlReader(path, schema, {}).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cairn::features
