#pragma once
// Test-only: databases for backend-parametrized tests.

namespace cairn::storage::test_support {

// The URL of a PostgreSQL database private to this test process, created on first call on
// the server that CAIRN_TEST_POSTGRES_URL names (scripts/run_tests starts one on loopback).
// Test binaries run in parallel under ctest, and each resets its tables, so they must not
// share a database. Returns nullptr when CAIRN_TEST_POSTGRES_URL is unset; aborts with a
// message when the database cannot be created (the server named by the variable is down).
// Thread-safe.
const char* PrivatePostgresUrl();

}  // namespace cairn::storage::test_support
