#include "features/testing/pit_reference.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "features/row_stream.h"

namespace cairn::features::testing {
namespace {

// Total order on Values of one type: null first, then by value.
int CompareValues(const Value& a, const Value& b) {
  if (a.index() != b.index()) return a.index() < b.index() ? -1 : 1;  // monostate is 0
  if (a < b) return -1;
  if (b < a) return 1;
  return 0;
}

int64_t IntAt(const Table& t, const std::string& name, size_t row) {
  return t.columns[t.Find(name)].ints[row];
}

Value Aggregate(AggFn fn, const std::vector<double>& values) {
  if (fn == AggFn::kCount) return static_cast<int64_t>(values.size());
  if (values.empty()) return std::monostate{};
  switch (fn) {
    case AggFn::kSum:
    case AggFn::kMean: {
      long double sum = 0;
      for (double v : values) sum += v;
      // The test data's sums are exact; divide in double as the window does.
      if (fn == AggFn::kMean) return static_cast<double>(sum) / static_cast<double>(values.size());
      return static_cast<double>(sum);
    }
    case AggFn::kMin: return *std::min_element(values.begin(), values.end());
    case AggFn::kMax: return *std::max_element(values.begin(), values.end());
    default: return std::monostate{};
  }
}

}  // namespace

Table ReferencePointInTimeJoin(const Table& entities, const std::vector<ReferenceView>& views,
                               const PitOptions& options) {
  Table out = entities;
  const size_t n = entities.num_rows();
  const Column& ts_col = entities.columns[entities.Find(options.timestamp_column)];
  for (const ReferenceView& view : views) {
    const Table& rows = *view.rows;
    const std::string& vname = view.spec->meta.name;
    const int64_t ttl = view.spec->ttl_ms;
    for (const std::string& feature : view.features) {
      const FeatureSpec* spec = nullptr;
      for (const FeatureSpec& f : view.spec->features) {
        if (f.name == feature) spec = &f;
      }
      std::string out_name = options.full_feature_names ? vname + "__" + feature : feature;
      int input = spec->agg == AggFn::kNone ? rows.Find(feature)
                                            : rows.Find(kAggInputPrefix + feature);
      FeatureType type = spec->agg == AggFn::kNone ? rows.columns[input].type
                         : spec->agg == AggFn::kCount ? FeatureType::kInt64
                                                      : FeatureType::kDouble;
      Column col(type);
      for (size_t e = 0; e < n; ++e) {
        bool usable = ts_col.valid[e] != 0;
        for (const std::string& k : view.key_columns) {
          if (entities.columns[entities.Find(k)].IsNull(e)) usable = false;
        }
        if (!usable) {
          col.AppendNull();
          continue;
        }
        const int64_t ts = ts_col.ints[e];
        auto same_key = [&](size_t r) {
          for (const std::string& k : view.key_columns) {
            if (CompareValues(entities.columns[entities.Find(k)].Get(e),
                              rows.columns[rows.Find(k)].Get(r)) != 0) {
              return false;
            }
          }
          return true;
        };
        if (spec->agg == AggFn::kNone) {
          std::optional<size_t> best;
          for (size_t r = 0; r < rows.num_rows(); ++r) {
            if (!same_key(r)) continue;
            int64_t ev = IntAt(rows, kEventTsColumn, r);
            if (ev > ts) continue;
            if (ttl > 0 && static_cast<__int128>(ev) < static_cast<__int128>(ts) - ttl) continue;
            if (!best) {
              best = r;
              continue;
            }
            int64_t bev = IntAt(rows, kEventTsColumn, *best);
            int64_t bcr = IntAt(rows, kCreatedTsColumn, *best);
            int64_t cr = IntAt(rows, kCreatedTsColumn, r);
            if (ev > bev || (ev == bev && cr > bcr)) best = r;
          }
          if (best) {
            col.AppendFrom(rows.columns[input], *best);
          } else {
            col.AppendNull();
          }
        } else {
          std::vector<double> values;
          for (size_t r = 0; r < rows.num_rows(); ++r) {
            if (!same_key(r)) continue;
            int64_t ev = IntAt(rows, kEventTsColumn, r);
            if (ev > ts) continue;
            if (static_cast<__int128>(ev) <= static_cast<__int128>(ts) - spec->window_ms) {
              continue;
            }
            if (input < 0) {
              values.push_back(1.0);
            } else if (!rows.columns[input].IsNull(r)) {
              values.push_back(rows.columns[input].doubles[r]);
            }
          }
          Value v = Aggregate(spec->agg, values);
          (void)col.Append(v);
        }
      }
      out.names.push_back(out_name);
      out.columns.push_back(std::move(col));
    }
  }
  return out;
}

Table SortViewRows(const Table& rows, const std::vector<std::string>& key_columns) {
  std::vector<size_t> idx(rows.num_rows());
  std::iota(idx.begin(), idx.end(), 0);
  std::vector<std::string> order = key_columns;
  order.push_back(kEventTsColumn);
  order.push_back(kCreatedTsColumn);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    for (const std::string& name : order) {
      const Column& c = rows.columns[rows.Find(name)];
      int cmp = CompareValues(c.Get(a), c.Get(b));
      if (cmp != 0) return cmp < 0;
    }
    return false;
  });
  Table out = rows;
  out.Clear();
  for (size_t i : idx) out.AppendRow(rows, i);
  return out;
}

}  // namespace cairn::features::testing
