#pragma once
// Background compaction of the offline store: the server's background thread calls
// CompactTables periodically (or after ingestion); every table that has accumulated
// `min_segments` segments is merged into one. Scans never wait for it, and Appends
// during a compaction are kept (OfflineStore::Compact).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "features/offline/offline_store.h"

namespace cairn::features {

struct CompactionPolicy {
  // A table is compacted once it has this many segments (each Append adds one; a scan
  // merges them all, holding one block per segment in memory).
  int64_t min_segments = 8;
};

struct CompactionReport {
  std::vector<std::string> compacted;                       // tables merged to one segment
  std::vector<std::pair<std::string, absl::Status>> failed;  // table, why
};

// Compacts each table of `store` that the policy selects; a failure on one table does
// not stop the others. Thread-safe (OfflineStore is).
CompactionReport CompactTables(OfflineStore& store, const CompactionPolicy& policy = {});

}  // namespace cairn::features
