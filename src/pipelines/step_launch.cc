#include "pipelines/step_launch.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::pipelines {
namespace {

absl::string_view TypeName(ParamType type) {
  switch (type) {
    case ParamType::kString: return "string";
    case ParamType::kInt: return "int";
    case ParamType::kFloat: return "float";
    case ParamType::kBool: return "bool";
  }
  return "string";
}

// The canonical text of `value` as `type`, or nullopt when it is not one.
std::optional<std::string> Canonical(ParamType type, const std::string& value) {
  std::string trimmed(absl::StripAsciiWhitespace(value));
  switch (type) {
    case ParamType::kString:
      return value;
    case ParamType::kInt: {
      int64_t parsed = 0;
      if (!absl::SimpleAtoi(trimmed, &parsed)) return std::nullopt;
      return absl::StrCat(parsed);
    }
    case ParamType::kFloat: {
      double parsed = 0;
      if (trimmed.empty() || !absl::SimpleAtod(trimmed, &parsed) || !std::isfinite(parsed))
        return std::nullopt;
      char buffer[64];
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), parsed);
      return std::string(buffer, end);
    }
    case ParamType::kBool: {
      std::string lower = absl::AsciiStrToLower(trimmed);
      if (lower == "true" || lower == "1" || lower == "yes") return std::string("true");
      if (lower == "false" || lower == "0" || lower == "no") return std::string("false");
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ResolveParams(
    const PipelineSpec& spec, const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> resolved;
  std::set<std::string> declared;
  for (const ParamSpec& param : spec.params) declared.insert(param.name);
  for (const auto& [name, value] : overrides) {
    if (!declared.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "params.", name, ": pipeline '", spec.name, "' has no parameter '", name, "'",
          declared.empty() ? "; it takes no parameters"
                           : absl::StrCat("; its parameters are ", absl::StrJoin(declared, ", "))));
    }
  }
  for (const ParamSpec& param : spec.params) {
    auto it = overrides.find(param.name);
    if (it == overrides.end()) {
      if (!param.default_value) {
        return absl::InvalidArgumentError(absl::StrCat(
            "params.", param.name, ": pipeline '", spec.name, "' requires parameter '",
            param.name, "' (", TypeName(param.type), ", no default); pass it with -p ",
            param.name, "=VALUE"));
      }
      std::optional<std::string> value = Canonical(param.type, *param.default_value);
      resolved[param.name] = value ? *value : *param.default_value;
      continue;
    }
    std::optional<std::string> value = Canonical(param.type, it->second);
    if (!value) {
      return absl::InvalidArgumentError(absl::StrCat(
          "params.", param.name, ": '", it->second, "' is not a", 
          param.type == ParamType::kInt ? "n " : " ", TypeName(param.type),
          " (pipeline '", spec.name, "' declares ", param.name, " as ", TypeName(param.type),
          ")"));
    }
    resolved[param.name] = *value;
  }
  return resolved;
}

absl::StatusOr<std::string> RenderTemplate(std::string_view text, const StepContext& context,
                                           TemplateMode mode) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(text.substr(pos, open - pos));
    std::string ref(absl::StripAsciiWhitespace(ToAbsl(text.substr(open + 2, close - open - 2))));
    size_t dot = ref.find('.');
    std::string scope = dot == std::string::npos ? ref : ref.substr(0, dot);
    std::string name = dot == std::string::npos ? "" : ref.substr(dot + 1);
    const std::string* value = nullptr;
    auto lookup = [&](const std::map<std::string, std::string>& map) {
      auto it = map.find(name);
      if (it != map.end()) value = &it->second;
    };
    if (scope == "params") lookup(context.params);
    else if (scope == "inputs") lookup(context.inputs);
    else if (scope == "outputs") lookup(context.outputs);
    else if (scope == "run" && name == "id") value = &context.run_id;
    else if (scope == "step" && name == "name") value = &context.step;
    if (value == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "step '", context.step, "': template '{{", ref,
          "}}' names nothing; use params.NAME, inputs.NAME, outputs.NAME, run.id or step.name"));
    }
    if (mode == TemplateMode::kValue) {
      out.append(*value);
    } else if (scope == "params") {
      absl::StrAppend(&out, "${", EnvName("CAIRN_PARAM_", name), "}");
    } else if (scope == "inputs") {
      absl::StrAppend(&out, "${", EnvName("CAIRN_INPUT_", name), "}");
    } else if (scope == "outputs") {
      absl::StrAppend(&out, "${", EnvName("CAIRN_OUTPUT_", name), "}");
    } else {
      out.append(scope == "run" ? "${CAIRN_PIPELINE_RUN_ID}" : "${CAIRN_STEP}");
    }
    pos = close + 2;
  }
  out.append(text.substr(pos));
  return out;
}

std::string EnvName(std::string_view prefix, std::string_view name) {
  std::string out(prefix);
  for (char c : name) {
    out.push_back(std::isalnum(static_cast<unsigned char>(c))
                      ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                      : '_');
  }
  return out;
}

absl::StatusOr<compute::JobSpec> BuildJobSpec(const StepSpec& step, const StepContext& context,
                                              const LaunchOptions& options) {
  compute::JobSpec job;
  job.name = options.job_name;
  if (!step.script.empty()) {
    CAIRN_ASSIGN_OR_RETURN(
        std::string script,
        RenderTemplate(step.script, context, TemplateMode::kShellVariable));
    job.argv = {"/bin/sh", "-ec", std::move(script)};
  } else {
    for (const std::string& arg : step.command) {
      CAIRN_ASSIGN_OR_RETURN(std::string rendered, RenderTemplate(arg, context));
      job.argv.push_back(std::move(rendered));
    }
  }
  if (job.argv.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("step '", step.name, "' has neither a command nor a script"));
  }
  for (const auto& [name, value] : context.params) job.env[EnvName("CAIRN_PARAM_", name)] = value;
  for (const auto& [name, path] : context.inputs) job.env[EnvName("CAIRN_INPUT_", name)] = path;
  for (const auto& [name, path] : context.outputs) job.env[EnvName("CAIRN_OUTPUT_", name)] = path;
  if (!options.server_url.empty()) {
    job.env["CAIRN_URL"] = options.server_url;
    job.env["MLFLOW_TRACKING_URI"] = options.server_url;
  }
  if (!options.tracking_run_id.empty()) job.env["MLFLOW_RUN_ID"] = options.tracking_run_id;
  job.env["CAIRN_PIPELINE_RUN_ID"] = context.run_id;
  job.env["CAIRN_STEP"] = context.step;
  for (const auto& [name, value] : step.env) {
    CAIRN_ASSIGN_OR_RETURN(job.env[name], RenderTemplate(value, context));
  }
  if (!step.workdir.empty()) {
    CAIRN_ASSIGN_OR_RETURN(job.workdir, RenderTemplate(step.workdir, context));
    if (!job.workdir.empty() && job.workdir[0] != '/')
      job.workdir = absl::StrCat(options.step_dir, "/", job.workdir);
  } else {
    job.workdir = options.step_dir;
  }
  job.log_path = options.log_path;
  job.resources = step.resources;
  job.partition = step.partition;
  return job;
}

}  // namespace cairn::pipelines
