#include "features/online/materializer.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/entity_key.h"
#include "features/window_agg.h"

namespace cairn::features {
namespace {

// Where each feature's value comes from.
struct FeatureSource {
  int column = -1;  // row features: the feature's column; aggregations: the input (or -1)
  int window = -1;  // aggregations: index into the windows
};

class Materialization {
 public:
  Materialization(const FeatureViewSpec& spec, OnlineStore& store, int64_t start, int64_t end,
                  const MaterializeOptions& options)
      : spec_(spec), store_(store), start_(start), end_(end), options_(options) {}

  absl::Status Bind(const Schema& schema, std::span<const Field> join_keys);
  absl::Status Run(RowStream& rows);
  const MaterializeResult& result() const { return result_; }

 private:
  // Ends the current key; `batch` holds the candidate row when candidate_in_batch_.
  absl::Status FinishKey(const Table& batch);
  absl::Status Flush();
  void CopyCandidate(const Table& batch);

  const FeatureViewSpec& spec_;
  OnlineStore& store_;
  const int64_t start_;
  const int64_t end_;
  const MaterializeOptions& options_;

  std::vector<int> key_cols_;
  int event_col_ = -1;
  int created_col_ = -1;
  std::vector<FeatureSource> sources_;
  std::vector<TrailingWindow> windows_;
  std::vector<int> window_inputs_;  // per window: input column or -1 (count rows)

  // The current key and its latest in-range row so far: either a row of the batch being
  // read (candidate_row_) or, once that batch is gone, a copy (candidate_).
  std::string key_;
  bool has_candidate_ = false;
  size_t candidate_row_ = 0;
  bool candidate_in_batch_ = false;
  OnlineRow candidate_;

  std::vector<std::string> out_keys_;
  std::vector<OnlineRow> out_rows_;
  MaterializeResult result_;
};

absl::Status Materialization::Bind(const Schema& schema, std::span<const Field> join_keys) {
  auto missing = [&](std::string_view what, std::string_view column) {
    return absl::InvalidArgumentError(absl::StrCat("materialize '", spec_.meta.name,
                                                   "': the view table has no ", ToAbsl(what),
                                                   " column '", ToAbsl(column), "'"));
  };
  if (join_keys.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("materialize '", spec_.meta.name, "': the view has no join keys"));
  }
  for (const Field& key : join_keys) {
    int col = FindField(schema, key.name);
    if (col < 0) return missing("join-key", key.name);
    key_cols_.push_back(col);
  }
  event_col_ = FindField(schema, kEventTsColumn);
  if (event_col_ < 0) return missing("event-time", kEventTsColumn);
  created_col_ = FindField(schema, kCreatedTsColumn);
  for (const FeatureSpec& f : spec_.features) {
    FeatureSource source;
    if (f.agg == AggFn::kNone) {
      source.column = FindField(schema, f.name);
      if (source.column < 0) return missing("feature", f.name);
      FeatureType have = schema[source.column].type;
      if (have != f.type) {
        return absl::InvalidArgumentError(absl::StrCat(
            "materialize '", spec_.meta.name, "': column '", f.name, "' is ",
            ToAbsl(TypeName(have)), " but the feature is declared ", ToAbsl(TypeName(f.type))));
      }
    } else {
      std::string input = absl::StrCat("__agg_input.", f.name);
      source.column = FindField(schema, input);
      if (source.column < 0 && f.agg != AggFn::kCount) return missing("aggregation input", input);
      if (source.column >= 0 && schema[source.column].type != FeatureType::kDouble) {
        return absl::InvalidArgumentError(absl::StrCat("materialize '", spec_.meta.name,
                                                       "': column '", input,
                                                       "' must be double"));
      }
      source.window = static_cast<int>(windows_.size());
      windows_.emplace_back(f.agg, f.window_ms);
      window_inputs_.push_back(source.column);
    }
    sources_.push_back(source);
  }
  return absl::OkStatus();
}

void Materialization::CopyCandidate(const Table& batch) {
  candidate_.event_ts = batch.columns[event_col_].ints[candidate_row_];
  candidate_.created_ts =
      created_col_ >= 0 ? batch.columns[created_col_].ints[candidate_row_] : 0;
  candidate_.values.resize(sources_.size());
  for (size_t f = 0; f < sources_.size(); ++f) {
    if (sources_[f].window < 0) {
      candidate_.values[f] = batch.columns[sources_[f].column].Get(candidate_row_);
    }
  }
  candidate_in_batch_ = false;
}

absl::Status Materialization::FinishKey(const Table& batch) {
  if (has_candidate_) {
    if (candidate_in_batch_) CopyCandidate(batch);
    OnlineRow& row = out_rows_.emplace_back(std::move(candidate_));
    candidate_ = OnlineRow();
    for (size_t f = 0; f < sources_.size(); ++f) {
      if (sources_[f].window >= 0) {
        TrailingWindow& window = windows_[sources_[f].window];
        window.AdvanceTo(end_);
        row.values[f] = window.Result();
      }
    }
    out_keys_.push_back(std::move(key_));
    if (out_keys_.size() >= options_.batch_keys) CAIRN_RETURN_IF_ERROR(Flush());
  }
  key_.clear();
  has_candidate_ = false;
  for (TrailingWindow& window : windows_) window.Reset();
  return absl::OkStatus();
}

absl::Status Materialization::Flush() {
  if (!out_keys_.empty()) {
    CAIRN_RETURN_IF_ERROR(store_.Write(spec_.meta.name, out_keys_, out_rows_));
    result_.keys_written += static_cast<int64_t>(out_keys_.size());
    out_keys_.clear();
    out_rows_.clear();
  }
  if (options_.progress) options_.progress({result_.rows_read, result_.keys_written});
  return absl::OkStatus();
}

absl::Status Materialization::Run(RowStream& rows) {
  out_keys_.reserve(options_.batch_keys);
  out_rows_.reserve(options_.batch_keys);
  Table batch;
  std::string first_key;
  bool have_key = false;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(bool more, rows.Next(&batch));
    if (!more) break;
    const size_t n = batch.num_rows();
    result_.rows_read += static_cast<int64_t>(n);
    const std::vector<int64_t>& events = batch.columns[event_col_].ints;
    for (size_t i = 0; i < n; ++i) {
      // A new key: compare in-batch neighbours directly, the first row by encoding.
      bool new_key;
      if (i > 0) {
        new_key = CompareKeys(batch, key_cols_, i, batch, key_cols_, i - 1) != 0;
      } else {
        first_key.clear();
        EncodeKey(batch, key_cols_, 0, &first_key);
        new_key = !have_key || first_key != key_;
      }
      if (new_key) {
        CAIRN_RETURN_IF_ERROR(FinishKey(batch));
        if (i == 0) {
          key_ = first_key;
        } else {
          EncodeKey(batch, key_cols_, i, &key_);
        }
        have_key = true;
      }
      int64_t ev = events[i];
      if (ev > end_) continue;
      if (ev >= start_ && ev < end_) {
        // Rows come in (event, created) order: the last in-range row is the latest.
        has_candidate_ = true;
        candidate_in_batch_ = true;
        candidate_row_ = i;
        ++result_.rows_in_range;
      }
      for (size_t w = 0; w < windows_.size(); ++w) {
        TrailingWindow& window = windows_[w];
        if (ev <= end_ - window.window_ms()) continue;  // never inside (end - window, end]
        int input = window_inputs_[w];
        if (input < 0) {
          window.Add(ev, 1.0, true);
        } else {
          const Column& c = batch.columns[input];
          window.Add(ev, c.doubles[i], c.valid[i] != 0);
        }
      }
    }
    // The batch is about to be replaced: keep the candidate's values.
    if (has_candidate_ && candidate_in_batch_) CopyCandidate(batch);
  }
  CAIRN_RETURN_IF_ERROR(FinishKey(batch));
  return Flush();
}

}  // namespace

int64_t MaterializeScanStart(const FeatureViewSpec& spec, int64_t start) {
  int64_t longest = 0;
  for (const FeatureSpec& f : spec.features) {
    if (f.agg != AggFn::kNone) longest = std::max(longest, f.window_ms);
  }
  return start - longest;
}

absl::StatusOr<MaterializeResult> Materialize(const FeatureViewSpec& spec,
                                              std::span<const Field> join_keys,
                                              RowStream& rows, OnlineStore& store,
                                              int64_t start, int64_t end,
                                              const MaterializeOptions& options) {
  if (start >= end) {
    return absl::InvalidArgumentError(absl::StrCat("materialize '", spec.meta.name,
                                                   "': start (", start,
                                                   ") must be before end (", end, ")"));
  }
  Materialization m(spec, store, start, end, options);
  CAIRN_RETURN_IF_ERROR(m.Bind(rows.schema(), join_keys));
  CAIRN_RETURN_IF_ERROR(m.Run(rows));
  return m.result();
}

}  // namespace cairn::features
