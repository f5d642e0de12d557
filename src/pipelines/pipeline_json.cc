#include "pipelines/pipeline_json.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/definition_json.h"
#include "pipelines/pipeline_validation.h"

namespace cairn::pipelines {
namespace {

Json StringMapJson(const std::map<std::string, std::string>& map) {
  Json out = Json::object();
  for (const auto& [key, value] : map) out[key] = value;
  return out;
}

// Field readers for PipelineFromJson: a missing field is the default; a wrong type throws
// (caught there and reported with the path).
struct Reader {
  std::string path;

  const Json* Find(const Json& obj, const char* key) const {
    if (!obj.is_object()) throw std::runtime_error(absl::StrCat(path, ": must be an object"));
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::string Str(const Json& obj, const char* key, std::string fallback = "") const {
    const Json* v = Find(obj, key);
    if (!v) return fallback;
    if (!v->is_string()) throw std::runtime_error(absl::StrCat(path, key, ": must be a string"));
    return v->get<std::string>();
  }
  int64_t Int(const Json& obj, const char* key, int64_t fallback) const {
    const Json* v = Find(obj, key);
    if (!v) return fallback;
    if (!v->is_number_integer()) {
      throw std::runtime_error(absl::StrCat(path, key, ": must be an integer"));
    }
    return v->get<int64_t>();
  }
  double Num(const Json& obj, const char* key, double fallback) const {
    const Json* v = Find(obj, key);
    if (!v) return fallback;
    if (!v->is_number()) throw std::runtime_error(absl::StrCat(path, key, ": must be a number"));
    return v->get<double>();
  }
  bool Bool(const Json& obj, const char* key, bool fallback) const {
    const Json* v = Find(obj, key);
    if (!v) return fallback;
    if (!v->is_boolean()) throw std::runtime_error(absl::StrCat(path, key, ": must be a bool"));
    return v->get<bool>();
  }
  const Json& Arr(const Json& obj, const char* key) const {
    static const Json kEmpty = Json::array();
    const Json* v = Find(obj, key);
    if (!v) return kEmpty;
    if (!v->is_array()) throw std::runtime_error(absl::StrCat(path, key, ": must be a list"));
    return *v;
  }
  std::map<std::string, std::string> Map(const Json& obj, const char* key) const {
    std::map<std::string, std::string> out;
    const Json* v = Find(obj, key);
    if (!v) return out;
    if (!v->is_object()) throw std::runtime_error(absl::StrCat(path, key, ": must be an object"));
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_string()) {
        throw std::runtime_error(absl::StrCat(path, key, ".", it.key(), ": must be a string"));
      }
      out[it.key()] = it->get<std::string>();
    }
    return out;
  }
  Reader At(std::string_view sub) const { return Reader{absl::StrCat(path, ToAbsl(sub))}; }
};

StepSpec StepFromJson(const Json& json, const Reader& r) {
  StepSpec step;
  step.name = r.Str(json, "name");
  for (const Json& arg : r.Arr(json, "command")) {
    if (!arg.is_string()) throw std::runtime_error(absl::StrCat(r.path, "command: strings only"));
    step.command.push_back(arg.get<std::string>());
  }
  step.script = r.Str(json, "script");
  step.env = r.Map(json, "env");
  step.workdir = r.Str(json, "workdir");
  size_t i = 0;
  for (const Json& in : r.Arr(json, "inputs")) {
    Reader ri = r.At(absl::StrCat("inputs[", i++, "]."));
    step.inputs.push_back(
        InputSpec{.name = ri.Str(in, "name"), .from = ri.Str(in, "from"), .path = ri.Str(in, "path")});
  }
  i = 0;
  for (const Json& out : r.Arr(json, "outputs")) {
    Reader ro = r.At(absl::StrCat("outputs[", i++, "]."));
    step.outputs.push_back(OutputSpec{.name = ro.Str(out, "name"), .path = ro.Str(out, "path")});
  }
  for (const Json& dep : r.Arr(json, "depends_on")) {
    if (!dep.is_string()) throw std::runtime_error(absl::StrCat(r.path, "depends_on: strings only"));
    step.depends_on.push_back(dep.get<std::string>());
  }
  if (const Json* res = r.Find(json, "resources")) {
    Reader rr = r.At("resources.");
    step.resources.cpus = rr.Num(*res, "cpus", 1);
    step.resources.memory_bytes = rr.Int(*res, "memory_bytes", 0);
    step.resources.gpus = static_cast<int>(rr.Int(*res, "gpus", 0));
    step.resources.timeout_ms = rr.Int(*res, "timeout_ms", 0);
  }
  if (const Json* retry = r.Find(json, "retry")) {
    Reader rr = r.At("retry.");
    RetryPolicy defaults;
    step.retry.attempts = static_cast<int>(rr.Int(*retry, "attempts", defaults.attempts));
    step.retry.backoff_ms = rr.Int(*retry, "backoff_ms", defaults.backoff_ms);
    step.retry.factor = rr.Num(*retry, "factor", defaults.factor);
    step.retry.max_backoff_ms = rr.Int(*retry, "max_backoff_ms", defaults.max_backoff_ms);
    step.retry.jitter = rr.Num(*retry, "jitter", defaults.jitter);
  }
  step.cache = r.Bool(json, "cache", true);
  step.executor = r.Str(json, "executor");
  step.partition = r.Str(json, "partition");
  step.noop = r.Bool(json, "noop", false);
  return step;
}

}  // namespace

Json StepToJson(const StepSpec& step) {
  Json inputs = Json::array();
  for (const InputSpec& in : step.inputs) {
    inputs.push_back({{"name", in.name}, {"from", in.from}, {"path", in.path}});
  }
  Json outputs = Json::array();
  for (const OutputSpec& out : step.outputs) {
    outputs.push_back({{"name", out.name}, {"path", out.path}});
  }
  Json out = Json::object();
  out["name"] = step.name;
  out["command"] = step.command;
  out["script"] = step.script;
  out["env"] = StringMapJson(step.env);
  out["workdir"] = step.workdir;
  out["inputs"] = std::move(inputs);
  out["outputs"] = std::move(outputs);
  out["depends_on"] = step.depends_on;
  out["resources"] = {{"cpus", step.resources.cpus},
                      {"memory_bytes", step.resources.memory_bytes},
                      {"gpus", step.resources.gpus},
                      {"timeout_ms", step.resources.timeout_ms}};
  out["retry"] = {{"attempts", step.retry.attempts},
                  {"backoff_ms", step.retry.backoff_ms},
                  {"factor", step.retry.factor},
                  {"max_backoff_ms", step.retry.max_backoff_ms},
                  {"jitter", step.retry.jitter}};
  out["cache"] = step.cache;
  out["executor"] = step.executor;
  out["partition"] = step.partition;
  // Only when set: the canonical text (and so the content hash and cache key) of every
  // step without it stays what it was before noop steps existed.
  if (step.noop) out["noop"] = true;
  return out;
}

std::string StepCanonicalJson(const StepSpec& step) { return DumpJson(StepToJson(step)); }

Json PipelineToJson(const PipelineSpec& spec) {
  Json params = Json::array();
  for (const ParamSpec& param : spec.params) {
    Json def = nullptr;
    if (param.default_value) {
      absl::StatusOr<std::string> value = NormalizeParamValue(param.type, *param.default_value);
      def = value.ok() ? *value : *param.default_value;
    }
    params.push_back({{"name", param.name},
                      {"type", std::string(ParamTypeName(param.type))},
                      {"default", std::move(def)},
                      {"description", param.description}});
  }
  Json steps = Json::array();
  for (const StepSpec& step : spec.steps) steps.push_back(StepToJson(step));
  Json triggers = Json::array();
  for (const TriggerSpec& trigger : spec.triggers) {
    triggers.push_back({{"on", trigger.on},
                        {"match", StringMapJson(trigger.match)},
                        {"params", StringMapJson(trigger.params)}});
  }
  Json out = Json::object();
  out["kind"] = "Pipeline";
  out["name"] = spec.name;
  out["description"] = spec.description;
  out["owner"] = spec.owner;
  out["tags"] = StringMapJson(spec.tags);
  out["executor"] = spec.executor;
  out["params"] = std::move(params);
  out["steps"] = std::move(steps);
  out["schedule"] = {{"cron", spec.schedule.cron},
                     {"catchup", std::string(CatchupName(spec.schedule.catchup))}};
  out["triggers"] = std::move(triggers);
  return out;
}

std::string PipelineCanonicalText(const PipelineSpec& spec) {
  return DumpJson(PipelineToJson(spec));
}

std::string PipelineContentHash(const PipelineSpec& spec) {
  return features::Sha256Hex(PipelineCanonicalText(spec));
}

absl::StatusOr<PipelineSpec> PipelineFromJson(const Json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("a pipeline must be a JSON object");
  PipelineSpec spec;
  try {
    Reader r{""};
    std::string kind = r.Str(json, "kind", "Pipeline");
    if (kind != "Pipeline") {
      return absl::InvalidArgumentError(absl::StrCat("kind: '", kind, "' is not Pipeline"));
    }
    spec.name = r.Str(json, "name");
    spec.description = r.Str(json, "description");
    spec.owner = r.Str(json, "owner");
    spec.tags = r.Map(json, "tags");
    spec.executor = r.Str(json, "executor");
    size_t i = 0;
    for (const Json& p : r.Arr(json, "params")) {
      Reader rp = r.At(absl::StrCat("params[", i++, "]."));
      ParamSpec param;
      param.name = rp.Str(p, "name");
      CAIRN_ASSIGN_OR_RETURN(param.type, ParseParamType(rp.Str(p, "type", "string")));
      if (const Json* def = rp.Find(p, "default")) {
        if (!def->is_string()) throw std::runtime_error(rp.path + "default: must be a string");
        param.default_value = def->get<std::string>();
      }
      param.description = rp.Str(p, "description");
      spec.params.push_back(std::move(param));
    }
    i = 0;
    for (const Json& s : r.Arr(json, "steps")) {
      spec.steps.push_back(StepFromJson(s, r.At(absl::StrCat("steps[", i++, "]."))));
    }
    if (const Json* schedule = r.Find(json, "schedule")) {
      Reader rs = r.At("schedule.");
      spec.schedule.cron = rs.Str(*schedule, "cron");
      CAIRN_ASSIGN_OR_RETURN(spec.schedule.catchup,
                             ParseCatchup(rs.Str(*schedule, "catchup", "latest")));
    }
    i = 0;
    for (const Json& t : r.Arr(json, "triggers")) {
      Reader rt = r.At(absl::StrCat("triggers[", i++, "]."));
      spec.triggers.push_back(TriggerSpec{
          .on = rt.Str(t, "on"), .match = rt.Map(t, "match"), .params = rt.Map(t, "params")});
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline JSON: ", e.what()));
  }
  return spec;
}

}  // namespace cairn::pipelines
