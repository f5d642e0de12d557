// `cairn ci check MODEL VERSION [--markdown FILE] [--json]`: evaluates a model version
// against the policy that governs the model (POST /api/v1/cicd/check,
// api/cicd_handlers.h) and prints the report. Exit 0 when every gate passed, 1 when a gate
// failed, 2 when the check could not run (no policy, unknown version, server down) — so a
// CI job can gate on it. --markdown writes the report as Markdown for a pull-request
// comment.

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "cli/commands.h"

namespace cairn::cli {
namespace {

struct CheckOptions {
  ClientOptions client;
  std::string model;
  std::string version;
  std::string markdown;
};

int Check(CliContext& ctx, const CheckOptions& options) {
  int64_t version = 0;
  if (!absl::SimpleAtoi(options.version, &version) || version < 1) {
    ctx.err() << "cairn: VERSION must be a positive integer, got '" << options.version << "'\n";
    return kExitUsage;
  }
  std::string actor = ctx.Env("USER").value_or("");
  if (actor.empty()) actor = "cli";
  Json body = {{"model", options.model}, {"version", version}, {"actor", actor}};
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Send("POST", "/api/v1/cicd/check", {}, &body, {});
  if (!reply.ok()) {
    ctx.Fail(reply.status());
    return kExitUsage;
  }
  if (!options.markdown.empty()) {
    std::ofstream out(options.markdown, std::ios::binary | std::ios::trunc);
    out << reply->value("report_markdown", "");
    if (!out) {
      ctx.err() << "cairn: --markdown: cannot write " << options.markdown << "\n";
      return kExitUsage;
    }
  }
  const bool passed = reply->value("evaluation", Json::object()).value("passed", false);
  if (options.client.json) {
    ctx.PrintJson(*reply);
  } else {
    ctx.out() << reply->value("report_text", "");
    const Json promotion = reply->value("promotion", Json::object());
    const std::string detail = promotion.value("detail", "");
    if (!detail.empty()) ctx.out() << "\n" << detail << "\n";
  }
  return passed ? kExitOk : kExitFailure;
}

}  // namespace

void AddCiCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun = app.add_subcommand("ci", "Model CI/CD: gates against production");
  noun->require_subcommand(1);
  auto options = std::make_shared<CheckOptions>();
  CLI::App* check = noun->add_subcommand(
      "check",
      "Evaluate MODEL VERSION against its policy's gates (exit 0 passed, 1 failed, 2 error)");
  AddClientOptions(*check, options->client);
  check->add_option("MODEL", options->model, "Registered model")->required();
  check->add_option("VERSION", options->version, "Model version")->required();
  check->add_option("--markdown", options->markdown,
                    "Also write the report as Markdown to this file (a PR comment)");
  check->callback([&ctx, options] { ctx.exit_code = Check(ctx, *options); });
}

}  // namespace cairn::cli
