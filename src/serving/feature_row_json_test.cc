#include "serving/feature_row_json.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/json.h"
#include "gtest/gtest.h"

namespace cairn::serving {
namespace {

// What the endpoint service logged before (a Json object of the row, serialized by the
// inference log's writer): the reference the text must equal byte for byte.
Json OldValueToJson(const features::Value& v) {
  switch (v.index()) {
    case 1: return std::get<int64_t>(v);
    case 2: {
      double d = std::get<double>(v);
      return std::isfinite(d) ? Json(d) : Json(nullptr);
    }
    case 3: return std::get<std::string>(v);
    case 4: return std::get<bool>(v);
    default: return nullptr;
  }
}

std::string OldRowText(const std::vector<std::string>& columns,
                       const std::vector<features::Value>& cells, size_t row) {
  Json::object_t object;
  const size_t n = columns.size();
  for (size_t c = 0; c < n; ++c) {
    object.emplace_hint(object.end(), columns[c], OldValueToJson(cells[row * n + c]));
  }
  return DumpJson(Json(std::move(object)));
}

void ExpectSameText(const std::vector<std::string>& columns,
                    const std::vector<features::Value>& cells) {
  const FeatureRowJson text(columns);
  const size_t rows = columns.empty() ? 1 : cells.size() / columns.size();
  for (size_t r = 0; r < rows; ++r) {
    EXPECT_EQ(text.Row(cells, r), OldRowText(columns, cells, r)) << "row " << r;
  }
}

TEST(FeatureRowJsonTest, WritesWhatDumpJsonOfTheRowWrites) {
  const std::vector<std::string> columns = {"tenure", "spend", "plan", "active", "missing"};
  const std::vector<features::Value> cells = {
      int64_t{10}, 0.5, std::string("pro"), true, std::monostate{},
      int64_t{-3}, 2.0, std::string("basic"), false, std::monostate{}};
  const FeatureRowJson text(columns);
  EXPECT_EQ(text.Row(cells, 0),
            R"({"active":true,"missing":null,"plan":"pro","spend":0.5,"tenure":10})");
  EXPECT_EQ(text.Row(cells, 1),
            R"({"active":false,"missing":null,"plan":"basic","spend":2.0,"tenure":-3})");
  ExpectSameText(columns, cells);
}

TEST(FeatureRowJsonTest, NumbersAtTheirLimits) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<features::Value> values = {
      0.0, -0.0, 1.0, -1.5, 0.1, 1e20, 1e21, 1e-5, 1e-7, 123456789012345678.0, 1.0 / 3,
      std::numeric_limits<double>::max(), std::numeric_limits<double>::min(),
      std::numeric_limits<double>::denorm_min(), std::nan(""), inf, -inf,
      std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), int64_t{0}};
  std::vector<std::string> columns;
  for (size_t i = 0; i < values.size(); ++i) columns.push_back("c" + std::to_string(i));
  ExpectSameText(columns, values);
}

TEST(FeatureRowJsonTest, NamesAndStringsThatNeedEscapesOrAreNotUtf8) {
  const std::vector<std::string> columns = {"plain", "quote\"d", "back\\slash", "tab\tand\n",
                                            "\x01\x1f\x7f", "caf\xc3\xa9", "bad\xff\xfe", "/"};
  std::vector<features::Value> cells;
  for (const std::string& name : columns) cells.emplace_back(name + " value");
  ExpectSameText(columns, cells);
}

TEST(FeatureRowJsonTest, SortsNamesAndKeepsTheFirstOfARepeatedName) {
  const std::vector<std::string> columns = {"b", "a", "b", "C", "a", "", "aa"};
  const std::vector<features::Value> cells = {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4},
                                              int64_t{5}, int64_t{6}, int64_t{7}};
  EXPECT_EQ(FeatureRowJson(columns).Row(cells, 0), R"({"":6,"C":4,"a":2,"aa":7,"b":1})");
  ExpectSameText(columns, cells);
  ExpectSameText({}, {});
}

TEST(FeatureRowJsonTest, SaysWhichColumnsItWasMadeFor) {
  const FeatureRowJson text({"a", "b"});
  EXPECT_TRUE(text.For({"a", "b"}));
  EXPECT_FALSE(text.For({"b", "a"}));
  EXPECT_FALSE(text.For({"a"}));
}

TEST(FeatureRowJsonTest, RandomRowsMatchByteForByte) {
  std::mt19937_64 random(20261128);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t width = 1 + random() % 12;
    std::vector<std::string> columns;
    for (size_t c = 0; c < width; ++c) {
      columns.push_back(std::string(1, static_cast<char>('a' + random() % 6)) +
                        std::to_string(random() % 4));
    }
    const size_t rows = 1 + random() % 5;
    std::vector<features::Value> cells;
    for (size_t i = 0; i < width * rows; ++i) {
      switch (random() % 6) {
        case 0: cells.emplace_back(static_cast<int64_t>(random())); break;
        case 1: {
          const uint64_t bits = random();
          double d;
          std::memcpy(&d, &bits, sizeof d);  // every double, NaN and infinities included
          cells.emplace_back(d);
          break;
        }
        case 2: cells.emplace_back(static_cast<double>(random() % 100000) / 7.0); break;
        case 3: {
          std::string text;
          for (size_t k = random() % 8; k > 0; --k) text.push_back(static_cast<char>(random()));
          cells.emplace_back(std::move(text));
          break;
        }
        case 4: cells.emplace_back(random() % 2 == 0); break;
        default: cells.emplace_back(std::monostate{}); break;
      }
    }
    ExpectSameText(columns, cells);
  }
}

}  // namespace
}  // namespace cairn::serving
