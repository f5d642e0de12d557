#pragma once
// Reads a model directory's MLmodel file (MLflow's model format, YAML) into a ModelInfo:
// which runtime serves it, the columns it reads and how large it is (DESIGN.md §5
// "serving"). Both the Cairn demo's models and models saved by mlflow.<flavor>.save_model
// are read.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "serving/model_runtime.h"

namespace cairn::serving {

// Reads `model_dir`/MLmodel:
//  - flavor: "xgboost" when flavors has an xgboost entry (its `data` becomes data_file);
//    otherwise "python_function" when flavors has one (data_file = its `data`, or empty);
//  - input_columns: the names of signature.inputs (MLflow stores a JSON string:
//    '[{"name": "a", "type": "double"}, …]'), in order; empty when there is no signature
//    or it is tensor-based (entries without names);
//  - size_bytes: the total size of the regular files under model_dir;
//  - model_dir: made absolute.
// NotFound when the directory or its MLmodel file does not exist; InvalidArgument
// "DIR/MLmodel:LINE: field 'F': …" naming the field for a malformed file (no flavors,
// neither flavor Cairn serves, a signature that is not valid JSON). Thread-safe.
//
// `flavor` "xgboost" or "python_function" reads that flavor instead of picking one
// (FailedPrecondition naming the flavors the file has when it lacks it): the Python pool
// serves an xgboost model through its python_function flavor.
absl::StatusOr<ModelInfo> ReadModelInfo(const std::string& model_dir,
                                        std::string_view flavor = "");

// The same from the text of an MLmodel file (`file` names it in messages; model_dir and
// size_bytes are left empty). For tests and fuzzing.
absl::StatusOr<ModelInfo> ParseMlmodel(std::string_view text, std::string_view file,
                                       std::string_view flavor = "");

// The column names of an MLflow signature's `inputs` JSON text; empty for a tensor-based
// signature. InvalidArgument (without a file prefix) when the text is not a JSON list of
// objects, or a column has no string name.
absl::StatusOr<std::vector<std::string>> SignatureInputColumns(std::string_view inputs_json);

}  // namespace cairn::serving
