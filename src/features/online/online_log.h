#pragma once
// Record framing for the embedded online store's files (docs/formats/online_log.md):
// a file is an 8-byte magic followed by records
//   u32 payload length (LE) | u32 masked CRC-32C of the payload (LE) | payload
// Readers stop at the first record whose header or checksum does not verify and report
// the offset where the valid prefix ends, so a torn tail (kill -9, power loss in the
// middle of a write) is detected and can be cut off.

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::features::online_log {

inline constexpr char kLogMagic[] = "CAIRNOL1";       // 8 bytes, no NUL written
inline constexpr char kSnapshotMagic[] = "CAIRNOS1";  // 8 bytes
inline constexpr size_t kMagicBytes = 8;
inline constexpr size_t kHeaderBytes = 8;
inline constexpr uint32_t kMaxRecordBytes = 1u << 30;

// CRC-32C (Castagnoli) of `data`, masked as LevelDB does so that a CRC stored inside
// checksummed data does not checksum to itself.
uint32_t MaskedCrc32c(std::string_view data);

// Appends the framed record for `payload` to `*out`.
void AppendRecord(std::string_view payload, std::string* out);

// Sequential reader over one file. Not thread-safe.
class RecordReader {
 public:
  // Opens `path` and checks its magic. NotFound when the file does not exist; DataLoss
  // when the magic is wrong (a file that is shorter than the magic reads as empty, with
  // valid_end() 0, so that a crash right after creating a log is harmless).
  static absl::StatusOr<RecordReader> Open(const std::string& path, std::string_view magic);
  RecordReader(RecordReader&& other) noexcept;
  RecordReader& operator=(RecordReader&&) = delete;
  ~RecordReader();

  // Reads the next record's payload into `*payload`; false at the end of the valid
  // prefix (clean end of file, or a torn / corrupt record: then torn() is true).
  bool Next(std::string* payload);
  bool torn() const { return torn_; }
  // Byte offset just past the last valid record (or the magic).
  int64_t valid_end() const { return valid_end_; }

 private:
  RecordReader(std::FILE* file, int64_t valid_end) : file_(file), valid_end_(valid_end) {}
  std::FILE* file_;
  int64_t valid_end_;
  bool torn_ = false;
};

}  // namespace cairn::features::online_log
