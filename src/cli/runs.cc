// `cairn runs list|get|search`.

#include <algorithm>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "cli/table.h"

namespace cairn::cli {
namespace {

// Metric columns shown when --metrics is not given (referenced ones first, then
// validation/test metrics, then the rest alphabetically).
constexpr size_t kDefaultMetricColumns = 4;

struct SearchOptions {
  ClientOptions client;
  std::string experiment;
  std::string filter;
  std::vector<std::string> order_by;
  int max_results = 100;
  std::vector<std::string> metrics;  // columns; empty: chosen from filter/order_by/data
  bool all = false;                  // deleted runs too
};

struct GetOptions {
  ClientOptions client;
  std::string run_id;
};

// The keys of `prefix`.<key> mentioned in filter/order-by text, in order of appearance
// (plain, `backticked` or "quoted" keys).
std::vector<std::string> ReferencedKeys(const std::string& text, const std::string& prefix) {
  static const std::regex* pattern = new std::regex(
      R"re((metrics?|params?|tags?)\.(?:`([^`]+)`|"([^"]+)"|([A-Za-z0-9_.\-/:]+)))re");
  std::vector<std::string> keys;
  for (std::sregex_iterator it(text.begin(), text.end(), *pattern), end; it != end; ++it) {
    std::string kind = (*it)[1].str();
    if (kind.back() == 's') kind.pop_back();
    if (kind != prefix) continue;
    for (int group = 2; group <= 4; ++group) {
      if ((*it)[group].matched) {
        std::string key = (*it)[group].str();
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
        break;
      }
    }
  }
  return keys;
}

bool IsHeldOutMetric(const std::string& key) {
  for (const char* prefix : {"val", "valid", "test", "eval"}) {
    if (key.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// key → value of a run's data.metrics / data.params list.
std::map<std::string, Json> KeyValues(const Json& run, const char* field) {
  std::map<std::string, Json> values;
  const Json data = run.value("data", Json::object());
  if (!data.contains(field)) return values;
  for (const Json& item : data[field]) {
    if (item.contains("key")) values[item["key"].get<std::string>()] = item.value("value", Json());
  }
  return values;
}

int SearchRuns(CliContext& ctx, const SearchOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<std::string> experiment_id = ResolveExperimentId(client, options.experiment);
  if (!experiment_id.ok()) return ctx.Fail(experiment_id.status());
  Json request = {{"experiment_ids", Json::array({*experiment_id})},
                  {"max_results", options.max_results},
                  {"run_view_type", options.all ? "ALL" : "ACTIVE_ONLY"}};
  if (!options.filter.empty()) request["filter"] = options.filter;
  if (!options.order_by.empty()) request["order_by"] = options.order_by;
  absl::StatusOr<Json> reply = client.MlflowPost("runs/search", request);
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);

  const Json runs = reply->value("runs", Json::array());
  const std::string query_text =
      absl::StrCat(options.filter, " ", absl::StrJoin(options.order_by, " "));
  std::vector<std::string> metric_columns = options.metrics;
  if (metric_columns.empty()) {
    metric_columns = ReferencedKeys(query_text, "metric");
    std::set<std::string> all_keys;
    for (const Json& run : runs) {
      for (const auto& [key, value] : KeyValues(run, "metrics")) all_keys.insert(key);
    }
    // Held-out metrics say most about a model: show them before the others.
    std::vector<std::string> ordered_keys(all_keys.begin(), all_keys.end());
    std::stable_partition(ordered_keys.begin(), ordered_keys.end(), IsHeldOutMetric);
    for (const std::string& key : ordered_keys) {
      if (metric_columns.size() >= kDefaultMetricColumns) break;
      if (std::find(metric_columns.begin(), metric_columns.end(), key) == metric_columns.end()) {
        metric_columns.push_back(key);
      }
    }
  }
  const std::vector<std::string> param_columns = ReferencedKeys(query_text, "param");

  std::vector<std::string> headers = {"RUN ID", "NAME", "STATUS", "START (UTC)", "DURATION"};
  for (const std::string& key : param_columns) headers.push_back(key);
  const size_t first_metric = headers.size();
  for (const std::string& key : metric_columns) headers.push_back(key);
  Table table(headers);
  for (size_t col = first_metric; col < headers.size(); ++col) table.SetNumeric(col);
  for (const Json& run : runs) {
    const Json info = run.value("info", Json::object());
    const int64_t start = JsonMillis(info.value("start_time", Json()));
    const int64_t end = JsonMillis(info.value("end_time", Json()));
    std::vector<std::string> row = {JsonCell(info.value("run_id", Json())),
                                    JsonCell(info.value("run_name", Json())),
                                    JsonCell(info.value("status", Json())),
                                    FormatTimestamp(start),
                                    end > 0 && start > 0 ? FormatDuration(end - start) : "-"};
    const auto params = KeyValues(run, "params");
    for (const std::string& key : param_columns) {
      auto found = params.find(key);
      row.push_back(found == params.end() ? "-" : JsonCell(found->second));
    }
    const auto metrics = KeyValues(run, "metrics");
    for (const std::string& key : metric_columns) {
      auto found = metrics.find(key);
      row.push_back(found == metrics.end() ? "-" : JsonCell(found->second));
    }
    table.AddRow(std::move(row));
  }
  ctx.out() << table.Render();
  const std::string next = reply->value("next_page_token", std::string());
  if (!next.empty()) ctx.out() << "(more runs match; raise --max)\n";
  return kExitOk;
}

void PrintKeyValueSection(CliContext& ctx, const char* title, const Json& items,
                          bool with_step) {
  if (!items.is_array() || items.empty()) return;
  std::vector<std::string> headers = {"KEY", "VALUE"};
  if (with_step) headers.push_back("STEP");
  Table table(headers);
  if (with_step) {
    table.SetNumeric(1);
    table.SetNumeric(2);
  }
  std::vector<std::vector<std::string>> rows;
  for (const Json& item : items) {
    std::vector<std::string> row = {JsonCell(item.value("key", Json())),
                                    JsonCell(item.value("value", Json()))};
    if (with_step) row.push_back(JsonCell(item.value("step", Json())));
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end());
  for (auto& row : rows) table.AddRow(std::move(row));
  ctx.out() << "\n" << title << "\n" << table.Render();
}

int GetRun(CliContext& ctx, const GetOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.MlflowGet("runs/get", {{"run_id", options.run_id}});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);

  const Json run = reply->value("run", Json::object());
  const Json info = run.value("info", Json::object());
  const int64_t start = JsonMillis(info.value("start_time", Json()));
  const int64_t end = JsonMillis(info.value("end_time", Json()));
  Table summary({"FIELD", "VALUE"});
  summary.AddRow({"run_id", JsonCell(info.value("run_id", Json()))});
  summary.AddRow({"name", JsonCell(info.value("run_name", Json()))});
  summary.AddRow({"experiment_id", JsonCell(info.value("experiment_id", Json()))});
  summary.AddRow({"status", JsonCell(info.value("status", Json()))});
  summary.AddRow({"lifecycle_stage", JsonCell(info.value("lifecycle_stage", Json()))});
  summary.AddRow({"user", JsonCell(info.value("user_id", Json()))});
  summary.AddRow({"start (UTC)", FormatTimestamp(start)});
  summary.AddRow({"end (UTC)", FormatTimestamp(end)});
  summary.AddRow({"duration", end > 0 && start > 0 ? FormatDuration(end - start) : "-"});
  summary.AddRow({"artifact_uri", JsonCell(info.value("artifact_uri", Json()))});
  ctx.out() << summary.Render();
  const Json data = run.value("data", Json::object());
  PrintKeyValueSection(ctx, "PARAMS", data.value("params", Json::array()), false);
  PrintKeyValueSection(ctx, "METRICS (latest)", data.value("metrics", Json::array()), true);
  PrintKeyValueSection(ctx, "TAGS", data.value("tags", Json::array()), false);
  return kExitOk;
}

void AddSearchOptions(CLI::App& verb, SearchOptions& options, bool with_filter) {
  AddClientOptions(verb, options.client);
  verb.add_option("--experiment,-e", options.experiment, "Experiment id or name")->required();
  if (with_filter) {
    verb.add_option("--filter", options.filter,
                    "MLflow search filter, e.g. \"metrics.auc > 0.8 and params.depth = '5'\"");
    verb.add_option("--order-by", options.order_by,
                    "Order, e.g. \"metrics.auc DESC\" (repeatable)");
  }
  verb.add_option("--max", options.max_results, "At most this many runs")
      ->check(CLI::Range(1, 50000));
  verb.add_option("--metrics", options.metrics, "Metric columns to show (comma-separated)")
      ->delimiter(',');
  verb.add_flag("--all", options.all, "Include deleted runs");
}

}  // namespace

void AddRunsCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun = app.add_subcommand("runs", "List, show and search runs");
  noun->require_subcommand(1);

  auto list_options = std::make_shared<SearchOptions>();
  CLI::App* list = noun->add_subcommand("list", "List an experiment's runs, newest first");
  AddSearchOptions(*list, *list_options, /*with_filter=*/false);
  list->callback([&ctx, list_options] { ctx.exit_code = SearchRuns(ctx, *list_options); });

  auto search_options = std::make_shared<SearchOptions>();
  CLI::App* search = noun->add_subcommand("search", "Search an experiment's runs");
  AddSearchOptions(*search, *search_options, /*with_filter=*/true);
  search->callback([&ctx, search_options] { ctx.exit_code = SearchRuns(ctx, *search_options); });

  auto get_options = std::make_shared<GetOptions>();
  CLI::App* get = noun->add_subcommand("get", "Show one run: info, params, metrics, tags");
  AddClientOptions(*get, get_options->client);
  get->add_option("RUN_ID", get_options->run_id, "Run id")->required();
  get->callback([&ctx, get_options] { ctx.exit_code = GetRun(ctx, *get_options); });
}

}  // namespace cairn::cli
