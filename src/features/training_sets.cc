#include "features/training_sets.h"

#include <openssl/sha.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/sha256.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/row_stream.h"
#include "storage/migrations.h"

namespace cairn::features {
namespace {

constexpr char kRowColumn[] = "__row";

std::span<const storage::Migration> Migrations() {
  static const storage::Migration kMigrations[] = {
      {1, "training set snapshots",
       "CREATE TABLE training_sets ("
       " id TEXT PRIMARY KEY,"
       " content_hash TEXT NOT NULL,"
       " entity_hash TEXT NOT NULL,"
       " feature_service TEXT NOT NULL,"
       " features TEXT NOT NULL,"
       " feature_views TEXT NOT NULL,"
       " row_count BIGINT NOT NULL,"
       " created_at BIGINT NOT NULL)"},
  };
  return kMigrations;
}

std::string TableName(std::string_view id) { return absl::StrCat("training_set.", ToAbsl(id)); }

}  // namespace

Json TrainingSetToJson(const TrainingSetRecord& r) {
  Json views = Json::object();
  for (const auto& [view, version] : r.view_versions) views[view] = version;
  return Json{{"id", r.id},
              {"content_hash", r.content_hash},
              {"entity_hash", r.entity_hash},
              {"feature_service", r.feature_service},
              {"features", r.features},
              {"feature_views", views},
              {"rows", r.rows},
              {"created_at", r.created_at},
              {"uri", absl::StrCat("cairn://training-sets/", r.id)}};
}

std::string HashTable(const Table& table) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  // The hashed bytes go through a buffer: one SHA256_Update per 64 KiB, not per value
  // (the same byte stream, so the same digest).
  constexpr size_t kBuffer = 64 * 1024;
  std::vector<unsigned char> buffer(kBuffer);
  size_t used = 0;
  auto put = [&](const void* p, size_t n) {
    if (n == 0) return;
    if (used + n > kBuffer) {
      SHA256_Update(&ctx, buffer.data(), used);
      used = 0;
      if (n > kBuffer) {
        SHA256_Update(&ctx, p, n);
        return;
      }
    }
    std::memcpy(buffer.data() + used, p, n);
    used += n;
  };
  auto put64 = [&](uint64_t v) {
    if (used + 8 > kBuffer) {
      SHA256_Update(&ctx, buffer.data(), used);
      used = 0;
    }
    std::memcpy(buffer.data() + used, &v, 8);
    used += 8;
  };
  uint64_t ncols = table.num_columns(), nrows = table.num_rows();
  put64(ncols);
  put64(nrows);
  for (size_t c = 0; c < table.num_columns(); ++c) {
    const Column& col = table.columns[c];
    uint64_t len = table.names[c].size();
    put64(len);
    put(table.names[c].data(), len);
    uint8_t type = static_cast<uint8_t>(col.type);
    put(&type, 1);
    put(col.valid.data(), col.valid.size());
    switch (col.type) {
      case FeatureType::kDouble:
        for (size_t i = 0; i < col.size(); ++i) {
          double v = col.valid[i] ? col.doubles[i] : 0.0;
          uint64_t bits;
          std::memcpy(&bits, &v, 8);
          put64(bits);
        }
        break;
      case FeatureType::kString:
        for (size_t i = 0; i < col.size(); ++i) {
          uint64_t n = col.valid[i] ? col.strings[i].size() : 0;
          put64(n);
          if (n) put(col.strings[i].data(), n);
        }
        break;
      default:
        for (size_t i = 0; i < col.size(); ++i) {
          int64_t v = col.valid[i] ? col.ints[i] : 0;
          put64(static_cast<uint64_t>(v));
        }
        break;
    }
  }
  if (used) SHA256_Update(&ctx, buffer.data(), used);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &ctx);
  return LowerHex(digest, sizeof(digest));
}

absl::StatusOr<std::unique_ptr<TrainingSets>> TrainingSets::Open(storage::Database& db,
                                                                 Clock& clock,
                                                                 OfflineStore& offline) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "features_training_sets", Migrations()));
  return std::unique_ptr<TrainingSets>(new TrainingSets(db, clock, offline));
}

absl::StatusOr<TrainingSetRecord> TrainingSets::Save(const Table& entities, const Table& rows,
                                                     TrainingSetRecord record) {
  record.id = NewUuidHex();
  record.content_hash = HashTable(rows);
  record.entity_hash = HashTable(entities);
  record.rows = static_cast<int64_t>(rows.num_rows());
  record.created_at = clock_.NowMillis();

  // The stored table: row number (the key, so rows scan back in order), the two time
  // columns every offline table has, then the result's columns.
  Table stored;
  size_t n = rows.num_rows();
  Column row(FeatureType::kInt64), zero(FeatureType::kTimestamp);
  row.ints.resize(n);
  row.valid.assign(n, 1);
  for (size_t i = 0; i < n; ++i) row.ints[i] = static_cast<int64_t>(i);
  zero.ints.assign(n, 0);
  zero.valid.assign(n, 1);
  stored.names = {kRowColumn, kEventTsColumn, kCreatedTsColumn};
  stored.columns.push_back(std::move(row));
  stored.columns.push_back(zero);
  stored.columns.push_back(std::move(zero));
  OfflineTableLayout layout;
  layout.key_columns = {kRowColumn};
  layout.schema = {{kRowColumn, FeatureType::kInt64, false},
                   {kEventTsColumn, FeatureType::kTimestamp, false},
                   {kCreatedTsColumn, FeatureType::kTimestamp, false}};
  for (size_t c = 0; c < rows.num_columns(); ++c) {
    stored.names.push_back(rows.names[c]);
    stored.columns.push_back(rows.columns[c]);
    layout.schema.push_back({rows.names[c], rows.columns[c].type, true});
  }
  std::string table = TableName(record.id);
  CAIRN_RETURN_IF_ERROR(offline_.EnsureTable(table, layout));
  if (n > 0) CAIRN_RETURN_IF_ERROR(offline_.Append(table, stored));

  Json views = Json::object();
  for (const auto& [view, version] : record.view_versions) views[view] = version;
  std::vector<storage::SqlValue> params = {
      record.id, record.content_hash, record.entity_hash, record.feature_service,
      Json(record.features).dump(), views.dump(), record.rows, record.created_at};
  CAIRN_RETURN_IF_ERROR(db_.Write([&](storage::SqlSession& s) -> absl::Status {
    return s
        .Execute("INSERT INTO training_sets (id, content_hash, entity_hash, feature_service,"
                 " features, feature_views, row_count, created_at)"
                 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                 params)
        .status();
  }));
  return record;
}

absl::StatusOr<TrainingSetRecord> TrainingSets::Get(std::string_view id) {
  std::optional<TrainingSetRecord> found;
  std::vector<storage::SqlValue> params = {std::string(id)};
  CAIRN_RETURN_IF_ERROR(db_.Read([&](storage::SqlSession& s) -> absl::Status {
    return s.QueryEach(
        "SELECT id, content_hash, entity_hash, feature_service, features, feature_views,"
        " row_count, created_at FROM training_sets WHERE id = $1",
        params, [&](const storage::SqlRowView& row) -> absl::Status {
          TrainingSetRecord r;
          r.id = std::string(row.Text(0));
          r.content_hash = std::string(row.Text(1));
          r.entity_hash = std::string(row.Text(2));
          r.feature_service = std::string(row.Text(3));
          Json features = Json::parse(row.Text(4), nullptr, false);
          if (features.is_array()) {
            for (const Json& f : features) r.features.push_back(f.get<std::string>());
          }
          Json views = Json::parse(row.Text(5), nullptr, false);
          if (views.is_object()) {
            for (auto it = views.begin(); it != views.end(); ++it) {
              r.view_versions[it.key()] = it.value().get<int64_t>();
            }
          }
          r.rows = row.Int(6);
          r.created_at = row.Int(7);
          found = std::move(r);
          return absl::OkStatus();
        });
  }));
  if (!found) {
    return absl::NotFoundError(absl::StrCat("training set '", ToAbsl(id), "' does not exist"));
  }
  return *found;
}

absl::StatusOr<Table> TrainingSets::Load(std::string_view id) {
  CAIRN_ASSIGN_OR_RETURN(TrainingSetRecord record, Get(id));
  CAIRN_ASSIGN_OR_RETURN(OfflineTableLayout layout, offline_.Layout(TableName(id)));
  Schema out_schema(layout.schema.begin() + 3, layout.schema.end());
  Table out = Table::FromSchema(out_schema);
  if (record.rows == 0) return out;
  CAIRN_ASSIGN_OR_RETURN(auto stream, offline_.Scan(TableName(id), ScanOptions{}));
  Table batch;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(bool more, stream->Next(&batch));
    if (!more) break;
    for (size_t c = 0; c < out_schema.size(); ++c) {
      out.columns[c].AppendColumn(batch.columns[batch.Find(out_schema[c].name)]);
    }
  }
  return out;
}

}  // namespace cairn::features
