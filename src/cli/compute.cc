// `cairn compute status`: capacity, use and queue of each executor
// (GET /api/v1/compute/status, api/compute_handlers.h).

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/table.h"

namespace cairn::cli {
namespace {

std::string Str(const Json& object, const char* key) {
  const Json value = object.is_object() ? object.value(key, Json()) : Json();
  if (value.is_null()) return "";
  return value.is_string() ? value.get<std::string>() : JsonCell(value);
}

// Binary units with one decimal when needed: "512Mi", "23.5Gi" ("-" for none).
std::string Memory(const Json& resources) {
  const int64_t bytes = JsonMillis(resources.value("memory_bytes", Json()));
  if (bytes <= 0) return "-";
  static constexpr const char* kUnits[] = {"", "Ki", "Mi", "Gi", "Ti"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  const double rounded = std::round(value * 10) / 10;
  return rounded == std::floor(rounded) ? absl::StrCat(static_cast<int64_t>(rounded), kUnits[unit])
                                        : absl::StrFormat("%.1f%s", rounded, kUnits[unit]);
}

// "1.5/4" — used of capacity.
std::string UsedOf(const Json& in_use, const Json& capacity, const char* key) {
  return absl::StrCat(Str(in_use, key), "/", Str(capacity, key));
}

int ComputeStatus(CliContext& ctx, const ClientOptions& options) {
  ApiClient client = ctx.Client(options);
  absl::StatusOr<Json> reply = client.Get("/api/v1/compute/status", {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.json) return ctx.PrintJson(*reply);
  const Json executors = reply->value("executors", Json::array());
  Table table({"EXECUTOR", "CPUS (USED/ALL)", "MEMORY (USED/ALL)", "GPUS (USED/ALL)", "RUNNING",
               "QUEUED"});
  for (size_t column = 1; column < 6; ++column) table.SetNumeric(column);
  for (const Json& e : executors) {
    const Json capacity = e.value("capacity", Json::object());
    const Json in_use = e.value("in_use", Json::object());
    table.AddRow({Str(e, "name"), UsedOf(in_use, capacity, "cpus"),
                  absl::StrCat(Memory(in_use), "/", Memory(capacity)),
                  UsedOf(in_use, capacity, "gpus"), Str(e, "running"), Str(e, "queued")});
  }
  ctx.out() << table.Render();
  for (const Json& e : executors) {
    const std::string detail = Str(e, "detail");
    if (!detail.empty() && detail != "-") ctx.out() << "\n" << Str(e, "name") << ": " << detail << "\n";
    const Json jobs = e.value("jobs", Json::array());
    if (jobs.empty()) continue;
    ctx.out() << "\n" << Str(e, "name") << " jobs:\n";
    Table job_table({"JOB", "STATE", "HOST", "GPUS", "QUEUED (UTC)", "STARTED (UTC)"});
    for (const Json& job : jobs) {
      std::vector<std::string> gpus;
      for (const Json& g : job.value("gpus", Json::array())) gpus.push_back(JsonCell(g));
      job_table.AddRow({Str(job, "job_id"), Str(job, "state"), Str(job, "host"),
                        gpus.empty() ? "-" : absl::StrJoin(gpus, ","),
                        FormatTimestamp(JsonMillis(job.value("queued_ms", Json()))),
                        FormatTimestamp(JsonMillis(job.value("started_ms", Json())))});
    }
    ctx.out() << job_table.Render();
  }
  return kExitOk;
}

}  // namespace

void AddComputeCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun = app.add_subcommand("compute", "Executors: capacity, use and queue");
  noun->require_subcommand(1);
  auto options = std::make_shared<ClientOptions>();
  CLI::App* status = noun->add_subcommand("status", "Capacity, use and queue per executor");
  AddClientOptions(*status, *options);
  status->callback([&ctx, options] { ctx.exit_code = ComputeStatus(ctx, *options); });
}

}  // namespace cairn::cli
