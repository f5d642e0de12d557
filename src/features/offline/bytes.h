#pragma once
// Little-endian encoding helpers for the offline store's footers and manifests. The
// reader never reads past its buffer: every Get* returns false on a short input, so a
// corrupt file gives a DataLoss error, not a crash.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cairn::features::offline {

inline void PutU8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
inline void PutU32(std::string* out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);  // the store assumes a little-endian host (static_assert in .cc)
  out->append(b, 4);
}
inline void PutU64(std::string* out, uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out->append(b, 8);
}
inline void PutI64(std::string* out, int64_t v) { PutU64(out, static_cast<uint64_t>(v)); }
inline void PutBytes(std::string* out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}
  bool GetU8(uint8_t* v) { return Get(v, 1); }
  bool GetU32(uint32_t* v) { return Get(v, 4); }
  bool GetU64(uint64_t* v) { return Get(v, 8); }
  bool GetI64(int64_t* v) { return Get(v, 8); }
  bool GetBytes(std::string* s) {
    uint32_t n;
    if (!GetU32(&n) || n > data_.size() - pos_) return false;
    s->assign(data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return data_.size() - pos_; }

 private:
  bool Get(void* v, size_t n) {
    if (data_.size() - pos_ < n) return false;
    std::memcpy(v, data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace cairn::features::offline
