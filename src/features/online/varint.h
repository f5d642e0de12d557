#pragma once
// LEB128 varints for the online store's encodings (internal).

#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::features::online_internal {

inline void PutVarint(uint64_t v, std::string* out) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

// Reads a varint at *p (< end), advancing *p. False when truncated or over 10 bytes.
inline bool GetVarint(const char*& p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && p < end; shift += 7) {
    uint8_t byte = static_cast<uint8_t>(*p++);
    result |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

inline void PutBytes(std::string_view s, std::string* out) {
  PutVarint(s.size(), out);
  out->append(s);
}

inline bool GetBytes(const char*& p, const char* end, std::string_view* s) {
  uint64_t n;
  if (!GetVarint(p, end, &n) || n > static_cast<uint64_t>(end - p)) return false;
  *s = std::string_view(p, n);
  p += n;
  return true;
}

}  // namespace cairn::features::online_internal
