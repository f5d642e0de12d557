#include "features/offline/segment_format.h"

#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "features/offline/bytes.h"

namespace cairn::features::offline {

static_assert(std::endian::native == std::endian::little,
              "offline segments are little-endian and read by memcpy");

double BitsToDouble(int64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

int64_t DoubleToBits(double d) {
  int64_t bits;
  std::memcpy(&bits, &d, 8);
  return bits;
}

std::string EncodeFooter(const SegmentFooter& footer) {
  std::string out;
  PutU32(&out, static_cast<uint32_t>(footer.schema.size()));
  for (const Field& f : footer.schema) {
    PutBytes(&out, f.name);
    PutU8(&out, static_cast<uint8_t>(f.type));
    PutU8(&out, f.nullable ? 1 : 0);
  }
  PutU32(&out, static_cast<uint32_t>(footer.key_columns.size()));
  for (uint32_t k : footer.key_columns) PutU32(&out, k);
  PutU64(&out, footer.num_rows);
  PutU32(&out, footer.block_rows);
  PutU32(&out, static_cast<uint32_t>(footer.blocks.size()));
  for (const BlockInfo& b : footer.blocks) {
    PutU32(&out, b.rows);
    for (const ChunkInfo& c : b.chunks) {
      PutU64(&out, c.offset);
      PutU32(&out, c.stored_size);
      PutU32(&out, c.raw_size);
      PutU32(&out, c.crc);
      PutU32(&out, c.null_count);
      PutU8(&out, static_cast<uint8_t>(c.encoding));
      PutU8(&out, static_cast<uint8_t>(c.compression));
      PutU8(&out, c.has_minmax ? 1 : 0);
      PutI64(&out, c.min);
      PutI64(&out, c.max);
    }
  }
  return out;
}

absl::StatusOr<SegmentFooter> DecodeFooter(std::string_view bytes, std::string_view file) {
  auto bad = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat("offline segment '", ToAbsl(file),
                                            "': malformed footer (", ToAbsl(what),
                                            "); the file is corrupt: restore it or drop "
                                            "the table and ingest again"));
  };
  ByteReader r(bytes);
  SegmentFooter f;
  uint32_t ncols;
  if (!r.GetU32(&ncols) || ncols > 100000) return bad("column count");
  for (uint32_t c = 0; c < ncols; ++c) {
    Field field;
    uint8_t type, nullable;
    if (!r.GetBytes(&field.name) || !r.GetU8(&type) || !r.GetU8(&nullable) ||
        type > static_cast<uint8_t>(FeatureType::kTimestamp) || nullable > 1)
      return bad("column description");
    field.type = static_cast<FeatureType>(type);
    field.nullable = nullable == 1;
    f.schema.push_back(std::move(field));
  }
  uint32_t nkeys;
  if (!r.GetU32(&nkeys) || nkeys > ncols) return bad("key count");
  for (uint32_t k = 0; k < nkeys; ++k) {
    uint32_t idx;
    if (!r.GetU32(&idx) || idx >= ncols) return bad("key column");
    f.key_columns.push_back(idx);
  }
  uint32_t nblocks;
  if (!r.GetU64(&f.num_rows) || !r.GetU32(&f.block_rows) || !r.GetU32(&nblocks))
    return bad("row counts");
  // 43 bytes per chunk: reject counts the remaining bytes cannot hold before allocating.
  if (static_cast<uint64_t>(nblocks) * (4 + 43ull * ncols) > r.remaining())
    return bad("block count");
  f.blocks.resize(nblocks);
  uint64_t total = 0;
  for (BlockInfo& b : f.blocks) {
    if (!r.GetU32(&b.rows)) return bad("block rows");
    total += b.rows;
    b.chunks.resize(ncols);
    for (ChunkInfo& c : b.chunks) {
      uint8_t enc, comp, mm;
      if (!r.GetU64(&c.offset) || !r.GetU32(&c.stored_size) || !r.GetU32(&c.raw_size) ||
          !r.GetU32(&c.crc) || !r.GetU32(&c.null_count) || !r.GetU8(&enc) ||
          !r.GetU8(&comp) || !r.GetU8(&mm) || !r.GetI64(&c.min) || !r.GetI64(&c.max))
        return bad("chunk entry");
      if (enc > 3 || comp > 1 || mm > 1 || c.raw_size > kMaxChunkBytes ||
          c.null_count > b.rows)
        return bad("chunk entry values");
      c.encoding = static_cast<ChunkEncoding>(enc);
      c.compression = static_cast<ChunkCompression>(comp);
      c.has_minmax = mm == 1;
    }
  }
  if (total != f.num_rows) return bad("block rows do not add up to the row count");
  if (r.remaining() != 0) return bad("trailing bytes");
  return f;
}

}  // namespace cairn::features::offline
