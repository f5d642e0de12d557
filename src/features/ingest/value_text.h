#pragma once
// Text → typed value conversions shared by the CSV and JSON Lines readers (the rules are
// listed in record_reader.h). Each returns nullptr on success or a static reason phrase
// ("is not a double") that follows "value '...'" in an error message. No allocation.

#include <cstdint>
#include <string_view>

#include "features/table.h"

namespace cairn::features::ingest_internal {

const char* ParseInt64Text(std::string_view text, int64_t* out);
const char* ParseDoubleText(std::string_view text, double* out);
const char* ParseBoolText(std::string_view text, bool* out);
const char* ParseTimestampText(std::string_view text, int64_t* out);

// Strips ASCII spaces and tabs at both ends.
std::string_view TrimSpaces(std::string_view text);

// Appends `text` (not null, already unquoted) to `column`, parsed by the column's type;
// strings are appended as is, other types are trimmed first. Returns a reason and appends
// nothing when the text is not a value of the type.
const char* AppendText(Column* column, std::string_view text);

}  // namespace cairn::features::ingest_internal
