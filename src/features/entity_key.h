#pragma once
// Entity keys: the order every sorted structure uses (offline segments, the
// point-in-time join, materialization) and the byte encoding the online stores use.
//
// Order: key columns compared left to right; within a column null < any value, int64
// and timestamp numerically, bool false < true, strings bytewise (memcmp), doubles
// numerically. Then event time, then created time (the caller compares those).
//
// Encoding: order-preserving and unambiguous, so memcmp of two encodings agrees with
// CompareKeys. Per cell: 0x00 for null; 0x01 + 8 bytes big-endian with the sign bit
// flipped for int64/timestamp/bool; 0x02 + bytes with 0x00 escaped as 0x00 0xFF, closed by
// 0x00 0x01, for strings; 0x03 + 8 bytes (IEEE order-preserving transform) for doubles.

#include <cstdint>
#include <span>
#include <string>

#include "features/table.h"

namespace cairn::features {

// <0, 0, >0 as cell a[i] orders before, equal to or after b[j]. Same type required.
int CompareCells(const Column& a, size_t i, const Column& b, size_t j);

// Compares the key of row i of `a` (columns a_cols) with row j of `b` (columns b_cols).
// a_cols and b_cols have equal length and matching types.
int CompareKeys(const Table& a, std::span<const int> a_cols, size_t i, const Table& b,
                std::span<const int> b_cols, size_t j);

// Appends the encoding of row `row`'s key cells to `*out`.
void EncodeKey(const Table& table, std::span<const int> cols, size_t row, std::string* out);

// Appends the encoding of one key cell given as a Value of type `type`.
void EncodeKeyValue(const Value& value, FeatureType type, std::string* out);

}  // namespace cairn::features
