#include "storage/testing/test_databases.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

namespace cairn::storage::test_support {
namespace {

// "postgresql://user@host:port/db?opts" → the same URL naming database `name`.
std::string WithDatabase(const std::string& url, const std::string& name) {
  size_t scheme = url.find("://");
  size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  size_t query = url.find('?');
  std::string base = url.substr(0, path == std::string::npos ? query : path);
  std::string options = query == std::string::npos ? "" : url.substr(query);
  return base + "/" + name + options;
}

std::string CreatePrivateDatabase(const std::string& server_url) {
  std::random_device random;
  std::string name = "cairn_test_" + std::to_string(::getpid()) + "_" + std::to_string(random());
  PGconn* conn = PQconnectdb(server_url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "cannot reach CAIRN_TEST_POSTGRES_URL=%s: %s\n", server_url.c_str(),
                 PQerrorMessage(conn));
    std::abort();
  }
  PGresult* result = PQexec(conn, ("CREATE DATABASE " + name).c_str());
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "CREATE DATABASE %s failed: %s\n", name.c_str(), PQerrorMessage(conn));
    std::abort();
  }
  PQclear(result);
  PQfinish(conn);
  return WithDatabase(server_url, name);
}

}  // namespace

bool RunningUnderCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && (std::string(ci) == "true" || std::string(ci) == "1");
}

const char* PrivatePostgresUrl() {
  static const std::string* url = [] {
    const char* server = std::getenv("CAIRN_TEST_POSTGRES_URL");
    return server ? new std::string(CreatePrivateDatabase(server)) : nullptr;
  }();
  return url ? url->c_str() : nullptr;
}

}  // namespace cairn::storage::test_support
