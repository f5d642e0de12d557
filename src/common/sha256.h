#pragma once
// SHA-256 as lowercase hex (OpenSSL): the content hashes of versioned definitions, step
// cache keys, training-set snapshots. One implementation for every module.

#include <cstddef>
#include <string>
#include <string_view>

namespace cairn {

// Two lowercase hex digits per byte of `bytes[0, length)`.
std::string LowerHex(const unsigned char* bytes, size_t length);

// Lowercase hex SHA-256 of `text` (64 characters).
std::string Sha256Hex(std::string_view text);

}  // namespace cairn
