#pragma once
// The CSV reader behind OpenCsvReader (record_reader.h), constructible over any
// ByteSource for tests and fuzzing.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "features/ingest/input_buffer.h"
#include "features/ingest/record_reader.h"

namespace cairn::features::ingest_internal {

// Reads the header from `source` (labelled `label` in errors) and returns the reader.
absl::StatusOr<std::unique_ptr<RecordReader>> MakeCsvReader(std::unique_ptr<ByteSource> source,
                                                            std::string label,
                                                            const Schema& schema,
                                                            const ReaderOptions& options);

}  // namespace cairn::features::ingest_internal
