#include "features/row_stream.h"

#include <algorithm>

namespace cairn::features {
namespace {

class SortedTableStream final : public RowStream {
 public:
  SortedTableStream(const Table& table, size_t batch_rows)
      : table_(table), schema_(table.schema()), batch_rows_(std::max<size_t>(1, batch_rows)) {}
  const Schema& schema() const override { return schema_; }
  absl::StatusOr<bool> Next(Table* batch) override {
    if (next_ >= table_.num_rows()) return false;
    *batch = Table::FromSchema(schema_);
    size_t end = std::min(table_.num_rows(), next_ + batch_rows_);
    for (; next_ < end; ++next_) batch->AppendRow(table_, next_);
    return true;
  }

 private:
  const Table& table_;
  Schema schema_;
  size_t batch_rows_;
  size_t next_ = 0;
};

}  // namespace

std::unique_ptr<RowStream> StreamOfSortedTable(const Table& table, size_t batch_rows) {
  return std::make_unique<SortedTableStream>(table, batch_rows);
}

}  // namespace cairn::features
