#include "storage/definition_store.h"

#include <set>

#include "absl/strings/str_join.h"
#include "common/sha256.h"
#include "common/strings.h"

namespace cairn::storage {
namespace {

// How many applies may race on PostgreSQL before one gives up (each retry re-plans).
constexpr int kApplyTries = 5;

// Columns of every version read, in this order (v: the versions table, p: the heads).
constexpr char kVersionColumns[] =
    "v.name, v.version, v.content_hash, v.spec, v.created_ms, p.removed";

StoredDefinition ReadStored(const SqlRowView& row) {
  return StoredDefinition{.name = std::string(row.Text(0)),
                          .version = row.Int(1),
                          .content_hash = std::string(row.Text(2)),
                          .spec = std::string(row.Text(3)),
                          .created_ms = row.Int(4),
                          .removed = row.Int(5) != 0};
}

Json OptionalVersion(const std::optional<int64_t>& version) {
  return version.has_value() ? Json(*version) : Json(nullptr);
}

}  // namespace

Json DefinitionChangeToJson(const DefinitionChange& change) {
  return Json{{"action", change.action},
              {"name", change.name},
              {"old_version", OptionalVersion(change.old_version)},
              {"new_version", OptionalVersion(change.new_version)},
              {"diffs", change.diffs}};
}

DefinitionStore::DefinitionStore(Database& db, Clock& clock, DefinitionStoreOptions options)
    : db_(db), clock_(clock), options_(std::move(options)) {}

absl::StatusOr<std::vector<DefinitionChange>> DefinitionStore::Apply(
    const std::vector<DefinitionInput>& inputs, bool dry_run, bool prune, const HeadCheck& check) {
  const DefinitionStoreOptions& o = options_;
  std::set<std::string> names;
  for (const DefinitionInput& input : inputs) {
    if (!names.insert(input.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(input.file, ":", input.line, ": ", o.kind, " ", input.name,
                       ": is defined twice in this apply: give each ", o.kind, " its own name"));
    }
  }
  // Canonical forms once, outside the transaction (which may run more than once).
  std::vector<std::string> texts, hashes;
  for (const DefinitionInput& input : inputs) {
    texts.push_back(DumpJson(input.canonical));
    hashes.push_back(Sha256Hex(texts.back()));
  }
  // The SQL of this store: the heads with the extra columns ($5, $6, … on upsert).
  std::string extra_select, extra_insert, extra_values, extra_update;
  for (size_t c = 0; c < o.columns.size(); ++c) {
    absl::StrAppend(&extra_select, ", ", o.columns[c]);
    absl::StrAppend(&extra_insert, ", ", o.columns[c]);
    absl::StrAppend(&extra_values, ", $", c + 5);
    absl::StrAppend(&extra_update, ", ", o.columns[c], " = $", c + 5);
  }
  const std::string select_heads = absl::StrCat(
      "SELECT name, latest_version, content_hash, removed", extra_select, " FROM ", o.table);
  const std::string select_spec =
      absl::StrCat("SELECT spec FROM ", o.versions_table, " WHERE name = $1 AND version = $2");
  const std::string insert_version =
      absl::StrCat("INSERT INTO ", o.versions_table,
                   " (name, version, content_hash, spec, created_ms) VALUES ($1, $2, $3, $4, $5)");
  const std::string upsert_head = absl::StrCat(
      "INSERT INTO ", o.table, " (name, latest_version, content_hash, removed, updated_ms",
      extra_insert, ") VALUES ($1, $2, $3, 0, $4", extra_values,
      ") ON CONFLICT (name) DO UPDATE SET latest_version = $2, content_hash = $3, removed = 0, "
      "updated_ms = $4",
      extra_update);
  const std::string remove_head =
      absl::StrCat("UPDATE ", o.table, " SET removed = 1, updated_ms = $2 WHERE name = $1");

  std::vector<DefinitionChange> changes;
  auto plan = [&](SqlSession& session, bool write) -> absl::Status {
    changes.clear();
    const int64_t now = clock_.NowMillis();
    std::map<std::string, DefinitionHead> heads;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(select_heads, {}, [&](const SqlRowView& row) {
      DefinitionHead head;
      head.latest_version = row.Int(1);
      head.content_hash = std::string(row.Text(2));
      head.removed = row.Int(3) != 0;
      for (size_t c = 0; c < o.columns.size(); ++c) {
        head.columns.emplace_back(row.Text(static_cast<int>(c) + 4));
      }
      heads[std::string(row.Text(0))] = std::move(head);
      return absl::OkStatus();
    }));
    if (check) CAIRN_RETURN_IF_ERROR(check(heads));
    for (size_t i = 0; i < inputs.size(); ++i) {
      const DefinitionInput& input = inputs[i];
      DefinitionChange change;
      change.name = input.name;
      auto it = heads.find(input.name);
      bool new_version = true;
      if (it == heads.end()) {
        change.action = "added";
        change.new_version = 1;
      } else {
        const DefinitionHead& head = it->second;
        change.old_version = head.latest_version;
        new_version = head.content_hash != hashes[i];
        change.new_version = head.latest_version + (new_version ? 1 : 0);
        change.action = head.removed ? "added" : new_version ? "changed" : "unchanged";
        if (new_version && o.diff) {
          std::string old_text;
          std::vector<SqlValue> params = {input.name, head.latest_version};
          CAIRN_RETURN_IF_ERROR(session.QueryEach(select_spec, params, [&](const SqlRowView& row) {
            old_text = std::string(row.Text(0));
            return absl::OkStatus();
          }));
          absl::StatusOr<Json> old_json = ParseJson(old_text);
          if (old_json.ok()) change.diffs = o.diff(*old_json, input.canonical);
        }
      }
      if (write && change.action != "unchanged") {
        if (new_version) {
          std::vector<SqlValue> params = {input.name, *change.new_version, hashes[i], texts[i],
                                          now};
          CAIRN_RETURN_IF_ERROR(session.Execute(insert_version, params).status());
        }
        std::vector<SqlValue> params = {input.name, *change.new_version, hashes[i], now};
        for (size_t c = 0; c < o.columns.size(); ++c) {
          params.push_back(c < input.columns.size() ? input.columns[c] : std::string());
        }
        CAIRN_RETURN_IF_ERROR(session.Execute(upsert_head, params).status());
      }
      changes.push_back(std::move(change));
    }
    if (prune) {
      for (const auto& [name, head] : heads) {
        if (head.removed || names.count(name)) continue;
        DefinitionChange change;
        change.action = "removed";
        change.name = name;
        change.old_version = head.latest_version;
        if (write) {
          std::vector<SqlValue> params = {name, now};
          CAIRN_RETURN_IF_ERROR(session.Execute(remove_head, params).status());
        }
        changes.push_back(std::move(change));
      }
    }
    return absl::OkStatus();
  };
  if (dry_run) {
    CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) { return plan(session, false); }));
    return changes;
  }
  absl::Status status;
  for (int attempt = 0; attempt < kApplyTries; ++attempt) {
    status = db_.Write([&](SqlSession& session) { return plan(session, true); });
    // A concurrent apply wrote the same next version first: plan again on its result.
    if (!absl::IsAlreadyExists(status) && !absl::IsAborted(status)) break;
  }
  CAIRN_RETURN_IF_ERROR(status);
  return changes;
}

absl::StatusOr<std::vector<StoredDefinition>> DefinitionStore::Query(
    std::string_view where_and_order, const std::vector<SqlValue>& params) {
  std::vector<StoredDefinition> out;
  const std::string sql =
      absl::StrCat("SELECT ", kVersionColumns, " FROM ", options_.table, " p JOIN ",
                   options_.versions_table, " v ON v.name = p.name ", ToAbsl(where_and_order));
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    return session.QueryEach(sql, params, [&](const SqlRowView& row) {
      out.push_back(ReadStored(row));
      return absl::OkStatus();
    });
  }));
  return out;
}

absl::StatusOr<StoredDefinition> DefinitionStore::Get(std::string_view name,
                                                      std::optional<int64_t> version) {
  std::vector<SqlValue> params = {std::string(name)};
  if (version) params.push_back(*version);
  CAIRN_ASSIGN_OR_RETURN(std::vector<StoredDefinition> found,
                         Query(version ? "AND v.version = $2 WHERE p.name = $1"
                                       : "AND v.version = p.latest_version WHERE p.name = $1",
                               params));
  if (!found.empty()) return std::move(found.back());
  if (!version) {
    std::string hint = options_.list_hint.empty() ? "" : absl::StrCat("; ", options_.list_hint);
    return absl::NotFoundError(absl::StrCat(options_.kind, " '", ToAbsl(name),
                                            "' is not registered: apply its definition first "
                                            "(cairn apply FILE)",
                                            hint));
  }
  CAIRN_ASSIGN_OR_RETURN(StoredDefinition latest, Get(name));
  return absl::NotFoundError(absl::StrCat(options_.kind, " '", ToAbsl(name), "' has no version ",
                                          *version, ": its versions are 1 to ", latest.version));
}

absl::StatusOr<std::vector<StoredDefinition>> DefinitionStore::List(std::string_view column,
                                                                    std::string_view value) {
  if (column.empty()) {
    return Query("AND v.version = p.latest_version WHERE p.removed = 0 ORDER BY p.name", {});
  }
  bool known = false;
  for (const std::string& c : options_.columns) known = known || c == column;
  if (!known) {
    return absl::InvalidArgumentError(absl::StrCat(options_.kind, " store: column '",
                                                   ToAbsl(column), "' is not one of its columns (",
                                                   absl::StrJoin(options_.columns, ", "), ")"));
  }
  // ORDER BY: were two rows ever to match, the answer is still deterministic.
  return Query(absl::StrCat("AND v.version = p.latest_version WHERE p.removed = 0 AND p.",
                            ToAbsl(column), " = $1 ORDER BY p.name"),
               {std::string(value)});
}

absl::StatusOr<std::vector<StoredDefinition>> DefinitionStore::Versions(std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<StoredDefinition> out,
                         Query("WHERE p.name = $1 ORDER BY v.version", {std::string(name)}));
  if (out.empty()) {
    return absl::NotFoundError(
        absl::StrCat(options_.kind, " '", ToAbsl(name),
                     "' is not registered: apply its definition first (cairn apply FILE)"));
  }
  return out;
}

}  // namespace cairn::storage
