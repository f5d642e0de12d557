#include "features/offline/manifest.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "features/offline/bytes.h"
#include "features/offline/crc32c.h"

namespace cairn::features::offline {

std::string SegmentFileName(uint64_t seq) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "seg-%08llu.cseg", static_cast<unsigned long long>(seq));
  return buf;
}

uint64_t ParseSegmentFileName(std::string_view name) {
  constexpr std::string_view kPrefix = "seg-", kSuffix = ".cseg";
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.substr(0, 4) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix)
    return 0;
  std::string_view digits = name.substr(4, name.size() - 4 - kSuffix.size());
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9' || v > UINT64_MAX / 10 - 10) return 0;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::string EncodeManifest(const Manifest& m) {
  std::string payload;
  PutU32(&payload, static_cast<uint32_t>(m.key_columns.size()));
  for (const std::string& k : m.key_columns) PutBytes(&payload, k);
  PutU32(&payload, static_cast<uint32_t>(m.schema.size()));
  for (const Field& f : m.schema) {
    PutBytes(&payload, f.name);
    PutU8(&payload, static_cast<uint8_t>(f.type));
    PutU8(&payload, f.nullable ? 1 : 0);
  }
  PutU64(&payload, m.next_seq);
  PutU32(&payload, static_cast<uint32_t>(m.segments.size()));
  for (const SegmentEntry& e : m.segments) {
    PutU64(&payload, e.seq);
    PutU64(&payload, e.rows);
    PutU64(&payload, e.bytes);
    PutU8(&payload, e.has_event_ts ? 1 : 0);
    PutI64(&payload, e.min_event_ts);
    PutI64(&payload, e.max_event_ts);
  }
  std::string out(kManifestMagic, 8);
  PutU32(&out, kManifestVersion);
  PutU32(&out, static_cast<uint32_t>(payload.size()));
  PutU32(&out, Crc32c(payload.data(), payload.size()));
  out += payload;
  return out;
}

absl::StatusOr<Manifest> DecodeManifest(std::string_view bytes, std::string_view path) {
  auto bad = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat(
        "offline table manifest '", ToAbsl(path), "': ", ToAbsl(what),
        "; the file is corrupt: restore it from a backup or drop the table"));
  };
  if (bytes.size() < 20 || std::memcmp(bytes.data(), kManifestMagic, 8) != 0)
    return bad("bad magic number or too short");
  ByteReader head(bytes.substr(8, 12));
  uint32_t version, size, crc;
  head.GetU32(&version);
  head.GetU32(&size);
  head.GetU32(&crc);
  if (version != kManifestVersion)
    return absl::FailedPreconditionError(
        absl::StrCat("offline table manifest '", ToAbsl(path), "': format version ", version,
                     ", this build reads ", kManifestVersion, "; upgrade Cairn"));
  std::string_view payload = bytes.substr(20);
  if (payload.size() != size) return bad("size does not match (torn write)");
  if (Crc32c(payload.data(), payload.size()) != crc) return bad("checksum mismatch");
  ByteReader r(payload);
  Manifest m;
  uint32_t n;
  if (!r.GetU32(&n) || n > 10000) return bad("key count");
  m.key_columns.resize(n);
  for (std::string& k : m.key_columns)
    if (!r.GetBytes(&k)) return bad("key column");
  if (!r.GetU32(&n) || n > 100000) return bad("column count");
  for (uint32_t i = 0; i < n; ++i) {
    Field f;
    uint8_t type, nullable;
    if (!r.GetBytes(&f.name) || !r.GetU8(&type) || !r.GetU8(&nullable) ||
        type > static_cast<uint8_t>(FeatureType::kTimestamp))
      return bad("column");
    f.type = static_cast<FeatureType>(type);
    f.nullable = nullable != 0;
    m.schema.push_back(std::move(f));
  }
  if (!r.GetU64(&m.next_seq) || !r.GetU32(&n) || n > r.remaining() / 41)
    return bad("segment count");
  m.segments.resize(n);
  for (SegmentEntry& e : m.segments) {
    uint8_t has;
    if (!r.GetU64(&e.seq) || !r.GetU64(&e.rows) || !r.GetU64(&e.bytes) || !r.GetU8(&has) ||
        !r.GetI64(&e.min_event_ts) || !r.GetI64(&e.max_event_ts) || e.seq == 0 ||
        e.seq >= m.next_seq)
      return bad("segment entry");
    e.has_event_ts = has != 0;
  }
  if (r.remaining() != 0) return bad("trailing bytes");
  return m;
}

}  // namespace cairn::features::offline
