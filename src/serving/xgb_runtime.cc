#include "serving/xgb_runtime.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::serving {
namespace {

namespace fs = std::filesystem;

// In-place prediction settings: plain values (type 0), all trees, NaN marks missing
// values. libxgboost 1.7 needs "cache_id" (FACTS.md).
constexpr char kPredictConfig[] =
    R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
    R"( "strict_shape": false, "cache_id": 0, "missing": NaN})";

// Names shown in messages before "…".
constexpr size_t kShownColumns = 8;

std::string ShownColumns(const std::vector<std::string>& columns) {
  std::string out;
  for (size_t index = 0; index < columns.size() && index < kShownColumns; ++index) {
    if (index > 0) out += ", ";
    out += columns[index];
  }
  if (columns.size() > kShownColumns) absl::StrAppend(&out, ", … (", columns.size(), " in all)");
  return out;
}

// True when some "base_score" is followed by a list: only then does a model need
// normalizing, so 1.x models load without being parsed twice.
bool HasListBaseScore(std::string_view bytes) {
  constexpr std::string_view kKey = "base_score";
  for (size_t pos = bytes.find(kKey); pos != std::string_view::npos;
       pos = bytes.find(kKey, pos + 1)) {
    const std::string_view after = bytes.substr(pos + kKey.size(), 12);
    if (after.find('[') != std::string_view::npos) return true;
  }
  return false;
}

bool LooksLikeJson(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size() && std::isspace(static_cast<unsigned char>(bytes[pos]))) ++pos;
  if (pos >= bytes.size() || bytes[pos] != '{') return false;
  ++pos;
  while (pos < bytes.size() && std::isspace(static_cast<unsigned char>(bytes[pos]))) ++pos;
  return pos < bytes.size() && (bytes[pos] == '"' || bytes[pos] == '}');
}

absl::StatusOr<std::string> ReadFileBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("model file ", path.string(),
                                            " cannot be opened; is the model directory "
                                            "complete?"));
  }
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Owns a BoosterHandle.
class Booster {
 public:
  Booster() = default;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  ~Booster() {
    if (handle_ != nullptr) XGBoosterFree(handle_);
  }
  BoosterHandle* out() { return &handle_; }
  BoosterHandle get() const { return handle_; }

 private:
  BoosterHandle handle_ = nullptr;
};

// Per-thread scratch reused across Predict calls (no allocation once warm). The proxy
// DMatrix matters: given none, libxgboost 1.7 builds one per call, and its Context reads
// the cgroup CPU-quota files (two openat + read per prediction, about half of a
// single-row call's time). A proxy holds no reference to a booster, so one per thread
// serves every runtime.
struct Scratch {
  std::vector<float> matrix;
  std::vector<int> source;  // model column → caller column
  char array_interface[160];
  DMatrixHandle proxy = nullptr;

  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (proxy != nullptr) XGDMatrixFree(proxy);
  }
};

// 0, 1, 2, … in the order threads first predict (picks a thread's booster copy).
size_t ThreadOrdinal() {
  static std::atomic<size_t> next{0};
  thread_local const size_t ordinal = next.fetch_add(1, std::memory_order_relaxed);
  return ordinal;
}

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

class XgbRuntime final : public ModelRuntime {
 public:
  XgbRuntime(ModelInfo info, std::vector<std::unique_ptr<Booster>> boosters,
             size_t num_features)
      : info_(std::move(info)), boosters_(std::move(boosters)), num_features_(num_features) {
    for (size_t index = 0; index < info_.input_columns.size(); ++index) {
      column_index_.emplace(info_.input_columns[index], static_cast<int>(index));
    }
  }

  const ModelInfo& info() const override { return info_; }

  absl::StatusOr<std::vector<double>> Predict(const ModelInput& input) override {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    absl::StatusOr<std::vector<double>> result = PredictImpl(input);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return result;
  }

  bool runs_in_process() const override { return true; }

  RuntimeStats Stats() const override {
    RuntimeStats stats;
    stats.replicas = 1;
    stats.in_flight = in_flight_.load(std::memory_order_relaxed);
    return stats;
  }

 private:
  // Fills scratch.source with the caller's column for each model column.
  absl::Status MapColumns(const ModelInput& input, Scratch& scratch) const {
    const size_t width = num_features_;
    scratch.source.assign(width, -1);
    if (info_.input_columns.empty()) {
      if (input.columns.size() != width) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the model reads ", width, " features by position (it names none) but the input "
            "has ", input.columns.size(), " columns (", ShownColumns(input.columns),
            "); send exactly its ", width, " features in training order"));
      }
      for (size_t index = 0; index < width; ++index) scratch.source[index] = int(index);
      return absl::OkStatus();
    }
    if (input.columns == info_.input_columns) {  // the common case: already in model order
      for (size_t index = 0; index < width; ++index) scratch.source[index] = int(index);
      return absl::OkStatus();
    }
    for (size_t caller = 0; caller < input.columns.size(); ++caller) {
      auto it = column_index_.find(input.columns[caller]);
      if (it == column_index_.end()) continue;  // a column the model does not read
      if (scratch.source[it->second] != -1) {
        return absl::InvalidArgumentError(
            absl::StrCat("input column '", input.columns[caller],
                         "' is given twice; send each model input once"));
      }
      scratch.source[it->second] = static_cast<int>(caller);
    }
    for (size_t index = 0; index < width; ++index) {
      if (scratch.source[index] == -1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "missing model input '", info_.input_columns[index], "' (the model reads ",
            ShownColumns(info_.input_columns),
            "); send it as a feature value or through the endpoint's feature service"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<double>> PredictImpl(const ModelInput& input) const {
    if (input.cells.size() != input.rows * input.columns.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input has ", input.cells.size(), " cells, expected rows × columns = ", input.rows,
          " × ", input.columns.size()));
    }
    if (input.rows == 0) return std::vector<double>();
    Scratch& scratch = ThreadScratch();
    CAIRN_RETURN_IF_ERROR(MapColumns(input, scratch));

    const size_t width = num_features_;
    const size_t stride = input.columns.size();
    scratch.matrix.resize(input.rows * width);
    float* out = scratch.matrix.data();
    for (size_t row = 0; row < input.rows; ++row) {
      const features::Value* cells = input.cells.data() + row * stride;
      for (size_t column = 0; column < width; ++column) {
        const features::Value& cell = cells[scratch.source[column]];
        float value;
        switch (cell.index()) {
          case 0:
            value = std::numeric_limits<float>::quiet_NaN();
            break;
          case 1:
            value = static_cast<float>(std::get<int64_t>(cell));
            break;
          case 2:
            value = static_cast<float>(std::get<double>(cell));
            break;
          case 4:
            value = std::get<bool>(cell) ? 1.0f : 0.0f;
            break;
          default:
            return absl::InvalidArgumentError(absl::StrCat(
                "input column '", input.columns[scratch.source[column]], "' row ", row,
                ": the string '", std::get<std::string>(cell).substr(0, 40),
                "' where the model needs a number; send a number (or null for missing)"));
        }
        *out++ = value;
      }
    }

    std::snprintf(scratch.array_interface, sizeof(scratch.array_interface),
                  R"({"data": [%llu, true], "shape": [%zu, %zu], "typestr": "<f4", )"
                  R"("version": 3})",
                  static_cast<unsigned long long>(
                      reinterpret_cast<uintptr_t>(scratch.matrix.data())),
                  input.rows, width);
    if (scratch.proxy == nullptr && XGProxyDMatrixCreate(&scratch.proxy) != 0) {
      scratch.proxy = nullptr;
      return absl::InternalError(
          absl::StrCat("xgboost: cannot create a proxy DMatrix: ", XGBGetLastError()));
    }
    const bst_ulong* shape = nullptr;
    bst_ulong dims = 0;
    const float* scores = nullptr;
    const Booster& booster = *boosters_[ThreadOrdinal() % boosters_.size()];
    if (XGBoosterPredictFromDense(booster.get(), scratch.array_interface, kPredictConfig,
                                  scratch.proxy, &shape, &dims, &scores) != 0) {
      return absl::InternalError(
          absl::StrCat("xgboost prediction failed: ", XGBGetLastError()));
    }
    bst_ulong count = 1;
    for (bst_ulong dim = 0; dim < dims; ++dim) count *= shape[dim];
    if (count != input.rows) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the model returns ", count / std::max<size_t>(input.rows, 1),
          " values per row (multi-class probabilities or several targets); Cairn serves "
          "models with one value per row (binary:logistic, a regression, multi:softmax)"));
    }
    return std::vector<double>(scores, scores + count);
  }

  const ModelInfo info_;
  // Every booster answers concurrent calls; several copies only spread callers so that
  // their threads do not share the learner's reference counts (see LoadXgbRuntime).
  const std::vector<std::unique_ptr<Booster>> boosters_;
  const size_t num_features_;
  absl::flat_hash_map<std::string, int> column_index_;
  std::atomic<int> in_flight_{0};
};

// Adds `delta` to every leaf of `tree` (a JSON tree: leaves are the nodes without
// children; their value is in split_conditions).
absl::Status AddToLeaves(Json& tree, double delta, std::string_view file) {
  auto left = tree.find("left_children");
  auto values = tree.find("split_conditions");
  if (left == tree.end() || values == tree.end() || !left->is_array() || !values->is_array() ||
      left->size() != values->size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(file), ": a tree without left_children/split_conditions of equal length"));
  }
  for (size_t node = 0; node < left->size(); ++node) {
    if (!(*left)[node].is_number() || (*left)[node].get<int64_t>() != -1) continue;
    if (!(*values)[node].is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ": a leaf value that is not a number"));
    }
    (*values)[node] = (*values)[node].get<double>() + delta;
  }
  return absl::OkStatus();
}

// base_score written as a list by xgboost ≥ 2.0: "[5.14E-1]" (one intercept) or
// "[a,b,c]" (one per class). 1.7 reads one scalar and would silently use 0.5 instead. One
// value becomes the scalar. Per-class intercepts are margins (multi:softmax/softprob have
// an identity ProbToMargin), so they are folded into the leaves of each class's first
// tree and base_score becomes 0: the same margins, in a model 1.7 reads.
absl::Status NormalizeBaseScore(Json& learner, Json& param, std::string_view file,
                                bool* changed) {
  auto it = param.find("base_score");
  if (it == param.end() || !it->is_string()) return absl::OkStatus();
  const std::string text = it->get<std::string>();
  absl::string_view inner = text;
  if (!absl::ConsumePrefix(&inner, "[") || !absl::ConsumeSuffix(&inner, "]")) {
    return absl::OkStatus();
  }
  *changed = true;
  std::vector<double> intercepts;
  std::string first_text;
  for (absl::string_view part : absl::StrSplit(inner, ',')) {
    part = absl::StripAsciiWhitespace(part);
    double value = 0;
    if (!absl::SimpleAtod(part, &value)) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(file),
                                                     ": learner_model_param.base_score '", text,
                                                     "' is not a list of numbers"));
    }
    if (intercepts.empty()) first_text = std::string(part);
    intercepts.push_back(value);
  }
  if (intercepts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(file), ": learner_model_param.base_score '", text, "' is empty"));
  }
  if (std::all_of(intercepts.begin(), intercepts.end(),
                  [&](double value) { return value == intercepts.front(); })) {
    *it = first_text;
    return absl::OkStatus();
  }
  Json* trees = nullptr;
  Json* tree_info = nullptr;
  auto booster = learner.find("gradient_booster");
  if (booster != learner.end() && booster->is_object()) {
    auto model = booster->find("model");
    if (model != booster->end() && model->is_object()) {
      auto found_trees = model->find("trees");
      auto found_info = model->find("tree_info");
      if (found_trees != model->end() && found_trees->is_array()) trees = &*found_trees;
      if (found_info != model->end() && found_info->is_array()) tree_info = &*found_info;
    }
  }
  if (trees == nullptr || tree_info == nullptr || trees->size() != tree_info->size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(file), ": learner_model_param.base_score '", text,
        "' holds one intercept per class, but the model has no gbtree trees to carry them "
        "(libxgboost 1.7 reads one base_score); retrain with a single base_score"));
  }
  std::vector<bool> folded(intercepts.size(), false);
  for (size_t index = 0; index < trees->size(); ++index) {
    if (!(*tree_info)[index].is_number_integer()) continue;
    const int64_t group = (*tree_info)[index].get<int64_t>();
    if (group < 0 || static_cast<size_t>(group) >= intercepts.size() || folded[group]) continue;
    CAIRN_RETURN_IF_ERROR(AddToLeaves((*trees)[index], intercepts[group], file));
    folded[group] = true;
  }
  if (std::find(folded.begin(), folded.end(), false) != folded.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(file), ": learner_model_param.base_score '", text,
        "' has an intercept for a class without trees; retrain with a single base_score"));
  }
  *it = "0";
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> NormalizeXgbModel(std::string_view bytes, std::string_view file,
                                              bool* changed) {
  *changed = false;
  if (!HasListBaseScore(bytes)) return std::string();
  Json model;
  try {
    if (LooksLikeJson(bytes)) {
      model = Json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
    } else {
      model = Json::from_ubjson(bytes.begin(), bytes.end(), /*strict=*/true,
                                /*allow_exceptions=*/false);
    }
  } catch (const std::exception& error) {
    model = Json(Json::value_t::discarded);
  }
  if (model.is_discarded() || !model.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(file), ": not an XGBoost model in JSON or UBJSON (it does not parse); save it "
                      "with booster.save_model('model.json')"));
  }
  auto learner = model.find("learner");
  if (learner == model.end() || !learner->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(file), ": no 'learner' object; not an XGBoost model file"));
  }
  bool base_score_changed = false;
  auto param = learner->find("learner_model_param");
  if (param != learner->end() && param->is_object()) {
    CAIRN_RETURN_IF_ERROR(NormalizeBaseScore(*learner, *param, file, &base_score_changed));
    auto num_target = param->find("num_target");
    if (num_target != param->end() && num_target->is_string() &&
        num_target->get<std::string>() != "1" && num_target->get<std::string>() != "0") {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ": the model has ", num_target->get<std::string>(),
                       " targets; Cairn serves models with one value per row"));
    }
  }
  auto booster = learner->find("gradient_booster");
  if (booster != learner->end() && booster->is_object()) {
    auto inner = booster->find("model");
    if (inner != booster->end() && inner->is_object()) {
      auto cats = inner->find("cats");
      if (cats != inner->end() && cats->is_object()) {
        auto enc = cats->find("enc");
        if (enc != cats->end() && enc->is_array() && !enc->empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              ToAbsl(file),
              ": the model re-codes categorical features (xgboost ≥ 3.1 'cats'), which "
              "libxgboost 1.7 cannot serve; encode categories as numbers before training"));
        }
      }
    }
  }
  if (!base_score_changed) return std::string();  // "base_score" followed by '[' elsewhere
  *changed = true;
  return DumpJson(model);  // invalid UTF-8 (possible in UBJSON strings) replaced, no throw
}

absl::StatusOr<std::unique_ptr<ModelRuntime>> LoadXgbRuntimeCopies(const ModelInfo& info,
                                                                   int threads, int copies) {
  if (info.flavor != "xgboost") {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", info.model_dir, " has flavor '", info.flavor,
        "'; the XGBoost runtime loads only the xgboost flavor (use runtime 'python')"));
  }
  if (info.data_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model ", info.model_dir, ": MLmodel's flavors.xgboost.data names no model file"));
  }
  if (threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("xgb_threads: must be at least 1, got ", threads));
  }
  const fs::path path = fs::path(info.model_dir) / info.data_file;
  CAIRN_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  bool changed = false;
  CAIRN_ASSIGN_OR_RETURN(std::string normalized,
                         NormalizeXgbModel(bytes, path.string(), &changed));
  if (changed) bytes = std::move(normalized);

  std::vector<std::unique_ptr<Booster>> boosters;
  for (int copy = 0; copy < std::max(copies, 1); ++copy) {
    auto booster = std::make_unique<Booster>();
    if (XGBoosterCreate(nullptr, 0, booster->out()) != 0) {
      return absl::InternalError(
          absl::StrCat("xgboost: cannot create a booster: ", XGBGetLastError()));
    }
    if (XGBoosterLoadModelFromBuffer(booster->get(), bytes.data(), bytes.size()) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model file ", path.string(), ": libxgboost cannot load it: ", XGBGetLastError()));
    }
    const std::string nthread = absl::StrCat(threads);
    if (XGBoosterSetParam(booster->get(), "nthread", nthread.c_str()) != 0 ||
        XGBoosterSetParam(booster->get(), "verbosity", "0") != 0) {
      return absl::InternalError(
          absl::StrCat("xgboost: cannot set nthread: ", XGBGetLastError()));
    }
    boosters.push_back(std::move(booster));
  }
  BoosterHandle first = boosters.front()->get();
  bst_ulong num_features = 0;
  if (XGBoosterGetNumFeature(first, &num_features) != 0) {
    return absl::InternalError(
        absl::StrCat("xgboost: cannot read the number of features: ", XGBGetLastError()));
  }

  ModelInfo loaded = info;
  if (loaded.input_columns.empty()) {
    bst_ulong count = 0;
    const char** names = nullptr;
    if (XGBoosterGetStrFeatureInfo(first, "feature_name", &count, &names) != 0) {
      return absl::InternalError(
          absl::StrCat("xgboost: cannot read feature names: ", XGBGetLastError()));
    }
    for (bst_ulong index = 0; index < count; ++index) loaded.input_columns.emplace_back(names[index]);
  }
  if (!loaded.input_columns.empty() && loaded.input_columns.size() != num_features) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model ", info.model_dir, ": MLmodel's signature names ", loaded.input_columns.size(),
        " inputs (", ShownColumns(loaded.input_columns), ") but the booster reads ",
        num_features, " features; log the model again with a matching signature"));
  }
  return std::unique_ptr<ModelRuntime>(
      new XgbRuntime(std::move(loaded), std::move(boosters), num_features));
}

absl::StatusOr<std::unique_ptr<ModelRuntime>> LoadXgbRuntime(const ModelInfo& info,
                                                             int threads) {
  return LoadXgbRuntimeCopies(info, threads, 1);
}

}  // namespace cairn::serving
