// libFuzzer target: arbitrary bytes compiled as an expression against a fixed schema (one
// column of every type, nulls and edge values included), then evaluated. Invariants beyond
// "no crash, no hang, no sanitizer report": errors are InvalidArgument with the expression
// text and a position; a compiled expression evaluates to a column of result_type() with one
// row per input row, and null slots hold zero values.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "features/expr/expression.h"
#include "features/table.h"

namespace {

using cairn::features::Column;
using cairn::features::Expression;
using cairn::features::FeatureType;
using cairn::features::Schema;
using cairn::features::Table;

void Check(bool condition) {
  if (!condition) std::abort();
}

const Schema& Inputs() {
  static const Schema schema = {
      {"i", FeatureType::kInt64, true},    {"d", FeatureType::kDouble, true},
      {"s", FeatureType::kString, true},   {"b", FeatureType::kBool, true},
      {"ts", FeatureType::kTimestamp, true}, {"amount", FeatureType::kDouble, true},
      {"weird name", FeatureType::kInt64, true},
  };
  return schema;
}

const Table& Rows() {
  static const Table table = [] {
    Table t = Table::FromSchema(Inputs());
    const int64_t ints[] = {0, 1, -1, 7, std::numeric_limits<int64_t>::max(),
                            std::numeric_limits<int64_t>::min(), 1714564800000, 0};
    const double dbls[] = {0.0, -0.0, 1.5, -2.5, 1e308, std::numeric_limits<double>::infinity(),
                           std::nan(""), 0.0};
    const char* strs[] = {"", "12", "1.5", "true", "2024-05-01T12:00:00Z", "abc", "-0", ""};
    for (size_t r = 0; r < 8; ++r) {
      const bool null_row = r == 7;
      for (size_t c = 0; c < t.columns.size(); ++c) {
        Column& col = t.columns[c];
        if (null_row) {
          col.AppendNull();
          continue;
        }
        switch (col.type) {
          case FeatureType::kDouble: col.AppendDouble(dbls[r]); break;
          case FeatureType::kString: col.AppendString(strs[r]); break;
          case FeatureType::kBool: col.AppendBool(r % 2 == 1); break;
          default: col.AppendInt(ints[r]); break;
        }
      }
    }
    return t;
  }();
  return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto compiled = Expression::Compile(text, Inputs());
  if (!compiled.ok()) {
    Check(compiled.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(compiled.status().message());
    Check(message.rfind("expr '", 0) == 0);
    Check(message.find("position ") != std::string::npos);
    return 0;
  }
  auto out = compiled->Evaluate(Rows());
  Check(out.ok());
  const Column& c = *out;
  Check(c.type == compiled->result_type());
  Check(c.size() == Rows().num_rows());
  for (size_t r = 0; r < c.size(); ++r) {
    Check(c.valid[r] == 0 || c.valid[r] == 1);
    switch (c.type) {
      case FeatureType::kDouble:
        Check(c.doubles.size() == c.size());
        if (!c.valid[r]) Check(c.doubles[r] == 0.0);
        break;
      case FeatureType::kString:
        Check(c.strings.size() == c.size());
        if (!c.valid[r]) Check(c.strings[r].empty());
        break;
      case FeatureType::kBool:
        Check(c.ints.size() == c.size());
        Check(c.ints[r] == 0 || c.ints[r] == 1);
        if (!c.valid[r]) Check(c.ints[r] == 0);
        break;
      default:
        Check(c.ints.size() == c.size());
        if (!c.valid[r]) Check(c.ints[r] == 0);
        break;
    }
  }
  return 0;
}
