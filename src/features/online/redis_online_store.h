#pragma once
// The Redis online store (`--online redis://host:port[/db]`).
//
// Data model: one Redis string per (view, entity key), named
//   cairn:<view>:<encoded entity key bytes>        (view names never contain ':')
// holding the row in online_codec.h's form. Chosen for read latency: a request for one
// view's features over N entities is a single MGET (one command, one round trip, no
// per-field hash lookups), and a row is one value so it is replaced atomically. Writes go
// through a small Lua script that keeps the stored row when it is newer ("newer or equal
// replaces", comparing the 16-byte version prefix), pipelined in chunks of 1,000 keys.
// DropView SCANs `cairn:<view>:*` and UNLINKs in batches. Redis Cluster is not supported
// (a chunk's keys would span slots).
//
// Connections: a thread-safe pool; a connection that saw an I/O error is discarded and a
// call is retried once on a fresh connection. When Redis cannot be reached the call fails
// with Unavailable naming the server ("redis 127.0.0.1:6379: Connection refused; is
// redis-server running there?").

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "features/online/online_store.h"

namespace cairn::features {

struct RedisOnlineStoreOptions {
  int connect_timeout_ms = 2000;
  int io_timeout_ms = 5000;
  size_t max_idle_connections = 16;
};

// Parses `url` ("redis://host:port[/db]"; port defaults to 6379) and checks the server
// answers PING. InvalidArgument for a malformed URL, Unavailable when unreachable.
absl::StatusOr<std::unique_ptr<OnlineStore>> OpenRedisOnlineStore(
    std::string_view url, const RedisOnlineStoreOptions& options = {});

}  // namespace cairn::features
