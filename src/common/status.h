#pragma once
// Error-handling helpers shared by every module: absl::Status / absl::StatusOr with the
// canonical codes (DESIGN.md §4). Messages name the field and the value that is wrong.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CAIRN_CONCAT_INNER_(a, b) a##b
#define CAIRN_CONCAT_(a, b) CAIRN_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define CAIRN_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    ::absl::Status cairn_status_ = (expr);          \
    if (!cairn_status_.ok()) return cairn_status_;  \
  } while (0)

// `lhs = *rexpr` when `rexpr` (an absl::StatusOr<T>) is OK; otherwise returns its status.
#define CAIRN_ASSIGN_OR_RETURN(lhs, rexpr) \
  CAIRN_ASSIGN_OR_RETURN_IMPL_(CAIRN_CONCAT_(cairn_statusor_, __LINE__), lhs, rexpr)
#define CAIRN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                 \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(*tmp)

// Programmer errors only, never user input.
#define CAIRN_CHECK(cond)                                                         \
  do {                                                                            \
    if (!(cond)) ::cairn::internal::CheckFailed(#cond, __FILE__, __LINE__);       \
  } while (0)
#ifndef NDEBUG
#define CAIRN_DCHECK(cond) CAIRN_CHECK(cond)
#else
#define CAIRN_DCHECK(cond) \
  do {                     \
  } while (0)
#endif

namespace cairn::internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line);
}  // namespace cairn::internal
