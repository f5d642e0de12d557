#include "monitoring/reference_rows.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "monitoring/category_label.h"
#include "zstd.h"

namespace cairn::monitoring {
namespace {

constexpr char kMagic[8] = {'C', 'A', 'I', 'R', 'N', 'R', 'E', 'F'};
constexpr uint32_t kFormatVersion = 1;
constexpr int kZstdLevel = 3;
// Decoded rows above this are refused (1M rows × 25 columns is ≈ 180 MB).
constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 30;

void PutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutText(std::string& out, std::string_view text) {
  PutU32(out, static_cast<uint32_t>(text.size()));
  out.append(text);
}

// Reads the payload front to back; every read checks the bytes are there.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool U8(uint8_t* v) {
    if (pos_ + 1 > bytes_.size()) return false;
    *v = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }
  bool U32(uint32_t* v) {
    uint64_t wide = 0;
    if (!Uint(4, &wide)) return false;
    *v = static_cast<uint32_t>(wide);
    return true;
  }
  bool U64(uint64_t* v) { return Uint(8, v); }
  bool Text(std::string* out) {
    uint32_t size = 0;
    if (!U32(&size) || remaining() < size) return false;
    out->assign(bytes_.substr(pos_, size));
    pos_ += size;
    return true;
  }
  bool Bytes(size_t size, std::string_view* out) {
    if (remaining() < size) return false;
    *out = bytes_.substr(pos_, size);
    pos_ += size;
    return true;
  }
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  bool Uint(int width, uint64_t* v) {
    if (remaining() < static_cast<size_t>(width)) return false;
    uint64_t value = 0;
    for (int i = 0; i < width; ++i) {
      value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    }
    pos_ += width;
    *v = value;
    return true;
  }
  std::string_view bytes_;
  size_t pos_ = 0;
};

absl::Status Corrupt(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("stored reference rows are unreadable: ", ToAbsl(what),
                   "; recreate the profile with `cairn profiles create`"));
}

}  // namespace

absl::StatusOr<std::string> EncodeReferenceRows(const DataFrame& frame) {
  std::string payload;
  PutU64(payload, static_cast<uint64_t>(frame.rows));
  PutU32(payload, static_cast<uint32_t>(frame.columns.size()));
  for (const FrameColumn& column : frame.columns) {
    if (static_cast<int64_t>(column.size()) != frame.rows) {
      return absl::InvalidArgumentError(absl::StrCat("column '", column.name, "' has ",
                                                     column.size(), " values for ", frame.rows,
                                                     " rows"));
    }
    // Kind: 0 numbers, 1 categories, 2 numbers that pandas types int64 (FrameColumn::integer).
    PutU8(payload, column.categorical ? 1 : column.integer ? 2 : 0);
    PutText(payload, column.name);
    if (!column.categorical) {
      const size_t n = column.numbers.size();
      const size_t start = payload.size();
      payload.resize(start + n * 8);
      char* planes = payload.data() + start;
      for (size_t i = 0; i < n; ++i) {
        uint64_t bits = 0;
        std::memcpy(&bits, &column.numbers[i], 8);
        for (int b = 0; b < 8; ++b) {
          planes[b * n + i] = static_cast<char>((bits >> (8 * b)) & 0xff);
        }
      }
      continue;
    }
    // Codes shifted by one (0: missing), in the narrowest width that holds them.
    const uint64_t labels = column.categories.size();
    const int width = labels < 0xff ? 1 : labels < 0xffff ? 2 : 4;
    for (int32_t code : column.codes) {
      if (code < -1 || (code >= 0 && static_cast<uint64_t>(code) >= labels)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "column '", column.name, "' holds category code ", code, " outside its ", labels,
            " labels"));
      }
    }
    PutU32(payload, static_cast<uint32_t>(labels));
    for (const std::string& label : column.categories) PutText(payload, label);
    PutU8(payload, static_cast<uint8_t>(width));
    const size_t n = column.codes.size();
    const size_t start = payload.size();
    payload.resize(start + n * width);
    char* planes = payload.data() + start;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t shifted = static_cast<uint32_t>(column.codes[i] + 1);
      for (int b = 0; b < width; ++b) {
        planes[b * n + i] = static_cast<char>((shifted >> (8 * b)) & 0xff);
      }
    }
  }

  std::string out(kMagic, sizeof(kMagic));
  PutU32(out, kFormatVersion);
  PutU64(out, payload.size());
  const size_t header = out.size();
  out.resize(header + ZSTD_compressBound(payload.size()));
  const size_t z = ZSTD_compress(out.data() + header, out.size() - header, payload.data(),
                                 payload.size(), kZstdLevel);
  if (ZSTD_isError(z)) {
    return absl::InternalError(
        absl::StrCat("compressing reference rows: ", ZSTD_getErrorName(z)));
  }
  out.resize(header + z);
  return out;
}

absl::StatusOr<DataFrame> DecodeReferenceRows(std::string_view bytes) {
  Reader head(bytes);
  std::string_view magic;
  uint32_t version = 0;
  uint64_t payload_size = 0;
  if (!head.Bytes(sizeof(kMagic), &magic) ||
      std::memcmp(magic.data(), kMagic, sizeof(kMagic)) != 0) {
    return Corrupt("not a Cairn reference-rows file (bad magic)");
  }
  if (!head.U32(&version) || version != kFormatVersion) {
    return Corrupt(absl::StrCat("format version ", version, " (this build reads ",
                                kFormatVersion, ")"));
  }
  if (!head.U64(&payload_size)) return Corrupt("truncated header");
  if (payload_size > kMaxPayloadBytes) {
    return Corrupt(absl::StrCat("the rows are ", payload_size, " bytes decoded; at most ",
                                kMaxPayloadBytes, " are read"));
  }
  const size_t header = sizeof(kMagic) + 4 + 8;
  const unsigned long long framed =
      ZSTD_getFrameContentSize(bytes.data() + header, bytes.size() - header);
  if (framed == ZSTD_CONTENTSIZE_ERROR || framed == ZSTD_CONTENTSIZE_UNKNOWN ||
      framed != payload_size) {
    return Corrupt("the compressed payload does not match its recorded size");
  }
  // Decompressed as a stream into a buffer that grows with what actually comes out, so a
  // small file that only claims a large size cannot make us allocate it up front.
  std::string payload;
  {
    std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> stream(ZSTD_createDStream(),
                                                                    ZSTD_freeDStream);
    if (stream == nullptr) return absl::ResourceExhaustedError("zstd: no decompression stream");
    ZSTD_inBuffer in{bytes.data() + header, bytes.size() - header, 0};
    size_t produced = 0;
    for (;;) {
      if (produced == payload.size()) {
        if (payload.size() >= payload_size) break;
        payload.resize(std::min<uint64_t>(
            payload_size, std::max<uint64_t>(uint64_t{1} << 20, payload.size() * 2)));
      }
      ZSTD_outBuffer out{payload.data() + produced, payload.size() - produced, 0};
      const size_t rc = ZSTD_decompressStream(stream.get(), &out, &in);
      if (ZSTD_isError(rc)) {
        return Corrupt(absl::StrCat("decompression failed (", ZSTD_getErrorName(rc), ")"));
      }
      produced += out.pos;
      if (rc == 0) break;                            // the frame is complete
      if (out.pos == 0 && in.pos == in.size) break;  // no more input
    }
    if (produced != payload_size) return Corrupt("decompression failed (short)");
    payload.resize(produced);
  }

  Reader in(payload);
  uint64_t rows = 0;
  uint32_t columns = 0;
  if (!in.U64(&rows) || !in.U32(&columns)) return Corrupt("truncated payload");
  DataFrame frame;
  frame.rows = static_cast<int64_t>(rows);
  for (uint32_t c = 0; c < columns; ++c) {
    FrameColumn column;
    uint8_t kind = 0;
    if (!in.U8(&kind) || kind > 2 || !in.Text(&column.name)) {
      return Corrupt(absl::StrCat("column ", c, ": truncated or unknown kind"));
    }
    column.categorical = kind == 1;
    column.integer = kind == 2;
    if (!column.categorical) {
      std::string_view planes;
      if (rows > in.remaining() / 8 || !in.Bytes(rows * 8, &planes)) {
        return Corrupt(absl::StrCat("column '", column.name, "': truncated values"));
      }
      column.numbers.resize(rows);
      for (size_t i = 0; i < rows; ++i) {
        uint64_t bits = 0;
        for (int b = 0; b < 8; ++b) {
          bits |= static_cast<uint64_t>(static_cast<uint8_t>(planes[b * rows + i])) << (8 * b);
        }
        std::memcpy(&column.numbers[i], &bits, 8);
      }
    } else {
      uint32_t labels = 0;
      if (!in.U32(&labels) || labels > in.remaining() / 4) {
        return Corrupt(absl::StrCat("column '", column.name, "': truncated labels"));
      }
      column.categories.resize(labels);
      for (std::string& label : column.categories) {
        if (!in.Text(&label)) {
          return Corrupt(absl::StrCat("column '", column.name, "': truncated labels"));
        }
      }
      uint8_t width = 0;
      std::string_view planes;
      if (!in.U8(&width) || (width != 1 && width != 2 && width != 4) ||
          rows > in.remaining() / width || !in.Bytes(rows * width, &planes)) {
        return Corrupt(absl::StrCat("column '", column.name, "': truncated codes"));
      }
      column.codes.resize(rows);
      for (size_t i = 0; i < rows; ++i) {
        uint32_t shifted = 0;
        for (int b = 0; b < width; ++b) {
          shifted |= static_cast<uint32_t>(static_cast<uint8_t>(planes[b * rows + i])) << (8 * b);
        }
        if (shifted > labels) {
          return Corrupt(absl::StrCat("column '", column.name, "': code ", shifted - 1,
                                      " outside its ", labels, " labels"));
        }
        column.codes[i] = static_cast<int32_t>(shifted) - 1;
      }
    }
    frame.columns.push_back(std::move(column));
  }
  if (in.remaining() != 0) return Corrupt("bytes after the last column");
  return frame;
}

void ForceCategorical(DataFrame& frame, const std::vector<std::string>& categorical) {
  for (FrameColumn& column : frame.columns) {
    if (column.categorical ||
        std::find(categorical.begin(), categorical.end(), column.name) == categorical.end()) {
      continue;
    }
    absl::flat_hash_map<std::string, int32_t> code_of;
    column.codes.reserve(column.numbers.size());
    for (double v : column.numbers) {
      if (!std::isfinite(v)) {
        column.codes.push_back(-1);
        continue;
      }
      auto [it, inserted] = code_of.try_emplace(NumberCategoryLabel(v),
                                                static_cast<int32_t>(column.categories.size()));
      if (inserted) column.categories.push_back(it->first);
      column.codes.push_back(it->second);
    }
    column.numbers.clear();
    column.numbers.shrink_to_fit();
    column.categorical = true;
  }
}

}  // namespace cairn::monitoring
