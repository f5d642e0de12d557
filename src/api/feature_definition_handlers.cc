#include "api/feature_definition_handlers.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/definition_yaml.h"
#include "features/feature_registry.h"

namespace cairn::api {
namespace {

using features::DefinitionKind;
using features::FeatureRegistry;
using features::RegisteredDefinition;


struct KindPath {
  const char* segment;
  DefinitionKind kind;
};
constexpr KindPath kKinds[] = {{"entities", DefinitionKind::kEntity},
                               {"sources", DefinitionKind::kSource},
                               {"views", DefinitionKind::kFeatureView},
                               {"services", DefinitionKind::kFeatureService}};

HttpResponse Error(const absl::Status& status) {
  return ErrorResponse(status, ErrorDialect::kCairn);
}

Json Item(const RegisteredDefinition& def) {
  Json item = def.canonical;
  item["version"] = def.version;
  item["content_hash"] = def.content_hash;
  item["created_at"] = def.created_at;
  return item;
}

absl::StatusOr<features::DefinitionSet> ParseFiles(const Json& body) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<ApplyFile> files, ApplyFiles(body));
  std::vector<features::DefinitionFile> inputs;
  inputs.reserve(files.size());
  for (ApplyFile& file : files) inputs.push_back({std::move(file.path), std::move(file.content)});
  return features::ParseDefinitionFiles(inputs);
}

absl::StatusOr<bool> BoolField(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": must be true or false, got ", DumpJson(*it).substr(0, 100)));
  }
  return it->get<bool>();
}

HttpResponse Apply(FeatureRegistry& registry, const FeatureApplier& applier,
                   const HttpRequest& request) {
  absl::StatusOr<Json> body = ParseJson(request.body);
  if (!body.ok()) return Error(body.status());
  if (!body->is_object()) {
    return Error(absl::InvalidArgumentError("the request body must be a JSON object"));
  }
  absl::StatusOr<bool> dry_run = BoolField(*body, "dry_run");
  if (!dry_run.ok()) return Error(dry_run.status());
  absl::StatusOr<bool> prune = BoolField(*body, "prune");
  if (!prune.ok()) return Error(prune.status());
  absl::StatusOr<features::DefinitionSet> defs = ParseFiles(*body);
  if (!defs.ok()) return Error(defs.status());
  absl::StatusOr<std::vector<features::PlannedChange>> plan =
      applier ? applier(*defs, *dry_run, *prune)
              : (*dry_run ? registry.Plan(*defs, *prune) : registry.Apply(*defs, *prune));
  if (!plan.ok()) return Error(plan.status());
  Json changes = Json::array();
  bool changed = false;
  for (const features::PlannedChange& change : *plan) {
    changes.push_back(features::PlannedChangeToJson(change));
    changed = changed || change.action != features::ChangeAction::kUnchanged;
  }
  return JsonResponse(DumpJson(Json{{"changes", std::move(changes)},
                                    {"applied", !*dry_run && changed}}));
}

HttpResponse List(FeatureRegistry& registry, DefinitionKind kind) {
  auto latest = registry.ListLatest(kind);
  if (!latest.ok()) return Error(latest.status());
  Json items = Json::array();
  for (const RegisteredDefinition& def : *latest) items.push_back(Item(def));
  return JsonResponse(DumpJson(Json{{"items", std::move(items)}}));
}

HttpResponse Describe(FeatureRegistry& registry, DefinitionKind kind, const HttpRequest& request) {
  const std::string* name = request.PathParam("name");
  auto latest = registry.GetLatest(kind, *name);
  if (!latest.ok()) return Error(latest.status());
  auto versions = registry.ListVersions(kind, *name);
  if (!versions.ok()) return Error(versions.status());
  Json item = Item(*latest);
  Json list = Json::array();
  for (const RegisteredDefinition& v : *versions) {
    list.push_back(
        {{"version", v.version}, {"content_hash", v.content_hash}, {"created_at", v.created_at}});
  }
  item["versions"] = std::move(list);
  return JsonResponse(DumpJson(item));
}

HttpResponse Version(FeatureRegistry& registry, DefinitionKind kind, const HttpRequest& request) {
  const std::string* name = request.PathParam("name");
  const std::string* text = request.PathParam("version");
  int64_t version = 0;
  if (!absl::SimpleAtoi(*text, &version) || version < 1) {
    return Error(absl::InvalidArgumentError(
        absl::StrCat("version: '", *text, "' is not a version number (1, 2, 3…)")));
  }
  auto def = registry.GetVersion(kind, *name, version);
  if (!def.ok()) return Error(def.status());
  Json item = Item(*def);
  item["removed"] = def->removed;
  return JsonResponse(DumpJson(item));
}

}  // namespace

void RegisterFeatureDefinitionRoutes(Router& router, const ApiContext& ctx) {
  FeatureRegistry* registry = ctx.feature_registry;
  FeatureApplier applier = ctx.apply_features;
  router.Add("POST", "/api/v1/features/apply", [registry, applier](const HttpRequest& request) {
    return Apply(*registry, applier, request);
  });
  for (const KindPath& kind : kKinds) {
    const std::string base = absl::StrCat("/api/v1/features/", kind.segment);
    const DefinitionKind k = kind.kind;
    router.Add("GET", base, [registry, k](const HttpRequest&) { return List(*registry, k); });
    router.Add("GET", base + "/{name}", [registry, k](const HttpRequest& request) {
      return Describe(*registry, k, request);
    });
    router.Add("GET", base + "/{name}/versions/{version}",
               [registry, k](const HttpRequest& request) {
                 return Version(*registry, k, request);
               });
  }
}

}  // namespace cairn::api
