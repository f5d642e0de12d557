#include "features/online/online_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "features/online/varint.h"

namespace cairn::features {
namespace {

using online_internal::GetVarint;
using online_internal::PutVarint;

enum Tag : uint8_t { kNull = 0, kInt = 1, kDouble = 2, kString = 3, kFalse = 4, kTrue = 5 };

void PutOrdered64(int64_t v, std::string* out) {
  uint64_t u = static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  out->append(buf, 8);
}

int64_t GetOrdered64(const char* p) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(p[i]);
  return static_cast<int64_t>(u ^ (uint64_t{1} << 63));
}

absl::Status Malformed(const char* what) {
  return absl::DataLossError(absl::StrCat("online row: malformed encoding (", what, ")"));
}

}  // namespace

void EncodeOnlineRow(const OnlineRow& row, std::string* out) {
  PutOrdered64(row.event_ts, out);
  PutOrdered64(row.created_ts, out);
  PutVarint(row.values.size(), out);
  for (const Value& v : row.values) {
    switch (v.index()) {
      case 0:
        out->push_back(static_cast<char>(kNull));
        break;
      case 1: {
        int64_t i = std::get<int64_t>(v);
        out->push_back(static_cast<char>(kInt));
        PutVarint((static_cast<uint64_t>(i) << 1) ^ static_cast<uint64_t>(i >> 63), out);
        break;
      }
      case 2: {
        double d = std::get<double>(v);
        char buf[8];
        std::memcpy(buf, &d, 8);  // x86-64 and aarch64 Linux: little-endian
        out->push_back(static_cast<char>(kDouble));
        out->append(buf, 8);
        break;
      }
      case 3: {
        const std::string& s = std::get<std::string>(v);
        out->push_back(static_cast<char>(kString));
        PutVarint(s.size(), out);
        out->append(s);
        break;
      }
      case 4:
        out->push_back(static_cast<char>(std::get<bool>(v) ? kTrue : kFalse));
        break;
    }
  }
}

absl::Status DecodeOnlineRow(std::string_view bytes, OnlineRow* row) {
  if (bytes.size() < kOnlineRowVersionBytes) return Malformed("short header");
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  row->event_ts = GetOrdered64(p);
  row->created_ts = GetOrdered64(p + 8);
  p += kOnlineRowVersionBytes;
  uint64_t count;
  if (!GetVarint(p, end, &count) || count > static_cast<uint64_t>(end - p)) {
    return Malformed("value count");
  }
  row->values.clear();
  row->values.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    if (p >= end) return Malformed("truncated value");
    uint8_t tag = static_cast<uint8_t>(*p++);
    switch (tag) {
      case kNull:
        row->values.emplace_back();
        break;
      case kInt: {
        uint64_t z;
        if (!GetVarint(p, end, &z)) return Malformed("int64 varint");
        row->values.emplace_back(static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1)));
        break;
      }
      case kDouble: {
        if (end - p < 8) return Malformed("double");
        double d;
        std::memcpy(&d, p, 8);
        p += 8;
        row->values.emplace_back(d);
        break;
      }
      case kString: {
        uint64_t len;
        if (!GetVarint(p, end, &len) || len > static_cast<uint64_t>(end - p)) {
          return Malformed("string length");
        }
        row->values.emplace_back(std::in_place_type<std::string>, p, len);
        p += len;
        break;
      }
      case kFalse:
      case kTrue:
        row->values.emplace_back(tag == kTrue);
        break;
      default:
        return Malformed("unknown tag");
    }
  }
  if (p != end) return Malformed("trailing bytes");
  return absl::OkStatus();
}

bool RowVersionNewerOrEqual(std::string_view candidate, std::string_view stored) {
  return std::memcmp(candidate.data(), stored.data(), kOnlineRowVersionBytes) >= 0;
}

absl::Status CheckOnlineRowTypes(std::span<const FeatureType> types, const OnlineRow& row) {
  if (row.values.size() != types.size()) {
    return absl::InvalidArgumentError(absl::StrCat("online row has ", row.values.size(),
                                                   " values; the view has ", types.size(),
                                                   " features"));
  }
  for (size_t i = 0; i < types.size(); ++i) {
    const Value& v = row.values[i];
    if (IsNull(v)) continue;
    bool ok = false;
    switch (types[i]) {
      case FeatureType::kInt64:
      case FeatureType::kTimestamp:
        ok = std::holds_alternative<int64_t>(v);
        break;
      case FeatureType::kDouble:
        ok = std::holds_alternative<double>(v);
        break;
      case FeatureType::kString:
        ok = std::holds_alternative<std::string>(v);
        break;
      case FeatureType::kBool:
        ok = std::holds_alternative<bool>(v);
        break;
    }
    if (!ok) {
      static constexpr const char* kAlt[] = {"null", "int64", "double", "string", "bool"};
      return absl::InvalidArgumentError(absl::StrCat("online row value ", i, ": expected ",
                                                     ToAbsl(TypeName(types[i])), ", got ",
                                                     kAlt[v.index()]));
    }
  }
  return absl::OkStatus();
}

}  // namespace cairn::features
