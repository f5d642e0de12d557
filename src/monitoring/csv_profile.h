#pragma once
// Profiles and constraint checks of CSV files too large to hold: the file is read in
// pieces of whole rows (csv_frame.h, ReadCsvFrameChunks) and each piece is added to one
// DataProfile (profile.h, the same one-pass code), so memory is one piece, its frame and
// the profile — not the file.
//
// Column kinds: pandas decides a column's kind on the whole file (any text makes it
// categorical). A piece decides on its own rows, so a column that is categorical in the
// first piece is read as categories in every later one; a column whose first text comes in
// a later piece makes the profile start over with that column read as categories (at most
// once per column; the numbers of such a column are labelled by value, category_label.h).

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "monitoring/constraints.h"
#include "monitoring/csv_frame.h"
#include "monitoring/profile.h"

namespace cairn::monitoring {

struct CsvProfileOptions {
  CsvFrameOptions csv;
  ProfileOptions profile;
  size_t chunk_bytes = size_t{16} << 20;  // rows per piece: about this many bytes
};

// The profile of the CSV file at `path`: ProfileFrame(ReadCsvFrame(path)) for a file of
// one piece, the merged pieces' profile otherwise. Errors as ReadCsvFrame's.
absl::StatusOr<DataProfile> ProfileCsvFile(const std::string& path,
                                           const CsvProfileOptions& options = {});

struct CsvCheck {
  int64_t rows = 0;
  std::vector<Violation> violations;
};

// `constraints` checked against the CSV file at `path`: a file of at most one piece
// (chunk_bytes) is checked row by row (CheckConstraints, exact shares), a larger one
// through its streamed profile (CheckConstraintsOnProfile: shares from the sketches and
// label counts — exact below 400 values per column and up to 1,000 distinct labels).
absl::StatusOr<CsvCheck> CheckCsvFile(const std::string& path, const Constraints& constraints,
                                      const CsvProfileOptions& options = {});

}  // namespace cairn::monitoring
