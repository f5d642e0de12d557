#pragma once
// The RowStream behind OfflineStore::Scan and compaction: a k-way merge (binary heap) of
// sorted segments in (keys, __event_ts, __created_ts) order, rows equal in all three
// coming from earlier inputs first. Decodes only the projected columns, skips blocks whose
// event-time min/max misses the range and drops out-of-range rows of the others.
// Memory: one decoded block per input segment plus the output batch.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "features/offline/segment_reader.h"
#include "features/row_stream.h"

namespace cairn::features::offline {

struct MergeInput {
  std::shared_ptr<const SegmentReader> reader;
  std::shared_ptr<const void> owner;  // kept alive while the stream lives
};

struct MergeSpec {
  Schema schema;                      // the segments' (the table's) schema
  std::vector<uint32_t> columns;      // schema indices, output order
  std::vector<int> key_positions;     // positions in `columns` of the join keys
  int event_ts_position = -1;         // position in `columns` of __event_ts
  int created_ts_position = -1;       // position in `columns` of __created_ts
  std::optional<int64_t> min_event_ts;  // inclusive
  std::optional<int64_t> max_event_ts;  // exclusive
  size_t batch_rows = 65536;
};

// Every input has the same schema. The stream owns its inputs.
std::unique_ptr<RowStream> MergeSegments(std::vector<MergeInput> inputs, MergeSpec spec);

}  // namespace cairn::features::offline
