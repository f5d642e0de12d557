#pragma once
// Test-only: databases for backend-parametrized tests.

#include "gtest/gtest.h"

namespace cairn::storage::test_support {

// True when the CI environment variable says so (CI=true or 1).
bool RunningUnderCi();

// For the PostgreSQL case of a backend-parametrized test, in SetUp or the test body: when
// no PostgreSQL is configured, fails under CI (where scripts/run_tests always starts one)
// and skips with a message elsewhere.
#define CAIRN_REQUIRE_POSTGRES()                                                           \
  do {                                                                                     \
    if (::cairn::storage::test_support::PrivatePostgresUrl() == nullptr) {                 \
      if (::cairn::storage::test_support::RunningUnderCi())                                \
        FAIL() << "CAIRN_TEST_POSTGRES_URL is not set under CI; scripts/run_tests starts " \
                  "PostgreSQL on loopback and exports it";                                 \
      GTEST_SKIP() << "CAIRN_TEST_POSTGRES_URL is not set; PostgreSQL cases skipped";      \
    }                                                                                      \
  } while (0)

// The URL of a PostgreSQL database private to this test process, created on first call on
// the server that CAIRN_TEST_POSTGRES_URL names (scripts/run_tests starts one on loopback).
// Test binaries run in parallel under ctest, and each resets its tables, so they must not
// share a database. Returns nullptr when CAIRN_TEST_POSTGRES_URL is unset; aborts with a
// message when the database cannot be created (the server named by the variable is down).
// Thread-safe.
const char* PrivatePostgresUrl();

}  // namespace cairn::storage::test_support
