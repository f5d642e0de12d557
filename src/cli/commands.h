#pragma once
// Shared plumbing of the client nouns (experiments.cc, runs.cc, models.cc): their
// options, the invocation context and the registration functions cli.cc calls. Only the
// CLI's own files include this header (it pulls in CLI11).

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/cli.h"
#include "cli/http_client.h"
#include "common/json.h"

namespace cairn::cli {

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// The options every client verb takes.
struct ClientOptions {
  std::string url;  // empty: $CAIRN_URL, else kDefaultUrl
  bool json = false;
};

// One invocation: streams, transport, environment, and the exit code the chosen verb
// sets.
class CliContext {
 public:
  CliContext(const CliEnvironment& env, HttpTransport& transport)
      : env_(env), transport_(transport) {}

  std::ostream& out() { return *env_.out; }
  std::ostream& err() { return *env_.err; }
  std::optional<std::string> Env(std::string_view name) const;

  // The server URL for `options` (flag, then $CAIRN_URL, then the default).
  std::string ServerUrl(const ClientOptions& options) const;
  ApiClient Client(const ClientOptions& options) { return ApiClient(ServerUrl(options), transport_); }

  // Prints "cairn: <message>" to stderr; returns kExitFailure.
  int Fail(const absl::Status& status);
  // Pretty-prints `value` (2-space indent) and a newline to stdout; returns kExitOk.
  int PrintJson(const Json& value);

  int exit_code = kExitOk;

 private:
  const CliEnvironment& env_;
  HttpTransport& transport_;
};

// Adds --url and --json to a verb.
void AddClientOptions(CLI::App& verb, ClientOptions& options);

// The experiment id for `id_or_name`: all digits is an id, anything else a name looked
// up with experiments/get-by-name.
absl::StatusOr<std::string> ResolveExperimentId(ApiClient& client, std::string_view id_or_name);

// Register each noun's verbs as subcommands of `app`. The verbs' callbacks set
// ctx.exit_code; `ctx` must outlive the parse.
void AddExperimentsCommands(CLI::App& app, CliContext& ctx);
void AddRunsCommands(CLI::App& app, CliContext& ctx);
void AddModelsCommands(CLI::App& app, CliContext& ctx);
// `cairn apply -f DIR|FILE [--dry-run] [--prune]` (apply.cc).
void AddApplyCommand(CLI::App& app, CliContext& ctx);
// Verbs of the `features` noun: list, describe (features.cc).
void AddFeatureDefinitionCommands(CLI::App& features, CliContext& ctx);
// Verbs of the `features` noun (created by cli.cc): ingest, historical, materialize,
// materialize-incremental (feature_data.cc).
void AddFeatureDataCommands(CLI::App& features, CliContext& ctx);
// `cairn pipelines list|describe|versions|diff|run|runs|get|logs|cancel` (pipelines.cc).
void AddPipelinesCommands(CLI::App& app, CliContext& ctx);
// `cairn compute status` (compute.cc).
void AddComputeCommands(CLI::App& app, CliContext& ctx);
// `cairn profiles create|list|show|check|delete` (profiles.cc).
void AddProfilesCommands(CLI::App& app, CliContext& ctx);
// `cairn drift --reference ref.csv --current cur.csv …`: drift between two CSV files,
// computed locally (drift.cc).
void AddDriftCommand(CLI::App& app, CliContext& ctx);

// `cairn alerts list|show|ack|resolve` (alerts.cc).
void AddAlertsCommands(CLI::App& app, CliContext& ctx);

// `cairn monitors list|describe|run|runs|report` (monitors.cc).
void AddMonitorsCommands(CLI::App& app, CliContext& ctx);
// `cairn endpoints list|describe|predict|log|label|canary|rollouts|promote|rollback|events`
// (endpoints.cc).
void AddEndpointsCommands(CLI::App& app, CliContext& ctx);
// `cairn ci check MODEL VERSION` (ci.cc).
void AddCiCommands(CLI::App& app, CliContext& ctx);
// Verbs of the `models` noun (created by models.cc): promote, approve, rollback
// (promotion.cc).
void AddModelPromotionCommands(CLI::App& models, CliContext& ctx);

}  // namespace cairn::cli
