// `cairn models promote MODEL VERSION [--override WHY] | approve MODEL VERSION |
// rollback MODEL [--alias production] [--reason WHY]`: gated moves of a model's target
// alias (POST /api/v1/models/{name}/promote|approve|rollback, api/cicd_handlers.h). Every
// move is kept in the alias history (`cairn models alias history MODEL`).

#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"

namespace cairn::cli {
namespace {

struct MoveOptions {
  ClientOptions client;
  std::string model;
  std::string version;
  std::string override_reason;
  std::string alias = "production";
  std::string reason;
};

std::string Actor(CliContext& ctx) {
  std::string user = ctx.Env("USER").value_or("");
  return user.empty() ? "cli" : user;
}

int Send(CliContext& ctx, const MoveOptions& options, const char* verb, Json body) {
  body["actor"] = Actor(ctx);
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Send(
      "POST", absl::StrCat("/api/v1/models/", UrlEncode(options.model), "/", verb), {}, &body,
      {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json p = reply->value("promotion", Json::object());
  const std::string action = p.value("action", "");
  const int64_t from = p.value("from_version", int64_t{0});
  const int64_t to = p.value("to_version", int64_t{0});
  const std::string alias = p.value("alias", "");
  if (action == "promoted") {
    ctx.out() << "Alias '" << alias << "' of model '" << options.model << "' moved "
              << (from > 0 ? absl::StrCat("from version ", from, " ") : "") << "to version "
              << to << ".\n";
  } else if (action == "already_current") {
    ctx.out() << "Alias '" << alias << "' of model '" << options.model
              << "' already names version " << to << ".\n";
  } else if (action == "rollout_started") {
    ctx.out() << "Version " << to << " of model '" << options.model
              << "' is rolling out; the rollout's verdict moves '" << alias << "'.\n";
  } else {
    ctx.out() << "Model '" << options.model << "': " << action << ".\n";
  }
  const std::string detail = p.value("detail", "");
  if (!detail.empty()) ctx.out() << detail << "\n";
  return kExitOk;
}

bool ParseVersion(CliContext& ctx, const std::string& text, int64_t* version) {
  if (absl::SimpleAtoi(text, version) && *version >= 1) return true;
  ctx.err() << "cairn: VERSION must be a positive integer, got '" << text << "'\n";
  return false;
}

}  // namespace

void AddModelPromotionCommands(CLI::App& models, CliContext& ctx) {
  auto promote = std::make_shared<MoveOptions>();
  CLI::App* promote_verb = models.add_subcommand(
      "promote",
      "Move the policy's target alias to VERSION (needs a passed `cairn ci check`, or "
      "--override)");
  AddClientOptions(*promote_verb, promote->client);
  promote_verb->add_option("MODEL", promote->model, "Registered model")->required();
  promote_verb->add_option("VERSION", promote->version, "Model version")->required();
  promote_verb->add_option("--override", promote->override_reason,
                           "Promote without a passed evaluation; WHY is recorded");
  promote_verb->callback([&ctx, promote] {
    int64_t version = 0;
    if (!ParseVersion(ctx, promote->version, &version)) {
      ctx.exit_code = kExitUsage;
      return;
    }
    Json body = {{"version", version}};
    if (!promote->override_reason.empty()) body["override_reason"] = promote->override_reason;
    ctx.exit_code = Send(ctx, *promote, "promote", std::move(body));
  });

  auto approve = std::make_shared<MoveOptions>();
  CLI::App* approve_verb = models.add_subcommand(
      "approve", "Approve VERSION under a manual policy (it must have passed its check)");
  AddClientOptions(*approve_verb, approve->client);
  approve_verb->add_option("MODEL", approve->model, "Registered model")->required();
  approve_verb->add_option("VERSION", approve->version, "Model version")->required();
  approve_verb->callback([&ctx, approve] {
    int64_t version = 0;
    if (!ParseVersion(ctx, approve->version, &version)) {
      ctx.exit_code = kExitUsage;
      return;
    }
    ctx.exit_code = Send(ctx, *approve, "approve", Json{{"version", version}});
  });

  auto rollback = std::make_shared<MoveOptions>();
  CLI::App* rollback_verb = models.add_subcommand(
      "rollback", "Move an alias back to the version it named before its last move");
  AddClientOptions(*rollback_verb, rollback->client);
  rollback_verb->add_option("MODEL", rollback->model, "Registered model")->required();
  rollback_verb->add_option("--alias", rollback->alias, "The alias (default production)");
  rollback_verb->add_option("--reason", rollback->reason, "Why (kept in the alias history)");
  rollback_verb->callback([&ctx, rollback] {
    ctx.exit_code = Send(ctx, *rollback, "rollback",
                         Json{{"alias", rollback->alias}, {"reason", rollback->reason}});
  });
}

}  // namespace cairn::cli
