// The binary columnar form (docs/formats/columns.md): the byte layout of a small table
// pinned down, round trips of random tables of every type and edge value, the type
// conversions of an upload, and malformed bodies refused with a message.

#include "features/columnar_io.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"
#include "features/training_sets.h"

namespace cairn::features {
namespace {

uint64_t U64At(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<unsigned char>(s[at + i])} << (8 * i);
  return v;
}

Json Footer(const std::string& body) {
  auto footer = ColumnsFooter(body, "body");
  EXPECT_TRUE(footer.ok()) << footer.status();
  return footer.ok() ? *footer : Json();
}

Table SmallTable() {
  Table t;
  t.AddColumn("id", FeatureType::kInt64);
  t.AddColumn("x", FeatureType::kDouble);
  t.AddColumn("s", FeatureType::kString);
  t.AddColumn("b", FeatureType::kBool);
  t.AddColumn("t", FeatureType::kTimestamp);
  auto& c = t.columns;
  c[0].AppendInt(7), c[0].AppendInt(-1), c[0].AppendInt(3);
  c[1].AppendDouble(1.5), c[1].AppendNull(), c[1].AppendDouble(-0.0);
  c[2].AppendString("ab"), c[2].AppendNull(), c[2].AppendString("cde");
  c[3].AppendBool(true), c[3].AppendBool(false), c[3].AppendNull();
  c[4].AppendInt(1704067200000), c[4].AppendNull(), c[4].AppendInt(-1);
  return t;
}

void ExpectSameTable(const Table& a, const Table& b) {
  ASSERT_EQ(a.names, b.names);
  ASSERT_EQ(a.num_columns(), b.num_columns());
  for (size_t c = 0; c < a.num_columns(); ++c) {
    const Column& x = a.columns[c];
    const Column& y = b.columns[c];
    ASSERT_EQ(x.type, y.type) << a.names[c];
    ASSERT_EQ(x.valid, y.valid) << a.names[c];
    for (size_t i = 0; i < x.size(); ++i) {
      if (!x.valid[i]) continue;
      switch (x.type) {
        case FeatureType::kDouble: {
          uint64_t p, q;
          std::memcpy(&p, &x.doubles[i], 8);
          std::memcpy(&q, &y.doubles[i], 8);
          ASSERT_EQ(p, q) << a.names[c] << "[" << i << "]";
          break;
        }
        case FeatureType::kString: ASSERT_EQ(x.strings[i], y.strings[i]); break;
        case FeatureType::kBool: ASSERT_EQ(x.ints[i] != 0, y.ints[i] != 0); break;
        default: ASSERT_EQ(x.ints[i], y.ints[i]); break;
      }
    }
  }
}

TEST(ColumnarIoTest, TheByteLayoutIsArrowsBuffersAtMultiplesOf64) {
  std::string body = WriteColumns(SmallTable());
  ASSERT_EQ(body.substr(0, 8), "CAIRNCOL");
  ASSERT_EQ(body.substr(body.size() - 8), "CAIRNCOL");
  Json footer = Footer(body);
  EXPECT_EQ(U64At(body, body.size() - 16), footer.dump().size());
  EXPECT_EQ(footer["format"], "cairn.columns");
  EXPECT_EQ(footer["version"], 1);
  EXPECT_EQ(footer["rows"], 3);
  const Json& cols = footer["columns"];
  ASSERT_EQ(cols.size(), 5u);
  // id: no nulls, so no validity bitmap; three int64 little-endian.
  EXPECT_EQ(cols[0]["name"], "id");
  EXPECT_EQ(cols[0]["type"], "int64");
  EXPECT_EQ(cols[0]["null_count"], 0);
  EXPECT_TRUE(cols[0]["validity"].is_null());
  EXPECT_EQ(cols[0]["values"], Json::array({64, 24}));
  EXPECT_EQ(U64At(body, 64), 7u);
  EXPECT_EQ(U64At(body, 72), static_cast<uint64_t>(-1));
  // x: validity 0b101, values with 0.0 in the null slot, -0.0 kept.
  EXPECT_EQ(cols[1]["validity"], Json::array({128, 1}));
  EXPECT_EQ(body[128], '\x05');
  EXPECT_EQ(cols[1]["values"], Json::array({192, 24}));
  double d;
  std::memcpy(&d, body.data() + 192, 8);
  EXPECT_EQ(d, 1.5);
  EXPECT_EQ(U64At(body, 200), 0u);
  EXPECT_EQ(U64At(body, 208), 0x8000000000000000u);
  // s: offsets 0, 2, 2, 5 (int64) and the bytes "abcde".
  EXPECT_EQ(cols[2]["validity"], Json::array({256, 1}));
  EXPECT_EQ(cols[2]["values"], Json::array({320, 32}));
  EXPECT_EQ(cols[2]["data"], Json::array({384, 5}));
  EXPECT_EQ(U64At(body, 320), 0u);
  EXPECT_EQ(U64At(body, 328), 2u);
  EXPECT_EQ(U64At(body, 336), 2u);
  EXPECT_EQ(U64At(body, 344), 5u);
  EXPECT_EQ(body.substr(384, 5), "abcde");
  // b: validity 0b011, values bitmap 0b001.
  EXPECT_EQ(cols[3]["validity"], Json::array({448, 1}));
  EXPECT_EQ(body[448], '\x03');
  EXPECT_EQ(cols[3]["values"], Json::array({512, 1}));
  EXPECT_EQ(body[512], '\x01');
  // t: epoch milliseconds.
  EXPECT_EQ(cols[4]["type"], "timestamp");
  EXPECT_EQ(cols[4]["values"], Json::array({640, 24}));
  EXPECT_EQ(U64At(body, 640), 1704067200000u);
  EXPECT_EQ(U64At(body, 648), 0u);
  // The footer starts right after the last buffer, padded to 64.
  EXPECT_EQ(body.size(), 704 + footer.dump().size() + 16);
  for (size_t i = 8; i < 64; ++i) EXPECT_EQ(body[i], '\0');
}

TEST(ColumnarIoTest, AnEmptyTableAndATableWithoutRows) {
  Table none;
  auto back = TableFromColumns(WriteColumns(none), "body", {});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->num_columns(), 0u);
  Table empty = SmallTable();
  empty.Clear();
  back = TableFromColumns(WriteColumns(empty), "body", {});
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameTable(empty, *back);
  EXPECT_EQ(Footer(WriteColumns(empty))["columns"][2]["values"][1], 8);  // one offset
}

Table RandomTable(std::mt19937_64& rng, size_t rows) {
  Table t;
  const FeatureType kinds[] = {FeatureType::kInt64, FeatureType::kDouble, FeatureType::kString,
                               FeatureType::kBool, FeatureType::kTimestamp};
  size_t ncols = 1 + rng() % 7;
  for (size_t c = 0; c < ncols; ++c) {
    t.AddColumn(absl::StrCat("c", c, c % 3 ? "é" : ""), kinds[rng() % 5]);
  }
  const double doubles[] = {0.0, -0.0, 1.0, -2.5, 1e308, 5e-324,
                            std::numeric_limits<double>::infinity(),
                            -std::numeric_limits<double>::infinity(),
                            std::numeric_limits<double>::quiet_NaN(), -std::nan("")};
  const int64_t ints[] = {0, -1, 1, std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max(), 1704067200000};
  const char* strings[] = {"", "a", "x,y", "line\nbreak", "é"};
  std::string long_text(300, 'z');
  int null_every = 1 + static_cast<int>(rng() % 6);
  for (size_t r = 0; r < rows; ++r) {
    for (Column& col : t.columns) {
      if (rng() % null_every == 0 && null_every > 1) {
        col.AppendNull();
        continue;
      }
      switch (col.type) {
        case FeatureType::kDouble:
          col.AppendDouble(rng() % 3 ? doubles[rng() % 10]
                                     : std::ldexp(double(rng()), -int(rng() % 80)));
          break;
        case FeatureType::kString:
          col.AppendString(rng() % 7 == 0 ? std::string_view(long_text)
                                           : std::string_view(strings[rng() % 5]));
          break;
        case FeatureType::kBool: col.AppendBool(rng() % 2); break;
        default: col.AppendInt(rng() % 2 ? ints[rng() % 6] : static_cast<int64_t>(rng())); break;
      }
    }
  }
  return t;
}

TEST(ColumnarIoTest, RandomTablesRoundTripBitForBit) {
  std::mt19937_64 rng(17);
  for (int round = 0; round < 300; ++round) {
    size_t rows = round < 20 ? static_cast<size_t>(round) : rng() % 200;
    if (round == 299) rows = 100003;
    Table t = RandomTable(rng, rows);
    std::string body = WriteColumns(t);
    auto back = TableFromColumns(body, "body", {});
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSameTable(t, *back);
    // The same content hash as the table it came from (the snapshot does not depend on
    // the transport).
    EXPECT_EQ(HashTable(t), HashTable(*back));
    Json footer = Footer(body);
    for (const Json& col : footer["columns"]) {
      for (const char* key : {"validity", "values", "data"}) {
        if (col.contains(key) && !col[key].is_null()) {
          EXPECT_EQ(col[key][0].get<uint64_t>() % 64, 0u);
        }
      }
    }
  }
}

TEST(ColumnarIoTest, AnUploadIsConvertedToTheTypesTheRequestNeeds) {
  Table t;
  t.AddColumn("ts", FeatureType::kInt64);
  t.AddColumn("key", FeatureType::kInt64);
  t.AddColumn("flag", FeatureType::kBool);
  t.AddColumn("w", FeatureType::kInt64);
  t.AddColumn("kept", FeatureType::kInt64);
  t.columns[0].AppendInt(1704067200000), t.columns[0].AppendNull();
  t.columns[1].AppendInt(-42), t.columns[1].AppendNull();
  t.columns[2].AppendBool(true), t.columns[2].AppendBool(false);
  t.columns[3].AppendInt(9007199254740993), t.columns[3].AppendInt(3);
  t.columns[4].AppendInt(5), t.columns[4].AppendInt(6);
  auto back = TableFromColumns(WriteColumns(t), "entities",
                               {{"ts", FeatureType::kTimestamp},
                                {"key", FeatureType::kString},
                                {"flag", FeatureType::kString},
                                {"w", FeatureType::kDouble}});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->columns[0].type, FeatureType::kTimestamp);
  EXPECT_EQ(back->columns[0].ints[0], 1704067200000);
  EXPECT_FALSE(back->columns[0].valid[1]);
  EXPECT_EQ(back->columns[1].type, FeatureType::kString);
  EXPECT_EQ(back->columns[1].strings[0], "-42");
  EXPECT_FALSE(back->columns[1].valid[1]);
  EXPECT_EQ(back->columns[2].strings, (std::vector<std::string>{"true", "false"}));
  EXPECT_EQ(back->columns[3].doubles[0], 9007199254740992.0);  // as from_chars reads the text
  EXPECT_EQ(back->columns[4].type, FeatureType::kInt64);

  auto refused = TableFromColumns(WriteColumns(t), "entities", {{"flag", FeatureType::kInt64}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "entities: footer.columns[2] ('flag').type: bool, but the column must be int64 "
            "(send it as int64)");
}

// Replaces the footer of `body` with `footer`.
std::string WithFooter(const std::string& body, const Json& footer) {
  size_t old = U64At(body, body.size() - 16);
  std::string out = body.substr(0, body.size() - 16 - old);
  AppendColumnsFooter(footer, &out);
  return out;
}

TEST(ColumnarIoTest, MalformedBodiesAreRefusedWithTheProblem) {
  const std::string good = WriteColumns(SmallTable());
  const Json footer = Footer(good);
  auto message = [](const std::string& body) {
    auto t = TableFromColumns(body, "body", {});
    EXPECT_FALSE(t.ok());
    if (t.ok()) return std::string();
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(t.status().message());
  };
  EXPECT_EQ(message(""), "body: not Cairn's columnar form (application/vnd.cairn.columns): it "
                         "must start and end with 'CAIRNCOL' (0 bytes)");
  EXPECT_NE(message("id,ts\n1,2\n").find("not Cairn's columnar form"), std::string::npos);
  EXPECT_NE(message(good.substr(0, good.size() - 1)).find("not Cairn's columnar form"),
            std::string::npos);
  std::string long_footer = good;
  long_footer[long_footer.size() - 9] = '\x7f';
  EXPECT_NE(message(long_footer).find("the footer length"), std::string::npos);
  std::string not_json = good;
  not_json[not_json.size() - 17] = '!';
  EXPECT_EQ(message(not_json).substr(0, 56),
            "body: the footer is not a JSON object (malformed JSON at");

  auto edited = [&](auto edit) {
    Json f = footer;
    edit(f);
    return message(WithFooter(good, f));
  };
  EXPECT_EQ(edited([](Json& f) { f["version"] = 2; }),
            "body: footer.version: 2 (this server reads version 1)");
  EXPECT_EQ(edited([](Json& f) { f.erase("rows"); }),
            "body: footer.rows: a row count (a non-negative integer) is required");
  EXPECT_EQ(edited([](Json& f) { f["rows"] = 4; }),
            "body: footer.columns[0] ('id').values: 24 bytes, but 4 rows need 32");
  EXPECT_NE(edited([](Json& f) { f["rows"] = uint64_t{1} << 62; }).find("rows do not fit in 704"),
            std::string::npos);
  EXPECT_EQ(edited([](Json& f) { f["columns"][1]["values"] = Json::array({192, 1000}); }),
            "body: footer.columns[1] ('x').values: [192, 1000] is outside the buffers (bytes 8 "
            "to 704)");
  EXPECT_EQ(edited([](Json& f) { f["columns"][1]["values"] = Json::array({0, 24}); }),
            "body: footer.columns[1] ('x').values: [0, 24] is outside the buffers (bytes 8 to "
            "704)");
  EXPECT_NE(edited([](Json& f) {
              f["columns"][1]["values"] = Json::array({uint64_t{1} << 63, uint64_t{1} << 63});
            }).find("is outside the buffers"),
            std::string::npos);
  EXPECT_EQ(edited([](Json& f) { f["columns"][1]["values"] = "x"; }),
            "body: footer.columns[1] ('x').values: \"x\" is not [offset, length] (two "
            "non-negative integers)");
  EXPECT_EQ(edited([](Json& f) { f["columns"][0].erase("values"); }),
            "body: footer.columns[0] ('id').values: [offset, length] is required");
  EXPECT_NE(edited([](Json& f) { f["columns"][1]["type"] = "float"; })
                .find("body: footer.columns[1] ('x').type: "),
            std::string::npos);
  EXPECT_EQ(edited([](Json& f) { f["columns"][1]["name"] = "id"; }),
            "body: footer.columns[1].name: 'id' appears twice");
  EXPECT_EQ(edited([](Json& f) { f["columns"][1]["null_count"] = 0; }),
            "body: footer.columns[1] ('x').null_count: 0, but the validity bitmap has 1 nulls");
  EXPECT_EQ(edited([](Json& f) { f["columns"][2]["data"] = Json::array({384, 4}); }),
            "body: footer.columns[2] ('s').values: string offset 3 is 5 (offsets must not "
            "decrease and must stay within the 4 bytes of data)");
  EXPECT_EQ(edited([](Json& f) { f["columns"][2]["data"] = Json::array({384, 6}); }),
            "body: footer.columns[2] ('s').data: 6 bytes, but the offsets end at 5");
  EXPECT_EQ(edited([](Json& f) { f["columns"][2]["values"] = Json::array({328, 32}); }),
            "body: footer.columns[2] ('s').values: the first string offset is 2, not 0");
  EXPECT_EQ(edited([](Json& f) { f["columns"] = Json::array(); }),
            "body: footer.rows: 3 rows but no columns");
  EXPECT_EQ(edited([](Json& f) { f["columns"][0] = 1; }),
            "body: footer.columns[0]: not an object");
  // A buffer of the wrong length for its type and the row count.
  EXPECT_EQ(edited([](Json& f) { f["columns"][3]["values"] = Json::array({512, 2}); }),
            "body: footer.columns[3] ('b').values: 2 bytes, but 3 rows need 1");
  EXPECT_EQ(edited([](Json& f) { f["columns"][1]["validity"] = Json::array({128, 8}); }),
            "body: footer.columns[1] ('x').validity: 8 bytes, but 3 rows need 1");
  EXPECT_EQ(edited([](Json& f) { f["columns"][2]["values"] = Json::array({320, 24}); }),
            "body: footer.columns[2] ('s').values: 24 bytes, but 3 rows need 32");
  // Client values are named, never serialized whole.
  EXPECT_EQ(edited([](Json& f) { f["columns"][1]["null_count"] = Json::array({1}); }),
            "body: footer.columns[1] ('x').null_count: an array, but the validity bitmap has "
            "1 nulls");
  EXPECT_EQ(edited([](Json& f) { f["version"] = std::string(1000, 'v'); }),
            absl::StrCat("body: footer.version: \"", std::string(40, 'v'),
                         "\" (1000 bytes) (this server reads version 1)"));
  EXPECT_EQ(edited([](Json& f) { f["columns"][1]["values"] = {{"a", 1}}; }),
            "body: footer.columns[1] ('x').values: an object is not [offset, length] (two "
            "non-negative integers)");
}

// "CAIRNCOL", `buffers` zero bytes, then `footer_text` as the footer, verbatim.
std::string BodyWithFooterText(size_t buffers, const std::string& footer_text) {
  std::string body = "CAIRNCOL";
  body.append(buffers, '\0');
  body += footer_text;
  for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>(footer_text.size() >> (8 * i)));
  return body + "CAIRNCOL";
}

TEST(ColumnarIoTest, ADeeplyNestedFooterIsRefusedNotACrash) {
  // 200,000 levels (400 KB) once overflowed the stack when the error message serialized
  // the version; the footer's nesting is bounded as every JSON request's is.
  const size_t depth = 200000;
  std::string deep = "{\"version\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
  const std::string body = BodyWithFooterText(56, deep);
  auto footer = ColumnsFooter(body, "body");
  ASSERT_FALSE(footer.ok());
  EXPECT_EQ(footer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(footer.status().message(),
            "body: the footer is not a JSON object (malformed JSON: nested deeper than 100 "
            "levels)");
  auto table = TableFromColumns(body, "body", {});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().message(), footer.status().message());
  // Nesting within the bound is read, and the value is named by its kind.
  std::string nested = "{\"version\":" + std::string(99, '[') + std::string(99, ']') + "}";
  table = TableFromColumns(BodyWithFooterText(56, nested), "body", {});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().message(),
            "body: footer.version: an array (this server reads version 1)");
  nested = R"({"version":1,"rows":0,"columns":[{"name":"a","type":"int64","values":)" +
           std::string(97, '[') + std::string(97, ']') + "}]}";
  table = TableFromColumns(BodyWithFooterText(56, nested), "body", {});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().message(),
            "body: footer.columns[0] ('a').values: an array is not [offset, length] (two "
            "non-negative integers)");
}

// `n` bool columns b0, b1, … of `rows` rows whose values all are [64, ceil(rows / 8)].
Json AliasedBoolFooter(size_t n, uint64_t rows) {
  Json columns = Json::array();
  for (size_t c = 0; c < n; ++c) {
    columns.push_back({{"name", absl::StrCat("b", c)},
                       {"type", "bool"},
                       {"validity", nullptr},
                       {"values", Json::array({64, (rows + 7) / 8})}});
  }
  return {{"version", 1}, {"rows", rows}, {"columns", columns}};
}

TEST(ColumnarIoTest, BuffersMustBeDisjointAndInColumnOrder) {
  // Two columns reading the same bitmap: the second is refused.
  std::string body = BodyWithFooterText(56 + 64, DumpJson(AliasedBoolFooter(2, 8)));
  auto table = TableFromColumns(body, "body", {});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(table.status().message(),
            "body: footer.columns[1] ('b1').values: [64, 1] starts before the end (byte 65) "
            "of footer.columns[0].values; buffers must not overlap and must come in column "
            "order (validity, values, data)");
  // The review's case: 200 columns on one 125,000-byte bitmap, 1,000,000 rows (1.76 GB
  // decoded from a 135 KB body). Refused before anything is allocated.
  body = BodyWithFooterText(56 + 125000, DumpJson(AliasedBoolFooter(200, 1000000)));
  table = TableFromColumns(body, "body", {});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().message(),
            "body: footer.rows: 1000000 rows of 200 columns are more than 67108864 cells; "
            "send the rows in several requests");
  // Under the cell cap, aliasing is still refused at the second column.
  table = TableFromColumns(BodyWithFooterText(56 + 125000,
                                              DumpJson(AliasedBoolFooter(60, 1000000))),
                           "body", {});
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.status().message().find("footer.columns[1] ('b1').values: [64, 125000] "
                                          "starts before the end (byte 125064)"),
            std::string::npos);

  // A well-formed body with two buffers swapped or overlapping.
  const std::string good = WriteColumns(SmallTable());
  Json f = Footer(good);
  f["columns"][0]["values"] = Json::array({640, 24});  // t's values
  EXPECT_EQ(TableFromColumns(WithFooter(good, f), "body", {}).status().message(),
            "body: footer.columns[1] ('x').validity: [128, 1] starts before the end (byte 664) "
            "of footer.columns[0].values; buffers must not overlap and must come in column "
            "order (validity, values, data)");
  f = Footer(good);
  f["columns"][2]["validity"] = Json::array({200, 1});  // inside x's values
  EXPECT_EQ(TableFromColumns(WithFooter(good, f), "body", {}).status().message(),
            "body: footer.columns[2] ('s').validity: [200, 1] starts before the end (byte 216) "
            "of footer.columns[1].values; buffers must not overlap and must come in column "
            "order (validity, values, data)");
  f = Footer(good);
  f["columns"][2]["data"] = Json::array({340, 5});  // inside s's own offsets
  EXPECT_NE(TableFromColumns(WithFooter(good, f), "body", {}).status().message().find(
                "body: footer.columns[2] ('s').data: [340, 5] starts before the end (byte 352) "
                "of footer.columns[2].values"),
            std::string::npos);
  // Back to back without the writer's padding is fine (alignment is not required).
  std::string packed = "CAIRNCOL";
  for (int64_t v : {1, 2}) packed.append(reinterpret_cast<const char*>(&v), 8);
  packed += '\x01';
  Json columns = Json::array(
      {{{"name", "i"}, {"type", "int64"}, {"values", Json::array({8, 16})}},
       {{"name", "b"}, {"type", "bool"}, {"null_count", 0}, {"values", Json::array({24, 1})}}});
  std::string text = DumpJson({{"version", 1}, {"rows", 2}, {"columns", columns}});
  packed = BodyWithFooterText(0, text).replace(0, 8, packed);
  table = TableFromColumns(packed, "body", {});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->columns[0].ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(table->columns[1].ints, (std::vector<int64_t>{1, 0}));
}

}  // namespace
}  // namespace cairn::features
