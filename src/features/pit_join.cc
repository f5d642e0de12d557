#include "features/pit_join.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/entity_key.h"
#include "features/window_agg.h"

namespace cairn::features {
namespace {

// A row feature: copy cell `src` of the winning view row into output column `dst`.
struct RowFeature {
  int src;
  int dst;
};

// An aggregation feature: `src` is the input column (-1: count every row).
struct AggFeature {
  AggFn fn;
  int64_t window_ms;
  int src;
  int dst;
};

// One view, resolved against its stream's schema and the entity table.
struct ViewPlan {
  std::string name;
  int64_t ttl_ms = 0;
  std::vector<int> view_keys;    // key columns in the view's batches
  std::vector<int> entity_keys;  // the same keys in the entity table
  int event_col = -1;
  int created_col = -1;
  std::vector<RowFeature> row_features;
  std::vector<AggFeature> agg_features;
  size_t order = 0;  // which EntityOrder
};

// The entity rows with no null key cell and a timestamp, sorted by (keys, ts, position).
// `key` is filled only for a single integer key column (the fast path).
struct EntityOrder {
  std::vector<int> key_cols;
  bool int_key = false;
  std::vector<uint32_t> pos;
  std::vector<int64_t> key;
  std::vector<int64_t> ts;
};

bool IsIntBacked(FeatureType t) {
  return t == FeatureType::kInt64 || t == FeatureType::kTimestamp || t == FeatureType::kBool;
}

EntityOrder BuildOrder(const Table& entities, std::vector<int> key_cols, int ts_col) {
  EntityOrder order;
  order.key_cols = std::move(key_cols);
  const Column& tsc = entities.columns[ts_col];
  const size_t n = entities.num_rows();
  auto usable = [&](size_t i) {
    if (!tsc.valid[i]) return false;
    for (int c : order.key_cols) {
      if (!entities.columns[c].valid[i]) return false;
    }
    return true;
  };
  if (order.key_cols.size() == 1 && IsIntBacked(entities.columns[order.key_cols[0]].type)) {
    order.int_key = true;
    const Column& kc = entities.columns[order.key_cols[0]];
    struct Row {
      int64_t key;
      int64_t ts;
      uint32_t pos;
    };
    std::vector<Row> rows;
    rows.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (usable(i)) rows.push_back({kc.ints[i], tsc.ints[i], static_cast<uint32_t>(i)});
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      if (a.key != b.key) return a.key < b.key;
      if (a.ts != b.ts) return a.ts < b.ts;
      return a.pos < b.pos;
    });
    order.pos.resize(rows.size());
    order.key.resize(rows.size());
    order.ts.resize(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      order.pos[i] = rows[i].pos;
      order.key[i] = rows[i].key;
      order.ts[i] = rows[i].ts;
    }
    return order;
  }
  order.pos.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (usable(i)) order.pos.push_back(static_cast<uint32_t>(i));
  }
  std::span<const int> cols(order.key_cols);
  std::sort(order.pos.begin(), order.pos.end(), [&](uint32_t a, uint32_t b) {
    int c = CompareKeys(entities, cols, a, entities, cols, b);
    if (c != 0) return c < 0;
    if (tsc.ints[a] != tsc.ints[b]) return tsc.ints[a] < tsc.ints[b];
    return a < b;
  });
  order.ts.resize(order.pos.size());
  for (size_t i = 0; i < order.pos.size(); ++i) order.ts[i] = tsc.ints[order.pos[i]];
  return order;
}

// Merges one view's stream with the sorted entity rows, writing the view's output
// columns at each entity row's original position. Owns the only state that changes.
class ViewJoiner {
 public:
  // `streams`: the view's one merged stream, or its segments (row features only).
  ViewJoiner(const ViewPlan& plan, const EntityOrder& order, const Table& entities,
             std::vector<RowStream*> streams, Table* out)
      : plan_(plan), order_(order), entities_(entities), streams_(std::move(streams)),
        out_(out) {
    for (const AggFeature& f : plan_.agg_features) {
      windows_.emplace_back(f.fn, f.window_ms);
      empty_.push_back(windows_.back().Result());
    }
  }

  absl::Status Run() {
    // Results go to columns in sorted entity order first (sequential writes), then one
    // column at a time to the output positions: scattering every feature of a row at once
    // touches all output columns at random and thrashes the cache on large inputs.
    const size_t m = order_.pos.size();
    auto stage = [&](int dst) {
      Column col(out_->columns[dst].type);
      col.valid.assign(m, 0);
      switch (col.type) {
        case FeatureType::kDouble: col.doubles.assign(m, 0.0); break;
        case FeatureType::kString: col.strings.assign(m, std::string()); break;
        default: col.ints.assign(m, 0); break;
      }
      return col;
    };
    for (const RowFeature& f : plan_.row_features) staged_.push_back(stage(f.dst));
    for (const AggFeature& f : plan_.agg_features) staged_.push_back(stage(f.dst));
    multi_ = streams_.size() > 1;
    if (multi_) {
      best_ev_.assign(m, 0);
      best_cr_.assign(m, 0);
      has_best_.assign(m, 0);
    }
    for (RowStream* stream : streams_) {
      stream_ = stream;
      cur_ = Table();
      prev_ = Table();
      p_ = n_ = 0;
      done_ = false;
      cand_ = nullptr;
      has_cand_ = false;
      CAIRN_RETURN_IF_ERROR(order_.int_key ? Merge<true>() : Merge<false>());
    }
    size_t k = 0;
    for (const RowFeature& f : plan_.row_features) Scatter(&staged_[k++], &out_->columns[f.dst]);
    for (const AggFeature& f : plan_.agg_features) Scatter(&staged_[k++], &out_->columns[f.dst]);
    return absl::OkStatus();
  }

 private:
  // Reads the next non-empty batch into cur_. The candidate row, if in cur_, moves to
  // prev_ first: it is always the last row consumed, so one old batch is enough.
  absl::StatusOr<bool> Load() {
    if (done_) return false;
    if (has_cand_ && cand_ == &cur_) {
      std::swap(cur_, prev_);
      cand_ = &prev_;
    }
    p_ = n_ = 0;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool more, stream_->Next(&cur_));
      if (!more) {
        done_ = true;
        return false;
      }
      if (cur_.num_columns() != stream_->schema().size()) {
        return absl::InternalError(absl::StrCat("view '", plan_.name, "': a batch has ",
                                                cur_.num_columns(), " columns, its schema ",
                                                stream_->schema().size()));
      }
      n_ = cur_.num_rows();
      if (n_ > 0) break;
    }
    const Column& k = cur_.columns[plan_.view_keys[0]];
    key_ints_ = k.ints.data();
    key_valid_ = k.valid.data();
    event_ts_ = cur_.columns[plan_.event_col].ints.data();
    return true;
  }

  // <0, 0, >0 as view row p_ of cur_ orders before, equal to or after the key of entity
  // s (in sorted order).
  template <bool kIntKey>
  int Compare(size_t s) const {
    if constexpr (kIntKey) {
      if (!key_valid_[p_]) return -1;
      int64_t a = key_ints_[p_], b = order_.key[s];
      return a < b ? -1 : (a > b ? 1 : 0);
    } else {
      return CompareKeys(cur_, plan_.view_keys, p_, entities_, plan_.entity_keys,
                         order_.pos[s]);
    }
  }

  template <bool kIntKey>
  bool SameEntityKey(size_t a, size_t b) const {
    if constexpr (kIntKey) {
      return order_.key[a] == order_.key[b];
    } else {
      return CompareKeys(entities_, plan_.entity_keys, order_.pos[a], entities_,
                         plan_.entity_keys, order_.pos[b]) == 0;
    }
  }

  template <bool kIntKey>
  absl::Status Merge() {
    const size_t m = order_.pos.size();
    size_t s = 0;
    while (s < m) {
      size_t group_end = s + 1;
      while (group_end < m && SameEntityKey<kIntKey>(s, group_end)) ++group_end;
      has_cand_ = false;
      // Skip view rows with smaller keys (and null keys, which order first).
      int c = 1;
      for (;;) {
        if (p_ == n_) {
          CAIRN_ASSIGN_OR_RETURN(bool more, Load());
          if (!more) break;
        }
        if constexpr (kIntKey) {
          const int64_t k = order_.key[s];
          while (p_ < n_ && (!key_valid_[p_] || key_ints_[p_] < k)) ++p_;
          if (p_ == n_) continue;
        }
        c = Compare<kIntKey>(s);
        if (c >= 0) break;
        ++p_;
      }
      if (c != 0) {  // the view has no row with this key
        for (size_t e = s; e < group_end; ++e) WriteAbsent(e);
        s = group_end;
        continue;
      }
      for (TrailingWindow& w : windows_) w.Reset();
      for (size_t e = s; e < group_end; ++e) {
        const int64_t ts = order_.ts[e];
        // Rows of a key come in (event_ts, created_ts) order: the last one at or before ts
        // is the winner, ties on event_ts going to the greatest created_ts.
        for (;;) {
          if (p_ == n_) {
            CAIRN_ASSIGN_OR_RETURN(bool more, Load());
            if (!more) break;
          }
          const size_t start = p_;
          size_t p = p_;
          if constexpr (kIntKey) {
            const int64_t key = order_.key[s];
            while (p < n_ && event_ts_[p] <= ts && key_valid_[p] && key_ints_[p] == key) ++p;
          } else {
            while (p < n_ && event_ts_[p] <= ts &&
                   CompareKeys(cur_, plan_.view_keys, p, entities_, plan_.entity_keys,
                               order_.pos[s]) == 0) {
              ++p;
            }
          }
          p_ = p;
          if (p > start) {
            cand_ = &cur_;
            cand_row_ = p - 1;
            has_cand_ = true;
            if (!windows_.empty()) {
              for (size_t r = start; r < p; ++r) AddToWindows(r);
            }
          }
          if (p < n_) break;  // row p is later than ts or has another key
        }
        Write(e, ts);
      }
      s = group_end;
    }
    return absl::OkStatus();
  }

  void AddToWindows(size_t row) {
    for (size_t i = 0; i < windows_.size(); ++i) {
      const int src = plan_.agg_features[i].src;
      if (src < 0) {
        windows_[i].Add(event_ts_[row], 1.0, true);
        continue;
      }
      const Column& col = cur_.columns[src];
      double v = col.type == FeatureType::kDouble ? col.doubles[row]
                                                  : static_cast<double>(col.ints[row]);
      windows_[i].Add(event_ts_[row], v, col.valid[row] != 0);
    }
  }

  void Scatter(Column* from, Column* to) const {
    const uint32_t* pos = order_.pos.data();
    const size_t m = order_.pos.size();
    for (size_t i = 0; i < m; ++i) to->valid[pos[i]] = from->valid[i];
    switch (from->type) {
      case FeatureType::kDouble:
        for (size_t i = 0; i < m; ++i) to->doubles[pos[i]] = from->doubles[i];
        break;
      case FeatureType::kString:
        for (size_t i = 0; i < m; ++i) to->strings[pos[i]] = std::move(from->strings[i]);
        break;
      default:
        for (size_t i = 0; i < m; ++i) to->ints[pos[i]] = from->ints[i];
        break;
    }
    *from = Column();
  }

  // Entity e (in sorted order) at time ts.
  void Write(size_t e, int64_t ts) {
    if (multi_) {
      WriteBest(e, ts);
      return;
    }
    if (has_cand_) {
      const int64_t ev = cand_->columns[plan_.event_col].ints[cand_row_];
      // ev <= ts; the unsigned difference cannot overflow.
      bool in_ttl = plan_.ttl_ms <= 0 ||
                    static_cast<uint64_t>(ts) - static_cast<uint64_t>(ev) <=
                        static_cast<uint64_t>(plan_.ttl_ms);
      if (in_ttl) {
        for (size_t k = 0; k < plan_.row_features.size(); ++k) {
          CopyCell(cand_->columns[plan_.row_features[k].src], cand_row_, &staged_[k], e);
        }
      }
    }
    for (size_t i = 0; i < windows_.size(); ++i) {
      windows_[i].AdvanceTo(ts);
      SetCell(windows_[i].Result(), &staged_[plan_.row_features.size() + i], e);
    }
  }

  // Segment by segment (no aggregations): this segment's candidate replaces the best so
  // far when it orders at or after it by (event_ts, created_ts) — a merge puts equal rows
  // of later segments later, so the later one wins — and then the TTL is applied to it.
  void WriteBest(size_t e, int64_t ts) {
    if (!has_cand_) return;
    const int64_t ev = cand_->columns[plan_.event_col].ints[cand_row_];
    const int64_t cr = cand_->columns[plan_.created_col].ints[cand_row_];
    if (has_best_[e] && (ev < best_ev_[e] || (ev == best_ev_[e] && cr < best_cr_[e]))) return;
    has_best_[e] = 1;
    best_ev_[e] = ev;
    best_cr_[e] = cr;
    bool in_ttl = plan_.ttl_ms <= 0 ||
                  static_cast<uint64_t>(ts) - static_cast<uint64_t>(ev) <=
                      static_cast<uint64_t>(plan_.ttl_ms);
    for (size_t k = 0; k < plan_.row_features.size(); ++k) {
      ClearCell(&staged_[k], e);
      if (in_ttl) CopyCell(cand_->columns[plan_.row_features[k].src], cand_row_, &staged_[k], e);
    }
  }

  static void ClearCell(Column* dst, size_t pos) {
    dst->valid[pos] = 0;
    switch (dst->type) {
      case FeatureType::kDouble: dst->doubles[pos] = 0.0; break;
      case FeatureType::kString: dst->strings[pos].clear(); break;
      default: dst->ints[pos] = 0; break;
    }
  }

  // A key the view lacks: row features stay null; aggregations see an empty window.
  void WriteAbsent(size_t e) {
    for (size_t i = 0; i < windows_.size(); ++i) {
      SetCell(empty_[i], &staged_[plan_.row_features.size() + i], e);
    }
  }

  static void CopyCell(const Column& src, size_t row, Column* dst, size_t pos) {
    if (!src.valid[row]) return;
    dst->valid[pos] = 1;
    switch (src.type) {
      case FeatureType::kDouble: dst->doubles[pos] = src.doubles[row]; break;
      case FeatureType::kString: dst->strings[pos] = src.strings[row]; break;
      default: dst->ints[pos] = src.ints[row]; break;
    }
  }

  static void SetCell(const Value& v, Column* dst, size_t pos) {
    if (const auto* d = std::get_if<double>(&v)) {
      dst->doubles[pos] = *d;
      dst->valid[pos] = 1;
    } else if (const auto* i = std::get_if<int64_t>(&v)) {
      dst->ints[pos] = *i;
      dst->valid[pos] = 1;
    }
  }

  const ViewPlan& plan_;
  const EntityOrder& order_;
  const Table& entities_;
  std::vector<RowStream*> streams_;
  RowStream* stream_ = nullptr;  // the one being read
  Table* out_;
  bool multi_ = false;  // several segments: keep the best candidate per entity row
  std::vector<int64_t> best_ev_, best_cr_;
  std::vector<uint8_t> has_best_;
  std::vector<TrailingWindow> windows_;
  std::vector<Value> empty_;  // each window's result over no rows
  std::vector<Column> staged_;  // row features, then aggregations; in sorted entity order

  Table cur_, prev_;
  size_t p_ = 0, n_ = 0;
  bool done_ = false;
  const int64_t* key_ints_ = nullptr;
  const uint8_t* key_valid_ = nullptr;
  const int64_t* event_ts_ = nullptr;
  const Table* cand_ = nullptr;
  size_t cand_row_ = 0;
  bool has_cand_ = false;
};

std::string ViewName(const PitView& v) { return v.spec->meta.name; }

// Resolves `view` against its stream's schema and the entity table; adds its output
// columns to `out` and records each output name's owner in `names` for clash checks.
absl::StatusOr<ViewPlan> PlanView(const PitView& view, size_t view_index,
                                  const Table& entities, const PitOptions& options,
                                  std::map<std::string, std::string>* names, Table* out) {
  if (view.spec == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("views[", view_index, "]: spec is null; pass the feature view's spec"));
  }
  const std::string name = ViewName(view);
  if (view.rows == nullptr && view.segments.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("view '", name, "': rows is null; pass the view table's RowStream"));
  }
  if (view.rows != nullptr && !view.segments.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("view '", name, "': pass rows or segments, not both"));
  }
  for (const auto& segment : view.segments) {
    if (segment == nullptr || segment->schema() != view.segments[0]->schema()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "view '", name, "': every segment stream needs the same schema (and none null)"));
    }
  }
  if (view.key_columns.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("view '", name, "': key_columns is empty; name its join keys"));
  }
  const Schema& schema = view.rows != nullptr ? view.rows->schema() : view.segments[0]->schema();
  ViewPlan plan;
  plan.name = name;
  plan.ttl_ms = view.spec->ttl_ms;
  for (const std::string& key : view.key_columns) {
    int vc = FindField(schema, key);
    if (vc < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "view '", name, "': key column '", key, "' is not in the view's rows"));
    }
    int ec = entities.Find(key);
    if (ec < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "entity rows have no column '", key, "', a join key of view '", name,
          "'; add it to the entity rows"));
    }
    if (entities.columns[ec].type != schema[vc].type) {
      return absl::InvalidArgumentError(absl::StrCat(
          "entity column '", key, "' is ", ToAbsl(TypeName(entities.columns[ec].type)),
          " but view '", name, "' has it as ", ToAbsl(TypeName(schema[vc].type)),
          "; give the entity rows the view's key type"));
    }
    plan.view_keys.push_back(vc);
    plan.entity_keys.push_back(ec);
  }
  for (const char* ts_name : {kEventTsColumn, kCreatedTsColumn}) {
    int c = FindField(schema, ts_name);
    if (c < 0 || !IsIntBacked(schema[c].type) || schema[c].type == FeatureType::kBool) {
      return absl::InvalidArgumentError(absl::StrCat(
          "view '", name, "': rows lack a timestamp column '", ts_name, "'"));
    }
    if (std::string_view(ts_name) == kEventTsColumn) plan.event_col = c;
    if (std::string_view(ts_name) == kCreatedTsColumn) plan.created_col = c;
  }
  for (const std::string& feature : view.features) {
    auto it = std::find_if(view.spec->features.begin(), view.spec->features.end(),
                           [&](const FeatureSpec& f) { return f.name == feature; });
    if (it == view.spec->features.end()) {
      std::vector<std::string> known;
      for (const FeatureSpec& f : view.spec->features) known.push_back(f.name);
      return absl::InvalidArgumentError(
          absl::StrCat("view '", name, "' has no feature '", feature,
                       "'; its features: ", absl::StrJoin(known, ", ")));
    }
    std::string out_name =
        options.full_feature_names ? absl::StrCat(name, "__", feature) : feature;
    std::string owner = absl::StrCat("feature '", feature, "' of view '", name, "'");
    if (entities.Find(out_name) >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output column '", out_name, "' (", owner,
          ") has the name of an entity column; rename that column",
          options.full_feature_names ? "" : " or use full_feature_names"));
    }
    auto [prior, inserted] = names->emplace(out_name, owner);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output column '", out_name, "' is both ", prior->second, " and ", owner,
          options.full_feature_names ? "; request it once"
                                     : "; set full_feature_names to tell them apart"));
    }
    if (it->agg == AggFn::kNone) {
      int src = FindField(schema, feature);
      if (src < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "view '", name, "': rows have no column for feature '", feature, "'"));
      }
      int dst = out->AddColumn(out_name, schema[src].type);
      plan.row_features.push_back({src, dst});
    } else {
      std::string input = absl::StrCat(kAggInputPrefix, feature);
      int src = FindField(schema, input);
      if (src >= 0 && schema[src].type != FeatureType::kDouble &&
          schema[src].type != FeatureType::kInt64) {
        return absl::InvalidArgumentError(
            absl::StrCat("view '", name, "': column '", input, "' is ",
                         ToAbsl(TypeName(schema[src].type)), ", not double"));
      }
      if (src < 0 && it->agg != AggFn::kCount) {
        return absl::InvalidArgumentError(absl::StrCat(
            "view '", name, "': rows have no column '", input, "' for aggregation feature '",
            feature, "'"));
      }
      FeatureType type = it->agg == AggFn::kCount ? FeatureType::kInt64 : FeatureType::kDouble;
      int dst = out->AddColumn(out_name, type);
      plan.agg_features.push_back({it->agg, it->window_ms, src, dst});
    }
  }
  if (view.segments.size() > 1 && !plan.agg_features.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "view '", name, "': aggregation features need the merged rows, not segments"));
  }
  return plan;
}

}  // namespace

absl::StatusOr<Table> PointInTimeJoin(const Table& entities, std::vector<PitView> views,
                                      const PitOptions& options) {
  const int ts_col = entities.Find(options.timestamp_column);
  if (ts_col < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("entity rows have no timestamp column '",
                     ToAbsl(options.timestamp_column),
                     "'; add it or set the timestamp column option"));
  }
  const FeatureType ts_type = entities.columns[ts_col].type;
  if (ts_type != FeatureType::kTimestamp && ts_type != FeatureType::kInt64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entity column '", ToAbsl(options.timestamp_column), "' is ",
        ToAbsl(TypeName(ts_type)), "; it must be a timestamp (epoch milliseconds)"));
  }
  if (entities.num_rows() > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("too many entity rows (", entities.num_rows(), "); split the input"));
  }

  Table out = entities;
  std::map<std::string, std::string> names;
  std::vector<ViewPlan> plans;
  for (size_t i = 0; i < views.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(ViewPlan plan, PlanView(views[i], i, entities, options, &names, &out));
    plans.push_back(std::move(plan));
  }
  const size_t m = entities.num_rows();
  for (size_t c = entities.num_columns(); c < out.num_columns(); ++c) {
    Column& col = out.columns[c];
    col.valid.assign(m, 0);
    switch (col.type) {
      case FeatureType::kDouble: col.doubles.assign(m, 0.0); break;
      case FeatureType::kString: col.strings.assign(m, std::string()); break;
      default: col.ints.assign(m, 0); break;
    }
  }

  // One sorted order per distinct list of key columns (usually one for all views).
  std::vector<EntityOrder> orders;
  for (ViewPlan& plan : plans) {
    auto it = std::find_if(orders.begin(), orders.end(), [&](const EntityOrder& o) {
      return o.key_cols == plan.entity_keys;
    });
    if (it == orders.end()) {
      orders.push_back(BuildOrder(entities, plan.entity_keys, ts_col));
      it = orders.end() - 1;
    }
    plan.order = static_cast<size_t>(it - orders.begin());
  }

  std::vector<absl::Status> results(plans.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < plans.size(); i = next++) {
      std::vector<RowStream*> streams;
      if (views[i].rows != nullptr) streams.push_back(views[i].rows.get());
      for (const auto& segment : views[i].segments) streams.push_back(segment.get());
      ViewJoiner joiner(plans[i], orders[plans[i].order], entities, std::move(streams), &out);
      results[i] = joiner.Run();
    }
  };
  size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads)
                                       : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, plans.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  for (const absl::Status& s : results) CAIRN_RETURN_IF_ERROR(s);
  return out;
}

}  // namespace cairn::features
