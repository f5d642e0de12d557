#include "common/status.h"

#include <cstdio>
#include <cstdlib>

namespace cairn::internal {
void CheckFailed(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "CAIRN_CHECK failed: %s at %s:%d\n", cond, file, line);
  std::abort();
}
}  // namespace cairn::internal
