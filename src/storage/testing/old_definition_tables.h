#pragma once
// Test-only: the tables of a versioned-definition registry (pipelines, monitors, endpoints,
// policies) as migration 1 of each wrote them before storage/definition_store.h, filled
// the way the old Apply filled them — for the tests that prove such a database still
// opens and reads the same.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "storage/database.h"

namespace cairn::storage::test_support {

// One version of one definition as the old Apply stored it.
struct OldDefinitionRow {
  std::string name;
  int64_t version = 1;
  std::string content_hash;  // the registry's content hash of `spec`
  std::string spec;          // the canonical JSON text
  bool removed = false;      // the head row's removed flag
  std::string model;         // the head's model column (policies only)
};

// Drops `heads` and `versions` and creates them as the old migration 1 did (`heads` with a
// `model` column and its `<heads>_by_model` index when `with_model`), then writes each row:
// its version row (created_ms = 1000 × version) and its head row (the last row of a name
// wins the head's version and hash).
absl::Status WriteOldDefinitionTables(SqlSession& session, std::string_view heads,
                                      std::string_view versions, bool with_model,
                                      const std::vector<OldDefinitionRow>& rows);

}  // namespace cairn::storage::test_support
