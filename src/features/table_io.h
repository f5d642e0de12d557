#pragma once
// Tables to and from the text forms users exchange: CSV (training sets written by the
// CLI, entity files) and column-major JSON ({"col": [v, …]}, pandas' "list" orient and
// Feast's push shape). Timestamps are written as RFC 3339 UTC strings; doubles in the
// shortest form that reads back exactly; NaN and ±inf as null in JSON and as "nan" /
// "inf" / "-inf" in CSV; nulls as JSON null and empty CSV fields.

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "features/table.h"

namespace cairn::features {

// Appends `table` as CSV (a header row, then one line per row, RFC 4180 quoting).
void WriteCsv(const Table& table, std::string* out);

// Appends {"name": [values…], …} in column order.
void WriteColumnsJson(const Table& table, std::string* out);

// Builds a table from column-major JSON (`columns` is an object of equal-length arrays).
// Columns named in `types` get that type (timestamps from RFC 3339 strings or integer
// epoch milliseconds; int64 from integral numbers; double from numbers); the others are
// inferred from their values (all integers → int64, numbers → double, booleans → bool,
// otherwise strings). InvalidArgument naming "<field>.<column>[row]" and the value.
absl::StatusOr<Table> TableFromColumnsJson(const Json& columns, std::string_view field,
                                           const std::map<std::string, FeatureType>& types);

// The same from row-major JSON ([{"col": v, …}, …]); a key missing from a row is null.
absl::StatusOr<Table> TableFromRowsJson(const Json& rows, std::string_view field,
                                        const std::map<std::string, FeatureType>& types);

// Parses CSV text with a header; columns named in `types` are typed as given (bad values
// are InvalidArgument naming the line and column), the others inferred as above.
absl::StatusOr<Table> TableFromCsv(std::string_view csv, std::string_view label,
                                   const std::map<std::string, FeatureType>& types);

}  // namespace cairn::features
