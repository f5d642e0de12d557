#include "features/offline/merge_stream.h"

#include <algorithm>

#include "common/status.h"
#include "features/entity_key.h"

namespace cairn::features::offline {
namespace {

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
    size_t out_rows = 0;
    while (out_rows < spec_.batch_rows && !heap_.empty()) {
      Cursor* top = heap_[0];
      size_t limit = std::min(top->end, top->pos + (spec_.batch_rows - out_rows));
      size_t run_end = limit;
      if (heap_.size() > 1) {
        Cursor* second = heap_[1];
        if (heap_.size() > 2 && Before(*heap_[2], heap_[2]->pos, *second)) second = heap_[2];
        run_end = top->pos + 1;
        while (run_end < limit && Before(*top, run_end, *second)) ++run_end;
      }
      if (out_rows == 0 && top->pos == 0 && run_end == top->end) {
        // A whole block makes the batch: hand its columns over (the block takes the
        // batch's old buffers, so both keep their capacity).
        for (size_t c = 0; c < schema_.size(); ++c)
          std::swap(top->block.columns[c], batch->columns[c]);
      } else {
        for (size_t c = 0; c < schema_.size(); ++c)
          AppendRange(top->block.columns[c], top->pos, run_end, &batch->columns[c]);
      }
      out_rows += run_end - top->pos;
      top->pos = run_end;
      if (top->pos == top->end) {
        CAIRN_ASSIGN_OR_RETURN(bool has, Load(top));
        if (!has) {
          heap_[0] = heap_.back();
          heap_.pop_back();
        }
      }
      SiftDown();
    }
    return true;
  }

 private:
  // Row `i` of `a` sorts before the current row of `b` (ties: the earlier input first).
  bool Before(const Cursor& a, size_t i, const Cursor& b) const {
    size_t j = b.pos;
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
      return true;
    }
    return false;
  }

  MergeSpec spec_;
  Schema schema_;
  std::vector<std::unique_ptr<Cursor>> cursors_;
  std::vector<Cursor*> heap_;  // min-heap by Before
  bool started_ = false;
};

}  // namespace

std::unique_ptr<RowStream> MergeSegments(std::vector<MergeInput> inputs, MergeSpec spec) {
  return std::make_unique<MergeStream>(std::move(inputs), std::move(spec));
}

}  // namespace cairn::features::offline
