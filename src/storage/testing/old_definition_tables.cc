#include "storage/testing/old_definition_tables.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::storage::test_support {

absl::Status WriteOldDefinitionTables(SqlSession& session, std::string_view heads,
                                      std::string_view versions, bool with_model,
                                      const std::vector<OldDefinitionRow>& rows) {
  const absl::string_view h = ToAbsl(heads);
  const absl::string_view v = ToAbsl(versions);
  CAIRN_RETURN_IF_ERROR(session.ExecuteScript(absl::StrCat(
      "DROP TABLE ", h, ";\nDROP TABLE ", v, ";\nCREATE TABLE ", h,
      " (\n  name TEXT PRIMARY KEY,\n  latest_version BIGINT NOT NULL,\n"
      "  content_hash TEXT NOT NULL,\n",
      with_model ? "  model TEXT NOT NULL,\n" : "",
      "  removed INTEGER NOT NULL,\n  updated_ms BIGINT NOT NULL);\n",
      with_model ? absl::StrCat("CREATE INDEX ", h, "_by_model ON ", h, " (model);\n") : "",
      "CREATE TABLE ", v,
      " (\n  name TEXT NOT NULL,\n  version BIGINT NOT NULL,\n  content_hash TEXT NOT NULL,\n"
      "  spec TEXT NOT NULL,\n  created_ms BIGINT NOT NULL,\n  PRIMARY KEY (name, version))\n")));
  for (const OldDefinitionRow& row : rows) {
    const int64_t created_ms = int64_t{1000} * row.version;
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute(absl::StrCat("INSERT INTO ", v,
                                  " (name, version, content_hash, spec, created_ms) VALUES "
                                  "($1, $2, $3, $4, $5)"),
                     std::vector<SqlValue>{row.name, row.version, row.content_hash, row.spec,
                                           created_ms})
            .status());
    std::vector<SqlValue> head = {row.name, row.version, row.content_hash,
                                  int64_t{row.removed ? 1 : 0}, created_ms};
    if (with_model) head.push_back(row.model);
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute(absl::StrCat("INSERT INTO ", h,
                                  " (name, latest_version, content_hash, removed, updated_ms",
                                  with_model ? ", model" : "",
                                  ") VALUES ($1, $2, $3, $4, $5", with_model ? ", $6" : "",
                                  ") ON CONFLICT (name) DO UPDATE SET latest_version = $2, "
                                  "content_hash = $3"),
                     head)
            .status());
  }
  return absl::OkStatus();
}

}  // namespace cairn::storage::test_support
