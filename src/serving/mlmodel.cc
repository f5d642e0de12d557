#include "serving/mlmodel.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/yaml_documents.h"
#include "yaml-cpp/yaml.h"

namespace cairn::serving {
namespace {

namespace fs = std::filesystem;

bool Present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

absl::Status FieldError(std::string_view file, const YAML::Node& at, std::string_view field,
                        std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(file), ":", YamlLine(at), ": field '",
                                                 ToAbsl(field), "': value ", YamlShown(at), " ",
                                                 ToAbsl(what)));
}

// A flavor's `data` entry (optional); InvalidArgument when present but not a string.
absl::StatusOr<std::string> FlavorData(std::string_view file, const YAML::Node& flavor,
                                       std::string_view flavor_name) {
  if (!flavor.IsMap()) return std::string();
  YAML::Node data = flavor["data"];
  if (!Present(data)) return std::string();
  if (!data.IsScalar() || data.Scalar().empty()) {
    return FieldError(file, data, absl::StrCat("flavors.", ToAbsl(flavor_name), ".data"),
                      "must be the model file's path relative to the model directory");
  }
  return data.Scalar();
}

absl::StatusOr<int64_t> DirectorySize(const fs::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("model directory ", dir.string(), ": cannot list it: ", ec.message()));
  }
  for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const uintmax_t size = it->file_size(size_ec);
      if (!size_ec) total += static_cast<int64_t>(size);
    }
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat("model directory ", dir.string(), ": cannot list it: ", ec.message()));
  }
  return total;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SignatureInputColumns(std::string_view inputs_json) {
  absl::StatusOr<Json> parsed = ParseJson(inputs_json);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("is not valid JSON (", parsed.status().message(),
                     "); MLflow writes a JSON list like '[{\"name\": \"x\", \"type\": "
                     "\"double\"}]'"));
  }
  if (!parsed->is_array()) {
    return absl::InvalidArgumentError(
        "must be a JSON list of inputs like '[{\"name\": \"x\", \"type\": \"double\"}]'");
  }
  std::vector<std::string> columns;
  bool positional = false;
  for (size_t index = 0; index < parsed->size(); ++index) {
    const Json& entry = (*parsed)[index];
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input ", index, " is not an object like {\"name\": \"x\", \"type\": \"double\"}"));
    }
    auto type = entry.find("type");
    if (type != entry.end() && type->is_string() && type->get<std::string>() == "tensor") {
      positional = true;  // a tensor-based signature names no columns
      continue;
    }
    auto name = entry.find("name");
    if (name == entry.end() || name->is_null()) {
      positional = true;  // an unnamed column-based signature: inputs by position
      continue;
    }
    if (!name->is_string() || name->get<std::string>().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input ", index, ": 'name' must be a non-empty string, got ",
                       name->dump()));
    }
    columns.push_back(name->get<std::string>());
  }
  if (positional) columns.clear();
  return columns;
}

absl::StatusOr<ModelInfo> ParseMlmodel(std::string_view text, std::string_view file,
                                       std::string_view flavor) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<YAML::Node> docs, LoadYamlDocuments(text, file));
  YAML::Node root;
  for (const YAML::Node& doc : docs) {
    if (Present(doc)) {
      root = doc;
      break;
    }
  }
  if (!root.IsDefined() || !root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(file), ":", YamlLine(root),
        ": MLmodel must be a map with 'flavors' (MLflow's model format), got ", YamlShown(root)));
  }
  YAML::Node flavors = root["flavors"];
  if (!Present(flavors)) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(file), ":", YamlLine(root),
                     ": missing field 'flavors': an MLmodel file names the flavors that can "
                     "load the model (xgboost, python_function)"));
  }
  if (!flavors.IsMap()) {
    return FieldError(file, flavors, "flavors", "must be a map of flavor name to settings");
  }

  std::string found;
  for (auto it = flavors.begin(); it != flavors.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: never keep a reference into the iterator
    if (!found.empty()) found += ", ";
    found += key.IsScalar() ? key.Scalar() : YamlShown(key);
  }
  if (found.empty()) found = "none";

  ModelInfo info;
  if (flavor.empty()) {
    if (Present(flavors["xgboost"])) {
      info.flavor = "xgboost";
    } else if (Present(flavors["python_function"])) {
      info.flavor = "python_function";
    } else {
      return FieldError(file, flavors, "flavors",
                        absl::StrCat("has neither 'xgboost' nor 'python_function' (found: ",
                                     found,
                                     "); save the model with an MLflow flavor that writes "
                                     "python_function, or as an XGBoost booster"));
    }
  } else {
    if (flavor != "xgboost" && flavor != "python_function") {
      return absl::InvalidArgumentError(absl::StrCat(
          "flavor: '", ToAbsl(flavor), "' is not xgboost or python_function"));
    }
    if (!Present(flavors[std::string(flavor)])) {
      return absl::FailedPreconditionError(
          absl::StrCat(ToAbsl(file), ":", YamlLine(flavors), ": the model has no '",
                       ToAbsl(flavor), "' flavor (it has: ", found, ")"));
    }
    info.flavor = std::string(flavor);
  }
  const YAML::Node chosen = flavors[info.flavor];
  CAIRN_ASSIGN_OR_RETURN(info.data_file, FlavorData(file, chosen, info.flavor));
  if (info.flavor == "xgboost" && info.data_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(file), ":", YamlLine(chosen),
                     ": field 'flavors.xgboost.data': missing; it names the booster file "
                     "(e.g. data: model.json)"));
  }

  YAML::Node signature = root["signature"];
  if (Present(signature)) {
    if (!signature.IsMap()) {
      return FieldError(file, signature, "signature", "must be a map with 'inputs'");
    }
    YAML::Node inputs = signature["inputs"];
    if (Present(inputs)) {
      if (!inputs.IsScalar()) {
        return FieldError(file, inputs, "signature.inputs",
                          "must be a JSON string (MLflow's format: '[{\"name\": \"x\", "
                          "\"type\": \"double\"}]')");
      }
      absl::StatusOr<std::vector<std::string>> columns = SignatureInputColumns(inputs.Scalar());
      if (!columns.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(ToAbsl(file), ":", YamlLine(inputs),
                                                       ": field 'signature.inputs': ",
                                                       columns.status().message()));
      }
      info.input_columns = *std::move(columns);
    }
  }
  return info;
}

absl::StatusOr<ModelInfo> ReadModelInfo(const std::string& model_dir, std::string_view flavor) {
  std::error_code ec;
  const fs::path dir = fs::absolute(fs::path(model_dir), ec);
  if (ec || !fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model directory ", model_dir,
                     " does not exist (or is not a directory); it must hold the model's "
                     "MLmodel file"));
  }
  const fs::path mlmodel = dir / "MLmodel";
  if (!fs::is_regular_file(mlmodel, ec)) {
    return absl::NotFoundError(absl::StrCat(
        "model directory ", dir.string(),
        " has no MLmodel file; log the model with mlflow.<flavor>.log_model (or the Cairn "
        "demo) so the directory holds MLmodel and the model file"));
  }
  std::ifstream in(mlmodel, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) {
    return absl::InternalError(absl::StrCat(mlmodel.string(), ": cannot read the file"));
  }
  CAIRN_ASSIGN_OR_RETURN(ModelInfo info, ParseMlmodel(text.str(), mlmodel.string(), flavor));
  info.model_dir = dir.lexically_normal().string();
  if (!info.model_dir.empty() && info.model_dir.back() == '/' && info.model_dir.size() > 1) {
    info.model_dir.pop_back();
  }
  if (!info.data_file.empty() && !fs::exists(dir / info.data_file, ec)) {
    return absl::NotFoundError(absl::StrCat(mlmodel.string(), ": the ", info.flavor,
                                            " flavor's model file '", info.data_file,
                                            "' is not in ", info.model_dir));
  }
  CAIRN_ASSIGN_OR_RETURN(info.size_bytes, DirectorySize(dir));
  return info;
}

}  // namespace cairn::serving
