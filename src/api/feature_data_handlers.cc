#include "api/feature_data_handlers.h"

#include "common/event_bus.h"
#include "common/event_types.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "features/columnar_io.h"
#include "features/table_io.h"

namespace cairn::api {
namespace {

using features::FeatureStore;
using features::FeatureType;

HttpResponse Error(const absl::Status& status) {
  return ErrorResponse(status, ErrorDialect::kCairn);
}

absl::StatusOr<bool> QueryBool(const HttpRequest& request, std::string_view key) {
  const std::string* v = request.QueryParam(key);
  if (v == nullptr || v->empty()) return false;
  if (*v == "true" || *v == "1") return true;
  if (*v == "false" || *v == "0") return false;
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(key), ": '", *v, "' is not true or false"));
}

absl::StatusOr<int64_t> TimeField(const Json& fields, std::string_view name, bool required,
                                  int64_t fallback) {
  auto it = fields.find(std::string(name));
  if (it == fields.end() || it->is_null()) {
    if (required) {
      return absl::InvalidArgumentError(absl::StrCat(
          ToAbsl(name), ": required (RFC 3339 timestamp or epoch milliseconds)"));
    }
    return fallback;
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    auto t = ParseTimestamp(it->get_ref<const std::string&>());
    if (t) return *t;
  }
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(name), ": ", it->dump(),
                                                 " is not an RFC 3339 timestamp or epoch "
                                                 "milliseconds"));
}

absl::StatusOr<std::vector<features::FeatureRef>> FeatureRefs(const Json& fields) {
  std::vector<features::FeatureRef> refs;
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> list, StringList(fields, "features"));
  for (const std::string& text : list) {
    size_t colon = text.find(':');
    features::FeatureRef ref;
    ref.view = text.substr(0, colon);
    if (colon != std::string::npos) ref.feature = text.substr(colon + 1);
    if (ref.view.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("features: '", text, "' is not view:feature"));
    }
    refs.push_back(std::move(ref));
  }
  return refs;
}

absl::StatusOr<HttpResponse> Ingest(FeatureStore& store, const HttpRequest& request) {
  const std::string* name = request.PathParam("name");
  features::IngestRequest ingest;
  ingest.source = *name;
  if (!request.body_file.empty()) {
    ingest.path = request.body_file;
  } else {
    return absl::InvalidArgumentError("body: send the file's content as the request body");
  }
  if (const std::string* f = request.QueryParam("format"); f != nullptr && !f->empty()) {
    if (*f == "csv") ingest.format = features::FileFormat::kCsv;
    else if (*f == "jsonl") ingest.format = features::FileFormat::kJsonl;
    else return absl::InvalidArgumentError(absl::StrCat("format: '", *f, "' is not csv or jsonl"));
  }
  CAIRN_ASSIGN_OR_RETURN(ingest.quarantine, QueryBool(request, "quarantine"));
  const std::string* label = request.QueryParam("file");
  ingest.file_label = label != nullptr && !label->empty() ? *label : "body";
  CAIRN_ASSIGN_OR_RETURN(features::IngestResult r, store.Ingest(ingest));
  Json views = Json::object();
  for (const auto& [v, n] : r.view_rows) views[v] = n;
  Json body{{"source", *name}, {"rows", r.rows}, {"quarantined", r.quarantined}, {"views", views}};
  if (!r.quarantine_file.empty()) body["quarantine_file"] = r.quarantine_file;
  return JsonResponse(body.dump());
}

absl::StatusOr<HttpResponse> Push(FeatureStore& store, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> source,
                         OptionalString(fields, "push_source_name"));
  if (!source) {
    CAIRN_ASSIGN_OR_RETURN(source, OptionalString(fields, "source"));
  }
  if (!source || source->empty()) {
    return absl::InvalidArgumentError("push_source_name: required (the source to push to)");
  }
  CAIRN_ASSIGN_OR_RETURN(auto spec, store.registry().GetSource(*source));
  std::map<std::string, FeatureType> types;
  for (const features::Field& f : spec.spec.schema) types[f.name] = f.type;
  features::Table rows;
  if (fields.contains("df")) {
    CAIRN_ASSIGN_OR_RETURN(rows, features::TableFromColumnsJson(fields["df"], "df", types));
  } else if (fields.contains("rows")) {
    CAIRN_ASSIGN_OR_RETURN(rows, features::TableFromRowsJson(fields["rows"], "rows", types));
  } else {
    return absl::InvalidArgumentError("df: required (column-major rows), or rows");
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> to, OptionalString(fields, "to"));
  features::PushTarget target = features::PushTarget::kOnline;
  if (to) {
    if (*to == "online") target = features::PushTarget::kOnline;
    else if (*to == "offline") target = features::PushTarget::kOffline;
    else if (*to == "online_and_offline") target = features::PushTarget::kOnlineAndOffline;
    else {
      return absl::InvalidArgumentError(
          absl::StrCat("to: '", *to, "' is not online, offline or online_and_offline"));
    }
  }
  CAIRN_ASSIGN_OR_RETURN(int64_t n, store.Push(*source, rows, target));
  return JsonResponse(Json{{"rows", n}}.dump());
}

// A CSV request body (Content-Type text/csv) or a columnar one
// (application/vnd.cairn.columns, docs/formats/columns.md) is the entity rows; the other
// fields come from the query string then (features=a:x&features=b:y&format=csv...).
// The longest X-Cairn-Column-Types header a CSV answer carries (feature_data_handlers.h).
constexpr size_t kMaxColumnTypesHeader = 8 * 1024;

bool CsvBody(const HttpRequest& request) {
  const std::string* type = request.Header("content-type");
  return type != nullptr && absl::StartsWithIgnoreCase(*type, "text/csv");
}

bool ColumnsBody(const HttpRequest& request) {
  const std::string* type = request.Header("content-type");
  return type != nullptr && absl::StartsWithIgnoreCase(*type, ToAbsl(features::kColumnsContentType));
}

absl::StatusOr<Json> HistoricalFields(const HttpRequest& request) {
  if (!CsvBody(request) && !ColumnsBody(request)) return RequestFields(request);
  Json fields = Json::object();
  for (const auto& [key, value] : request.query) {
    if (key == "features") {
      fields["features"].push_back(value);
    } else {
      fields[key] = value;
    }
  }
  return fields;
}

absl::StatusOr<HttpResponse> Historical(FeatureStore& store, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, HistoricalFields(request));
  features::HistoricalRequest req;
  CAIRN_ASSIGN_OR_RETURN(req.features, FeatureRefs(fields));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> service,
                         OptionalString(fields, "feature_service"));
  req.feature_service = service.value_or("");
  CAIRN_ASSIGN_OR_RETURN(std::optional<bool> full, OptionalBool(fields, "full_feature_names"));
  req.options.full_feature_names = full.value_or(false);
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> ts_col,
                         OptionalString(fields, "timestamp_column"));
  if (ts_col) req.options.timestamp_column = *ts_col;
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> format, OptionalString(fields, "format"));
  if (format && *format != "json" && *format != "csv" && *format != "columns") {
    return absl::InvalidArgumentError(
        absl::StrCat("format: '", *format, "' is not json, csv or columns"));
  }
  // Types of the entity columns: the views' join keys and the timestamp.
  CAIRN_ASSIGN_OR_RETURN(auto resolved, store.ResolveFeatures(req.features, req.feature_service));
  std::map<std::string, FeatureType> types;
  types[req.options.timestamp_column] = FeatureType::kTimestamp;
  for (const auto& [view, unused] : resolved) {
    CAIRN_ASSIGN_OR_RETURN(auto spec, store.registry().GetView(view));
    CAIRN_ASSIGN_OR_RETURN(std::vector<features::Field> keys, store.JoinKeys(spec.spec));
    for (const features::Field& k : keys) types[k.name] = k.type;
  }
  if (CsvBody(request)) {
    CAIRN_ASSIGN_OR_RETURN(req.entities, features::TableFromCsv(request.body, "body", types));
  } else if (ColumnsBody(request)) {
    CAIRN_ASSIGN_OR_RETURN(req.entities, features::TableFromColumns(request.body, "body", types));
  } else if (fields.contains("entities")) {
    const Json& e = fields["entities"];
    if (e.is_array()) {
      CAIRN_ASSIGN_OR_RETURN(req.entities, features::TableFromRowsJson(e, "entities", types));
    } else {
      CAIRN_ASSIGN_OR_RETURN(req.entities, features::TableFromColumnsJson(e, "entities", types));
    }
  } else if (fields.contains("entities_csv") && fields["entities_csv"].is_string()) {
    CAIRN_ASSIGN_OR_RETURN(req.entities,
                           features::TableFromCsv(fields["entities_csv"].get<std::string>(),
                                                  "entities_csv", types));
  } else {
    return absl::InvalidArgumentError(
        "entities: required (column-major JSON of join keys and timestamps), or entities_csv, "
        "or the entity rows as the body: CSV with Content-Type text/csv, or columnar with "
        "Content-Type application/vnd.cairn.columns");
  }
  // The answer is formatted while the training-set snapshot is saved.
  const bool csv_asked = format && *format == "csv";
  const bool columns = format && *format == "columns";
  Json columns_footer;
  bool csv = false;
  std::string types_header;
  HttpResponse response;
  Json column_types = Json::object();
  req.on_joined = [&](const features::Table& table) {
    if (columns) {
      // The buffers now; the footer, which names the snapshot, once it is saved.
      columns_footer = features::WriteColumnBuffers(table, &response.body);
      return;
    }
    for (size_t c = 0; c < table.num_columns(); ++c) {
      column_types[table.names[c]] = std::string(features::TypeName(table.columns[c].type));
    }
    if (csv_asked) {
      // {"column": "type"} as ASCII JSON (names escaped), for clients that type the CSV;
      // too long a header line is refused by clients and proxies: JSON then.
      types_header = column_types.dump(-1, ' ', /*ensure_ascii=*/true);
      csv = types_header.size() <= kMaxColumnTypesHeader;
    }
    if (csv) {
      features::WriteCsv(table, &response.body);
    } else {
      response.body = "{\"columns\":";
      features::WriteColumnsJson(table, &response.body);
    }
  };
  CAIRN_ASSIGN_OR_RETURN(features::HistoricalResult result, store.GetHistoricalFeatures(req));
  if (columns) {
    columns_footer["snapshot"] = features::TrainingSetToJson(result.snapshot);
    columns_footer["join_ms"] = result.join_ms;
    features::AppendColumnsFooter(columns_footer, &response.body);
    response.content_type = std::string(features::kColumnsContentType);
    response.headers.emplace_back("X-Cairn-Snapshot-Id", result.snapshot.id);
    response.headers.emplace_back("X-Cairn-Snapshot-Hash", result.snapshot.content_hash);
    response.headers.emplace_back("X-Cairn-Join-Ms", absl::StrCat(result.join_ms));
    return response;
  }
  if (csv) {
    response.content_type = "text/csv";
    response.headers.emplace_back("X-Cairn-Snapshot-Id", result.snapshot.id);
    response.headers.emplace_back("X-Cairn-Snapshot-Hash", result.snapshot.content_hash);
    response.headers.emplace_back("X-Cairn-Join-Ms", absl::StrCat(result.join_ms));
    response.headers.emplace_back("X-Cairn-Column-Types", std::move(types_header));
    return response;
  }
  Json order = result.table.names;
  absl::StrAppend(&response.body, ",\"column_order\":", order.dump(),
                  ",\"column_types\":", column_types.dump(),
                  ",\"snapshot\":", features::TrainingSetToJson(result.snapshot).dump(),
                  ",\"join_ms\":", result.join_ms, "}");
  return response;
}

absl::StatusOr<HttpResponse> TrainingSet(FeatureStore& store, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(auto record, store.training_sets().Get(*request.PathParam("id")));
  return JsonResponse(features::TrainingSetToJson(record).dump());
}

absl::StatusOr<HttpResponse> TrainingSetData(FeatureStore& store, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(features::Table table, store.training_sets().Load(*request.PathParam("id")));
  const std::string* format = request.QueryParam("format");
  HttpResponse response;
  if (format == nullptr || *format == "csv") {
    response.content_type = "text/csv";
    features::WriteCsv(table, &response.body);
  } else if (*format == "json") {
    features::WriteColumnsJson(table, &response.body);
  } else if (*format == "columns") {
    response.content_type = std::string(features::kColumnsContentType);
    response.body = features::WriteColumns(table);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("format: '", *format, "' is not csv, json or columns"));
  }
  return response;
}

// {"view": {"start", "end", "rows_read", "keys_written"}} for a materialization's views.
Json MaterializedViewsJson(const std::map<std::string, features::ViewMaterialization>& views) {
  Json out = Json::object();
  for (const auto& [name, m] : views) {
    out[name] = {{"start", FormatTimestamp(m.start)}, {"end", FormatTimestamp(m.end)},
                 {"rows_read", m.rows_read}, {"keys_written", m.keys_written}};
  }
  return out;
}

absl::StatusOr<HttpResponse> Materialize(FeatureStore& store, const HttpRequest& request,
                                         bool incremental) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  features::MaterializeRequest req;
  req.incremental = incremental;
  if (!incremental) {
    CAIRN_ASSIGN_OR_RETURN(int64_t start, TimeField(fields, "start", true, 0));
    req.start = start;
  }
  CAIRN_ASSIGN_OR_RETURN(req.end, TimeField(fields, "end", true, 0));
  if (fields.contains("views")) {
    CAIRN_ASSIGN_OR_RETURN(req.views, StringList(fields, "views"));
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<bool> async, OptionalBool(fields, "async"));
  if (async.value_or(false)) {
    CAIRN_ASSIGN_OR_RETURN(auto snapshot, store.registry().Snapshot());
    for (const std::string& v : req.views) {
      if (snapshot->FindView(v) == nullptr) {
        return absl::NotFoundError(absl::StrCat("views: feature view '", v, "' is not registered"));
      }
    }
    return JsonResponse(Json{{"job_id", store.StartMaterialization(req)}}.dump());
  }
  CAIRN_ASSIGN_OR_RETURN(auto result, store.Materialize(req));
  return JsonResponse(Json{{"views", MaterializedViewsJson(result)}}.dump());
}

absl::StatusOr<HttpResponse> MaterializationJob(FeatureStore& store, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(features::MaterializationJob job,
                         store.GetMaterialization(*request.PathParam("id")));
  Json views = MaterializedViewsJson(job.views);
  Json body{{"job_id", job.id},         {"state", job.state},
            {"total_rows", job.total_rows}, {"rows_read", job.rows_read},
            {"keys_written", job.keys_written}, {"views", views}};
  if (!job.error.empty()) body["error"] = job.error;
  return JsonResponse(body.dump());
}

Handler Wrap(FeatureStore* store,
             absl::StatusOr<HttpResponse> (*fn)(FeatureStore&, const HttpRequest&)) {
  return [store, fn](const HttpRequest& request) {
    auto response = fn(*store, request);
    return response.ok() ? *std::move(response) : Error(response.status());
  };
}

}  // namespace

void RegisterFeatureDataRoutes(Router& router, FeatureStore* store, EventBus* events) {
  router.Add(
      "POST", "/api/v1/features/sources/{name}/ingest",
      [store, events](const HttpRequest& request) {
        absl::StatusOr<HttpResponse> response = Ingest(*store, request);
        if (!response.ok()) return Error(response.status());
        if (events != nullptr) {
          // New data for pipelines triggered `on: source_ingested`.
          Json body = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
          events->Publish(Event{
              .type = kEventSourceIngested,
              .attributes = {{"source", *request.PathParam("name")},
                             {"rows", std::to_string(body.value("rows", int64_t{0}))}}});
        }
        return *std::move(response);
      },
      RouteOptions{.stream_request_body = true});
  router.Add("POST", "/api/v1/features/push", Wrap(store, Push));
  router.Add("POST", "/push", Wrap(store, Push));
  router.Add("POST", "/api/v1/features/historical", Wrap(store, Historical));
  router.Add("GET", "/api/v1/features/training-sets/{id}", Wrap(store, TrainingSet));
  router.Add("GET", "/api/v1/features/training-sets/{id}/data", Wrap(store, TrainingSetData));
  router.Add("POST", "/api/v1/features/materialize",
             Wrap(store, [](FeatureStore& s, const HttpRequest& r) { return Materialize(s, r, false); }));
  router.Add("GET", "/api/v1/features/materializations/{id}", Wrap(store, MaterializationJob));
  router.Add("POST", "/api/v1/features/materialize-incremental",
             Wrap(store, [](FeatureStore& s, const HttpRequest& r) { return Materialize(s, r, true); }));
}

}  // namespace cairn::api
