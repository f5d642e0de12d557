#pragma once
// The binary form of an OnlineRow, shared by both online-store backends.
//
// Layout (docs/formats/online_log.md §Row):
//   event_ts    8 bytes, big-endian, sign bit flipped
//   created_ts  8 bytes, same
//   count       varint (LEB128) — number of values
//   count × value: one tag byte, then
//     0 null | 1 int64: zigzag varint | 2 double: 8 bytes little-endian IEEE |
//     3 string: varint length + bytes | 4 false | 5 true
// The 16-byte prefix compares with memcmp in (event_ts, created_ts) order, so a store can
// decide "newer or equal" without decoding (RowVersionNewerOrEqual). int64 and timestamp
// features share tag 1 (Value carries both as int64_t).

#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "features/online/online_store.h"

namespace cairn::features {

inline constexpr size_t kOnlineRowVersionBytes = 16;

// Appends the encoding of `row` to `*out`.
void EncodeOnlineRow(const OnlineRow& row, std::string* out);

// Decodes `bytes` into `*row` (replacing its contents). DataLoss on a malformed encoding.
absl::Status DecodeOnlineRow(std::string_view bytes, OnlineRow* row);

// True when encoded row `candidate`'s (event_ts, created_ts) is >= that of `stored`.
// Both must be at least kOnlineRowVersionBytes long.
bool RowVersionNewerOrEqual(std::string_view candidate, std::string_view stored);

// Checks that `row` has one value per type and each value holds the alternative that its
// type uses (or null). InvalidArgument naming the position and both types otherwise.
absl::Status CheckOnlineRowTypes(std::span<const FeatureType> types, const OnlineRow& row);

}  // namespace cairn::features
