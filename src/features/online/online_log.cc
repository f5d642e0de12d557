#include "features/online/online_log.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace cairn::features::online_log {
namespace {

struct Crc32cTable {
  uint32_t t[256];
  Crc32cTable() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};

uint32_t Crc32cPortable(const uint8_t* p, size_t n) {
  static const Crc32cTable table;
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) crc = table.t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(const uint8_t* p, size_t n) {
  uint64_t crc = 0xFFFFFFFFu;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    crc = __builtin_ia32_crc32di(crc, word);
    p += 8;
    n -= 8;
  }
  uint32_t c = static_cast<uint32_t>(crc);
  while (n-- > 0) c = __builtin_ia32_crc32qi(c, *p++);
  return c ^ 0xFFFFFFFFu;
}
#endif

uint32_t Crc32c(std::string_view data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
#if defined(__x86_64__)
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return Crc32cHardware(p, data.size());
#endif
  return Crc32cPortable(p, data.size());
}

void PutU32(uint32_t v, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

uint32_t MaskedCrc32c(std::string_view data) {
  uint32_t crc = Crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

void AppendRecord(std::string_view payload, std::string* out) {
  char header[kHeaderBytes];
  PutU32(static_cast<uint32_t>(payload.size()), header);
  PutU32(MaskedCrc32c(payload), header + 4);
  out->append(header, kHeaderBytes);
  out->append(payload);
}

absl::StatusOr<RecordReader> RecordReader::Open(const std::string& path,
                                                std::string_view magic) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::UnavailableError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  char head[kMagicBytes];
  size_t n = std::fread(head, 1, kMagicBytes, file);
  if (n < kMagicBytes) {
    RecordReader reader(file, 0);
    reader.torn_ = n > 0;
    return reader;
  }
  if (std::memcmp(head, magic.data(), kMagicBytes) != 0) {
    std::fclose(file);
    return absl::DataLossError(absl::StrCat(path, ": not a Cairn online-store file (magic '",
                                            absl::string_view(head, kMagicBytes),
                                            "', expected '", ToAbsl(magic), "')"));
  }
  return RecordReader(file, kMagicBytes);
}

RecordReader::RecordReader(RecordReader&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)),
      valid_end_(other.valid_end_),
      torn_(other.torn_) {}

RecordReader::~RecordReader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool RecordReader::Next(std::string* payload) {
  if (file_ == nullptr || torn_) return false;
  char header[kHeaderBytes];
  size_t n = std::fread(header, 1, kHeaderBytes, file_);
  if (n == 0) return false;  // clean end
  if (n < kHeaderBytes) {
    torn_ = true;
    return false;
  }
  uint32_t length = GetU32(header);
  uint32_t crc = GetU32(header + 4);
  if (length > kMaxRecordBytes) {
    torn_ = true;
    return false;
  }
  payload->resize(length);
  if (std::fread(payload->data(), 1, length, file_) != length || MaskedCrc32c(*payload) != crc) {
    torn_ = true;
    return false;
  }
  valid_end_ += kHeaderBytes + length;
  return true;
}

}  // namespace cairn::features::online_log
