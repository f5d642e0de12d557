#include "pipelines/pipeline_yaml.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/did_you_mean.h"
#include "common/duration.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/yaml_documents.h"
#include "common/yaml_reader.h"
#include "compute/resources.h"
#include "yaml-cpp/yaml.h"

namespace cairn::pipelines {
namespace {

constexpr size_t kMaxNameLength = 128;

bool ValidName(std::string_view name, bool allow_dash) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name[0])) return false;
  for (char c : name) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && !(allow_dash && c == '-')) return false;
  }
  return true;
}

const std::vector<std::string_view> kPipelineFields = {
    "kind", "name", "description", "owner", "tags", "executor", "params", "steps",
    "schedule", "triggers"};
const std::vector<std::string_view> kParamFields = {"name", "type", "default", "description"};
const std::vector<std::string_view> kStepFields = {
    "name", "command", "script", "env", "workdir", "inputs", "outputs", "depends_on",
    "resources", "retry", "cache", "executor", "partition", "noop"};
// What a `noop: true` step may not have (it runs nothing): every step field but name,
// depends_on, cache and noop.
const std::vector<std::string_view> kNoopForbiddenFields = {
    "command", "script", "env", "workdir", "inputs", "outputs", "resources", "retry",
    "executor", "partition"};
const std::vector<std::string_view> kInputFields = {"name", "from", "path"};
const std::vector<std::string_view> kOutputFields = {"name", "path"};
const std::vector<std::string_view> kResourceFields = {"cpus", "memory", "gpus", "timeout"};
const std::vector<std::string_view> kRetryFields = {"attempts", "backoff", "factor",
                                                    "max_backoff", "jitter"};
const std::vector<std::string_view> kScheduleFields = {"cron", "catchup"};
const std::vector<std::string_view> kTriggerFields = {"on", "match", "params"};
// Kinds parsed by other modules: skipped here.
const std::vector<std::string_view> kOtherKinds = {
    "Entity", "Source", "FeatureView", "FeatureService", "Monitor", "Policy", "Endpoint"};

class DocumentParser : private YamlFieldReader {
 public:
  DocumentParser(std::string_view file, const YAML::Node& doc) : YamlFieldReader(file), doc_(doc) {}

  // Sets *is_pipeline; parses into *spec only when it is one.
  absl::Status Parse(PipelineSpec* spec, bool* is_pipeline) {
    *is_pipeline = false;
    const int line = YamlLine(doc_);
    if (!doc_.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file(), ":", line, ": a definition must be a map with 'kind' and 'name', got ",
          YamlShown(doc_)));
    }
    YAML::Node kind_node = doc_["kind"];
    if (!YamlPresent(kind_node)) {
      return absl::InvalidArgumentError(absl::StrCat(
          file(), ":", line,
          ": missing field 'kind': add kind: Pipeline (or Entity, Source, FeatureView, "
          "FeatureService, Monitor, Policy, Endpoint)"));
    }
    set_label("definition");
    if (!kind_node.IsScalar()) return FieldError(kind_node, "kind", "must be a string");
    const std::string kind = kind_node.Scalar();
    if (std::find(kOtherKinds.begin(), kOtherKinds.end(), kind) != kOtherKinds.end()) {
      return absl::OkStatus();
    }
    if (kind != "Pipeline") {
      std::vector<std::string_view> kinds = kOtherKinds;
      kinds.insert(kinds.begin(), "Pipeline");
      return FieldError(kind_node, "kind",
                        absl::StrCat("is not a kind (", JoinNames(kinds), ")",
                                     DidYouMean(kind, kinds)));
    }
    *is_pipeline = true;
    set_label("pipeline");
    YAML::Node name_node = doc_["name"];
    if (YamlPresent(name_node) && name_node.IsScalar()) {
      set_label(absl::StrCat("pipeline ", name_node.Scalar()));
    }
    spec->file = std::string(file());
    spec->line = line;
    return ParsePipeline(spec);
  }

 private:
  // name: with the given syntax.
  absl::StatusOr<std::string> Name(const YAML::Node& map, std::string_view path, bool dash) {
    CAIRN_ASSIGN_OR_RETURN(std::string name, String(map, "name", path, /*required=*/true));
    if (!ValidName(name, dash)) {
      return FieldError(map["name"], path,
                        dash ? "is not a valid name: use letters, digits, '_' and '-', "
                               "starting with a letter or '_' (at most 128 characters)"
                             : "is not a valid name: use letters, digits and '_', starting "
                               "with a letter or '_' (at most 128 characters)");
    }
    return name;
  }

  absl::Status ParsePipeline(PipelineSpec* spec) {
    CAIRN_RETURN_IF_ERROR(CheckFields(doc_, kPipelineFields, ""));
    CAIRN_ASSIGN_OR_RETURN(spec->name, Name(doc_, "name", /*dash=*/true));
    CAIRN_ASSIGN_OR_RETURN(spec->description, String(doc_, "description", "description", false));
    CAIRN_ASSIGN_OR_RETURN(spec->owner, String(doc_, "owner", "owner", false));
    CAIRN_ASSIGN_OR_RETURN(spec->tags, StringMap(doc_["tags"], "tags", "{team: growth}"));
    CAIRN_ASSIGN_OR_RETURN(std::string executor, String(doc_, "executor", "executor", false));
    if (!executor.empty()) spec->executor = executor;

    YAML::Node params = doc_["params"];
    if (YamlPresent(params)) {
      if (!params.IsSequence()) {
        return FieldError(params, "params",
                          "must be a list, like [{name: max_depth, type: int, default: 6}]");
      }
      for (size_t i = 0; i < params.size(); ++i) {
        CAIRN_ASSIGN_OR_RETURN(ParamSpec param, ParseParam(params[i], i));
        spec->params.push_back(std::move(param));
      }
    }

    YAML::Node steps = doc_["steps"];
    if (!YamlPresent(steps)) {
      return ObjectError(YamlLine(doc_),
                         "missing field 'steps': add steps: [{name: build, command: [...]}]");
    }
    if (!steps.IsSequence() || steps.size() == 0) {
      return FieldError(steps, "steps",
                        "must be a non-empty list of steps, like [{name: build, command: "
                        "[\"make\"]}]");
    }
    const std::string pipeline_label = label();
    for (size_t i = 0; i < steps.size(); ++i) {
      CAIRN_ASSIGN_OR_RETURN(StepSpec step, ParseStep(steps[i], i));
      set_label(pipeline_label);
      spec->steps.push_back(std::move(step));
    }

    YAML::Node schedule = doc_["schedule"];
    if (YamlPresent(schedule)) {
      if (schedule.IsScalar()) {
        spec->schedule.cron = schedule.Scalar();
      } else {
        CAIRN_RETURN_IF_ERROR(RequireMap(schedule, "schedule",
                                         "{cron: \"0 3 * * *\", catchup: latest}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(schedule, kScheduleFields, "schedule."));
        CAIRN_ASSIGN_OR_RETURN(spec->schedule.cron,
                               String(schedule, "cron", "schedule.cron", /*required=*/true));
        YAML::Node catchup = schedule["catchup"];
        if (YamlPresent(catchup)) {
          absl::StatusOr<Catchup> parsed = ParseCatchupField(
              catchup.IsScalar() ? std::optional<std::string_view>(catchup.Scalar())
                                 : std::nullopt);
          if (!parsed.ok()) {
            return FieldError(catchup, "schedule.catchup", ToStd(parsed.status().message()));
          }
          spec->schedule.catchup = *parsed;
        }
      }
    }

    YAML::Node triggers = doc_["triggers"];
    if (YamlPresent(triggers)) {
      if (!triggers.IsSequence()) {
        return FieldError(triggers, "triggers",
                          "must be a list, like [{on: source_ingested, match: {source: events}}]");
      }
      for (size_t i = 0; i < triggers.size(); ++i) {
        const YAML::Node& node = triggers[i];
        std::string path = absl::StrCat("triggers[", i, "]");
        CAIRN_RETURN_IF_ERROR(RequireMap(node, path, "{on: alert, match: {monitor: drift}}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(node, kTriggerFields, path + "."));
        TriggerSpec trigger;
        trigger.line = YamlLine(node);
        CAIRN_ASSIGN_OR_RETURN(trigger.on, String(node, "on", path + ".on", /*required=*/true));
        CAIRN_ASSIGN_OR_RETURN(trigger.match,
                               StringMap(node["match"], path + ".match", "{source: events}"));
        CAIRN_ASSIGN_OR_RETURN(trigger.params,
                               StringMap(node["params"], path + ".params", "{reason: drift}"));
        spec->triggers.push_back(std::move(trigger));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ParamSpec> ParseParam(const YAML::Node& node, size_t index) {
    std::string path = absl::StrCat("params[", index, "]");
    CAIRN_RETURN_IF_ERROR(RequireMap(node, path, "{name: max_depth, type: int, default: 6}"));
    CAIRN_RETURN_IF_ERROR(CheckFields(node, kParamFields, path + "."));
    ParamSpec param;
    param.line = YamlLine(node);
    CAIRN_ASSIGN_OR_RETURN(param.name, Name(node, path + ".name", /*dash=*/false));
    YAML::Node type = node["type"];
    if (YamlPresent(type)) {
      absl::StatusOr<ParamType> parsed = type.IsScalar()
                                             ? ParseParamType(type.Scalar())
                                             : absl::InvalidArgumentError("not a string");
      if (!parsed.ok()) {
        return FieldError(type, path + ".type",
                          absl::StrCat("is not a parameter type: use int, float, string or bool",
                                       type.IsScalar()
                                           ? DidYouMean(type.Scalar(),
                                                        {"int", "float", "string", "bool"})
                                           : ""));
      }
      param.type = *parsed;
    }
    YAML::Node def = node["default"];
    if (YamlPresent(def)) {
      if (!def.IsScalar()) {
        return FieldError(def, path + ".default", "must be a single value (a number, string or bool)");
      }
      param.default_value = def.Scalar();
    }
    CAIRN_ASSIGN_OR_RETURN(param.description,
                           String(node, "description", path + ".description", false));
    return param;
  }

  // depends_on: one name or a list of them.
  absl::StatusOr<std::vector<std::string>> DependsOn(const YAML::Node& step) {
    YAML::Node deps = step["depends_on"];
    if (YamlPresent(deps) && deps.IsScalar()) return std::vector<std::string>{deps.Scalar()};
    return StringList(deps, "depends_on", "[build, features]", ListItems::kStrings);
  }

  absl::StatusOr<StepSpec> ParseStep(const YAML::Node& node, size_t index) {
    std::string at = absl::StrCat("steps[", index, "]");
    CAIRN_RETURN_IF_ERROR(RequireMap(node, at, "{name: build, command: [\"make\"]}"));
    StepSpec step;
    step.line = YamlLine(node);
    CAIRN_ASSIGN_OR_RETURN(step.name, Name(node, at + ".name", /*dash=*/true));
    set_label(absl::StrCat(label(), ": step ", step.name));
    CAIRN_RETURN_IF_ERROR(CheckFields(node, kStepFields, ""));
    CAIRN_ASSIGN_OR_RETURN(step.noop, Bool(node["noop"], "noop", false));
    if (step.noop) {
      for (std::string_view field : kNoopForbiddenFields) {
        YAML::Node value = node[std::string(field)];
        if (!YamlPresent(value)) continue;
        return FieldError(value, field,
                          "is not allowed with noop: true (a no-op step runs nothing): remove "
                          "it, or remove noop: true to run the step");
      }
      CAIRN_ASSIGN_OR_RETURN(step.depends_on, DependsOn(node));
      CAIRN_ASSIGN_OR_RETURN(step.cache, Bool(node["cache"], "cache", true));
      return step;
    }

    YAML::Node command = node["command"];
    YAML::Node script = node["script"];
    if (YamlPresent(command) && YamlPresent(script)) {
      return FieldError(script, "script",
                        "conflicts with 'command': give either command (a list of arguments) "
                        "or script (a shell script), not both");
    }
    if (!YamlPresent(command) && !YamlPresent(script)) {
      return ObjectError(step.line,
                         "missing field 'command': give command: [\"python\", \"train.py\"] "
                         "(arguments), script: \"...\" (a shell script run with sh -e) or "
                         "noop: true (a step that runs nothing, such as a join)");
    }
    if (YamlPresent(command)) {
      if (command.IsScalar()) {
        return FieldError(command, "command",
                          "must be a list of arguments, like [\"python\", \"train.py\"]; to run "
                          "a shell command line write script: instead");
      }
      CAIRN_ASSIGN_OR_RETURN(
          step.command,
          StringList(command, "command", "[\"python\", \"train.py\"]", ListItems::kStrings));
      if (step.command.empty()) {
        return FieldError(command, "command",
                          "is empty: give the program and its arguments, like [\"python\", "
                          "\"train.py\"]");
      }
    } else {
      if (!script.IsScalar()) {
        return FieldError(script, "script", "must be a string (a shell script run with sh -e)");
      }
      step.script = script.Scalar();
      if (step.script.find_first_not_of(" \t\r\n") == std::string::npos) {
        return FieldError(script, "script", "is empty: give the shell commands to run");
      }
    }

    CAIRN_ASSIGN_OR_RETURN(step.env, StringMap(node["env"], "env", "{SEED: \"42\"}"));
    for (const auto& [key, value] : step.env) {
      if (!ValidName(key, /*allow_dash=*/false)) {
        return FieldError(node["env"], absl::StrCat("env.", key),
                          "is not a valid environment variable name: use letters, digits and "
                          "'_', starting with a letter or '_'");
      }
    }
    CAIRN_ASSIGN_OR_RETURN(step.workdir, String(node, "workdir", "workdir", false));

    YAML::Node inputs = node["inputs"];
    if (YamlPresent(inputs)) {
      if (!inputs.IsSequence()) {
        return FieldError(inputs, "inputs",
                          "must be a list, like [{name: train, from: build.train}]");
      }
      for (size_t i = 0; i < inputs.size(); ++i) {
        const YAML::Node& in = inputs[i];
        std::string path = absl::StrCat("inputs[", i, "]");
        CAIRN_RETURN_IF_ERROR(RequireMap(in, path, "{name: train, from: build.train}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(in, kInputFields, path + "."));
        InputSpec input;
        CAIRN_ASSIGN_OR_RETURN(input.name, Name(in, path + ".name", /*dash=*/false));
        CAIRN_ASSIGN_OR_RETURN(input.from, String(in, "from", path + ".from", false));
        CAIRN_ASSIGN_OR_RETURN(input.path, String(in, "path", path + ".path", false));
        if (!input.from.empty() && !input.path.empty()) {
          return FieldError(in["path"], path + ".path",
                            "conflicts with 'from': an input comes either from an upstream "
                            "step's output (from: step.output) or from a path, not both");
        }
        if (input.from.empty() && input.path.empty()) {
          return ObjectError(YamlLine(in),
                             absl::StrCat("input '", input.name,
                                          "' needs 'from: STEP.OUTPUT' (an upstream step's "
                                          "output) or 'path: FILE' (an external file or "
                                          "directory)"));
        }
        if (!input.from.empty()) {
          size_t dot = input.from.find('.');
          if (dot == std::string::npos || !ValidName(input.from.substr(0, dot), true) ||
              !ValidName(input.from.substr(dot + 1), false)) {
            return FieldError(in["from"], path + ".from",
                              "must name an upstream step's output as STEP.OUTPUT, like "
                              "build.train");
          }
        }
        step.inputs.push_back(std::move(input));
      }
    }

    YAML::Node outputs = node["outputs"];
    if (YamlPresent(outputs)) {
      if (!outputs.IsSequence()) {
        return FieldError(outputs, "outputs",
                          "must be a list, like [{name: model, path: model.json}]");
      }
      for (size_t i = 0; i < outputs.size(); ++i) {
        const YAML::Node& out = outputs[i];
        std::string path = absl::StrCat("outputs[", i, "]");
        CAIRN_RETURN_IF_ERROR(RequireMap(out, path, "{name: model, path: model.json}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(out, kOutputFields, path + "."));
        OutputSpec output;
        CAIRN_ASSIGN_OR_RETURN(output.name, Name(out, path + ".name", /*dash=*/false));
        CAIRN_ASSIGN_OR_RETURN(output.path, String(out, "path", path + ".path", false));
        if (output.path.empty()) output.path = output.name;
        step.outputs.push_back(std::move(output));
      }
    }

    CAIRN_ASSIGN_OR_RETURN(step.depends_on, DependsOn(node));

    YAML::Node resources = node["resources"];
    if (YamlPresent(resources)) {
      CAIRN_RETURN_IF_ERROR(
          RequireMap(resources, "resources", "{cpus: 2, memory: 4Gi, gpus: 1, timeout: 30m}"));
      CAIRN_RETURN_IF_ERROR(CheckFields(resources, kResourceFields, "resources."));
      CAIRN_ASSIGN_OR_RETURN(step.resources.cpus,
                             Number(resources["cpus"], "resources.cpus", step.resources.cpus));
      YAML::Node memory = resources["memory"];
      if (YamlPresent(memory)) {
        absl::StatusOr<int64_t> bytes = memory.IsScalar()
                                            ? compute::ParseMemory(memory.Scalar())
                                            : absl::InvalidArgumentError("not a string");
        if (!bytes.ok()) {
          return FieldError(memory, "resources.memory",
                            "is not an amount of memory: write a number and a unit, like "
                            "512Mi, 4Gi or 1G (or bytes)");
        }
        step.resources.memory_bytes = *bytes;
      }
      CAIRN_ASSIGN_OR_RETURN(int64_t gpus,
                             Integer(resources["gpus"], "resources.gpus", step.resources.gpus));
      if (gpus < 0 || gpus > 1024) {
        return FieldError(resources["gpus"], "resources.gpus",
                          "is out of range: give a whole number of GPUs from 0 to 1024");
      }
      step.resources.gpus = static_cast<int>(gpus);
      CAIRN_ASSIGN_OR_RETURN(step.resources.timeout_ms,
                             Duration(resources["timeout"], "resources.timeout", 0));
    }

    YAML::Node retry = node["retry"];
    if (YamlPresent(retry)) {
      CAIRN_RETURN_IF_ERROR(RequireMap(
          retry, "retry", "{attempts: 3, backoff: 1s, factor: 2, max_backoff: 1m, jitter: 0.1}"));
      CAIRN_RETURN_IF_ERROR(CheckFields(retry, kRetryFields, "retry."));
      CAIRN_ASSIGN_OR_RETURN(int64_t attempts,
                             Integer(retry["attempts"], "retry.attempts", step.retry.attempts));
      if (attempts < 1 || attempts > 100) {
        return FieldError(retry["attempts"], "retry.attempts",
                          "is out of range: give the total number of tries, from 1 to 100");
      }
      step.retry.attempts = static_cast<int>(attempts);
      CAIRN_ASSIGN_OR_RETURN(step.retry.backoff_ms,
                             Duration(retry["backoff"], "retry.backoff", step.retry.backoff_ms));
      CAIRN_ASSIGN_OR_RETURN(step.retry.factor,
                             Number(retry["factor"], "retry.factor", step.retry.factor));
      CAIRN_ASSIGN_OR_RETURN(
          step.retry.max_backoff_ms,
          Duration(retry["max_backoff"], "retry.max_backoff", step.retry.max_backoff_ms));
      CAIRN_ASSIGN_OR_RETURN(step.retry.jitter,
                             Number(retry["jitter"], "retry.jitter", step.retry.jitter));
    }
    CAIRN_ASSIGN_OR_RETURN(step.cache, Bool(node["cache"], "cache", true));
    CAIRN_ASSIGN_OR_RETURN(step.executor, String(node, "executor", "executor", false));
    CAIRN_ASSIGN_OR_RETURN(step.partition, String(node, "partition", "partition", false));
    return step;
  }

  const YAML::Node& doc_;
};

}  // namespace

bool IsValidPipelineName(std::string_view name) { return ValidName(name, true); }
bool IsValidParamName(std::string_view name) { return ValidName(name, false); }

absl::StatusOr<std::vector<PipelineSpec>> ParsePipelinesYaml(std::string_view text,
                                                             std::string_view file) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<YAML::Node> docs, LoadYamlDocuments(text, file));
  std::vector<PipelineSpec> out;
  for (const YAML::Node& doc : docs) {
    if (!doc.IsDefined() || doc.IsNull()) continue;
    PipelineSpec spec;
    bool is_pipeline = false;
    try {
      DocumentParser parser(file, doc);
      CAIRN_RETURN_IF_ERROR(parser.Parse(&spec, &is_pipeline));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(file), ":", e.mark.line + 1,
                                                     ": invalid pipeline: ", e.msg));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ":", YamlLine(doc), ": invalid pipeline: ", e.what()));
    }
    if (is_pipeline) out.push_back(std::move(spec));
  }
  return out;
}

absl::StatusOr<std::vector<PipelineSpec>> ParsePipelineFiles(
    const std::vector<features::DefinitionFile>& files) {
  std::vector<PipelineSpec> out;
  for (const features::DefinitionFile& file : files) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<PipelineSpec> specs,
                           ParsePipelinesYaml(file.content, file.path));
    for (PipelineSpec& spec : specs) out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace cairn::pipelines
