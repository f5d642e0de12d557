#pragma once
// Test-only: the Redis server of the contract tests (scripts/run_tests starts one on
// loopback and exports CAIRN_TEST_REDIS_URL).

#include <cstdlib>

#include "gtest/gtest.h"
#include "storage/testing/test_databases.h"

namespace cairn::features::test_support {

// CAIRN_TEST_REDIS_URL, or nullptr when unset.
inline const char* TestRedisUrl() {
  const char* url = std::getenv("CAIRN_TEST_REDIS_URL");
  return url != nullptr && *url != '\0' ? url : nullptr;
}

}  // namespace cairn::features::test_support

// For the Redis case of a backend-parametrized test: when no Redis is configured, fails
// under CI (where scripts/run_tests always starts one) and skips elsewhere.
#define CAIRN_REQUIRE_REDIS()                                                            \
  do {                                                                                   \
    if (::cairn::features::test_support::TestRedisUrl() == nullptr) {                    \
      if (::cairn::storage::test_support::RunningUnderCi())                              \
        FAIL() << "CAIRN_TEST_REDIS_URL is not set under CI; scripts/run_tests starts "  \
                  "redis-server on loopback and exports it";                             \
      GTEST_SKIP() << "CAIRN_TEST_REDIS_URL is not set; Redis cases skipped";            \
    }                                                                                    \
  } while (0)
