#pragma once
// A table's MANIFEST: its layout and the list of live segment files, the one source of
// truth for what a table holds. Replaced atomically (WriteFileAtomic), so a crash leaves
// the old or the new list; segment files not listed are leftovers and are removed when
// the store opens. Layout: docs/formats/offline_segment.md, "Manifest".

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "features/types.h"

namespace cairn::features::offline {

inline constexpr char kManifestMagic[8] = {'C', 'A', 'I', 'R', 'N', 'M', 'A', 'N'};
inline constexpr uint32_t kManifestVersion = 1;
inline constexpr char kManifestName[] = "MANIFEST";

struct SegmentEntry {
  uint64_t seq = 0;  // file name: SegmentFileName(seq)
  uint64_t rows = 0;
  uint64_t bytes = 0;
  bool has_event_ts = false;  // false only for an empty segment
  int64_t min_event_ts = 0, max_event_ts = 0;
};

struct Manifest {
  std::vector<std::string> key_columns;
  Schema schema;
  uint64_t next_seq = 1;
  // In merge order: for rows equal in (keys, event ts, created ts), earlier entries'
  // rows come first.
  std::vector<SegmentEntry> segments;
};

// "seg-00000042.cseg"
std::string SegmentFileName(uint64_t seq);
// The seq of a segment file name, or 0 when `name` is not one.
uint64_t ParseSegmentFileName(std::string_view name);

std::string EncodeManifest(const Manifest& manifest);
// DataLoss naming `path` when `bytes` is damaged; FailedPrecondition for a newer version.
absl::StatusOr<Manifest> DecodeManifest(std::string_view bytes, std::string_view path);

}  // namespace cairn::features::offline
