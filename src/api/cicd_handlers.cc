#include "api/cicd_handlers.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/api_context.h"
#include "api/apply_changes.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "cicd/evaluation_store.h"
#include "cicd/policy_json.h"
#include "cicd/policy_registry.h"
#include "cicd/policy_yaml.h"
#include "cicd/promotion_service.h"
#include "cicd/report.h"
#include "common/status.h"
#include "features/definition_yaml.h"

namespace cairn::api {
namespace {

using cicd::PolicyChange;
using cicd::PolicySpec;
using cicd::PolicyVersion;

HttpResponse Error(const absl::Status& status) {
  return ErrorResponse(status, ErrorDialect::kCairn);
}

HttpResponse Ok(const Json& body) { return JsonResponse(DumpJson(body)); }

// A version as a JSON integer or a decimal string (MLflow writes versions as strings).
absl::StatusOr<int64_t> Version(const Json& fields) {
  auto it = fields.find("version");
  if (it == fields.end() || it->is_null()) {
    return absl::InvalidArgumentError("version: required (the model version number, e.g. 3)");
  }
  int64_t version = 0;
  if (it->is_number_integer()) {
    version = it->get<int64_t>();
  } else if (!it->is_string() || !absl::SimpleAtoi(it->get<std::string>(), &version)) {
    return absl::InvalidArgumentError(
        absl::StrCat("version: expected a version number, got ", it->dump()));
  }
  if (version < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("version: must be 1 or more, got ", version));
  }
  return version;
}

Json OutcomeToJson(const cicd::PromotionOutcome& outcome) {
  return Json{{"action", outcome.action},
              {"alias", outcome.alias},
              {"from_version", outcome.from_version},
              {"to_version", outcome.to_version},
              {"detail", outcome.detail}};
}

HttpResponse Apply(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  auto dry_run = OptionalBool(*body, "dry_run");
  if (!dry_run.ok()) return Error(dry_run.status());
  auto prune = OptionalBool(*body, "prune");
  if (!prune.ok()) return Error(prune.status());
  absl::StatusOr<std::vector<ApplyFile>> files = ApplyFiles(*body);
  if (!files.ok()) return Error(files.status());
  std::vector<features::DefinitionFile> definitions;
  for (ApplyFile& file : *files) {
    definitions.push_back({std::move(file.path), std::move(file.content)});
  }
  absl::StatusOr<std::vector<PolicySpec>> specs = cicd::ParsePolicyFiles(definitions);
  if (!specs.ok()) return Error(specs.status());
  const bool dry = dry_run->value_or(false);
  absl::StatusOr<std::vector<PolicyChange>> plan =
      ctx.policies->Apply(*specs, dry, prune->value_or(false));
  if (!plan.ok()) return Error(plan.status());
  return Ok(ApplyChangesReply("Policy", *plan, *specs, dry));
}

HttpResponse ListPolicies(const ApiContext& ctx) {
  absl::StatusOr<std::vector<PolicyVersion>> list = ctx.policies->List();
  if (!list.ok()) return Error(list.status());
  Json items = Json::array();
  for (const PolicyVersion& version : *list) items.push_back(cicd::PolicyVersionToJson(version));
  return Ok(Json{{"policies", std::move(items)}});
}

HttpResponse GetPolicy(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<PolicyVersion> policy = ctx.policies->Get(*request.PathParam("name"));
  if (!policy.ok()) return Error(policy.status());
  return Ok(Json{{"policy", cicd::PolicyVersionToJson(*policy)}});
}

HttpResponse Check(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  absl::StatusOr<std::string> model = RequiredString(*body, "model");
  if (!model.ok()) return Error(model.status());
  absl::StatusOr<int64_t> version = Version(*body);
  if (!version.ok()) return Error(version.status());
  absl::StatusOr<std::string> actor = RequestActor(request, *body);
  if (!actor.ok()) return Error(actor.status());
  absl::StatusOr<cicd::CheckResult> result =
      ctx.promotion->Check(*model, *version, *actor);
  if (!result.ok()) return Error(result.status());
  return Ok(Json{{"evaluation", cicd::EvaluationToJson(result->evaluation)},
                 {"promotion", OutcomeToJson(result->promotion)},
                 {"report_text", cicd::EvaluationToText(result->evaluation)},
                 {"report_markdown", cicd::EvaluationToMarkdown(result->evaluation)}});
}

HttpResponse ListEvaluations(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  auto model = OptionalString(*fields, "model");
  if (!model.ok()) return Error(model.status());
  auto version = OptionalInt64(*fields, "version");
  if (!version.ok()) return Error(version.status());
  auto limit = OptionalInt64(*fields, "limit");
  if (!limit.ok()) return Error(limit.status());
  const int64_t n = limit->value_or(100);
  if (n < 1 || n > 1000) {
    return Error(absl::InvalidArgumentError(
        absl::StrCat("limit: must be an integer from 1 to 1000, got ", n)));
  }
  auto list = ctx.evaluations->List(model->value_or(""), *version, static_cast<int>(n));
  if (!list.ok()) return Error(list.status());
  Json items = Json::array();
  for (const cicd::Evaluation& evaluation : *list) {
    items.push_back(cicd::EvaluationToJson(evaluation));
  }
  return Ok(Json{{"evaluations", std::move(items)}});
}

HttpResponse GetEvaluation(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<cicd::Evaluation> evaluation = ctx.evaluations->Get(*request.PathParam("id"));
  if (!evaluation.ok()) return Error(evaluation.status());
  const std::string* format = request.QueryParam("format");
  if (format != nullptr && (*format == "markdown" || *format == "text")) {
    HttpResponse response;
    const bool markdown = *format == "markdown";
    response.content_type =
        markdown ? "text/markdown; charset=utf-8" : "text/plain; charset=utf-8";
    response.body = markdown ? cicd::EvaluationToMarkdown(*evaluation)
                             : cicd::EvaluationToText(*evaluation);
    return response;
  }
  if (format != nullptr && *format != "json") {
    return Error(absl::InvalidArgumentError(
        absl::StrCat("format: use json, text or markdown, got '", *format, "'")));
  }
  return Ok(Json{{"evaluation", cicd::EvaluationToJson(*evaluation)}});
}

HttpResponse Promote(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  absl::StatusOr<int64_t> version = Version(*body);
  if (!version.ok()) return Error(version.status());
  auto override_reason = OptionalString(*body, "override_reason");
  if (!override_reason.ok()) return Error(override_reason.status());
  absl::StatusOr<std::string> actor = RequestActor(request, *body);
  if (!actor.ok()) return Error(actor.status());
  auto outcome = ctx.promotion->Promote(*request.PathParam("name"), *version,
                                        *actor, override_reason->value_or(""));
  if (!outcome.ok()) return Error(outcome.status());
  return Ok(Json{{"promotion", OutcomeToJson(*outcome)}});
}

HttpResponse Approve(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  absl::StatusOr<int64_t> version = Version(*body);
  if (!version.ok()) return Error(version.status());
  absl::StatusOr<std::string> actor = RequestActor(request, *body);
  if (!actor.ok()) return Error(actor.status());
  auto outcome =
      ctx.promotion->Approve(*request.PathParam("name"), *version, *actor);
  if (!outcome.ok()) return Error(outcome.status());
  return Ok(Json{{"promotion", OutcomeToJson(*outcome)}});
}

HttpResponse Rollback(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  auto alias = OptionalString(*body, "alias");
  if (!alias.ok()) return Error(alias.status());
  auto reason = OptionalString(*body, "reason");
  if (!reason.ok()) return Error(reason.status());
  absl::StatusOr<std::string> actor = RequestActor(request, *body);
  if (!actor.ok()) return Error(actor.status());
  auto outcome = ctx.promotion->Rollback(*request.PathParam("name"),
                                         alias->value_or("production"), *actor,
                                         reason->value_or(""));
  if (!outcome.ok()) return Error(outcome.status());
  return Ok(Json{{"promotion", OutcomeToJson(*outcome)}});
}

}  // namespace

void RegisterCicdRoutes(Router& router, const ApiContext& ctx) {
  const ApiContext* c = &ctx;
  if (ctx.policies != nullptr) {
    router.Add("POST", "/api/v1/cicd/apply", [c](const HttpRequest& r) { return Apply(*c, r); });
    router.Add("GET", "/api/v1/cicd/policies",
               [c](const HttpRequest&) { return ListPolicies(*c); });
    router.Add("GET", "/api/v1/cicd/policies/{name}",
               [c](const HttpRequest& r) { return GetPolicy(*c, r); });
  }
  if (ctx.evaluations != nullptr) {
    router.Add("GET", "/api/v1/cicd/evaluations",
               [c](const HttpRequest& r) { return ListEvaluations(*c, r); });
    router.Add("GET", "/api/v1/cicd/evaluations/{id}",
               [c](const HttpRequest& r) { return GetEvaluation(*c, r); });
  }
  if (ctx.promotion != nullptr) {
    router.Add("POST", "/api/v1/cicd/check", [c](const HttpRequest& r) { return Check(*c, r); });
    router.Add("POST", "/api/v1/models/{name}/promote",
               [c](const HttpRequest& r) { return Promote(*c, r); });
    router.Add("POST", "/api/v1/models/{name}/approve",
               [c](const HttpRequest& r) { return Approve(*c, r); });
    router.Add("POST", "/api/v1/models/{name}/rollback",
               [c](const HttpRequest& r) { return Rollback(*c, r); });
  }
}

}  // namespace cairn::api
