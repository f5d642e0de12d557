#pragma once
// Tables in Cairn's binary columnar form ("application/vnd.cairn.columns",
// docs/formats/columns.md): each column's values and validity laid out as Apache Arrow's
// in-memory buffers (validity bitmaps LSB-first, int64 / double little-endian, bool
// bitmaps, timestamps as int64 epoch milliseconds, strings as int64 offsets + UTF-8 bytes),
// each buffer at a multiple of 64 bytes, described by a JSON footer. A client with pyarrow
// wraps the buffers without parsing or copying them; nothing is formatted as text.
//
//   "CAIRNCOL" | buffers … | footer (JSON object) | footer length (u64 LE) | "CAIRNCOL"
//
// The footer comes last because the server writes the buffers while the training-set
// snapshot (which the footer names) is still being saved.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "features/table.h"

namespace cairn::features {

inline constexpr std::string_view kColumnsContentType = "application/vnd.cairn.columns";
inline constexpr std::string_view kColumnsMagic = "CAIRNCOL";
inline constexpr int kColumnsVersion = 1;

// Appends the magic and the buffers of every column of `table` to `out` (which must be
// empty: offsets count from its start) and returns the footer's description of them:
// {"format": "cairn.columns", "version": 1, "rows": n, "columns": [{"name", "type",
// "null_count", "validity": [offset, length] | null, "values": [offset, length],
// "data": [offset, length] (strings only)}, …]}. Add fields to it, then AppendFooter.
Json WriteColumnBuffers(const Table& table, std::string* out);

// Appends `footer` (a JSON object), its length and the closing magic.
void AppendColumnsFooter(const Json& footer, std::string* out);

// WriteColumnBuffers + AppendColumnsFooter: the whole body of `table`.
std::string WriteColumns(const Table& table);

// The footer of a columnar body (checked framing; the column list is not checked here).
// InvalidArgument naming `label` and the problem; a footer nested deeper than ParseJson
// allows (100 levels) is refused.
absl::StatusOr<Json> ColumnsFooter(std::string_view body, std::string_view label);

// Reads a columnar body back into a table, checking every length and offset against the
// body (a malformed body is InvalidArgument naming `label`, the column and the problem,
// never a crash or an out-of-range read). Null slots come back as 0 / 0.0 / "".
// So that the decoded table stays proportional to the body: every buffer has exactly the
// length its type and `rows` imply (bitmaps ceil(rows / 8), int64 / double / timestamp
// 8 × rows, string offsets 8 × (rows + 1)), the buffers are disjoint and in column order
// (validity, values, data; each starts at or after the end of the one before), and
// rows × columns is at most 64 Mi cells (what a 64 MiB CSV body holds at one byte a cell).
//
// `types` are the types the caller needs for some columns (the join keys and the
// timestamp of a historical request). A column of another type is converted the way the
// CSV form would type its text: int64 → timestamp (epoch milliseconds), int64 → double,
// int64 and bool → string (decimal, "true" / "false"); any other mismatch is
// InvalidArgument naming the column and both types. Columns not in `types` keep their
// type.
absl::StatusOr<Table> TableFromColumns(std::string_view body, std::string_view label,
                                       const std::map<std::string, FeatureType>& types);

}  // namespace cairn::features
