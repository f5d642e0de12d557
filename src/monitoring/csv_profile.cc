#include "monitoring/csv_profile.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "common/status.h"

namespace cairn::monitoring {

absl::StatusOr<DataProfile> ProfileCsvFile(const std::string& path,
                                           const CsvProfileOptions& options) {
  CsvFrameOptions csv = options.csv;
  // Each pass either profiles the whole file or finds one more column to read as
  // categories and starts over: at most one pass per column, plus one.
  while (true) {
    DataProfile profile(options.profile);
    bool restart = false;
    absl::Status status =
        ReadCsvFrameChunks(path, csv, options.chunk_bytes, [&](DataFrame& frame) {
          const bool first = profile.columns().empty() && profile.rows() == 0;
          for (const FrameColumn& column : frame.columns) {
            auto listed = [&](const std::vector<std::string>& names) {
              return std::find(names.begin(), names.end(), column.name) != names.end();
            };
            if (!column.categorical || listed(csv.categorical) || listed(csv.as_text)) {
              continue;
            }
            // Text in this piece: every piece reads it as text, labels as written (a piece
            // of numbers only would otherwise label them by value: "00123" as "123").
            csv.as_text.push_back(column.name);
            if (!first) restart = true;
          }
          if (restart) return absl::CancelledError("start over");
          return profile.Add(frame);
        });
    if (restart) continue;
    CAIRN_RETURN_IF_ERROR(status);
    return profile;
  }
}

absl::StatusOr<CsvCheck> CheckCsvFile(const std::string& path, const Constraints& constraints,
                                      const CsvProfileOptions& options) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  CsvCheck out;
  if (error || size <= options.chunk_bytes) {  // small (or unreadable: ReadCsvFrame says why)
    CAIRN_ASSIGN_OR_RETURN(DataFrame frame, ReadCsvFrame(path, options.csv));
    out.rows = frame.rows;
    CAIRN_ASSIGN_OR_RETURN(out.violations, CheckConstraints(constraints, frame));
    return out;
  }
  CAIRN_ASSIGN_OR_RETURN(DataProfile profile, ProfileCsvFile(path, options));
  out.rows = profile.rows();
  CAIRN_ASSIGN_OR_RETURN(out.violations, CheckConstraintsOnProfile(constraints, profile));
  return out;
}

}  // namespace cairn::monitoring
