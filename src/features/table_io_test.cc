// The text forms of tables must not change: training-set CSVs and the historical answer
// are public. These tests compare WriteCsv / WriteColumnsJson / HashTable with verbatim
// copies of their earlier (simple, one value at a time) implementations on random tables
// with every type and edge value, small and large enough for the parallel paths.

#include "features/table_io.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/timestamp.h"
#include "features/training_sets.h"

namespace cairn::features {
namespace {

// --- the earlier implementations, verbatim ---------------------------------------------

void RefAppendDouble(double v, std::string* out) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

void RefAppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void RefAppendCsvField(std::string_view s, std::string* out) {
  bool quote = s.find_first_of(",\"\r\n") != std::string_view::npos || s.empty();
  if (!quote) {
    out->append(s);
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void RefWriteCsv(const Table& table, std::string* out) {
  for (size_t c = 0; c < table.num_columns(); ++c) {
    if (c) out->push_back(',');
    RefAppendCsvField(table.names[c], out);
  }
  out->push_back('\n');
  for (size_t r = 0; r < table.num_rows(); ++r) {
    for (size_t c = 0; c < table.num_columns(); ++c) {
      if (c) out->push_back(',');
      const Column& col = table.columns[c];
      if (!col.valid[r]) continue;
      switch (col.type) {
        case FeatureType::kInt64: absl::StrAppend(out, col.ints[r]); break;
        case FeatureType::kBool: out->append(col.ints[r] ? "true" : "false"); break;
        case FeatureType::kTimestamp: out->append(FormatTimestamp(col.ints[r])); break;
        case FeatureType::kDouble: {
          double d = col.doubles[r];
          if (std::isnan(d)) out->append("nan");
          else if (std::isinf(d)) out->append(d > 0 ? "inf" : "-inf");
          else RefAppendDouble(d, out);
          break;
        }
        case FeatureType::kString: RefAppendCsvField(col.strings[r], out); break;
      }
    }
    out->push_back('\n');
  }
}

void RefWriteColumnsJson(const Table& table, std::string* out) {
  out->push_back('{');
  for (size_t c = 0; c < table.num_columns(); ++c) {
    if (c) out->push_back(',');
    RefAppendJsonString(table.names[c], out);
    out->append(":[");
    const Column& col = table.columns[c];
    for (size_t r = 0; r < col.size(); ++r) {
      if (r) out->push_back(',');
      if (!col.valid[r]) {
        out->append("null");
        continue;
      }
      switch (col.type) {
        case FeatureType::kInt64: absl::StrAppend(out, col.ints[r]); break;
        case FeatureType::kBool: out->append(col.ints[r] ? "true" : "false"); break;
        case FeatureType::kTimestamp:
          out->push_back('"');
          out->append(FormatTimestamp(col.ints[r]));
          out->push_back('"');
          break;
        case FeatureType::kDouble:
          if (std::isfinite(col.doubles[r])) RefAppendDouble(col.doubles[r], out);
          else out->append("null");
          break;
        case FeatureType::kString: RefAppendJsonString(col.strings[r], out); break;
      }
    }
    out->push_back(']');
  }
  out->push_back('}');
}

std::string RefHashTable(const Table& table) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  auto put = [&](const void* p, size_t n) { SHA256_Update(&ctx, p, n); };
  uint64_t ncols = table.num_columns(), nrows = table.num_rows();
  put(&ncols, 8);
  put(&nrows, 8);
  for (size_t c = 0; c < table.num_columns(); ++c) {
    const Column& col = table.columns[c];
    uint64_t len = table.names[c].size();
    put(&len, 8);
    put(table.names[c].data(), len);
    uint8_t type = static_cast<uint8_t>(col.type);
    put(&type, 1);
    put(col.valid.data(), col.valid.size());
    switch (col.type) {
      case FeatureType::kDouble:
        for (size_t i = 0; i < col.size(); ++i) {
          double v = col.valid[i] ? col.doubles[i] : 0.0;
          put(&v, 8);
        }
        break;
      case FeatureType::kString:
        for (size_t i = 0; i < col.size(); ++i) {
          uint64_t n = col.valid[i] ? col.strings[i].size() : 0;
          put(&n, 8);
          if (n) put(col.strings[i].data(), n);
        }
        break;
      default:
        for (size_t i = 0; i < col.size(); ++i) {
          int64_t v = col.valid[i] ? col.ints[i] : 0;
          put(&v, 8);
        }
        break;
    }
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &ctx);
  return LowerHex(digest, sizeof(digest));
}

// --- random tables ---------------------------------------------------------------------

double RandomDouble(std::mt19937_64& rng) {
  static const double kEdges[] = {
      0.0, -0.0, 1.0, -1.0, 0.1, 1e-5, 1e-7, 123456789012345680.0, 1e21, 1e22, 5e-324,
      2.2250738585072014e-308, std::numeric_limits<double>::max(),
      -std::numeric_limits<double>::max(), std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
      0.30000000000000004, 100.0, 1e15, 1e16, 1e17, 123.456, -9.999999999999999e22};
  switch (rng() % 5) {
    case 0: return kEdges[rng() % (sizeof(kEdges) / sizeof(kEdges[0]))];
    case 1: return std::uniform_real_distribution<double>(0, 1)(rng);
    case 2: return std::ldexp(std::uniform_real_distribution<double>(-1, 1)(rng),
                              static_cast<int>(rng() % 2000) - 1000);
    case 3: return static_cast<double>(static_cast<int64_t>(rng() % 2000001) - 1000000) / 8;
    default: {
      uint64_t bits = rng();
      double d;
      std::memcpy(&d, &bits, 8);
      return d;
    }
  }
}

int64_t RandomTimestamp(std::mt19937_64& rng) {
  static const int64_t kEdges[] = {0,
                                   -1,
                                   1,
                                   -86'400'000,
                                   253'402'300'799'999,   // 9999-12-31T23:59:59.999Z
                                   253'402'300'800'000,   // year 10000
                                   -62'167'219'200'000,   // 0000-01-01
                                   -62'167'219'200'001,   // year -1
                                   int64_t{1} << 62,
                                   -(int64_t{1} << 62),
                                   951'782'400'000};      // 2000-02-29
  switch (rng() % 4) {
    case 0: return kEdges[rng() % (sizeof(kEdges) / sizeof(kEdges[0]))];
    case 1: return 1'704'067'200'000 + static_cast<int64_t>(rng() % 2'592'000'000);
    case 2: return static_cast<int64_t>(rng() % 500'000'000'000'000) - 250'000'000'000'000;
    default: return static_cast<int64_t>(rng() >> 1) - (int64_t{1} << 62);
  }
}

std::string RandomString(std::mt19937_64& rng) {
  static const char* kEdges[] = {"", ",", "\"", "a\"b", "line\nbreak", "cr\r", "tab\t",
                                 "\x01", "é ü", "plain", "nan", "NA", "null", " spaced "};
  if (rng() % 3 == 0) return kEdges[rng() % (sizeof(kEdges) / sizeof(kEdges[0]))];
  std::string s;
  size_t n = rng() % 12;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(32 + rng() % 95));
  return s;
}

Table RandomTable(size_t rows, uint64_t seed, bool strings) {
  std::mt19937_64 rng(seed);
  Table t;
  t.AddColumn("id", FeatureType::kInt64);
  t.AddColumn("event_timestamp", FeatureType::kTimestamp);
  t.AddColumn("f,1", FeatureType::kDouble);
  t.AddColumn("flag", FeatureType::kBool);
  t.AddColumn("x\"y", FeatureType::kDouble);
  if (strings) t.AddColumn("name", FeatureType::kString);
  t.AddColumn("n", FeatureType::kInt64);
  for (size_t r = 0; r < rows; ++r) {
    for (Column& col : t.columns) {
      if (rng() % 7 == 0) {
        col.AppendNull();
        continue;
      }
      switch (col.type) {
        case FeatureType::kInt64: {
          static const int64_t kInts[] = {0, -1, std::numeric_limits<int64_t>::min(),
                                          std::numeric_limits<int64_t>::max()};
          col.AppendInt(rng() % 5 == 0 ? kInts[rng() % 4] : static_cast<int64_t>(rng()));
          break;
        }
        case FeatureType::kTimestamp: col.AppendInt(RandomTimestamp(rng)); break;
        case FeatureType::kDouble: col.AppendDouble(RandomDouble(rng)); break;
        case FeatureType::kBool: col.AppendBool(rng() % 2); break;
        case FeatureType::kString: col.AppendString(RandomString(rng)); break;
      }
    }
  }
  return t;
}

TEST(TableIoTest, CsvIsByteIdenticalToTheEarlierWriter) {
  for (size_t rows : {0, 1, 7, 1000, 40'000, 100'003}) {
    for (bool strings : {false, true}) {
      Table t = RandomTable(rows, rows * 2 + strings, strings);
      std::string want, got = "prefix|";
      RefWriteCsv(t, &want);
      WriteCsv(t, &got);
      ASSERT_EQ(got, "prefix|" + want) << rows << " rows, strings " << strings;
    }
  }
}

TEST(TableIoTest, ColumnsJsonIsByteIdenticalToTheEarlierWriter) {
  for (size_t rows : {0, 1, 7, 1000, 40'000, 100'003}) {
    for (bool strings : {false, true}) {
      Table t = RandomTable(rows, rows * 3 + strings, strings);
      std::string want, got = "{\"columns\":";
      RefWriteColumnsJson(t, &want);
      WriteColumnsJson(t, &got);
      ASSERT_EQ(got, "{\"columns\":" + want) << rows << " rows, strings " << strings;
    }
  }
}

TEST(TableIoTest, EmptyTableWritesNothingButTheFrame) {
  Table t;
  std::string csv, json;
  WriteCsv(t, &csv);
  WriteColumnsJson(t, &json);
  EXPECT_EQ(csv, "\n");
  EXPECT_EQ(json, "{}");
}

TEST(TableIoTest, EveryTimestampFormatsLikeFormatTimestamp) {
  std::mt19937_64 rng(7);
  Table t;
  t.AddColumn("t", FeatureType::kTimestamp);
  for (int i = 0; i < 200'000; ++i) t.columns[0].AppendInt(RandomTimestamp(rng));
  std::string got;
  WriteCsv(t, &got);
  std::string want = "t\n";
  for (int64_t v : t.columns[0].ints) absl::StrAppend(&want, FormatTimestamp(v), "\n");
  EXPECT_EQ(got, want);
}

TEST(TableIoTest, HashTableIsUnchanged) {
  for (size_t rows : {0, 1, 1000, 70'001}) {
    for (bool strings : {false, true}) {
      Table t = RandomTable(rows, rows + 11 + strings, strings);
      EXPECT_EQ(HashTable(t), RefHashTable(t)) << rows << " rows, strings " << strings;
    }
  }
  // A string longer than the hasher's buffer.
  Table t;
  t.AddColumn("s", FeatureType::kString);
  t.columns[0].AppendString(std::string(200'000, 'x'));
  t.columns[0].AppendNull();
  EXPECT_EQ(HashTable(t), RefHashTable(t));
}

TEST(TableIoTest, CsvReadsBackTypedAndInferred) {
  auto table = TableFromCsv(
      "\xEF\xBB\xBF" "id,\"event_timestamp\",score,label,flag\n"
      "1,2024-01-01T00:00:00Z,0.5,a,true\n"
      "2,1704067200001,,\"b,c\",false\n",
      "body", {{"id", FeatureType::kInt64}, {"event_timestamp", FeatureType::kTimestamp}});
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->num_rows(), 2u);
  EXPECT_EQ(table->names, (std::vector<std::string>{"id", "event_timestamp", "score", "label",
                                                    "flag"}));
  EXPECT_EQ(table->columns[1].ints, (std::vector<int64_t>{1704067200000, 1704067200001}));
  EXPECT_EQ(table->columns[2].type, FeatureType::kDouble);
  EXPECT_EQ(table->columns[2].valid, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(table->columns[3].strings[1], "b,c");
  EXPECT_EQ(table->columns[4].type, FeatureType::kBool);
}

TEST(TableIoTest, CsvErrorNamesTheLabelLineAndColumn) {
  auto table = TableFromCsv("id,event_timestamp\n1,yesterday\n", "body",
                            {{"id", FeatureType::kInt64},
                             {"event_timestamp", FeatureType::kTimestamp}});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(table.status().message().find("body"), std::string::npos) << table.status();
  EXPECT_NE(table.status().message().find("event_timestamp"), std::string::npos)
      << table.status();
  EXPECT_NE(table.status().message().find("yesterday"), std::string::npos) << table.status();
}

}  // namespace
}  // namespace cairn::features
