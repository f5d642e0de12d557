// libFuzzer target: arbitrary bytes as a body in Cairn's columnar form (columnar_io.h).
// The first byte picks the input's shape: odd, the rest is the whole body; even, the rest
// is a footer's JSON text, framed by the magic after 256 bytes of sample buffers (so that
// the fuzzer spends its time on the footer's fields rather than on the framing). A body
// that reads must write back to a body that reads as the same table.
// Seeds: fuzz/corpus/columnar_io_fuzz/.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include "features/columnar_io.h"

namespace {

using cairn::features::Column;
using cairn::features::FeatureType;
using cairn::features::Table;

bool SameTable(const Table& a, const Table& b) {
  if (a.names != b.names || a.num_columns() != b.num_columns()) return false;
  for (size_t c = 0; c < a.num_columns(); ++c) {
    const Column& x = a.columns[c];
    const Column& y = b.columns[c];
    if (x.type != y.type || x.valid != y.valid || x.strings != y.strings ||
        x.ints != y.ints || x.doubles.size() != y.doubles.size()) {
      return false;
    }
    if (!x.doubles.empty() &&
        std::memcmp(x.doubles.data(), y.doubles.data(), x.doubles.size() * 8) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string body;
  if (data[0] & 1) {
    body.assign(rest);
  } else {
    body.assign(cairn::features::kColumnsMagic);
    for (int i = 0; i < 256; ++i) body.push_back(static_cast<char>(i * 37 + 11));
    body.append(rest);
    uint64_t n = rest.size();
    for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    body.append(cairn::features::kColumnsMagic);
  }
  const std::map<std::string, FeatureType> types = {{"ts", FeatureType::kTimestamp},
                                                    {"key", FeatureType::kString},
                                                    {"w", FeatureType::kDouble}};
  auto table = cairn::features::TableFromColumns(body, "body", data[0] & 2 ? types
                                                 : std::map<std::string, FeatureType>{});
  if (!table.ok()) {
    if (table.status().message().empty()) std::abort();
    return 0;
  }
  // Written back, it reads as the same table (no types: they are already applied).
  auto again = cairn::features::TableFromColumns(cairn::features::WriteColumns(*table), "body", {});
  if (!again.ok() || !SameTable(*table, *again)) std::abort();
  return 0;
}
