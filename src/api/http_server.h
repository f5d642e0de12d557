#pragma once
// The HTTP/1.1 server (Boost.Beast/Asio, kept out of this header): keep-alive connections
// dealt out in turn to N I/O threads, each running its own io_context (a connection stays
// on its thread); handlers run on a separate worker pool so that blocking work (SQL,
// files) never stalls an I/O thread.
//
// Per request the server:
//   - parses method, target, percent-decoded path, query (percent-decoded, '+' → space),
//     lowercased headers and the remote address into an HttpRequest;
//   - answers GET /healthz ("OK", text/plain) and GET /metrics (Prometheus text: requests
//     and latency histograms per route pattern, process gauges) itself;
//   - otherwise looks the path up in the Router: unknown path → 404 ENDPOINT_NOT_FOUND,
//     known path under another method → 405 ENDPOINT_NOT_FOUND (MLflow's error JSON);
//   - reads the body into memory, limited to max_body_bytes (413 REQUEST_LIMIT_EXCEEDED and
//     the connection is closed), or, for RouteOptions::stream_request_body routes, streams
//     it into a fresh file under tmp_dir (no limit) that is removed after the handler;
//   - runs the handler on a worker thread (on the I/O thread for inline_handler routes,
//     and for requests that RouteOptions::inline_when accepts) of
//     the route's pool (RouteOptions::pool: the default pool, or the predict pool so that
//     slow models never hold the threads of the other routes); a handler that throws gets
//     500 INTERNAL_ERROR;
//   - applies back-pressure instead of queueing without bound: when a pool already has its
//     max backlog of requests waiting for a thread, the request is answered at once, on the
//     I/O thread and without running the handler, with 429, "Retry-After: 1" and
//     {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "server busy: N requests waiting;
//     retry after 1 s"} (the connection stays open). /healthz, /metrics and inline routes
//     are never refused; /metrics shows each pool's waiting requests, bound and refusals;
//   - writes HttpResponse::body, or streams HttpResponse::file_path (404 if it is gone),
//     with Content-Type, Content-Length, Server: cairn and the handler's extra headers;
//   - or, for HttpResponse::stream, sends the header at once and then each piece the
//     producer makes as one HTTP/1.1 chunk (the producer runs on a worker thread, one call
//     at a time; after an empty piece it is called again kStreamIdlePauseMs later, holding
//     no thread). The final chunk ends the response and the connection stays open for the
//     next request. A producer error, a client that went away (a failed write, or its
//     closed end seen between calls) or the server's shutdown end the response without the
//     final chunk, close the connection and destroy the producer;
//   - writes one access-log line (method, target, status, bytes, ms, remote) to stderr,
//     in batches (api/access_log.h: at most 100 ms late, all written by Stop);
//     latency (access log and /metrics) is to the last byte, streamed responses included.
// Malformed HTTP gets 400 (a header over 1 MiB 431) and the connection is closed. Idle
// keep-alive connections and stalled reads/writes time out after 60 s. Sockets use
// TCP_NODELAY.

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "api/router.h"

namespace cairn::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;            // 0: the OS picks a free port (see HttpServer::port())
  int io_threads = 0;      // 0: one per core; each runs its own share of the connections
  int worker_threads = 0;  // handler pool; 0: 2 × cores, at least 4
  // Requests waiting for a worker thread beyond which the next one is refused (429);
  // 0: 64 × worker threads.
  size_t max_backlog = 0;
  // The pool of RouteOptions::pool == kPredict routes (started only when a route uses it).
  // A predict handler may block until its model answers (a Python worker pool queues up
  // to its own bound and then answers 429 itself), so it needs more threads than there are
  // cores: enough for the largest python pools' capacity. 0: 32.
  int predict_threads = 0;
  size_t predict_max_backlog = 0;    // as max_backlog for the predict pool; 0: 64 × its threads
  size_t max_body_bytes = 64 << 20;  // in-memory request bodies
  std::string tmp_dir;     // for streamed request bodies; empty: the system temp directory
  bool access_log = true;
};

// Lifecycle: construct → Start → (serve) → Stop → destroy. Start, port, Wait, Stop and
// StopOnSignals are thread-safe. The destructor calls Stop.
class HttpServer {
 public:
  HttpServer(ServerOptions options, Router router);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on options.host:options.port and starts the I/O and worker threads.
  // InvalidArgument if the host does not resolve, Unavailable if the address can't be
  // bound (in use, no permission); FailedPrecondition if called twice.
  absl::Status Start();

  // The port actually bound (after Start; the chosen one when options.port was 0), else 0.
  int port() const;

  // Blocks until the server has stopped (returns at once if it was never started).
  void Wait();

  // Graceful shutdown: stops accepting, closes idle keep-alive connections, lets requests
  // in flight finish (at most 10 s, then their connections are closed; streamed responses end
  // at their next producer call), joins all threads.
  // Idempotent; callable from any thread. Called from one of the server's own threads (a
  // handler, a signal handler) it starts the shutdown on a helper thread and returns.
  void Stop();

  // Calls Stop on SIGTERM or SIGINT (handled through the io_context, not a raw handler).
  // Call after Start.
  void StopOnSignals();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::api
