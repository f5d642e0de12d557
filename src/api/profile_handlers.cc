#include "api/profile_handlers.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "monitoring/constraints.h"
#include "monitoring/csv_frame.h"
#include "monitoring/data_frame.h"
#include "monitoring/profile.h"
#include "monitoring/profile_store.h"
#include "monitoring/reference_rows.h"

namespace cairn::api {
namespace {

using monitoring::ProfileStore;
using monitoring::ProfileSummary;

constexpr int kCsvThreads = 2;

HttpResponse Error(const absl::Status& status) {
  return ErrorResponse(status, ErrorDialect::kCairn);
}

Json SummaryToJson(const ProfileSummary& s) {
  return Json{{"name", s.name},           {"version", s.version},
              {"rows", s.rows},           {"column_count", s.columns},
              {"source", s.source},       {"created_ms", s.created_ms},
              {"has_rows", s.has_rows}};
}

// The data of a request: a frame (data / csv) or a profile (profile). Exactly one.
struct RequestData {
  std::optional<monitoring::DataFrame> frame;
  std::optional<monitoring::DataProfile> profile;
};

absl::StatusOr<RequestData> ReadData(const Json& body) {
  int given = 0;
  for (const char* key : {"data", "csv", "profile"}) {
    auto it = body.find(key);
    if (it != body.end() && !it->is_null()) ++given;
  }
  if (given != 1) {
    return absl::InvalidArgumentError(
        "data, csv, profile: give exactly one — data: {column: [values]}, csv: CSV text with "
        "a header line, or profile: a profile's JSON");
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> categorical, StringList(body, "categorical"));
  RequestData out;
  if (body.contains("data") && !body["data"].is_null()) {
    CAIRN_ASSIGN_OR_RETURN(out.frame,
                           monitoring::DataFrameFromJson(body["data"], categorical, "data"));
    return out;
  }
  if (body.contains("csv") && !body["csv"].is_null()) {
    if (!body["csv"].is_string()) {
      return absl::InvalidArgumentError("csv: must be the text of a CSV file (a string)");
    }
    monitoring::CsvFrameOptions options;
    options.categorical = categorical;
    options.threads = kCsvThreads;
    CAIRN_ASSIGN_OR_RETURN(out.frame, monitoring::ParseCsvFrame(
                                          body["csv"].get_ref<const std::string&>(), "csv",
                                          options));
    return out;
  }
  absl::StatusOr<monitoring::DataProfile> profile = monitoring::ProfileFromJson(body["profile"]);
  if (!profile.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("profile: ", profile.status().message()));
  }
  out.profile = std::move(*profile);
  return out;
}

absl::StatusOr<std::string> NameParam(const HttpRequest& request) {
  const std::string* name = request.PathParam("name");
  if (name == nullptr) return absl::InvalidArgumentError("name: missing from the path");
  CAIRN_RETURN_IF_ERROR(ProfileStore::ValidateName(*name));
  return *name;
}

absl::StatusOr<int64_t> VersionField(const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> version, OptionalInt64(fields, "version"));
  if (version.has_value() && *version < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("version: must be a version number (1, 2, 3…), got ", *version));
  }
  return version.value_or(0);
}

absl::StatusOr<Json> Create(ProfileStore& store, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json body, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredString(body, "name"));
  CAIRN_RETURN_IF_ERROR(ProfileStore::ValidateName(name));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> source, OptionalString(body, "source"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> max_domain, OptionalInt64(body, "max_domain_size"));
  if (max_domain.has_value() && (*max_domain < 0 || *max_domain > 100'000)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_domain_size: must be an integer from 0 to 100000, got ", *max_domain));
  }
  CAIRN_ASSIGN_OR_RETURN(RequestData data, ReadData(body));
  monitoring::DataProfile profile;
  // The reference rows kept with the version (monitors test drift against them): the
  // rows sent, or with a profile, their encoding in "rows" (base64, as the CLI sends it).
  std::string rows;
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> encoded, OptionalString(body, "rows"));
  if (data.frame.has_value()) {
    if (encoded.has_value()) {
      return absl::InvalidArgumentError(
          "rows: only with profile (data and csv are kept as the reference rows themselves)");
    }
    CAIRN_RETURN_IF_ERROR(profile.Add(*data.frame));
    if (store.keeps_rows()) {
      CAIRN_ASSIGN_OR_RETURN(rows, monitoring::EncodeReferenceRows(*data.frame));
    }
  } else {
    profile = std::move(*data.profile);
    if (encoded.has_value() && (!absl::Base64Unescape(*encoded, &rows) || rows.empty())) {
      return absl::InvalidArgumentError(
          "rows: must be base64 of the reference rows' encoding (what `cairn profiles create` "
          "sends); leave it out to store the profile alone");
    }
  }
  monitoring::Constraints constraints;
  if (body.contains("constraints") && !body["constraints"].is_null()) {
    CAIRN_ASSIGN_OR_RETURN(constraints, monitoring::ConstraintsFromJson(body["constraints"]));
  } else {
    monitoring::InferOptions infer;
    if (max_domain.has_value()) infer.max_domain_size = static_cast<int>(*max_domain);
    constraints = monitoring::InferConstraints(profile, infer);
  }
  CAIRN_ASSIGN_OR_RETURN(ProfileSummary summary,
                         store.Put(name, profile, constraints, source.value_or("api"), rows));
  Json out = SummaryToJson(summary);
  out["profile"] = monitoring::ProfileToJson(profile);
  out["constraints"] = monitoring::ConstraintsToJson(constraints);
  return out;
}

absl::StatusOr<Json> GetOne(const ProfileStore& store, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, NameParam(request));
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(fields));
  CAIRN_ASSIGN_OR_RETURN(monitoring::StoredProfile stored, store.Get(name, version));
  Json out = SummaryToJson(stored.summary);
  out["profile"] = monitoring::ProfileToJson(stored.profile);
  out["constraints"] = monitoring::ConstraintsToJson(stored.constraints);
  return out;
}

absl::StatusOr<Json> Check(const ProfileStore& store, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, NameParam(request));
  CAIRN_ASSIGN_OR_RETURN(Json body, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(body));
  CAIRN_ASSIGN_OR_RETURN(RequestData data, ReadData(body));
  CAIRN_ASSIGN_OR_RETURN(monitoring::StoredProfile stored, store.Get(name, version));
  std::vector<monitoring::Violation> violations;
  int64_t rows = 0;
  if (data.frame.has_value()) {
    rows = data.frame->rows;
    CAIRN_ASSIGN_OR_RETURN(violations,
                           monitoring::CheckConstraints(stored.constraints, *data.frame));
  } else {
    rows = data.profile->rows();
    CAIRN_ASSIGN_OR_RETURN(violations, monitoring::CheckConstraintsOnProfile(
                                           stored.constraints, *data.profile));
  }
  Json out = monitoring::ViolationsToJson(violations);
  out["name"] = stored.summary.name;
  out["version"] = stored.summary.version;
  out["rows"] = rows;
  out["passed"] = violations.empty();
  return out;
}

// Runs `fn` and answers its JSON, or its error in the Cairn dialect.
template <typename Fn>
Handler Wrap(Fn fn) {
  return [fn = std::move(fn)](const HttpRequest& request) -> HttpResponse {
    absl::StatusOr<Json> out = fn(request);
    if (!out.ok()) return Error(out.status());
    return JsonResponse(DumpJson(*out));
  };
}

}  // namespace

void RegisterProfileRoutes(Router& router, monitoring::ProfileStore* store) {
  router.Add("POST", "/api/v1/monitoring/profiles",
             Wrap([store](const HttpRequest& r) { return Create(*store, r); }));
  router.Add("GET", "/api/v1/monitoring/profiles",
             Wrap([store](const HttpRequest&) -> absl::StatusOr<Json> {
               CAIRN_ASSIGN_OR_RETURN(std::vector<ProfileSummary> list, store->List());
               Json profiles = Json::array();
               for (const ProfileSummary& s : list) profiles.push_back(SummaryToJson(s));
               return Json{{"profiles", std::move(profiles)}};
             }));
  router.Add("GET", "/api/v1/monitoring/profiles/{name}",
             Wrap([store](const HttpRequest& r) { return GetOne(*store, r); }));
  router.Add("GET", "/api/v1/monitoring/profiles/{name}/versions",
             Wrap([store](const HttpRequest& r) -> absl::StatusOr<Json> {
               CAIRN_ASSIGN_OR_RETURN(std::string name, NameParam(r));
               CAIRN_ASSIGN_OR_RETURN(std::vector<ProfileSummary> list, store->Versions(name));
               Json versions = Json::array();
               for (const ProfileSummary& s : list) versions.push_back(SummaryToJson(s));
               return Json{{"versions", std::move(versions)}};
             }));
  router.Add("DELETE", "/api/v1/monitoring/profiles/{name}",
             Wrap([store](const HttpRequest& r) -> absl::StatusOr<Json> {
               CAIRN_ASSIGN_OR_RETURN(std::string name, NameParam(r));
               CAIRN_RETURN_IF_ERROR(store->Delete(name));
               return Json{{"deleted", name}};
             }));
  router.Add("POST", "/api/v1/monitoring/profiles/{name}/check",
             Wrap([store](const HttpRequest& r) { return Check(*store, r); }));
}

}  // namespace cairn::api
