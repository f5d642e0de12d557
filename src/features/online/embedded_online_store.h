#pragma once
// The embedded online store: every row in an in-memory hash index (16 shards per view,
// each behind a reader/writer lock), made durable by files under `dir`
// (docs/formats/online_log.md):
//   snapshot-<gen>  the whole state when generation <gen> began (absent for gen 0)
//   log-<gen>       one checksummed record per Write / DropView since then
// Open replays the snapshot and then the log; a torn or corrupt record at the log's end
// (a crash in the middle of a write) is cut off, so every acknowledged write survives and
// an unacknowledged one is either whole or absent. When the log outgrows
// max(compact_log_bytes, the last snapshot's size) a Write writes snapshot-<gen+1> from
// memory, starts an empty log-<gen+1> and removes generation <gen>.
//
// Thread-safety: Read is safe from many threads, concurrently with one Write/DropView;
// writers are serialized among themselves.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "features/online/online_store.h"

namespace cairn::features {

struct EmbeddedOnlineStoreOptions {
  // Log size past which a Write compacts (tests set it small).
  int64_t compact_log_bytes = int64_t{64} << 20;
  // fdatasync after each write (tests of crash recovery may turn it off for speed; the
  // server never does).
  bool sync = true;
};

// Opens (creating) the store in `dir`. DataLoss when a snapshot is corrupt (it is written
// to a temporary name and renamed only once complete, so that means damaged storage).
absl::StatusOr<std::unique_ptr<OnlineStore>> OpenEmbeddedOnlineStore(
    std::string dir, const EmbeddedOnlineStoreOptions& options = {});

}  // namespace cairn::features
