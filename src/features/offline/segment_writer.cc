#include "features/offline/segment_writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "features/offline/bytes.h"
#include "features/offline/crc32c.h"
#include "features/offline/file_util.h"

namespace cairn::features::offline {
namespace {

constexpr size_t kFlushBytes = 4 << 20;

// Row r of a chunk is row idx(r) of the source column: rows in order from `begin`, or
// picked by a permutation (two types, so the common contiguous case has no branch).
struct ContiguousRows {
  size_t begin;
  size_t operator()(size_t r) const { return begin + r; }
};
struct PermutedRows {
  const uint32_t* order;
  size_t begin;
  size_t operator()(size_t r) const { return order[begin + r]; }
};

// Builds the uncompressed chunk of `col` (bitmap when there are nulls, then values) into
// *payload and fills the chunk's statistics.
template <typename RowIndex>
void EncodeChunk(const Column& col, RowIndex idx, size_t n, ChunkInfo* info,
                 std::string* payload) {
  uint32_t nulls = 0;
  for (size_t r = 0; r < n; ++r) nulls += col.valid[idx(r)] == 0;
  info->null_count = nulls;
  info->encoding = ChunkEncoding::kPlain;
  info->has_minmax = false;
  payload->clear();
  size_t bitmap_bytes = nulls > 0 ? (n + 7) / 8 : 0;
  if (nulls > 0) {
    payload->assign(bitmap_bytes, '\0');
    char* bm = payload->data();
    for (size_t r = 0; r < n; ++r) {
      if (col.valid[idx(r)]) bm[r >> 3] = static_cast<char>(bm[r >> 3] | (1 << (r & 7)));
    }
  }
  switch (col.type) {
    case FeatureType::kInt64:
    case FeatureType::kTimestamp: {
      info->encoding = ChunkEncoding::kDelta;
      payload->resize(bitmap_bytes + n * 8);
      char* out = payload->data() + bitmap_bytes;
      uint64_t prev = 0;
      int64_t lo = INT64_MAX, hi = INT64_MIN;
      for (size_t r = 0; r < n; ++r) {
        size_t i = idx(r);
        int64_t v = col.ints[i];
        uint64_t d = static_cast<uint64_t>(v) - prev;
        std::memcpy(out + r * 8, &d, 8);
        prev = static_cast<uint64_t>(v);
        if (col.valid[i]) {
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
      }
      if (nulls < n) {
        info->has_minmax = true;
        info->min = lo;
        info->max = hi;
      }
      break;
    }
    case FeatureType::kBool: {
      payload->resize(bitmap_bytes + n);
      char* out = payload->data() + bitmap_bytes;
      int64_t lo = 1, hi = 0;
      for (size_t r = 0; r < n; ++r) {
        size_t i = idx(r);
        int64_t v = col.ints[i] != 0 ? 1 : 0;
        out[r] = static_cast<char>(v);
        if (col.valid[i]) {
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
      }
      if (nulls < n) {
        info->has_minmax = true;
        info->min = lo;
        info->max = hi;
      }
      break;
    }
    case FeatureType::kDouble: {
      payload->resize(bitmap_bytes + n * 8);
      char* out = payload->data() + bitmap_bytes;
      double lo = INFINITY, hi = -INFINITY;
      bool any = false;
      for (size_t r = 0; r < n; ++r) {
        size_t i = idx(r);
        double v = col.doubles[i];
        std::memcpy(out + r * 8, &v, 8);
        if (col.valid[i] && !std::isnan(v)) {
          any = true;
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
      }
      if (any) {
        info->has_minmax = true;
        info->min = DoubleToBits(lo);
        info->max = DoubleToBits(hi);
      }
      break;
    }
    case FeatureType::kString: {
      size_t total = bitmap_bytes;
      for (size_t r = 0; r < n; ++r) total += 4 + col.strings[idx(r)].size();
      payload->resize(total);
      char* out = payload->data() + bitmap_bytes;
      for (size_t r = 0; r < n; ++r) {
        const std::string& s = col.strings[idx(r)];
        uint32_t len = static_cast<uint32_t>(s.size());
        std::memcpy(out, &len, 4);
        std::memcpy(out + 4, s.data(), s.size());
        out += 4 + s.size();
      }
      break;
    }
  }
}

// Transposes the 8x8 byte matrix x[0..8) (row j = the bytes of x[j]): afterwards byte j
// of x[k] is what byte k of x[j] was. Three rounds of swapping 4-, 2- and 1-byte blocks.
inline void Transpose8x8(uint64_t x[8]) {
  for (int j = 0; j < 4; ++j) {
    uint64_t a = x[j], b = x[j + 4];
    x[j] = (a & 0x00000000FFFFFFFFull) | (b << 32);
    x[j + 4] = (a >> 32) | (b & 0xFFFFFFFF00000000ull);
  }
  for (int j : {0, 1, 4, 5}) {
    constexpr uint64_t m = 0x0000FFFF0000FFFFull;
    uint64_t a = x[j], b = x[j + 2];
    x[j] = (a & m) | ((b & m) << 16);
    x[j + 2] = ((a >> 16) & m) | (b & ~m);
  }
  for (int j : {0, 2, 4, 6}) {
    constexpr uint64_t m = 0x00FF00FF00FF00FFull;
    uint64_t a = x[j], b = x[j + 1];
    x[j] = (a & m) | ((b & m) << 8);
    x[j + 1] = ((a >> 8) & m) | (b & ~m);
  }
}

// Byte-plane transposition of n 8-byte values at `p` (in place, via `tmp`): byte k of
// value i goes to p[k * n + i]. Eight values at a time as one 8x8 byte transpose.
void Shuffle8(char* p, size_t n, std::string* tmp) {
  tmp->resize(n * 8);
  char* out = tmp->data();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x[8];
    std::memcpy(x, p + i * 8, 64);
    Transpose8x8(x);
    for (size_t k = 0; k < 8; ++k) std::memcpy(out + k * n + i, &x[k], 8);
  }
  for (; i < n; ++i) {
    for (size_t k = 0; k < 8; ++k) out[k * n + i] = p[i * 8 + k];
  }
  std::memcpy(p, out, n * 8);
}

// Inverse of Shuffle8.
void Unshuffle8(char* p, size_t n, std::string* tmp) {
  tmp->resize(n * 8);
  char* out = tmp->data();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x[8];
    for (size_t k = 0; k < 8; ++k) std::memcpy(&x[k], p + k * n + i, 8);
    Transpose8x8(x);
    std::memcpy(out + i * 8, x, 64);
  }
  for (; i < n; ++i) {
    for (size_t k = 0; k < 8; ++k) out[i * 8 + k] = p[k * n + i];
  }
  std::memcpy(p, out, n * 8);
}

// Copies rows [from, to) of `src` to the end of `dst` (same type).
void AppendRange(const Column& src, size_t from, size_t to, Column* dst) {
  switch (src.type) {
    case FeatureType::kDouble:
      dst->doubles.insert(dst->doubles.end(), src.doubles.begin() + from,
                          src.doubles.begin() + to);
      break;
    case FeatureType::kString:
      dst->strings.insert(dst->strings.end(), src.strings.begin() + from,
                          src.strings.begin() + to);
      break;
    default:
      dst->ints.insert(dst->ints.end(), src.ints.begin() + from, src.ints.begin() + to);
      break;
  }
  dst->valid.insert(dst->valid.end(), src.valid.begin() + from, src.valid.begin() + to);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(
    std::string path, Schema schema, std::vector<uint32_t> key_columns,
    const SegmentWriterOptions& options) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("create", path, errno);
  SegmentFooter footer;
  footer.schema = std::move(schema);
  footer.key_columns = std::move(key_columns);
  footer.block_rows = std::max<uint32_t>(1, options.block_rows);
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(std::move(path), fd, std::move(footer),
                                                     options));
  std::string header(kSegmentMagic, 8);
  PutU32(&header, kSegmentVersion);
  PutU32(&header, 0);  // flags, reserved
  CAIRN_RETURN_IF_ERROR(w->Write(header.data(), header.size()));
  return w;
}

SegmentWriter::SegmentWriter(std::string path, int fd, SegmentFooter footer,
                             const SegmentWriterOptions& options)
    : path_(std::move(path)), fd_(fd), footer_(std::move(footer)), options_(options) {
  options_.block_rows = footer_.block_rows;
  for (const Field& f : footer_.schema) pending_.emplace_back(f.type);
  for (const Column& c : pending_) pending_ptrs_.push_back(&c);
  zstd_trials_.resize(pending_.size());
  cctx_ = ZSTD_createCCtx();
}

SegmentWriter::~SegmentWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(path_.c_str());
  ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
}

absl::Status SegmentWriter::Write(const void* data, size_t n) {
  buffer_.append(static_cast<const char*>(data), n);
  offset_ += n;
  if (buffer_.size() >= kFlushBytes) return Flush();
  return absl::OkStatus();
}

absl::Status SegmentWriter::Flush() {
  absl::Status s = WriteAll(fd_, buffer_.data(), buffer_.size(), path_);
  buffer_.clear();
  return s;
}

absl::Status SegmentWriter::WriteBlock(std::span<const Column* const> columns,
                                       const uint32_t* order, size_t begin, size_t rows) {
  BlockInfo block;
  block.rows = static_cast<uint32_t>(rows);
  block.chunks.resize(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    ChunkInfo& info = block.chunks[c];
    if (order != nullptr) {
      EncodeChunk(*columns[c], PermutedRows{order, begin}, rows, &info, &payload_);
    } else {
      EncodeChunk(*columns[c], ContiguousRows{begin}, rows, &info, &payload_);
    }
    FeatureType type = footer_.schema[c].type;
    ZstdTrials& trials = zstd_trials_[c];
    if (trials.skip > 0) {
      // zstd did not pay on this column's recent blocks: store raw without trying (the
      // same bytes a failed try stores), and try again after the skipped blocks.
      --trials.skip;
      info.compression = ChunkCompression::kNone;
      info.raw_size = static_cast<uint32_t>(payload_.size());
      if (payload_.size() > kMaxChunkBytes) return ChunkTooLarge(c, rows, payload_.size());
      info.offset = offset_;
      info.stored_size = info.raw_size;
      info.crc = Crc32c(payload_.data(), payload_.size());
      CAIRN_RETURN_IF_ERROR(Write(payload_.data(), payload_.size()));
      continue;
    }
    if (type == FeatureType::kInt64 || type == FeatureType::kTimestamp ||
        type == FeatureType::kDouble) {
      size_t bitmap = info.null_count > 0 ? (rows + 7) / 8 : 0;
      Shuffle8(payload_.data() + bitmap, rows, &compressed_);
      info.encoding = info.encoding == ChunkEncoding::kDelta ? ChunkEncoding::kDeltaShuffle
                                                             : ChunkEncoding::kShuffle;
    }
    if (payload_.size() > kMaxChunkBytes) return ChunkTooLarge(c, rows, payload_.size());
    info.raw_size = static_cast<uint32_t>(payload_.size());
    compressed_.resize(ZSTD_compressBound(payload_.size()));
    size_t z = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), compressed_.data(),
                                 compressed_.size(), payload_.data(), payload_.size(),
                                 options_.zstd_level);
    const std::string* stored = &compressed_;
    if (ZSTD_isError(z) || z > payload_.size() / 4 * 3) {
      // zstd saves under a quarter (near-random doubles, mostly Huffman-coded literals):
      // decoding the frame would cost more scan time than the bytes are worth. Skip the
      // try on the next 1, 3, 7, … 31 blocks of the column while it keeps failing.
      trials.failures = std::min(trials.failures + 1, 5);
      trials.skip = (1 << trials.failures) - 1;
      info.compression = ChunkCompression::kNone;
      if (info.encoding == ChunkEncoding::kShuffle ||
          info.encoding == ChunkEncoding::kDeltaShuffle) {
        // Stored raw, the values read fastest unshuffled (straight into the column).
        size_t bitmap = info.null_count > 0 ? (rows + 7) / 8 : 0;
        Unshuffle8(payload_.data() + bitmap, rows, &compressed_);
        info.encoding = info.encoding == ChunkEncoding::kDeltaShuffle ? ChunkEncoding::kDelta
                                                                      : ChunkEncoding::kPlain;
      }
      stored = &payload_;
    } else {
      trials.failures = 0;
      info.compression = ChunkCompression::kZstd;
      compressed_.resize(z);
    }
    info.offset = offset_;
    info.stored_size = static_cast<uint32_t>(stored->size());
    info.crc = Crc32c(stored->data(), stored->size());
    CAIRN_RETURN_IF_ERROR(Write(stored->data(), stored->size()));
  }
  footer_.num_rows += rows;
  footer_.blocks.push_back(std::move(block));
  return absl::OkStatus();
}

absl::Status SegmentWriter::ChunkTooLarge(size_t column, size_t rows, size_t bytes) const {
  return absl::InvalidArgumentError(absl::StrCat(
      "offline segment '", path_, "': column '", footer_.schema[column].name, "' holds ",
      bytes, " bytes in one block of ", rows,
      " rows (limit 1 GiB); use shorter strings or smaller batches"));
}

absl::Status SegmentWriter::Add(const Table& table) {
  std::vector<const Column*> cols;
  for (const Column& c : table.columns) cols.push_back(&c);
  return Add(cols, {});
}

absl::Status SegmentWriter::Add(std::span<const Column* const> columns,
                                std::span<const uint32_t> order) {
  if (columns.size() != footer_.schema.size())
    return absl::InternalError("SegmentWriter::Add: column count differs from the schema");
  size_t n = order.empty() ? (columns.empty() ? 0 : columns[0]->size()) : order.size();
  const uint32_t* ord = order.empty() ? nullptr : order.data();
  size_t done = 0;
  const size_t block_rows = options_.block_rows;
  while (done < n) {
    size_t take = std::min(n - done, block_rows - pending_rows_);
    if (pending_rows_ == 0 && take == block_rows) {
      // A whole block straight from the caller's columns, no copy.
      CAIRN_RETURN_IF_ERROR(WriteBlock(columns, ord, done, take));
    } else {
      for (size_t c = 0; c < columns.size(); ++c) {
        Column& dst = pending_[c];
        if (ord != nullptr) {
          for (size_t r = 0; r < take; ++r) dst.AppendFrom(*columns[c], ord[done + r]);
        } else {
          AppendRange(*columns[c], done, done + take, &dst);
        }
      }
      pending_rows_ += take;
      if (pending_rows_ == block_rows) {
        CAIRN_RETURN_IF_ERROR(WriteBlock(pending_ptrs_, nullptr, 0, pending_rows_));
        for (Column& c : pending_) c.Clear();
        pending_rows_ = 0;
      }
    }
    done += take;
  }
  return absl::OkStatus();
}

absl::Status SegmentWriter::Finish() {
  if (pending_rows_ > 0) {
    CAIRN_RETURN_IF_ERROR(WriteBlock(pending_ptrs_, nullptr, 0, pending_rows_));
    for (Column& c : pending_) c.Clear();
    pending_rows_ = 0;
  }
  std::string footer = EncodeFooter(footer_);
  uint64_t footer_offset = offset_;
  CAIRN_RETURN_IF_ERROR(Write(footer.data(), footer.size()));
  std::string trailer;
  PutU64(&trailer, footer_offset);
  PutU32(&trailer, static_cast<uint32_t>(footer.size()));
  PutU32(&trailer, Crc32c(footer.data(), footer.size()));
  trailer.append(kSegmentMagic, 8);
  CAIRN_RETURN_IF_ERROR(Write(trailer.data(), trailer.size()));
  CAIRN_RETURN_IF_ERROR(Flush());
  if (::fsync(fd_) != 0) return IoError("fsync", path_, errno);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return IoError("close", path_, errno);
  finished_ = true;
  return absl::OkStatus();
}

}  // namespace cairn::features::offline
