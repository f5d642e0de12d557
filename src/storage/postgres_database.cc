#include "storage/postgres_database.h"

namespace cairn::storage {

// Filled in by the PostgreSQL backend change.
absl::StatusOr<std::unique_ptr<Database>> OpenPostgres(const PostgresOptions& options) {
  return absl::UnimplementedError("postgresql metadata backend is not built yet");
}

}  // namespace cairn::storage
