#pragma once
// Streaming readers of source files (CSV, JSON Lines) typed by a source Schema. A reader
// holds one read buffer (ReaderOptions::buffer_bytes, grown only to fit a single record
// longer than it) and one batch, never the whole file: memory is bounded by batch_rows
// rows plus the longest record.
//
// Values in files (both formats; JSON adds its own typing, see OpenJsonlReader):
//   int64      decimal integer, optional sign, surrounding spaces ignored; a number
//              written with a fraction or exponent is accepted when it is integral and
//              |v| <= 2^53 ("3.0", "1e3"), rejected otherwise ("1.5"); out of range → bad.
//   double     decimal or scientific notation (std::from_chars), optional leading '+';
//              "nan", "inf", "-inf", "infinity" (any case) are accepted as IEEE values.
//   bool       true / false / 1 / 0, case-insensitive.
//   timestamp  cairn::ParseTimestamp: RFC 3339 text or integer epoch milliseconds.
//   string     the text as is (no trimming).
// A bad value, a null in a non-nullable column or a malformed record is a bad row:
//   - without quarantine, Next fails with InvalidArgument
//       "rows.csv: line 12: column 'amount': value 'abc' is not a double"
//     (lines are physical 1-based lines of the file; a record spanning lines reports the
//     line where it starts);
//   - with quarantine, the row goes to `bad` (with its raw text) and reading goes on.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "features/table.h"
#include "features/types.h"

namespace cairn::features {

// One rejected input row. `column` is empty when the row as a whole is wrong (a wrong
// number of CSV fields, malformed JSON). `raw` is the whole record as it appears in the
// file, without its line terminator (several physical lines for a CSV record with quoted
// newlines). `reason` is the whole message, as Next would have failed with it:
// "rows.csv: line 12: column 'amount': value 'abc' is not a double".
struct BadRow {
  std::string file;
  int64_t line = 0;
  std::string column;
  std::string value;
  std::string reason;
  std::string raw;
};

struct ReaderOptions {
  std::string file_label;      // names the file in errors; empty → the path
  size_t batch_rows = 65536;   // most rows per batch (at least 1)
  bool quarantine = false;     // bad rows go to `bad` instead of failing the read
  size_t max_bad_rows_kept = 100000;  // BadRows kept per reader; later ones only counted
  // Read size (read(2)) and initial buffer capacity. Tests set a few bytes to force
  // records, quoted fields and CRLF pairs across buffer refills.
  size_t buffer_bytes = size_t{1} << 20;
};

class RecordReader {
 public:
  virtual ~RecordReader() = default;
  // Next batch of typed rows (columns = the schema, in order; `batch` is reset to that
  // shape, reusing its memory). Returns false at the end of the input, with `batch`
  // empty. Returns true otherwise with 1..batch_rows rows, or 0 rows when every record
  // read in this call was a bad row (quarantine only). A bad row: without quarantine,
  // InvalidArgument "rows.csv: line 12: column 'amount': value 'abc' is not a double"
  // (the reader is then finished); with quarantine, the row goes to `bad` (may be null)
  // and reading goes on. I/O errors are Internal/NotFound and end the reader.
  // Not thread-safe; one reader per thread.
  virtual absl::StatusOr<bool> Next(Table* batch, std::vector<BadRow>* bad) = 0;

  // Good rows returned so far, and bad rows seen so far (including those past
  // max_bad_rows_kept, which are counted but not appended to `bad`).
  int64_t rows_read() const { return rows_read_; }
  int64_t bad_rows() const { return bad_rows_; }

 protected:
  int64_t rows_read_ = 0;
  int64_t bad_rows_ = 0;
};

// CSV (RFC 4180): a header row names the columns; fields separated by ',', records by
// LF or CRLF; quoted fields may hold ',', '"' (written "") and line breaks; an optional
// UTF-8 byte order mark is skipped; blank lines are skipped. Columns are matched to the
// schema by name (exact, case-sensitive); extra columns are ignored; a schema column
// missing from the header reads as null in every row, or fails here (InvalidArgument
// naming the column) when the field is not nullable. A header naming a schema column
// twice fails here too. An empty unquoted field is null; a quoted empty field ("") is
// the empty string for string columns and null for other types. A record with a
// different number of fields than the header is a bad row ("expected 5 fields, found
// 4"); so is text after a closing quote ("a"b), while a quote inside an unquoted field is
// kept as text (a"b). A CR not followed by LF is text. A record longer than 256 MiB (a
// quote left open) fails the read even with quarantine. An empty file (no header) reads
// as zero rows. NotFound when `path` is missing.
absl::StatusOr<std::unique_ptr<RecordReader>> OpenCsvReader(std::string path,
                                                            const Schema& schema,
                                                            const ReaderOptions& options);

// JSON Lines: one JSON object per line; blank lines (only whitespace) are skipped. Keys
// are matched to the schema by name; other keys (of any JSON value) are ignored; a
// missing key or JSON null is null. Typing: int64 ← JSON number, integral (1.0 and 1e3
// are accepted, 1.5 is not); double ← JSON number; string ← JSON string; bool ← true /
// false; timestamp ← RFC 3339 string or integer epoch milliseconds. Any other JSON
// kind for a schema key (a string for an int64, an object, ...) is a bad row, and so
// are malformed JSON (validated in full, ignored keys included; nesting deeper than 512
// levels is malformed), a line that is not an object and a schema key given twice.
// Strings are unescaped (\uXXXX with surrogate pairs → UTF-8); their bytes are not
// checked for valid UTF-8. An optional UTF-8 byte order mark is skipped; lines may end
// in CRLF.
absl::StatusOr<std::unique_ptr<RecordReader>> OpenJsonlReader(std::string path,
                                                              const Schema& schema,
                                                              const ReaderOptions& options);

}  // namespace cairn::features
