#pragma once
// The online store: the latest feature row of every entity key of every served feature
// view, for low-latency reads at prediction time (DESIGN.md §5 "features"). Two backends
// behind one interface:
//   - "embedded": an in-memory hash index inside the server, made durable by an
//     append-only log with periodic snapshots under `<data_dir>/online`
//     (docs/formats/online_log.md);
//   - "redis://host:port[/db]": one Redis string per (view, entity key), written by a
//     compare-and-set script and read with MGET (redis_online_store.h).
// Both store rows in the binary form of online_codec.h.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "features/types.h"

namespace cairn::features {

// One view's row for one entity key: its event and created times (ms) and the view's
// features in declaration order (the view spec is the schema).
struct OnlineRow {
  int64_t event_ts = 0;
  int64_t created_ts = 0;
  std::vector<Value> values;
  bool operator==(const OnlineRow&) const = default;
};

class OnlineStore {
 public:
  virtual ~OnlineStore() = default;
  // Upserts rows of `view` by encoded entity key (EncodeKey). A row replaces the stored
  // one only if its (event_ts, created_ts) is newer or equal. Durable on return.
  // keys.size() must equal rows.size() (InvalidArgument otherwise).
  virtual absl::Status Write(std::string_view view, std::span<const std::string> keys,
                             std::span<const OnlineRow> rows) = 0;
  // (*out)[i] = the row for keys[i], or nullopt. Thread-safe, many readers.
  virtual absl::Status Read(std::string_view view, std::span<const std::string> keys,
                            std::vector<std::optional<OnlineRow>>* out) const = 0;
  // Removes every row of `view` (no error when it has none).
  virtual absl::Status DropView(std::string_view view) = 0;
};

// "embedded" (files under `data_dir`/online) or "redis://host:port[/db]".
// InvalidArgument naming the URL for anything else; Unavailable when Redis cannot be
// reached; DataLoss when the embedded store's snapshot is corrupt.
absl::StatusOr<std::unique_ptr<OnlineStore>> OpenOnlineStore(std::string_view url,
                                                             std::string data_dir);

}  // namespace cairn::features
