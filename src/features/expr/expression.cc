#include "features/expr/expression.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "features/expr/ast.h"
#include "features/expr/checker.h"
#include "features/expr/evaluator.h"
#include "features/expr/parser.h"

namespace cairn::features {

namespace {

absl::Status WithText(std::string_view text, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("expr '", ToAbsl(text), "': ",
                                                  status.message()));
}

}  // namespace

absl::StatusOr<Expression> Expression::Compile(std::string_view text, const Schema& inputs) {
  auto root = expr::Parse(text);
  if (!root.ok()) return WithText(text, root.status());
  expr::CheckResult checked;
  absl::Status s = expr::Check(text, inputs, *root, &checked);
  if (!s.ok()) return WithText(text, s);
  Expression e;
  e.text_ = std::string(text);
  e.result_type_ = expr::ToFeatureType((*root)->type);
  e.root_ = std::shared_ptr<const expr::Node>(std::move(*root));
  e.columns_ = std::move(checked.columns);
  e.column_types_ = std::move(checked.column_types);
  return e;
}

absl::StatusOr<Column> Expression::Evaluate(const Table& input) const {
  const size_t rows = input.num_rows();
  std::vector<const Column*> columns;
  columns.reserve(columns_.size());
  for (size_t i = 0; i < columns_.size(); ++i) {
    const int idx = input.Find(columns_[i]);
    if (idx < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expr '", text_, "': the input has no column '", columns_[i], "'"));
    }
    const Column& c = input.columns[idx];
    if (c.type != column_types_[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expr '", text_, "': column '", columns_[i], "' is ", ToAbsl(TypeName(c.type)),
          " in the input but ", ToAbsl(TypeName(column_types_[i])),
          " in the schema the expression was compiled against"));
    }
    if (c.size() != rows) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expr '", text_, "': column '", columns_[i], "' has ", c.size(), " rows, not ",
          rows, " like the first column of the input"));
    }
    columns.push_back(&c);
  }
  return expr::EvaluateTree(*root_, columns, rows);
}

}  // namespace cairn::features
