// `cairn features ingest|historical|materialize|materialize-incremental`: the feature
// store's data plane (the definitions' verbs, list and describe, are in features.cc).

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "common/strings.h"
#include "common/timestamp.h"

namespace cairn::cli {
namespace {

struct IngestOptions {
  ClientOptions client;
  std::string source;
  std::string file;
  std::string format;
  bool quarantine = false;
};

struct HistoricalOptions {
  ClientOptions client;
  std::string entities;
  std::string service;
  std::string features;
  std::string output;
  std::string timestamp_column = "event_timestamp";
  bool full_feature_names = false;
};

struct MaterializeOptions {
  ClientOptions client;
  std::string start;
  std::string end;
  std::string views;
  bool incremental = false;
  bool progress = true;
};

absl::StatusOr<int64_t> ParseTime(std::string_view flag, const std::string& text) {
  if (text == "now") {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  auto t = ParseTimestamp(text);
  if (!t) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(flag), ": '", text, "' is not an RFC 3339 timestamp, epoch milliseconds or now"));
  }
  return *t;
}

int Ingest(CliContext& ctx, const IngestOptions& o) {
  ApiClient client = ctx.Client(o.client);
  QueryList query = {{"file", o.file}, {"quarantine", o.quarantine ? "true" : "false"}};
  if (!o.format.empty()) query.emplace_back("format", o.format);
  auto reply = client.PostFile(absl::StrCat("/api/v1/features/sources/", UrlEncode(o.source),
                                            "/ingest"),
                               query, o.file);
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (o.client.json) return ctx.PrintJson(*reply);
  std::vector<std::string> views;
  for (auto it = (*reply)["views"].begin(); it != (*reply)["views"].end(); ++it) {
    views.push_back(absl::StrCat(it.key(), " ", it.value().get<int64_t>()));
  }
  ctx.out() << "ingested " << (*reply)["rows"].get<int64_t>() << " rows into " << o.source;
  if (!views.empty()) ctx.out() << " (feature views: " << absl::StrJoin(views, ", ") << ")";
  ctx.out() << "\n";
  int64_t bad = reply->value("quarantined", int64_t{0});
  if (bad > 0) {
    ctx.out() << "quarantined " << bad << " bad rows → " << reply->value("quarantine_file", "")
              << "\n";
  }
  return kExitOk;
}

int Historical(CliContext& ctx, const HistoricalOptions& o) {
  std::ifstream in(o.entities, std::ios::binary);
  if (!in) {
    return ctx.Fail(absl::NotFoundError(absl::StrCat("--entities ", o.entities,
                                                     ": cannot open for reading")));
  }
  std::stringstream text;
  text << in.rdbuf();
  Json body{{"entities_csv", text.str()},
            {"full_feature_names", o.full_feature_names},
            {"timestamp_column", o.timestamp_column},
            {"format", "csv"}};
  if (!o.service.empty()) body["feature_service"] = o.service;
  if (!o.features.empty()) {
    Json refs = Json::array();
    for (absl::string_view ref : absl::StrSplit(o.features, ',', absl::SkipEmpty())) {
      refs.push_back(std::string(ref));
    }
    body["features"] = refs;
  }
  if (o.service.empty() == o.features.empty()) {
    return ctx.Fail(absl::InvalidArgumentError("give --service or --features (one of them)"));
  }
  ApiClient client = ctx.Client(o.client);
  auto reply = client.PostRaw("/api/v1/features/historical", body);
  if (!reply.ok()) return ctx.Fail(reply.status());
  // The saved snapshot (batch prediction and lineage name it by this id).
  if (const std::string* id = reply->Header("x-cairn-snapshot-id")) {
    ctx.err() << "training set snapshot " << *id << "\n";
  }
  if (o.output.empty() || o.output == "-") {
    ctx.out() << reply->body;
  } else {
    std::ofstream out(o.output, std::ios::binary);
    out << reply->body;
    if (!out) return ctx.Fail(absl::InternalError(absl::StrCat("-o ", o.output, ": cannot write")));
    size_t rows = 0;
    for (char c : reply->body) rows += c == '\n';
    ctx.err() << "wrote " << (rows > 0 ? rows - 1 : 0) << " rows to " << o.output << "\n";
  }
  return kExitOk;
}

void DrawBar(std::ostream& err, int64_t done, int64_t total, int64_t keys) {
  const int width = 30;
  double frac = total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total))
                          : 0.0;
  int filled = static_cast<int>(frac * width);
  err << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] "
      << static_cast<int>(frac * 100) << "%  " << done << " rows read, " << keys
      << " keys written" << std::flush;
}

int Materialize(CliContext& ctx, const MaterializeOptions& o) {
  Json body = Json::object();
  auto end = ParseTime("--end", o.end);
  if (!end.ok()) return ctx.Fail(end.status());
  body["end"] = *end;
  if (!o.incremental) {
    auto start = ParseTime("--start", o.start);
    if (!start.ok()) return ctx.Fail(start.status());
    body["start"] = *start;
  }
  if (!o.views.empty()) {
    Json views = Json::array();
    for (absl::string_view v : absl::StrSplit(o.views, ',', absl::SkipEmpty())) {
      views.push_back(std::string(v));
    }
    body["views"] = views;
  }
  body["async"] = true;
  ApiClient client = ctx.Client(o.client);
  std::string path = o.incremental ? "/api/v1/features/materialize-incremental"
                                   : "/api/v1/features/materialize";
  auto started = client.Send("POST", path, {}, &body, {});
  if (!started.ok()) return ctx.Fail(started.status());
  std::string job = (*started)["job_id"].get<std::string>();
  Json status;
  bool drawn = false;
  while (true) {
    auto polled = client.Get(absl::StrCat("/api/v1/features/materializations/", job), {});
    if (!polled.ok()) return ctx.Fail(polled.status());
    status = *polled;
    if (o.progress && !o.client.json) {
      DrawBar(ctx.err(), status.value("rows_read", int64_t{0}),
              status.value("total_rows", int64_t{0}), status.value("keys_written", int64_t{0}));
      drawn = true;
    }
    if (status.value("state", "") != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (drawn) ctx.err() << "\n";
  if (status.value("state", "") == "failed") {
    return ctx.Fail(absl::InternalError(
        absl::StrCat("materialization failed: ", status.value("error", std::string()))));
  }
  if (o.client.json) return ctx.PrintJson(status);
  for (auto it = status["views"].begin(); it != status["views"].end(); ++it) {
    const Json& v = it.value();
    ctx.out() << it.key() << ": " << v.value("keys_written", int64_t{0}) << " keys from "
              << v.value("rows_read", int64_t{0}) << " rows, " << v.value("start", "") << " → "
              << v.value("end", "") << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddFeatureDataCommands(CLI::App& noun, CliContext& ctx) {
  auto ingest = std::make_shared<IngestOptions>();
  CLI::App* i = noun.add_subcommand("ingest", "Ingest a CSV or JSON Lines file into a source");
  AddClientOptions(*i, ingest->client);
  i->add_option("source", ingest->source, "Source name")->required();
  i->add_option("file", ingest->file, "The file (streamed to the server)")->required();
  i->add_option("--format", ingest->format, "csv or jsonl (default: the source's format)");
  i->add_flag("--quarantine", ingest->quarantine,
              "Set bad rows aside (stored and counted) instead of rejecting the file");
  i->callback([&ctx, ingest] { ctx.exit_code = Ingest(ctx, *ingest); });

  auto hist = std::make_shared<HistoricalOptions>();
  CLI::App* h = noun.add_subcommand(
      "historical", "Build a point-in-time-correct training set (saved as a snapshot)");
  AddClientOptions(*h, hist->client);
  h->add_option("--entities", hist->entities, "CSV of entity rows: join keys + timestamp")
      ->required();
  h->add_option("--service", hist->service, "Feature service");
  h->add_option("--features", hist->features, "Comma-separated view:feature references");
  h->add_option("-o,--output", hist->output, "Output CSV (default: stdout)");
  h->add_option("--timestamp-column", hist->timestamp_column, "Entity timestamp column");
  h->add_flag("--full-feature-names", hist->full_feature_names, "Name columns view__feature");
  h->callback([&ctx, hist] { ctx.exit_code = Historical(ctx, *hist); });

  for (bool incremental : {false, true}) {
    auto m = std::make_shared<MaterializeOptions>();
    m->incremental = incremental;
    CLI::App* verb = noun.add_subcommand(
        incremental ? "materialize-incremental" : "materialize",
        incremental ? "Materialize from where the last run ended up to --end"
                    : "Write the latest row per key in [--start, --end) to the online store");
    AddClientOptions(*verb, m->client);
    if (!incremental) {
      verb->add_option("--start", m->start, "RFC 3339, epoch ms or now")->required();
    }
    verb->add_option("--end", m->end, "RFC 3339, epoch ms or now")->required();
    verb->add_option("--views", m->views, "Comma-separated feature views (default: all online)");
    verb->add_flag("!--no-progress", m->progress, "No progress bar");
    verb->callback([&ctx, m] { ctx.exit_code = Materialize(ctx, *m); });
  }
}

}  // namespace cairn::cli
