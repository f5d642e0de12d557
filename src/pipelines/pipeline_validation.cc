#include "pipelines/pipeline_validation.h"

#include <charconv>
#include <cmath>
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/did_you_mean.h"
#include "common/duration.h"
#include "common/status.h"
#include "common/strings.h"
#include "pipelines/cron.h"
#include "pipelines/dag.h"
#include "pipelines/pipeline_yaml.h"

namespace cairn::pipelines {
namespace {

constexpr auto kAppend = [](std::string* out, std::string_view s) { out->append(s); };

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

std::string Quoted(std::string_view text) {
  if (text.size() > 80) return absl::StrCat("'", ToAbsl(text.substr(0, 77)), "...'");
  return absl::StrCat("'", ToAbsl(text), "'");
}

// "; did you mean 'x'?", else the list of `what`, else "; OWNER declares no WHAT".
std::string DidYouMean(std::string_view word, const std::vector<std::string_view>& candidates,
                       std::string_view what, std::string_view owner = "this pipeline") {
  std::string hint = NearestName(word, candidates);
  if (!hint.empty()) return absl::StrCat("; did you mean '", hint, "'?");
  if (candidates.empty()) {
    return absl::StrCat("; ", ToAbsl(owner), " declares no ", ToAbsl(what));
  }
  return absl::StrCat("; ", ToAbsl(what), ": ", absl::StrJoin(candidates, ", ", kAppend));
}

std::string FormatDouble(double value) {
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, result.ptr);
}

// Messages for one pipeline.
class Validator {
 public:
  Validator(const PipelineSpec& spec, const ValidationOptions& options)
      : spec_(spec), options_(options) {}

  absl::Status Run() {
    const std::string label = absl::StrCat("pipeline ", spec_.name);
    if (!IsValidPipelineName(spec_.name)) {
      return Error(spec_.line, "", "name", spec_.name,
                   "is not a valid name: use letters, digits, '_' and '-', starting with a "
                   "letter or '_' (at most 128 characters)");
    }
    if (spec_.steps.empty()) {
      return Error(spec_.line, "", "steps", std::nullopt, "is empty: a pipeline needs at least one step");
    }
    CAIRN_RETURN_IF_ERROR(CheckParams());
    for (const StepSpec& step : spec_.steps) {
      if (!step_index_.emplace(step.name, &step).second) {
        return Error(step.line, step.name, "name", step.name,
                     absl::StrCat("is used by two steps (first at line ",
                                  step_index_[step.name]->line,
                                  "): give each step its own name"));
      }
      step_names_.push_back(step.name);
    }
    for (const StepSpec& step : spec_.steps) CAIRN_RETURN_IF_ERROR(CheckStep(step));
    absl::StatusOr<Dag> dag = Dag::Build(spec_);
    if (!dag.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(spec_.file, ":", spec_.line, ": ", label,
                                                     ": ", dag.status().message()));
    }
    CAIRN_RETURN_IF_ERROR(CheckSchedule());
    CAIRN_RETURN_IF_ERROR(CheckTriggers());
    return absl::OkStatus();
  }

 private:
  // "FILE:LINE: pipeline P: step S: field 'F': value 'V' WHAT" (step / field / value when given).
  absl::Status Error(int line, std::string_view step, std::string_view field,
                     std::optional<std::string_view> value, std::string_view what) {
    std::string out = absl::StrCat(spec_.file, ":", line, ": pipeline ", spec_.name);
    if (!step.empty()) absl::StrAppend(&out, ": step ", ToAbsl(step));
    if (!field.empty()) absl::StrAppend(&out, ": field '", ToAbsl(field), "'");
    if (value) absl::StrAppend(&out, ": value ", Quoted(*value));
    absl::StrAppend(&out, " ", ToAbsl(what));
    return absl::InvalidArgumentError(out);
  }

  absl::Status CheckParams() {
    for (size_t i = 0; i < spec_.params.size(); ++i) {
      const ParamSpec& param = spec_.params[i];
      const int line = param.line > 0 ? param.line : spec_.line;
      std::string field = absl::StrCat("params[", i, "]");
      if (!IsValidParamName(param.name)) {
        return Error(line, "", field + ".name", param.name,
                     "is not a valid parameter name: use letters, digits and '_', starting "
                     "with a letter or '_'");
      }
      if (!param_names_.insert(param.name).second) {
        return Error(line, "", field + ".name", param.name,
                     "is declared twice: give each parameter its own name");
      }
      // Steps see each parameter as CAIRN_PARAM_<NAME upper-cased>: names that differ only
      // in case would share one variable.
      if (auto [it, added] = param_env_names_.emplace(absl::AsciiStrToUpper(param.name), param.name);
          !added) {
        return Error(line, "", field + ".name", param.name,
                     absl::StrCat("differs from parameter '", it->second,
                                  "' only in case: both would be CAIRN_PARAM_",
                                  absl::AsciiStrToUpper(param.name), "; rename one"));
      }
      params_.push_back(param.name);
      if (param.default_value) {
        absl::StatusOr<std::string> value = NormalizeParamValue(param.type, *param.default_value);
        if (!value.ok()) {
          return Error(line, "", field + ".default", *param.default_value,
                       absl::StrCat(value.status().message(), " (parameter '", param.name,
                                    "' is declared type: ", ToAbsl(ParamTypeName(param.type)),
                                    "); change the default or the type"));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status CheckTemplates(const StepSpec& step, std::string_view field,
                              std::string_view text) {
    absl::StatusOr<std::vector<TemplateRef>> refs = FindTemplateRefs(text);
    if (!refs.ok()) {
      return Error(step.line, step.name, field, text, ToStd(refs.status().message()));
    }
    for (const TemplateRef& ref : *refs) {
      std::string_view shown = text.substr(ref.begin, ref.end - ref.begin);
      if (ref.scope == "params") {
        if (param_names_.count(ref.name)) continue;
        return Error(step.line, step.name, field, text,
                     absl::StrCat("uses ", ToAbsl(shown), " but the pipeline has no parameter '",
                                  ref.name, "'", DidYouMean(ref.name, params_, "parameters"),
                                  " (declare it under params:)"));
      }
      if (ref.scope == "inputs" || ref.scope == "outputs") {
        bool inputs = ref.scope == "inputs";
        std::vector<std::string_view> names;
        if (inputs) {
          for (const InputSpec& in : step.inputs) names.push_back(in.name);
        } else {
          for (const OutputSpec& out : step.outputs) names.push_back(out.name);
        }
        if (std::find(names.begin(), names.end(), ref.name) != names.end()) continue;
        return Error(step.line, step.name, field, text,
                     absl::StrCat("uses ", ToAbsl(shown), " but step '", step.name, "' has no ",
                                  inputs ? "input" : "output", " '", ref.name, "'",
                                  DidYouMean(ref.name, names, inputs ? "inputs" : "outputs",
                                             absl::StrCat("step '", step.name, "'")),
                                  " (declare it under ", inputs ? "inputs:" : "outputs:", ")"));
      }
      if ((ref.scope == "run" && ref.name == "id") || (ref.scope == "step" && ref.name == "name")) {
        continue;
      }
      return Error(step.line, step.name, field, text,
                   absl::StrCat("uses ", ToAbsl(shown),
                                ", which is not a template: use {{params.NAME}}, "
                                "{{inputs.NAME}}, {{outputs.NAME}}, {{run.id}} or {{step.name}}"));
    }
    return absl::OkStatus();
  }

  // Explicit dependencies: known steps, not the step itself, each once.
  absl::Status CheckDependsOn(const StepSpec& step, int line) {
    auto error = [&](std::string_view field, const std::string& value, std::string_view what) {
      return Error(line, step.name, field, value, what);
    };
    std::set<std::string> deps;
    for (size_t i = 0; i < step.depends_on.size(); ++i) {
      const std::string& dep = step.depends_on[i];
      std::string field = absl::StrCat("depends_on[", i, "]");
      if (dep == step.name) {
        return error(field, dep, "names the step itself: a step cannot depend on itself");
      }
      if (!step_index_.count(dep)) {
        return error(field, dep,
                     absl::StrCat("is not a step of this pipeline",
                                  DidYouMean(dep, step_names_, "steps")));
      }
      if (!deps.insert(dep).second) {
        return error(field, dep, "is listed twice: list each dependency once");
      }
    }
    return absl::OkStatus();
  }

  // A `noop: true` step runs nothing: it may only have a name, depends_on and cache (the
  // YAML parser says the same with the field's line; this covers specs that come as JSON).
  absl::Status CheckNoopStep(const StepSpec& step, int line) {
    const StepSpec defaults;
    const std::pair<std::string_view, bool> fields[] = {
        {"command", !step.command.empty()},
        {"script", !step.script.empty()},
        {"env", !step.env.empty()},
        {"workdir", !step.workdir.empty()},
        {"inputs", !step.inputs.empty()},
        {"outputs", !step.outputs.empty()},
        {"resources", !(step.resources == defaults.resources)},
        {"retry", !(step.retry == defaults.retry)},
        {"executor", !step.executor.empty()},
        {"partition", !step.partition.empty()},
    };
    for (const auto& [field, present] : fields) {
      if (!present) continue;
      return Error(line, step.name, field, std::nullopt,
                   "is not allowed with noop: true (a no-op step runs nothing): remove it, or "
                   "remove noop: true to run the step");
    }
    return CheckDependsOn(step, line);
  }

  absl::Status CheckStep(const StepSpec& step) {
    const int line = step.line > 0 ? step.line : spec_.line;
    auto error = [&](std::string_view field, const std::string& value, std::string_view what) {
      return Error(line, step.name, field, value, what);
    };
    if (!IsValidPipelineName(step.name)) {
      return error("name", step.name,
                   "is not a valid step name: use letters, digits, '_' and '-', starting with "
                   "a letter or '_'");
    }
    if (step.noop) return CheckNoopStep(step, line);
    if (step.command.empty() == step.script.empty()) {
      return Error(line, step.name, "command", std::nullopt,
                   "and 'script': give exactly one (command: a list of arguments; script: a "
                   "shell script), or noop: true for a step that runs nothing");
    }
    // Names of inputs and outputs.
    std::map<std::string, std::string> inputs, outputs;  // upper-cased → declared name
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const InputSpec& in = step.inputs[i];
      std::string field = absl::StrCat("inputs[", i, "]");
      if (!IsValidParamName(in.name)) {
        return error(field + ".name", in.name,
                     "is not a valid input name: use letters, digits and '_'");
      }
      if (auto [it, added] = inputs.emplace(absl::AsciiStrToUpper(in.name), in.name); !added) {
        return error(field + ".name", in.name,
                     it->second == in.name
                         ? std::string("is declared twice: give each input its own name")
                         : absl::StrCat("differs from input '", it->second,
                                        "' only in case: both would be CAIRN_INPUT_", it->first,
                                        "; rename one"));
      }
      if (in.from.empty() == in.path.empty()) {
        return Error(line, step.name, field, std::nullopt,
                     absl::StrCat("(input '", in.name,
                                  "') needs exactly one of 'from: STEP.OUTPUT' or 'path: FILE'"));
      }
      if (!in.from.empty()) CAIRN_RETURN_IF_ERROR(CheckFrom(step, line, field + ".from", in));
    }
    for (size_t i = 0; i < step.outputs.size(); ++i) {
      const OutputSpec& out = step.outputs[i];
      std::string field = absl::StrCat("outputs[", i, "]");
      if (!IsValidParamName(out.name)) {
        return error(field + ".name", out.name,
                     "is not a valid output name: use letters, digits and '_'");
      }
      if (auto [it, added] = outputs.emplace(absl::AsciiStrToUpper(out.name), out.name);
          !added) {
        return error(field + ".name", out.name,
                     it->second == out.name
                         ? std::string("is declared twice: give each output its own name")
                         : absl::StrCat("differs from output '", it->second,
                                        "' only in case: both would be CAIRN_OUTPUT_", it->first,
                                        "; rename one"));
      }
      if (out.path.empty() || out.path[0] == '/' || out.path == ".." ||
          out.path.rfind("../", 0) == 0 || out.path.find("/../") != std::string::npos ||
          (out.path.size() >= 3 && out.path.compare(out.path.size() - 3, 3, "/..") == 0)) {
        return error(field + ".path", out.path,
                     "must be a relative path inside the step's output directory (no leading "
                     "'/' and no '..'), like model.json or data/");
      }
    }
    CAIRN_RETURN_IF_ERROR(CheckDependsOn(step, line));
    // Templates.
    for (size_t i = 0; i < step.command.size(); ++i) {
      CAIRN_RETURN_IF_ERROR(CheckTemplates(step, absl::StrCat("command[", i, "]"), step.command[i]));
    }
    CAIRN_RETURN_IF_ERROR(CheckTemplates(step, "script", step.script));
    for (const auto& [key, value] : step.env) {
      if (!IsValidParamName(key)) {
        return error(absl::StrCat("env.", key), value,
                     "is under a name that is not a valid environment variable name: use "
                     "letters, digits and '_', starting with a letter or '_'");
      }
      CAIRN_RETURN_IF_ERROR(CheckTemplates(step, absl::StrCat("env.", key), value));
    }
    CAIRN_RETURN_IF_ERROR(CheckTemplates(step, "workdir", step.workdir));
    // Resources.
    const compute::Resources& r = step.resources;
    if (!(r.cpus > 0) || r.cpus > 4096 || !std::isfinite(r.cpus)) {
      return error("resources.cpus", FormatDouble(r.cpus),
                   "is out of range: give a number of CPUs above 0 (like 0.5, 1 or 4)");
    }
    if (r.memory_bytes < 0) {
      return error("resources.memory", std::to_string(r.memory_bytes),
                   "is negative: give an amount like 512Mi or 4Gi");
    }
    if (r.gpus < 0 || r.gpus > 1024) {
      return error("resources.gpus", std::to_string(r.gpus),
                   "is out of range: give a whole number of GPUs from 0 to 1024");
    }
    if (r.timeout_ms < 0) {
      return error("resources.timeout", std::to_string(r.timeout_ms),
                   "is negative: give a duration like 30m (or 0 for no limit)");
    }
    // Retry policy.
    const RetryPolicy& retry = step.retry;
    if (retry.attempts < 1 || retry.attempts > 100) {
      return error("retry.attempts", std::to_string(retry.attempts),
                   "is out of range: give the total number of tries, from 1 to 100");
    }
    if (retry.backoff_ms < 0 || retry.backoff_ms > kDayMs) {
      return error("retry.backoff", FormatDuration(retry.backoff_ms),
                   "is out of range: give a delay from 0 to 1d, like 1s");
    }
    if (!(retry.factor >= 1) || retry.factor > 100) {
      return error("retry.factor", FormatDouble(retry.factor),
                   "is out of range: give a growth factor from 1 to 100 (1: the same delay "
                   "every time)");
    }
    if (retry.max_backoff_ms < retry.backoff_ms || retry.max_backoff_ms > kDayMs) {
      return error("retry.max_backoff", FormatDuration(retry.max_backoff_ms),
                   absl::StrCat("is out of range: give a delay from retry.backoff (",
                                FormatDuration(retry.backoff_ms), ") to 1d"));
    }
    if (!(retry.jitter >= 0) || retry.jitter > 1) {
      return error("retry.jitter", FormatDouble(retry.jitter),
                   "is out of range: give a fraction from 0 to 1, like 0.1");
    }
    // Executor.
    // Named by the step, else by the pipeline, else the local executor (the server may
    // route GPU steps that name none to its --gpu-executor; it checks those itself).
    std::string executor = step.executor.empty() ? spec_.executor : step.executor;
    if (executor.empty()) executor = "local";
    const bool own = !step.executor.empty();
    if (!options_.executors.empty() &&
        std::find(options_.executors.begin(), options_.executors.end(), executor) ==
            options_.executors.end()) {
      std::vector<std::string_view> names(options_.executors.begin(), options_.executors.end());
      return Error(own ? line : spec_.line, own ? step.name : "", "executor", executor,
                   absl::StrCat("is not an executor of this server",
                                DidYouMean(executor, names, "executors"),
                                " (local is always there; slurm needs cairn "
                                "server --slurm)"));
    }
    if (options_.check_resources) {
      absl::Status fits = options_.check_resources(executor, r);
      if (absl::IsNotFound(fits)) {
        return Error(own ? line : spec_.line, own ? step.name : "", "executor", executor,
                     absl::StrCat("is not an executor of this server: ", fits.message()));
      }
      if (!fits.ok()) {
        return error("resources", compute::FormatResources(r),
                     absl::StrCat("cannot run on the ", executor, " executor: ", fits.message(),
                                  "; ask for less, or send the step to an executor that has it "
                                  "(executor: NAME)"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status CheckFrom(const StepSpec& step, int line, const std::string& field,
                         const InputSpec& in) {
    size_t dot = in.from.find('.');
    if (dot == std::string::npos) {
      return Error(line, step.name, field, in.from,
                   "must name an upstream step's output as STEP.OUTPUT, like build.train");
    }
    std::string source = in.from.substr(0, dot), output = in.from.substr(dot + 1);
    if (source == step.name) {
      return Error(line, step.name, field, in.from,
                   "names the step itself: an input must come from another step's output");
    }
    auto it = step_index_.find(source);
    if (it == step_index_.end()) {
      return Error(line, step.name, field, in.from,
                   absl::StrCat("names step '", source, "', which is not a step of this pipeline",
                                DidYouMean(source, step_names_, "steps")));
    }
    std::vector<std::string_view> names;
    for (const OutputSpec& out : it->second->outputs) {
      if (out.name == output) return absl::OkStatus();
      names.push_back(out.name);
    }
    return Error(line, step.name, field, in.from,
                 absl::StrCat("names output '", output, "' of step '", source,
                              "', which declares no such output",
                              DidYouMean(output, names, "outputs",
                                         absl::StrCat("step '", source, "'")),
                              " (declare it under that step's outputs:)"));
  }

  absl::Status CheckSchedule() {
    if (spec_.schedule.cron.empty()) return absl::OkStatus();
    absl::Status status = options_.check_cron ? options_.check_cron(spec_.schedule.cron)
                                              : ParseCron(spec_.schedule.cron).status();
    if (status.ok()) return status;
    return Error(spec_.line, "", "schedule.cron", spec_.schedule.cron,
                 absl::StrCat("is not a valid cron expression: ", status.message()));
  }

  absl::Status CheckTriggers() {
    for (size_t i = 0; i < spec_.triggers.size(); ++i) {
      const TriggerSpec& trigger = spec_.triggers[i];
      const int line = trigger.line > 0 ? trigger.line : spec_.line;
      std::string field = absl::StrCat("triggers[", i, "]");
      const auto& events = KnownTriggerEvents();
      if (std::find(events.begin(), events.end(), trigger.on) == events.end()) {
        return Error(line, "", field + ".on", trigger.on,
                     absl::StrCat("is not an event", DidYouMean(trigger.on, events, "events"),
                                  " (events: ", absl::StrJoin(events, ", ", kAppend), ")"));
      }
      for (const auto& [name, value] : trigger.params) {
        const ParamSpec* param = nullptr;
        for (const ParamSpec& p : spec_.params) {
          if (p.name == name) param = &p;
        }
        if (param == nullptr) {
          return Error(line, "", absl::StrCat(field, ".params.", name), value,
                       absl::StrCat("sets parameter '", name, "', which the pipeline does not "
                                    "declare", DidYouMean(name, params_, "parameters")));
        }
        // A value taken from the event ({{event.version}}) is typed when the run starts.
        absl::StatusOr<std::vector<TemplateRef>> refs = FindTemplateRefs(value);
        if (!refs.ok()) {
          return Error(line, "", absl::StrCat(field, ".params.", name), value,
                       ToStd(refs.status().message()));
        }
        if (!refs->empty()) {
          for (const TemplateRef& ref : *refs) {
            if (ref.scope != "event") {
              return Error(line, "", absl::StrCat(field, ".params.", name), value,
                           absl::StrCat("uses {{", ref.scope, ".", ref.name,
                                        "}}: trigger parameters may only use the event's "
                                        "attributes, like {{event.version}}"));
            }
          }
          continue;
        }
        absl::StatusOr<std::string> normalized = NormalizeParamValue(param->type, value);
        if (!normalized.ok()) {
          return Error(line, "", absl::StrCat(field, ".params.", name), value,
                       absl::StrCat(normalized.status().message(), " (parameter '", name,
                                    "' is declared type: ", ToAbsl(ParamTypeName(param->type)),
                                    ")"));
        }
      }
    }
    return absl::OkStatus();
  }

  const PipelineSpec& spec_;
  const ValidationOptions& options_;
  std::map<std::string, std::string> param_env_names_;  // upper-cased → declared
  std::set<std::string> param_names_;
  std::vector<std::string_view> params_;
  std::map<std::string, const StepSpec*> step_index_;
  std::vector<std::string_view> step_names_;
};

}  // namespace

const std::vector<std::string_view>& KnownTriggerEvents() {
  static const std::vector<std::string_view> kEvents = {
      "alert", "source_ingested", "model_version_registered", "pipeline_run_finished"};
  return kEvents;
}

absl::Status ValidatePipeline(const PipelineSpec& spec, const ValidationOptions& options) {
  return Validator(spec, options).Run();
}

absl::Status ValidatePipelines(const std::vector<PipelineSpec>& specs,
                               const ValidationOptions& options) {
  std::map<std::string, const PipelineSpec*> seen;
  for (const PipelineSpec& spec : specs) {
    auto [it, added] = seen.emplace(spec.name, &spec);
    if (!added) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.file, ":", spec.line, ": pipeline ", spec.name, ": is also defined at ",
          it->second->file, ":", it->second->line, ": give each pipeline its own name"));
    }
    CAIRN_RETURN_IF_ERROR(ValidatePipeline(spec, options));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TemplateRef>> FindTemplateRefs(std::string_view text) {
  std::vector<TemplateRef> out;
  size_t at = 0;
  while (true) {
    size_t open = text.find("{{", at);
    if (open == std::string_view::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    std::string_view inner =
        ToStd(absl::StripAsciiWhitespace(ToAbsl(text.substr(open + 2, close - open - 2))));
    size_t dot = inner.find('.');
    TemplateRef ref;
    ref.begin = open;
    ref.end = close + 2;
    bool ok = dot != std::string_view::npos;
    if (ok) {
      ref.scope = std::string(inner.substr(0, dot));
      ref.name = std::string(inner.substr(dot + 1));
      ok = !ref.scope.empty() && !ref.name.empty() &&
           std::all_of(ref.scope.begin(), ref.scope.end(), [](char c) { return c >= 'a' && c <= 'z'; }) &&
           IsValidPipelineName(ref.name);
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "has '", ToAbsl(text.substr(open, close + 2 - open)),
          "', which is not a template: write {{params.NAME}}, {{inputs.NAME}}, "
          "{{outputs.NAME}}, {{run.id}} or {{step.name}}"));
    }
    out.push_back(std::move(ref));
    at = close + 2;
  }
  return out;
}

absl::StatusOr<std::string> NormalizeParamValue(ParamType type, std::string_view value) {
  switch (type) {
    case ParamType::kString:
      return std::string(value);
    case ParamType::kInt: {
      int64_t v = 0;
      if (absl::SimpleAtoi(ToAbsl(value), &v)) return std::to_string(v);
      return absl::InvalidArgumentError("is not an int: give a whole number, like 6");
    }
    case ParamType::kFloat: {
      double v = 0;
      if (absl::SimpleAtod(ToAbsl(value), &v) && std::isfinite(v)) return FormatDouble(v);
      return absl::InvalidArgumentError("is not a float: give a number, like 0.1");
    }
    case ParamType::kBool: {
      if (value == "true" || value == "True" || value == "yes") return std::string("true");
      if (value == "false" || value == "False" || value == "no") return std::string("false");
      return absl::InvalidArgumentError("is not a bool: give true or false");
    }
  }
  return std::string(value);
}

}  // namespace cairn::pipelines
