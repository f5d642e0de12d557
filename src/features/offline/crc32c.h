#pragma once
// CRC-32C (Castagnoli), the checksum of offline segment chunks, footers and manifests
// (docs/formats/offline_segment.md). Uses the SSE4.2 instruction when the CPU has it,
// a table otherwise; both give the same values (RFC 3720 test vectors).

#include <cstddef>
#include <cstdint>

namespace cairn::features::offline {

// CRC-32C of data[0, n), continuing from `crc` (0 to start).
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

}  // namespace cairn::features::offline
