#pragma once
// A reference data set kept for later drift checks (a stored profile's rows): a compact,
// self-describing, zstd-compressed columnar encoding of a DataFrame that decodes to a frame
// every drift test gives the same answer on as on the original.
//
//   - every value is kept in row order, numbers bit for bit (NaN included): the
//     order-free tests (KS, Wasserstein, Anderson–Darling, …) need the whole sample, the
//     mean/std based ones (t-test, Wasserstein's norm) add in row order, and the
//     total-variation test's permutation p-value shuffles the samples as they come — so
//     neither sorted values nor category counts would give the same answers;
//   - numbers are stored byte plane by byte plane (a "shuffle": all first bytes, then all
//     second bytes, …), which lets zstd find the shared exponents and leading digits;
//     category codes in the narrowest width that holds them (1, 2 or 4 bytes, shuffled the
//     same way) after their dictionary (in code order, labels with no rows included).
//
// Layout: "CAIRNREF" + u32 format version (1) + u64 payload size + a zstd frame of the
// payload: u64 rows, u32 columns, then per column u8 kind (0 numeric, 1 categorical),
// u32 name length + name, then numeric: rows × 8 shuffled bytes; categorical: u32 labels,
// per label u32 length + bytes, u8 width, rows × width shuffled bytes of code + 1 (0:
// missing). Little-endian.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "monitoring/data_frame.h"

namespace cairn::monitoring {

// The encoding of `frame` (zstd level 3). InvalidArgument when a categorical column holds
// a code outside its dictionary other than -1.
absl::StatusOr<std::string> EncodeReferenceRows(const DataFrame& frame);

// The frame back. InvalidArgument saying what is wrong when `bytes` is not such an
// encoding (bad magic, unknown version, truncated, sizes that do not add up).
absl::StatusOr<DataFrame> DecodeReferenceRows(std::string_view bytes);

// Reads the columns named in `categorical` that `frame` holds as numbers as categories
// instead, labelled by value as every other path labels numbers (category_label.h: "1.5",
// "2"), as a monitor naming them in `categorical:` expects. Other columns stay as they are.
void ForceCategorical(DataFrame& frame, const std::vector<std::string>& categorical);

}  // namespace cairn::monitoring
