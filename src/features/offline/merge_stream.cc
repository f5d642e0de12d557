#include "features/offline/merge_stream.h"

#include <algorithm>
#include <cstring>

#include "common/status.h"
#include "features/entity_key.h"

namespace cairn::features::offline {
namespace {

// Keeps the rows r with keep[r] != 0, in order.
void Compress(const std::vector<uint8_t>& keep, Column* col) {
  size_t out = 0;
  for (size_t r = 0; r < keep.size(); ++r) {
    if (!keep[r]) continue;
    switch (col->type) {
      case FeatureType::kDouble: col->doubles[out] = col->doubles[r]; break;
      case FeatureType::kString:
        if (out != r) col->strings[out].swap(col->strings[r]);
        break;
      default: col->ints[out] = col->ints[r]; break;
    }
    col->valid[out] = col->valid[r];
    ++out;
  }
  col->valid.resize(out);
  switch (col->type) {
    case FeatureType::kDouble: col->doubles.resize(out); break;
    case FeatureType::kString: col->strings.resize(out); break;
    default: col->ints.resize(out); break;
  }
}

struct Cursor {
  MergeInput input;
  size_t order = 0;       // input position: ties go to the smaller
  size_t next_block = 0;
  Table block;            // the decoded rows of the current block (projected columns)
  size_t pos = 0, end = 0;
  ChunkScratch scratch;
  std::vector<uint8_t> keep;
  // The one-integer-key fast path's view of `block` (set by Load).
  const int64_t *key = nullptr, *ev = nullptr, *cr = nullptr;
  const uint8_t *key_valid = nullptr, *ev_valid = nullptr, *cr_valid = nullptr;
};

// Orders two nullable int64 cells as CompareCells does: <0, 0, >0.
inline int CompareInt(bool a_valid, int64_t a, bool b_valid, int64_t b) {
  if (a_valid != b_valid) return a_valid ? 1 : -1;
  if (!a_valid || a == b) return 0;
  return a < b ? -1 : 1;
}

// memcpy for the short runs of a merge (a few rows per key and segment): inline moves
// instead of a library call per column and run.
inline void CopyBytes(void* dst, const void* src, size_t bytes) {
  if (bytes > 256) {
    std::memcpy(dst, src, bytes);
    return;
  }
  char* out = static_cast<char*>(dst);
  const char* in = static_cast<const char*>(src);
  for (; bytes >= 16; bytes -= 16, out += 16, in += 16) std::memcpy(out, in, 16);
  if (bytes >= 8) {
    std::memcpy(out, in, 8);
    out += 8, in += 8, bytes -= 8;
  }
  if (bytes >= 4) {
    std::memcpy(out, in, 4);
    out += 4, in += 4, bytes -= 4;
  }
  if (bytes >= 2) {
    std::memcpy(out, in, 2);
    out += 2, in += 2, bytes -= 2;
  }
  if (bytes >= 1) *out = *in;
}

// Rows [from, to) of a cursor's current block, waiting to be copied into the batch.
struct Run {
  const Cursor* cursor;
  size_t from, to;
};

class MergeStream final : public RowStream {
 public:
  MergeStream(std::vector<MergeInput> inputs, MergeSpec spec) : spec_(std::move(spec)) {
    spec_.batch_rows = std::max<size_t>(1, spec_.batch_rows);
    for (uint32_t c : spec_.columns) schema_.push_back(spec_.schema[c]);
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto cur = std::make_unique<Cursor>();
      cur->input = std::move(inputs[i]);
      cur->order = i;
      cur->block = Table::FromSchema(schema_);
      cursors_.push_back(std::move(cur));
    }
    int_key_ = spec_.key_positions.size() == 1 &&
               schema_[spec_.key_positions[0]].type != FeatureType::kDouble &&
               schema_[spec_.key_positions[0]].type != FeatureType::kString;
  }

  const Schema& schema() const override { return schema_; }

  absl::StatusOr<bool> Next(Table* batch) override {
    if (!started_) {
      started_ = true;
      for (auto& cur : cursors_) {
        CAIRN_ASSIGN_OR_RETURN(bool has, Load(cur.get()));
        if (has) heap_.push_back(cur.get());
      }
      std::make_heap(heap_.begin(), heap_.end(), [this](Cursor* a, Cursor* b) {
        return Before(*b, b->pos, *a);
      });
    }
    if (heap_.empty()) return false;
    PrepareBatch(batch);
    runs_.clear();
    size_t out_rows = 0;
    while (out_rows < spec_.batch_rows && !heap_.empty()) {
      Cursor* top = heap_[0];
      size_t limit = std::min(top->end, top->pos + (spec_.batch_rows - out_rows));
      size_t run_end = limit;
      if (heap_.size() > 1) {
        Cursor* second = heap_[1];
        if (heap_.size() > 2 && Before(*heap_[2], heap_[2]->pos, *second)) second = heap_[2];
        run_end = RunEnd(*top, limit, *second);
      }
      if (out_rows == 0 && top->pos == 0 && run_end == top->end) {
        // A whole block makes the batch: hand its columns over (the block takes the
        // batch's old buffers, so both keep their capacity).
        for (size_t c = 0; c < schema_.size(); ++c)
          std::swap(top->block.columns[c], batch->columns[c]);
      } else {
        runs_.push_back({top, top->pos, run_end});
      }
      out_rows += run_end - top->pos;
      top->pos = run_end;
      if (top->pos == top->end) {
        CopyRuns(batch);  // before Load replaces the block the runs point into
        CAIRN_ASSIGN_OR_RETURN(bool has, Load(top));
        if (!has) {
          heap_[0] = heap_.back();
          heap_.pop_back();
        }
      }
      SiftDown();
    }
    CopyRuns(batch);
    return true;
  }

 private:
  // The end of the run of `top`'s rows from its current one that sort before the current
  // row of `second` (at least one row, at most up to `limit`). Linear for short runs,
  // then galloping and a binary search.
  size_t RunEnd(const Cursor& top, size_t limit, const Cursor& second) const {
    size_t end = top.pos + 1;
    for (size_t linear = 0; linear < 8; ++linear, ++end) {
      if (end >= limit || !Before(top, end, second)) return end;
    }
    // Rows below `end` are before `second`; find the first row at or after it that is not.
    size_t step = 8, lo = end, hi = end;
    while (true) {
      hi = lo + step;
      if (hi >= limit) {
        hi = limit;
        break;
      }
      if (!Before(top, hi, second)) break;
      lo = hi + 1;
      step *= 2;
    }
    // Rows before lo are before `second`; row hi is not (or hi == limit).
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (Before(top, mid, second)) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  // Appends the pending runs to the batch, one column at a time.
  void CopyRuns(Table* batch) {
    if (runs_.empty()) return;
    size_t total = 0;
    for (const Run& r : runs_) total += r.to - r.from;
    for (size_t c = 0; c < schema_.size(); ++c) {
      Column& dst = batch->columns[c];
      size_t at = dst.size();
      dst.valid.resize(at + total);
      uint8_t* valid = dst.valid.data() + at;
      switch (dst.type) {
        case FeatureType::kDouble: {
          dst.doubles.resize(at + total);
          double* out = dst.doubles.data() + at;
          for (const Run& r : runs_) {
            const Column& src = r.cursor->block.columns[c];
            size_t n = r.to - r.from;
            CopyBytes(out, src.doubles.data() + r.from, n * sizeof(double));
            CopyBytes(valid, src.valid.data() + r.from, n);
            out += n;
            valid += n;
          }
          break;
        }
        case FeatureType::kString: {
          dst.strings.resize(at + total);
          std::string* out = dst.strings.data() + at;
          for (const Run& r : runs_) {
            const Column& src = r.cursor->block.columns[c];
            size_t n = r.to - r.from;
            std::copy_n(src.strings.begin() + r.from, n, out);
            CopyBytes(valid, src.valid.data() + r.from, n);
            out += n;
            valid += n;
          }
          break;
        }
        default: {
          dst.ints.resize(at + total);
          int64_t* out = dst.ints.data() + at;
          for (const Run& r : runs_) {
            const Column& src = r.cursor->block.columns[c];
            size_t n = r.to - r.from;
            CopyBytes(out, src.ints.data() + r.from, n * sizeof(int64_t));
            CopyBytes(valid, src.valid.data() + r.from, n);
            out += n;
            valid += n;
          }
          break;
        }
      }
    }
    runs_.clear();
  }

  // Row `i` of `a` sorts before the current row of `b` (ties: the earlier input first).
  bool Before(const Cursor& a, size_t i, const Cursor& b) const {
    size_t j = b.pos;
    if (int_key_) {
      int c = CompareInt(a.key_valid[i], a.key[i], b.key_valid[j], b.key[j]);
      if (c == 0) c = CompareInt(a.ev_valid[i], a.ev[i], b.ev_valid[j], b.ev[j]);
      if (c == 0) c = CompareInt(a.cr_valid[i], a.cr[i], b.cr_valid[j], b.cr[j]);
      return c < 0 || (c == 0 && a.order < b.order);
    }
    const Table& ta = a.block;
    const Table& tb = b.block;
    int c = CompareKeys(ta, spec_.key_positions, i, tb, spec_.key_positions, j);
    if (c == 0) {
      const Column& ea = ta.columns[spec_.event_ts_position];
      const Column& eb = tb.columns[spec_.event_ts_position];
      c = CompareCells(ea, i, eb, j);
      if (c == 0) {
        c = CompareCells(ta.columns[spec_.created_ts_position], i,
                         tb.columns[spec_.created_ts_position], j);
      }
    }
    return c < 0 || (c == 0 && a.order < b.order);
  }

  void SiftDown() {
    size_t n = heap_.size(), i = 0;
    while (true) {
      size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < n && Before(*heap_[l], heap_[l]->pos, *heap_[m])) m = l;
      if (r < n && Before(*heap_[r], heap_[r]->pos, *heap_[m])) m = r;
      if (m == i) return;
      std::swap(heap_[i], heap_[m]);
      i = m;
    }
  }

  void PrepareBatch(Table* batch) {
    bool same = batch->num_columns() == schema_.size();
    for (size_t c = 0; same && c < schema_.size(); ++c)
      same = batch->names[c] == schema_[c].name && batch->columns[c].type == schema_[c].type;
    if (same) {
      batch->Clear();
    } else {
      *batch = Table::FromSchema(schema_);
    }
  }

  // Loads the cursor's next block with at least one row in range; false at the end.
  absl::StatusOr<bool> Load(Cursor* cur) {
    const SegmentReader& reader = *cur->input.reader;
    const SegmentFooter& footer = reader.footer();
    const uint32_t ev_col = spec_.columns[spec_.event_ts_position];
    while (cur->next_block < footer.blocks.size()) {
      size_t b = cur->next_block++;
      const BlockInfo& block = footer.blocks[b];
      if (block.rows == 0) continue;
      const ChunkInfo& ev = block.chunks[ev_col];
      bool filter = false;
      if (spec_.min_event_ts || spec_.max_event_ts) {
        if (!ev.has_minmax) continue;  // every event time null: nothing in range
        if (spec_.min_event_ts && ev.max < *spec_.min_event_ts) continue;
        if (spec_.max_event_ts && ev.min >= *spec_.max_event_ts) continue;
        filter = (spec_.min_event_ts && ev.min < *spec_.min_event_ts) ||
                 (spec_.max_event_ts && ev.max >= *spec_.max_event_ts) || ev.null_count > 0;
      }
      for (size_t c = 0; c < spec_.columns.size(); ++c) {
        CAIRN_RETURN_IF_ERROR(
            reader.ReadChunk(b, spec_.columns[c], &cur->scratch, &cur->block.columns[c]));
      }
      size_t rows = block.rows;
      if (filter) {
        const Column& ts = cur->block.columns[spec_.event_ts_position];
        cur->keep.resize(rows);
        size_t kept = 0;
        for (size_t r = 0; r < rows; ++r) {
          bool k = ts.valid[r] && (!spec_.min_event_ts || ts.ints[r] >= *spec_.min_event_ts) &&
                   (!spec_.max_event_ts || ts.ints[r] < *spec_.max_event_ts);
          cur->keep[r] = k;
          kept += k;
        }
        if (kept == 0) continue;
        if (kept < rows) {
          for (Column& col : cur->block.columns) Compress(cur->keep, &col);
        }
        rows = kept;
      }
      cur->pos = 0;
      cur->end = rows;
      if (int_key_) {
        const Column& key = cur->block.columns[spec_.key_positions[0]];
        const Column& ev = cur->block.columns[spec_.event_ts_position];
        const Column& cr = cur->block.columns[spec_.created_ts_position];
        cur->key = key.ints.data();
        cur->key_valid = key.valid.data();
        cur->ev = ev.ints.data();
        cur->ev_valid = ev.valid.data();
        cur->cr = cr.ints.data();
        cur->cr_valid = cr.valid.data();
      }
      return true;
    }
    return false;
  }

  MergeSpec spec_;
  Schema schema_;
  std::vector<std::unique_ptr<Cursor>> cursors_;
  std::vector<Cursor*> heap_;  // min-heap by Before
  std::vector<Run> runs_;      // of the batch being built, not yet copied
  bool int_key_ = false;       // one int64/timestamp/bool key: Before compares ints
  bool started_ = false;
};

}  // namespace

std::unique_ptr<RowStream> MergeSegments(std::vector<MergeInput> inputs, MergeSpec spec) {
  return std::make_unique<MergeStream>(std::move(inputs), std::move(spec));
}

}  // namespace cairn::features::offline
