#pragma once
// The syntax tree of an expression, as the parser builds it and the type checker annotates
// and rewrites it (implicit int64 → double casts, typed nulls). Internal to features/expr.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "features/types.h"

namespace cairn::features::expr {

// Static types during checking: the five feature types plus the type of a bare `null`,
// which takes the type its context needs.
enum class Type { kNull, kInt64, kDouble, kString, kBool, kTimestamp };

// "null", "int64", "double", "string", "bool", "timestamp".
const char* TypeName(Type type);
FeatureType ToFeatureType(Type type);  // kNull → kDouble
Type FromFeatureType(FeatureType type);

enum class NodeKind {
  kLiteral,   // value (monostate = null)
  kColumn,    // name; column = index into the compiled input list
  kUnary,     // op: "-" or "not"; args[0]
  kBinary,    // op: "+", "-", "*", "/", "%", "=", "!=", "<", "<=", ">", ">=", "and", "or"
  kCall,      // name (lowercased); args
  kCast,      // implicit int64 → double inserted by the checker; args[0]
};

struct Node {
  NodeKind kind = NodeKind::kLiteral;
  size_t offset = 0;  // byte offset of the token that starts (or, for operators, names) it
  std::string op;     // operator text, normalized
  std::string name;   // column or function name
  Value value;        // literal (int64_t also carries timestamps)
  std::vector<std::unique_ptr<Node>> args;
  int height = 1;  // 1 + the tallest argument's height

  // Filled by the checker.
  Type type = Type::kNull;
  int column = -1;
  int function = -1;  // index into the checker's function table
};

using NodePtr = std::unique_ptr<Node>;

}  // namespace cairn::features::expr
