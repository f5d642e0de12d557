#include "cli/cli.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "api/server_main.h"
#include "cli/commands.h"
#include "cli/http_client.h"
#include "common/duration.h"
#include "common/strings.h"
#include "demo/demo_command.h"

namespace cairn::cli {

std::optional<std::string> CliContext::Env(std::string_view name) const {
  if (env_.getenv) return env_.getenv(name);
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::string CliContext::ServerUrl(const ClientOptions& options) const {
  if (!options.url.empty()) return options.url;
  std::optional<std::string> from_env = Env("CAIRN_URL");
  if (from_env.has_value() && !from_env->empty()) return *from_env;
  return kDefaultUrl;
}

int CliContext::Fail(const absl::Status& status) {
  err() << "cairn: " << ToStd(status.message()) << "\n";
  return kExitFailure;
}

int CliContext::PrintJson(const Json& value) {
  out() << value.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
  return kExitOk;
}

void AddClientOptions(CLI::App& verb, ClientOptions& options) {
  verb.add_option("--url", options.url,
                  "Cairn server URL (default: $CAIRN_URL, else http://127.0.0.1:5000)");
  verb.add_flag("--json", options.json, "Print the server's JSON instead of a table");
}

namespace {

void AddServerCommand(CLI::App& app, int& exit_code) {
  auto config = std::make_shared<api::ServerConfig>();
  auto no_access_log = std::make_shared<bool>(false);
  CLI::App* server = app.add_subcommand("server", "Run the Cairn server (HTTP API)");
  server->add_option("--host", config->host, "Address to bind")->capture_default_str();
  server->add_option("--port", config->port, "Port (0: pick a free one and print it)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  server->add_option("--data", config->data_dir, "Data directory (SQLite DB, artifacts)")
      ->capture_default_str();
  server->add_option("--metadata", config->metadata_url,
                     "Metadata database URL (default: SQLite at <data>/cairn.db)");
  server->add_option("--online", config->online_url,
                     "Online feature store: embedded (in the server, under <data>/online) or "
                     "redis://host:port[/db]")
      ->capture_default_str();
  auto materialize_every = std::make_shared<std::string>();
  server->add_option("--materialize-every", *materialize_every,
                     "Materialize every online feature view incrementally this often (30s, "
                     "15m, 1h; default: only on request)")
      ->check([](const std::string& text) {
        auto ms = ParseDuration(text);
        return ms.ok() ? std::string() : std::string(ms.status().message());
      })
      ->each([config](const std::string& text) {
        config->materialize_every_ms = ParseDuration(text).value_or(0);
      });
  server->add_option("--io-threads", config->io_threads, "I/O threads (0: one per core)")
      ->check(CLI::NonNegativeNumber);
  server->add_option("--workers", config->worker_threads,
                     "Worker threads for blocking work (0: 2 x cores, at least 4)")
      ->check(CLI::NonNegativeNumber);
  server->add_option("--predict-threads", config->predict_threads,
                     "Threads for model predictions (0: 32); python endpoints need at least "
                     "their replicas x max_queue")
      ->check(CLI::NonNegativeNumber);
  server->add_flag("--no-access-log", *no_access_log, "Do not log each request");
  // Compute: which executors run pipeline steps, and their capacity.
  server->add_option("--local-cpus", config->local_cpus,
                     "CPUs the local executor may use (default: the machine's cores)")
      ->check(CLI::NonNegativeNumber);
  server->add_option("--local-memory", config->local_memory,
                     "Memory the local executor may use (8Gi, 512Mi; default: the machine's)");
  server->add_option("--local-gpus", config->local_gpus,
                     "GPU indices the local executor assigns (0,1), or none (default: "
                     "CUDA_VISIBLE_DEVICES, else nvidia-smi -L)");
  server->add_flag("--slurm", config->slurm,
                   "Also run steps on Slurm (sbatch; SLURM_CONF from the environment)");
  server->add_option("--slurm-partition", config->slurm_partition,
                     "Slurm partition for steps without GPUs (default: the cluster's default)");
  server->add_option("--slurm-gpu-partition", config->slurm_gpu_partition,
                     "Slurm partition for steps that ask for GPUs");
  server->add_option("--gpu-executor", config->gpu_executor,
                     "Executor of steps that ask for GPUs and name none (local | slurm; "
                     "default: the pipeline's)");
  server->callback([config, no_access_log, &exit_code] {
    config->access_log = !*no_access_log;
    exit_code = api::RunServer(*config);
  });
}

}  // namespace

int RunCli(const std::vector<std::string>& args, const CliEnvironment& env) {
  std::unique_ptr<HttpTransport> curl;
  HttpTransport* transport = env.transport;
  if (transport == nullptr) {
    curl = NewCurlTransport(3600);  // ingests and training sets of millions of rows
    transport = curl.get();
  }
  CliContext ctx(env, *transport);

  CLI::App app("Cairn: experiment tracking, model registry and the ML lifecycle in one binary",
               "cairn");
  app.require_subcommand(1);
  app.set_version_flag("--version", "cairn 0.1.0");
  AddServerCommand(app, ctx.exit_code);
  demo::AddDemoCommand(app, ctx.exit_code);
  AddExperimentsCommands(app, ctx);
  AddRunsCommands(app, ctx);
  AddModelsCommands(app, ctx);
  CLI::App* features = app.add_subcommand("features", "Feature store: definitions and data");
  features->require_subcommand(1);
  AddFeatureDataCommands(*features, ctx);
  AddFeatureDefinitionCommands(*features, ctx);
  AddApplyCommand(app, ctx);
  AddPipelinesCommands(app, ctx);
  AddComputeCommands(app, ctx);
  AddMonitorsCommands(app, ctx);
  AddEndpointsCommands(app, ctx);
  AddCiCommands(app, ctx);
  AddProfilesCommands(app, ctx);
  AddDriftCommand(app, ctx);
  AddAlertsCommands(app, ctx);

  // CLI11 consumes arguments from the back of the vector.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error, ctx.out(), ctx.err());
    return code == 0 ? kExitOk : kExitUsage;
  } catch (const std::exception& error) {
    // A reply of an unexpected shape (nlohmann type errors) must not crash the CLI.
    ctx.err() << "cairn: unexpected reply from the server: " << error.what() << "\n";
    return kExitFailure;
  }
  return ctx.exit_code;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  CliEnvironment env{.out = &std::cout, .err = &std::cerr};
  return RunCli(args, env);
}

}  // namespace cairn::cli
