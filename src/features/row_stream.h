#pragma once
// A stream of feature rows in (entity key, event time, created time) order, delivered in
// batches. The offline store's scans produce one; the point-in-time join and
// materialization consume them, so neither ever holds a whole feature view in memory.
//
// Column conventions of every offline table (source tables and feature-view tables):
//   - the entity join-key columns, named as the entity declares them;
//   - kEventTsColumn (timestamp): the row's event time;
//   - kCreatedTsColumn (timestamp): when the row was written (the source's created
//     timestamp field when it declares one, else the ingestion time); breaks ties
//     between equal event times (greatest wins);
//   - the data columns.

#include <memory>

#include "absl/status/statusor.h"
#include "features/table.h"

namespace cairn::features {

inline constexpr char kEventTsColumn[] = "__event_ts";
inline constexpr char kCreatedTsColumn[] = "__created_ts";

class RowStream {
 public:
  virtual ~RowStream() = default;
  // The columns of every batch, in order.
  virtual const Schema& schema() const = 0;
  // Replaces *batch with the next rows (at least one) and returns true, or returns false
  // at the end. Rows across batches continue the same order. Not thread-safe.
  virtual absl::StatusOr<bool> Next(Table* batch) = 0;
};

// A RowStream over an in-memory table that is already sorted (tests, small inputs).
// Borrows `table`, which must outlive the stream.
std::unique_ptr<RowStream> StreamOfSortedTable(const Table& table, size_t batch_rows = 4096);

}  // namespace cairn::features
