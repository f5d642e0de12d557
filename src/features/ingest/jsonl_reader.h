#pragma once
// The JSON Lines reader behind OpenJsonlReader (record_reader.h), constructible over any
// ByteSource for tests and fuzzing.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "features/ingest/input_buffer.h"
#include "features/ingest/record_reader.h"

namespace cairn::features::ingest_internal {

absl::StatusOr<std::unique_ptr<RecordReader>> MakeJsonlReader(std::unique_ptr<ByteSource> source,
                                                              std::string label,
                                                              const Schema& schema,
                                                              const ReaderOptions& options);

}  // namespace cairn::features::ingest_internal
