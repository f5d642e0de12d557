#include "features/ingest/input_buffer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cairn::features::ingest_internal {
namespace {

class FileSource : public ByteSource {
 public:
  FileSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileSource() override { ::close(fd_); }

  absl::StatusOr<size_t> Read(char* dst, size_t n) override {
    while (true) {
      ssize_t got = ::read(fd_, dst, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat("reading ", path_, ": ", std::strerror(errno)));
    }
  }

 private:
  int fd_;
  std::string path_;
};

class MemorySource : public ByteSource {
 public:
  explicit MemorySource(std::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(char* dst, size_t n) override {
    size_t k = std::min(n, data_.size() - pos_);
    std::memcpy(dst, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string what = absl::StrCat(path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, "; check the path"));
    if (err == EACCES) return absl::PermissionDeniedError(what);
    return absl::InternalError(absl::StrCat("opening ", what));
  }
  // The readers go through the file once, front to back.
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<ByteSource>(new FileSource(fd, path));
}

std::unique_ptr<ByteSource> StringSource(std::string_view data) {
  return std::make_unique<MemorySource>(data);
}

InputBuffer::InputBuffer(std::unique_ptr<ByteSource> source, size_t chunk_bytes,
                         size_t max_bytes)
    : source_(std::move(source)),
      chunk_bytes_(std::max<size_t>(chunk_bytes, 1)),
      max_bytes_(std::max<size_t>(max_bytes, 1)) {
  buf_.resize(chunk_bytes_);
}

absl::StatusOr<bool> InputBuffer::Fill() {
  if (eof_) return false;
  const size_t kept = end_ - begin_;
  if (kept >= max_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a record is longer than ", max_bytes_, " bytes"));
  }
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, kept);
    begin_ = 0;
    end_ = kept;
  }
  // Grow when one record fills more than half of the buffer, so that re-parsing it after
  // each refill stays linear in its length; otherwise at least half a buffer is free.
  if (kept * 2 > buf_.size()) buf_.resize(buf_.size() * 2);
  // Reads of about one chunk, but at least as many bytes as are kept: a long record is
  // re-parsed O(log n) times.
  const size_t want = std::min(buf_.size() - end_, std::max(chunk_bytes_, kept));
  absl::StatusOr<size_t> got = source_->Read(buf_.data() + end_, want);
  if (!got.ok()) return got.status();
  if (*got == 0) {
    eof_ = true;
    return false;
  }
  end_ += *got;
  return true;
}

}  // namespace cairn::features::ingest_internal
