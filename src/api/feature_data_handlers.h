#pragma once
// The feature store's data plane over HTTP (Cairn's API, /api/v1/features/…): ingestion of
// files, pushes of rows (also Feast's POST /push), training sets (point-in-time joins) and
// their snapshots, and materialization. Handlers only translate HTTP ↔ FeatureStore.
//
//   POST /api/v1/features/sources/{name}/ingest   body: the file (streamed to disk);
//        ?format=csv|jsonl&quarantine=true|false&file=<label>
//   POST /api/v1/features/push, POST /push        {"push_source_name"|"source", "df"|"rows", "to"}
//   POST /api/v1/features/historical              {"entities"|"entities_csv", "features"|
//        "feature_service", "full_feature_names", "timestamp_column", "format":
//        json|csv|columns} or, with Content-Type text/csv, the entity CSV as the body and
//        the same fields in the query (?features=v:a&features=v:b&format=csv), or, with
//        Content-Type application/vnd.cairn.columns, the entity rows in the binary columnar
//        form (docs/formats/columns.md) and the fields in the query. format=columns answers
//        in that form (Content-Type application/vnd.cairn.columns; the snapshot record and
//        join_ms in its footer). A CSV or columnar answer carries headers
//        X-Cairn-Snapshot-Id, X-Cairn-Snapshot-Hash, X-Cairn-Join-Ms; a CSV one also
//        X-Cairn-Column-Types ({"column": "int64|double|string|bool|timestamp"}, ASCII JSON).
//        When that header would exceed 8 KiB (many or long column names; proxies and
//        clients limit header lines), the answer is the JSON one instead (Content-Type
//        application/json), which carries the types in its body.
//   GET  /api/v1/features/training-sets/{id}      the snapshot record
//   GET  /api/v1/features/training-sets/{id}/data ?format=csv|json|columns: the rows
//   POST /api/v1/features/materialize             {"start", "end", "views"}
//   POST /api/v1/features/materialize-incremental {"end", "views"}
// Timestamps in requests: RFC 3339 strings or epoch milliseconds.

#include "api/router.h"
#include "features/feature_store.h"

namespace cairn {
class EventBus;
}  // namespace cairn

namespace cairn::api {

// `store` must outlive the router.
// `events` (may be null) gets a source_ingested event after each successful ingestion.
void RegisterFeatureDataRoutes(Router& router, features::FeatureStore* store,
                               EventBus* events = nullptr);

}  // namespace cairn::api
