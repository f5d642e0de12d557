// `cairn features list [--kind K]` and `cairn features describe NAME [--kind K]
// [--version N]`: the feature registry through /api/v1/features/{kind}[/{name}[/versions/N]].

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/duration.h"

namespace cairn::cli {
namespace {

constexpr const char* kKinds[] = {"entities", "sources", "views", "services"};

struct ListOptions {
  ClientOptions client;
  std::string kind;
};

struct DescribeOptions {
  ClientOptions client;
  std::string name;
  std::string kind;
  int64_t version = 0;
};

std::string Str(const Json& object, const char* key) {
  const Json value = object.value(key, Json());
  return value.is_string() ? value.get<std::string>() : JsonCell(value);
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

int ListFeatures(CliContext& ctx, const ListOptions& options) {
  ApiClient client = ctx.Client(options.client);
  std::vector<std::string> kinds;
  if (options.kind.empty()) {
    kinds.assign(std::begin(kKinds), std::end(kKinds));
  } else {
    kinds.push_back(options.kind);
  }
  Json all = Json::object();
  Table table({"KIND", "NAME", "VERSION", "CREATED (UTC)", "OWNER", "DESCRIPTION"});
  table.SetNumeric(2);
  for (const std::string& kind : kinds) {
    absl::StatusOr<Json> reply = client.Get(absl::StrCat("/api/v1/features/", kind), {});
    if (!reply.ok()) return ctx.Fail(reply.status());
    if (options.client.json) {
      if (!options.kind.empty()) return ctx.PrintJson(*reply);
      all[kind] = reply->value("items", Json::array());
      continue;
    }
    for (const Json& item : reply->value("items", Json::array())) {
      std::string description = Str(item, "description");
      if (description.size() > 60) description = description.substr(0, 57) + "...";
      table.AddRow({Str(item, "kind"), Str(item, "name"), JsonCell(item.value("version", Json())),
                    FormatTimestamp(JsonMillis(item.value("created_at", Json()))),
                    OrDash(Str(item, "owner")), OrDash(description)});
    }
  }
  if (options.client.json) return ctx.PrintJson(all);
  ctx.out() << table.Render();
  return kExitOk;
}

void PrintField(CliContext& ctx, const std::string& label, const std::string& value) {
  std::string padded = label + ":";
  padded.resize(std::max<size_t>(padded.size() + 1, 15), ' ');
  ctx.out() << "  " << padded << value << "\n";
}

void PrintDescription(CliContext& ctx, const Json& item) {
  const std::string kind = Str(item, "kind");
  ctx.out() << kind << " " << Str(item, "name") << "\n";
  std::string version = JsonCell(item.value("version", Json()));
  if (item.contains("versions")) {
    std::vector<std::string> all;
    for (const Json& v : item["versions"]) all.push_back(JsonCell(v.value("version", Json())));
    version += absl::StrCat(" (versions: ", absl::StrJoin(all, ", "), ")");
  }
  if (item.value("removed", false)) version += " (the object was removed since)";
  PrintField(ctx, "version", version);
  PrintField(ctx, "content hash", Str(item, "content_hash"));
  PrintField(ctx, "created (UTC)", FormatTimestamp(JsonMillis(item.value("created_at", Json()))));
  PrintField(ctx, "description", OrDash(Str(item, "description")));
  PrintField(ctx, "owner", OrDash(Str(item, "owner")));
  std::vector<std::string> tags;
  const Json tag_map = item.value("tags", Json::object());
  for (const auto& [key, value] : tag_map.items()) {
    tags.push_back(absl::StrCat(key, "=", value.is_string() ? value.get<std::string>() : ""));
  }
  PrintField(ctx, "tags", tags.empty() ? "-" : absl::StrJoin(tags, ", "));

  if (kind == "Entity") {
    ctx.out() << "\n";
    Table table({"JOIN KEY", "TYPE"});
    for (const Json& key : item.value("join_keys", Json::array())) {
      table.AddRow({Str(key, "name"), Str(key, "type")});
    }
    ctx.out() << table.Render();
  } else if (kind == "Source") {
    PrintField(ctx, "type", Str(item, "type"));
    PrintField(ctx, "path", OrDash(Str(item, "path")));
    PrintField(ctx, "format", Str(item, "format"));
    PrintField(ctx, "timestamp", Str(item, "timestamp_field"));
    PrintField(ctx, "created", OrDash(Str(item, "created_timestamp_field")));
    ctx.out() << "\n";
    Table table({"COLUMN", "TYPE", "NULLABLE"});
    for (const Json& field : item.value("schema", Json::array())) {
      table.AddRow({Str(field, "name"), Str(field, "type"),
                    field.value("nullable", true) ? "yes" : "no"});
    }
    ctx.out() << table.Render();
  } else if (kind == "FeatureView") {
    std::vector<std::string> entities;
    for (const Json& e : item.value("entities", Json::array())) {
      entities.push_back(e.is_string() ? e.get<std::string>() : "");
    }
    PrintField(ctx, "entities", absl::StrJoin(entities, ", "));
    PrintField(ctx, "source", Str(item, "source"));
    const int64_t ttl = JsonMillis(item.value("ttl_ms", Json()));
    PrintField(ctx, "ttl", ttl == 0 ? "0 (no limit)" : ::cairn::FormatDuration(ttl));
    PrintField(ctx, "online", item.value("online", true) ? "true" : "false");
    ctx.out() << "\n";
    Table table({"FEATURE", "TYPE", "NULLABLE", "DEFINITION"});
    for (const Json& f : item.value("features", Json::array())) {
      std::string definition = "source column";
      const std::string agg = Str(f, "agg");
      if (!agg.empty()) {
        const std::string of = Str(f, "of");
        definition = absl::StrCat(agg, "(", of.empty() ? "*" : of, ") over ",
                                  ::cairn::FormatDuration(JsonMillis(f.value("window_ms", Json()))));
      } else if (!Str(f, "expr").empty()) {
        definition = Str(f, "expr");
      }
      table.AddRow({Str(f, "name"), Str(f, "type"), f.value("nullable", true) ? "yes" : "no",
                    definition});
    }
    ctx.out() << table.Render();
  } else if (kind == "FeatureService") {
    ctx.out() << "\n";
    Table table({"FEATURE"});
    for (const Json& ref : item.value("features", Json::array())) {
      std::string text = ref.is_string() ? ref.get<std::string>() : "";
      if (text.find(':') == std::string::npos) text += " (all features)";
      table.AddRow({text});
    }
    ctx.out() << table.Render();
  }
}

int DescribeFeature(CliContext& ctx, const DescribeOptions& options) {
  ApiClient client = ctx.Client(options.client);
  std::vector<std::string> kinds;
  if (options.kind.empty()) {
    kinds.assign(std::begin(kKinds), std::end(kKinds));
  } else {
    kinds.push_back(options.kind);
  }
  std::vector<std::pair<std::string, Json>> found;
  absl::Status last_error;
  for (const std::string& kind : kinds) {
    std::string path = absl::StrCat("/api/v1/features/", kind, "/", UrlEncode(options.name));
    if (options.version > 0) path += absl::StrCat("/versions/", options.version);
    absl::StatusOr<Json> reply = client.Get(path, {});
    if (reply.ok()) {
      found.emplace_back(kind, *reply);
    } else if (reply.status().code() == absl::StatusCode::kNotFound) {
      last_error = reply.status();
    } else {
      return ctx.Fail(reply.status());
    }
  }
  if (found.empty()) {
    if (kinds.size() == 1) return ctx.Fail(last_error);
    return ctx.Fail(absl::NotFoundError(absl::StrCat(
        "no entity, source, view or service named '", options.name,
        options.version > 0 ? absl::StrCat("' has version ", options.version) : "'",
        "; see `cairn features list`")));
  }
  if (found.size() > 1) {
    std::vector<std::string> names;
    for (const auto& [kind, item] : found) names.push_back(kind);
    return ctx.Fail(absl::FailedPreconditionError(
        absl::StrCat("'", options.name, "' names objects of several kinds (",
                     absl::StrJoin(names, ", "), "); pick one with --kind")));
  }
  if (options.client.json) return ctx.PrintJson(found[0].second);
  PrintDescription(ctx, found[0].second);
  return kExitOk;
}

}  // namespace

void AddFeatureDefinitionCommands(CLI::App& features, CliContext& ctx) {
  const std::vector<std::string> kinds(std::begin(kKinds), std::end(kKinds));
  {
    auto options = std::make_shared<ListOptions>();
    CLI::App* verb = features.add_subcommand("list", "List registered feature-store objects");
    verb->add_option("--kind", options->kind, "entities | sources | views | services (default: all)")
        ->check(CLI::IsMember(kinds));
    AddClientOptions(*verb, options->client);
    verb->callback([&ctx, options] { ctx.exit_code = ListFeatures(ctx, *options); });
  }
  {
    auto options = std::make_shared<DescribeOptions>();
    CLI::App* verb = features.add_subcommand(
        "describe", "Show an entity, source, view or service (latest or one version)");
    verb->add_option("NAME", options->name, "Object name")->required();
    verb->add_option("--kind", options->kind,
                     "entities | sources | views | services (default: whichever has NAME)")
        ->check(CLI::IsMember(kinds));
    verb->add_option("--version", options->version, "A version number (default: the latest)")
        ->check(CLI::PositiveNumber);
    AddClientOptions(*verb, options->client);
    verb->callback([&ctx, options] { ctx.exit_code = DescribeFeature(ctx, *options); });
  }
}

}  // namespace cairn::cli
