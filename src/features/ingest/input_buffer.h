#pragma once
// The byte side of the streaming readers: a ByteSource (a file read with read(2), or a
// string for tests and fuzzing) and an InputBuffer that holds the unconsumed tail of the
// input plus one more chunk. Records are parsed in place from the buffer; a record that
// runs past the buffered bytes is parsed again after Fill(), which keeps it (moved to the
// front) and grows the buffer only when one record does not fit.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::features::ingest_internal {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes into `dst`; 0 means the end of the input.
  virtual absl::StatusOr<size_t> Read(char* dst, size_t n) = 0;
};

// NotFound when `path` does not exist, PermissionDenied / Internal for other open errors.
absl::StatusOr<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path);

// Serves a copy of `data`.
std::unique_ptr<ByteSource> StringSource(std::string_view data);

class InputBuffer {
 public:
  // `chunk_bytes` (at least 1) is the read size and the initial capacity. `max_bytes`
  // bounds the buffered bytes of one record (see Fill).
  InputBuffer(std::unique_ptr<ByteSource> source, size_t chunk_bytes, size_t max_bytes);

  // The unconsumed bytes. Invalidated by Fill().
  const char* data() const { return buf_.data() + begin_; }
  size_t size() const { return end_ - begin_; }
  // True once the source has reported its end: data() is all that is left.
  bool eof() const { return eof_; }

  void Consume(size_t n) { begin_ += n; }

  // Reads more bytes after the unconsumed ones. Returns false (and reads nothing) at the
  // end of the input. ResourceExhausted when the unconsumed bytes already reach
  // max_bytes (one record longer than that); I/O errors from the source.
  absl::StatusOr<bool> Fill();

 private:
  std::unique_ptr<ByteSource> source_;
  size_t chunk_bytes_;
  size_t max_bytes_;
  std::vector<char> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
};

}  // namespace cairn::features::ingest_internal
