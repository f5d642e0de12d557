#pragma once
// CSV → DataFrame for drift and profiles: what `cairn drift --reference ref.csv` reads.
//
// Format: RFC 4180 with a header line of column names; comma-separated; fields may be
// quoted ("a, b", "say ""hi"""), quoted fields may span lines; LF or CRLF line ends; a
// UTF-8 byte-order mark is skipped; blank lines are skipped; a row with fewer fields than
// the header has the rest missing. An empty header name becomes "Unnamed: <index>" (what
// pandas reads for the index column to_csv writes).
//
// Types are inferred as pandas.read_csv does: a column whose every value is a number
// (std::from_chars syntax with optional surrounding spaces and a leading '+'; inf and
// nan included) or missing is numeric; any other value makes the column categorical,
// its labels the fields as written. Missing: an empty field or one of pandas' NA tokens
// (NA, N/A, NaN, nan, NULL, null, None, #N/A, <NA>, …). Numeric columns hold NaN for
// missing and non-finite values; categorical columns -1, categories in order of first
// appearance in the file.
//
// Speed: the file is memory-mapped and cut into chunks at line ends, parsed on `threads`
// threads (a chunk that guessed its start wrong — a line end inside a quoted field — is
// parsed again from the right place), numbers straight from the mapped bytes (plain
// decimals eight bytes at a time, the rest with std::from_chars); no allocation per value
// (categorical labels are interned per chunk, short ones through a small cache first).
// Memory: the frame plus a transient copy of the columns while chunks are joined.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "monitoring/data_frame.h"

namespace cairn::monitoring {

struct CsvFrameOptions {
  std::vector<std::string> categorical;  // read as categorical whatever their values
  // Read as categorical with every label as written, even where a piece holds numbers only
  // (a column known to hold text elsewhere in the file: ReadCsvFrameChunks' callers).
  std::vector<std::string> as_text;
  std::vector<std::string> columns;      // read only these (kept in file order); empty: all
  int threads = 0;                       // 0: hardware concurrency
  // Texts are cut into chunks of at least this many bytes (0: 256 KiB); smaller only to
  // exercise the chunking in tests and fuzzing.
  size_t min_chunk_bytes = 0;
};

// Reads the CSV file at `path`. NotFound when it cannot be opened; InvalidArgument naming
// the file, the line (1-based, counting the header) and the column for: an empty file
// (no header), a column named twice, a row with more fields than the header, a quoted
// field that is never closed, and a name in `categorical` or `columns` that is not in the
// header (with "did you mean").
absl::StatusOr<DataFrame> ReadCsvFrame(const std::string& path, const CsvFrameOptions& options);

// Reads the CSV file at `path` in pieces of whole rows of about `chunk_bytes` each (a row
// is never cut, quoted line ends included) and hands each piece to `fn` in file order as
// the frame ParseCsvFrame makes of the header and those rows — so each piece infers its
// column kinds on its own rows, and a caller that needs one kind for the whole file forces
// it (CsvFrameOptions::categorical). Errors as ReadCsvFrame's, with the line in the whole
// file; the first error `fn` returns stops the reading and is returned. Memory: one piece
// and its frame (the pages of rows already read are given back), whatever the file's size.
// A file with a header and no rows gives one empty frame.
absl::Status ReadCsvFrameChunks(const std::string& path, const CsvFrameOptions& options,
                                size_t chunk_bytes,
                                const std::function<absl::Status(DataFrame&)>& fn);

// The same over text in memory; `label` names it in messages (a path, "reference").
absl::StatusOr<DataFrame> ParseCsvFrame(std::string_view text, std::string_view label,
                                        const CsvFrameOptions& options);

}  // namespace cairn::monitoring
