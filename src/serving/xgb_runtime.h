#pragma once
// The native XGBoost runtime (issue 6 item 2): a booster loaded in this process through
// libxgboost's C API (1.7.4 on Debian 12) answering predictions with
// XGBoosterPredictFromDense — no Python, no copies beyond one float matrix per request.
// It serves the Cairn demo's models and models saved by Python xgboost 1.x–3.x in JSON or
// UBJSON (MLflow's xgboost flavor); the few fields newer xgboost writes differently are
// normalized on load (NormalizeXgbModel). The xgboost headers stay in xgb_runtime.cc.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "serving/model_runtime.h"

namespace cairn::serving {

// Loads info.model_dir/info.data_file (info.flavor must be "xgboost"). The runtime's
// info() is `info` with input_columns filled from the booster's feature_names when the
// MLmodel had no signature (they stay empty for a booster trained without names: then
// Predict takes the caller's columns by position and needs exactly as many as the
// booster has features).
//
// `threads` is libxgboost's nthread for one Predict call (1: each call runs on its
// caller's thread only, the right choice for request serving; larger helps big batches).
//
// Predict converts each cell to float — null → NaN (xgboost's missing value), bool → 0/1,
// int64 and double as numbers — and reorders the caller's columns to the model's by name
// (extra columns are ignored). InvalidArgument naming the column (and row) for a missing
// input column, a column given twice, or a string cell; InvalidArgument for a model that
// returns more than one value per row (multi-class probabilities, multi-target).
// Thread-safe and lock-free: concurrent Predict calls share the booster (libxgboost's
// in-place prediction keeps per-thread state) and per-thread scratch buffers.
//
// NotFound when the model file is missing; InvalidArgument for a file libxgboost cannot
// read (with its message) or a feature Cairn cannot serve; FailedPrecondition when the
// flavor is not xgboost.
absl::StatusOr<std::unique_ptr<ModelRuntime>> LoadXgbRuntime(const ModelInfo& info, int threads);

// The same with `copies` boosters of the model (at least 1); concurrent callers are
// spread over them by thread, lock-free. For the benchmark that settles whether copies
// pay (bench/serving/xgb_runtime_bench.cc).
absl::StatusOr<std::unique_ptr<ModelRuntime>> LoadXgbRuntimeCopies(const ModelInfo& info,
                                                                   int threads, int copies);

// Rewrites a model file's bytes (JSON, or UBJSON as xgboost ≥ 1.6 writes it) so that
// libxgboost 1.7.4 reads it as the writer meant. xgboost ≥ 2.0 stores base_score as a
// list ("[5.14E-1]"), which 1.7.4 silently reads as the default 0.5 (every prediction
// shifted): a one-element list becomes the scalar; per-class intercepts (multi:softmax in
// xgboost ≥ 3, "[0.01,0.12,-0.13]") are folded into the leaves of each class's first tree
// and base_score becomes 0 (the same margins). Refused (InvalidArgument): several targets,
// and xgboost ≥ 3.1's categorical re-coding ("cats" with entries). When something had to change, sets *changed and returns the
// normalized model as JSON; otherwise *changed = false and an empty string (load the
// original bytes; so is the old binary format). `file` names the file in messages. Pure
// function; thread-safe.
absl::StatusOr<std::string> NormalizeXgbModel(std::string_view bytes, std::string_view file,
                                              bool* changed);

}  // namespace cairn::serving
