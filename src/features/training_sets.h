#pragma once
// Training-set snapshots: every point-in-time join result is saved with what made it —
// the content hash of the rows, the hash of the entity input, the feature references
// and the version of every feature view read — so a tracking run can name it as its
// input dataset (MLflow log-inputs: digest = content_hash, source = cairn://training-
// sets/<id>) and a model can be traced back to its features.
//
// Records live in the metadata database (table training_sets, migrations component
// "features_training_sets"); the rows in the offline store as table
// "training_set.<id>" keyed by the row number, so they read back in their order.
// Thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/json.h"
#include "features/offline/offline_store.h"
#include "features/table.h"
#include "storage/database.h"

namespace cairn::features {

struct TrainingSetRecord {
  std::string id;                                 // 32 hex digits
  std::string content_hash;                       // SHA-256 of the rows (HashTable)
  std::string entity_hash;                        // SHA-256 of the entity input
  std::string feature_service;                    // "" when features were listed
  std::vector<std::string> features;              // "view:feature", in column order
  std::map<std::string, int64_t> view_versions;   // view → registry version read
  int64_t rows = 0;
  int64_t created_at = 0;
};

// {"id", "content_hash", "entity_hash", "feature_service", "features",
//  "feature_views": {view: version}, "rows", "created_at", "uri": "cairn://training-sets/<id>"}
Json TrainingSetToJson(const TrainingSetRecord& record);

// Lowercase hex SHA-256 over the column names, types, validity and values of `table`,
// row-major order independent of how the columns are stored. Equal tables hash equal.
std::string HashTable(const Table& table);

class TrainingSets {
 public:
  // Applies the migrations. All three must outlive the object.
  static absl::StatusOr<std::unique_ptr<TrainingSets>> Open(storage::Database& db, Clock& clock,
                                                            OfflineStore& offline);

  // Stores `rows` and a record filled from `record` (id, hashes, rows and created_at are
  // set here). Returns the stored record.
  absl::StatusOr<TrainingSetRecord> Save(const Table& entities, const Table& rows,
                                         TrainingSetRecord record);

  // NotFound naming the id.
  absl::StatusOr<TrainingSetRecord> Get(std::string_view id);
  // The rows, in their order.
  absl::StatusOr<Table> Load(std::string_view id);

 private:
  TrainingSets(storage::Database& db, Clock& clock, OfflineStore& offline)
      : db_(db), clock_(clock), offline_(offline) {}
  storage::Database& db_;
  Clock& clock_;
  OfflineStore& offline_;
};

}  // namespace cairn::features
