#include "api/http_server.h"

#include <poll.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/file.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/access_log.h"
#include "api/errors.h"
#include "api/metrics.h"
#include "api/response_head.h"
#include "api/worker_pool.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"

namespace cairn::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Idle keep-alive connections, slow headers and stalled body reads/writes give up after this.
constexpr std::chrono::seconds kIoTimeout{60};
// A session's socket, bound to the io_context of one I/O thread, which runs all of the
// connection's completion handlers (so no strand is needed). A concrete executor type,
// not Beast's tcp_stream (whose type-erased executor and two timers armed and cancelled
// around every read and write were a large part of a small request's cost).
using SessionSocket = tcp::socket::rebind_executor<asio::io_context::executor_type>::other;
// No I/O deadline (Session::deadline_).
constexpr std::chrono::steady_clock::time_point kNoDeadline =
    std::chrono::steady_clock::time_point::max();
// Stop() lets requests in flight finish for this long before it closes their connections.
constexpr absl::Duration kShutdownGrace = absl::Seconds(10);
// After an error response that closes the connection, unread request bytes are drained
// for at most this long, so that the client sees the response instead of a reset.
constexpr std::chrono::seconds kLingerTimeout{2};
// MLflow's GET endpoints carry their fields in the query string (run_ids=…&run_ids=…).
constexpr uint32_t kHeaderLimit = 1 << 20;
// Not boost::none: Boost 1.74's parser compares the content length against an empty
// optional limit as if the limit were exceeded.
constexpr uint64_t kNoBodyLimit = std::numeric_limits<uint64_t>::max();
// Room the read buffer keeps while a body is read: Beast reads at most the buffer's free
// capacity (but at least 512 bytes, at most 64 KiB) per call, and the buffer only grew as
// far as the header needed, so a large upload was read 512 bytes per system call (with a
// timer reset and a scheduler round trip each: half the CPU of a CSV ingest).
constexpr size_t kBodyReadBytes = 64 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// Methods that get their own "unmatched" metrics series; the rest count as OTHER.
constexpr std::string_view kUnmatchedMethods[] = {"GET",  "POST",    "PUT",  "DELETE",
                                                  "PATCH", "OPTIONS", "HEAD", "OTHER"};
constexpr int kNumUnmatchedMethods = sizeof(kUnmatchedMethods) / sizeof(kUnmatchedMethods[0]);
// Default backlog bound per handler thread (ServerOptions::max_backlog = 0): deep enough for
// bursts of fast requests, bounded so that a stuck pool answers 429 instead of piling up.
constexpr size_t kBacklogPerThread = 64;
// Default size of the predict pool (ServerOptions::predict_threads = 0).
constexpr int kDefaultPredictThreads = 32;

// One io_context per I/O thread (ServerOptions::io_threads; 0: one per core), each told
// that one thread runs it.
std::vector<std::unique_ptr<asio::io_context>> MakeIoContexts(int io_threads) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int count = io_threads > 0 ? io_threads : cores;
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  for (int ioc_idx = 0; ioc_idx < count; ++ioc_idx) {
    iocs.push_back(std::make_unique<asio::io_context>(1));
  }
  return iocs;
}

// The server whose I/O or worker thread this is (Stop must not join its own thread).
thread_local const void* t_current_server = nullptr;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (malformed escapes stay as they are) and, in query strings, '+'.
void PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t char_idx = 0; char_idx < in.size(); ++char_idx) {
    char c = in[char_idx];
    if (c == '%' && char_idx + 2 < in.size()) {
      int high = HexValue(in[char_idx + 1]);
      int low = HexValue(in[char_idx + 2]);
      if (high >= 0 && low >= 0) {
        out->push_back(static_cast<char>(high * 16 + low));
        char_idx += 2;
        continue;
      }
    }
    out->push_back(plus_is_space && c == '+' ? ' ' : c);
  }
}

void ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto& [key, value] = out->emplace_back();
    PercentDecode(pair.substr(0, eq), /*plus_is_space=*/true, &key);
    if (eq != std::string_view::npos) PercentDecode(pair.substr(eq + 1), true, &value);
  }
}

bool IEquals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

// Marks the current thread as belonging to `server` for the scope.
class ScopedServerThread {
 public:
  explicit ScopedServerThread(const void* server) : previous_(t_current_server) {
    t_current_server = server;
  }
  ~ScopedServerThread() { t_current_server = previous_; }

 private:
  const void* previous_;
};

class Session;

// The server; HttpServer::Impl is this class (a private nested name that the sessions could
// not name).
class ServerImpl {
 public:
  ServerImpl(ServerOptions options, Router router);
  ~ServerImpl();

  absl::Status Start();
  int port() const { return port_.load(std::memory_order_acquire); }
  void Wait();
  void Stop();
  void StopOnSignals();

  // For sessions.
  const ServerOptions& options() const { return options_; }
  Router::Match FindRoute(const std::string& method, const std::string& path) const {
    return router_.Find(method, path);
  }
  const std::string& tmp_dir() const { return tmp_dir_; }
  HttpMetrics& metrics() { return metrics_; }
  // Null when ServerOptions::access_log is off.
  AccessLog* access_log() { return access_log_.get(); }
  // The default pool (also runs stream producers, which are never refused).
  WorkerPool& workers() { return *workers_; }
  // The pool that runs handlers of `kind`, and how many requests may wait for it.
  WorkerPool& pool(HandlerPool kind) {
    return kind == HandlerPool::kPredict && predict_workers_ ? *predict_workers_ : *workers_;
  }
  size_t max_backlog(HandlerPool kind) const {
    return kind == HandlerPool::kPredict && predict_workers_ ? predict_max_backlog_ : max_backlog_;
  }
  // The pools' waiting requests, bounds and refusals in Prometheus text.
  void AppendPoolMetrics(std::string* out) const;
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  int RouteSeries(const Route* route) const {
    return static_cast<int>(route - router_.routes().data());
  }
  int healthz_series() const { return healthz_series_; }
  int metrics_series() const { return metrics_series_; }
  int UnmatchedSeries(std::string_view method) const;
  void Register(Session* session);
  void Unregister(Session* session);

 private:
  enum class State { kNew, kRunning, kStopping, kStopped };

  void DoAccept();
  void RunIoThread(asio::io_context* ioc);
  void DoStop();
  bool IsStopped() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return state_ == State::kStopped; }
  bool NoSessions() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(sessions_mu_) { return sessions_.empty(); }
  // Posts `fn(session)` onto every open session's I/O thread.
  template <class Fn>
  void ForEachSession(Fn fn);

  const ServerOptions options_;
  const Router router_;
  std::string tmp_dir_;
  HttpMetrics metrics_;
  std::unique_ptr<AccessLog> access_log_;  // set by Start when options_.access_log
  int healthz_series_ = 0;
  int metrics_series_ = 0;
  int unmatched_series_ = 0;  // first of kNumUnmatchedMethods
  std::atomic<int> port_{0};
  std::atomic<bool> stopping_{false};

  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kNew;
  std::thread stopper_ ABSL_GUARDED_BY(mu_);  // runs Stop when a server thread asked

  absl::Mutex sessions_mu_;
  std::unordered_set<Session*> sessions_ ABSL_GUARDED_BY(sessions_mu_);

  // Declared after everything sessions touch: destroying the io_contexts destroys pending
  // handlers, and with them the last references to sessions.
  // One io_context per I/O thread (each run by its thread alone: no strands, no wake-ups
  // of another thread to run a handler); connections are dealt out to them in turn. The
  // first also runs the acceptor and the signal set.
  std::vector<std::unique_ptr<asio::io_context>> iocs_;
  size_t next_ioc_ = 0;  // the io_context of the next accepted connection (acceptor only)
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_timer_;
  std::optional<asio::signal_set> signals_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> io_threads_;
  std::optional<WorkerPool> workers_;
  std::optional<WorkerPool> predict_workers_;  // only when a route uses HandlerPool::kPredict
  size_t max_backlog_ = 0;                     // set by Start, before any request
  size_t predict_max_backlog_ = 0;
};


// One TCP connection: reads requests one after another (keep-alive), runs each handler on
// the worker pool and writes its response. Every member is touched only on the
// connection's I/O thread, except request_/route_ which a worker reads while that thread
// waits for it.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerImpl* server, SessionSocket socket)
      : server_(server),
        stream_(std::move(socket)),
        deadline_timer_(stream_.get_executor()),
        pause_timer_(stream_.get_executor()) {
    beast::error_code ec;
    tcp::endpoint remote = stream_.remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string();
    server_->Register(this);
  }
  ~Session() { server_->Unregister(this); }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // On the I/O thread: the server is stopping. Idle connections close now; a request in
  // progress finishes and its response closes the connection; a streamed response ends
  // (truncated) once its producer's current call returns, or at once while it pauses.
  void NotifyStopping() {
    stopping_ = true;
    if (waiting_for_header_) Close();
    if (stream_pausing_) pause_timer_.cancel();
  }

  // On the I/O thread: shutdown grace is over.
  void ForceClose() { Close(); }

  auto executor() { return stream_.get_executor(); }

 private:
  enum class Target { kRoute, kHealthz, kMetrics, kNotFound, kMethodNotAllowed };

  void ReadHeader() {
    if (stopping_ || server_->stopping()) {
      Close();
      return;
    }
    ResetRequest();
    header_parser_.emplace();
    header_parser_->header_limit(kHeaderLimit);
    // Body limits are enforced per route once the header is in (streamed routes have none).
    header_parser_->body_limit(kNoBodyLimit);
    waiting_for_header_ = true;
    ArmDeadline(kIoTimeout);
    http::async_read_header(stream_, buffer_, *header_parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->DisarmDeadline();
                              self->OnHeader(ec);
                            });
  }

  void ResetRequest() {
    // clear() rather than reassigning keeps the capacity for the next request.
    request_.method.clear();
    request_.target.clear();
    request_.path.clear();
    request_.query.clear();
    request_.headers.clear();
    request_.body.clear();
    request_.body_file.clear();
    request_.path_params.clear();
    string_parser_.reset();
    file_parser_.reset();
    string_serializer_.reset();
    string_response_.reset();
    file_serializer_.reset();
    file_response_.reset();
    stream_serializer_.reset();
    stream_response_.reset();
    // A large body's memory goes back now; a small one's capacity serves the next response.
    if (response_body_.capacity() > kBodyReadBytes) {
      response_body_ = std::string();
    } else {
      response_body_.clear();
    }
  }

  void OnHeader(beast::error_code ec) {
    waiting_for_header_ = false;
    if (ec) {
      if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
          ec == beast::error::timeout || ec == asio::error::eof ||
          ec == asio::error::connection_reset || !stream_.is_open()) {
        Close();
        return;
      }
      start_ = std::chrono::steady_clock::now();
      series_ = server_->UnmatchedSeries("OTHER");
      if (ec == http::error::header_limit) {
        SendError(431, "REQUEST_LIMIT_EXCEEDED",
                  absl::StrCat("Request header exceeds the limit of ", kHeaderLimit, " bytes"));
        return;
      }
      SendError(400, "BAD_REQUEST", absl::StrCat("Malformed HTTP request: ", ec.message()));
      return;
    }
    if (!stream_.is_open()) return;
    start_ = std::chrono::steady_clock::now();

    auto& header = header_parser_->get();
    version_ = header.version();
    keep_alive_ = header.keep_alive();
    request_.method.assign(header.method_string().data(), header.method_string().size());
    request_.target.assign(header.target().data(), header.target().size());
    std::string_view target = request_.target;
    size_t question = target.find('?');
    PercentDecode(target.substr(0, question), /*plus_is_space=*/false, &request_.path);
    if (question != std::string_view::npos) ParseQuery(target.substr(question + 1), &request_.query);
    for (const auto& field : header) {
      auto& [name, value] = request_.headers.emplace_back();
      name.assign(field.name_string().data(), field.name_string().size());
      // Field names are tokens (ASCII; Beast's parser checks): an ASCII lowercase suffices.
      for (char& c : name) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      value.assign(field.value().data(), field.value().size());
    }
    request_.remote_address = remote_;

    // Pick the target now: the route decides how the body is read.
    route_ = nullptr;
    match_ = Router::Match{};
    // HEAD is answered as GET without the body (SendResponse).
    static const std::string kGetMethod = "GET";
    const bool head = request_.method == "HEAD";
    const bool get = head || request_.method == "GET";
    if (get && request_.path == "/healthz") {
      target_ = Target::kHealthz;
      series_ = server_->healthz_series();
    } else if (get && request_.path == "/metrics") {
      target_ = Target::kMetrics;
      series_ = server_->metrics_series();
    } else {
      match_ = server_->FindRoute(head ? kGetMethod : request_.method, request_.path);
      route_ = match_.route;
      if (route_ != nullptr) {
        target_ = Target::kRoute;
        series_ = server_->RouteSeries(route_);
      } else {
        target_ = match_.method_not_allowed ? Target::kMethodNotAllowed : Target::kNotFound;
        series_ = server_->UnmatchedSeries(request_.method);
      }
    }

    if (route_ != nullptr && route_->options.stream_request_body) {
      StartFileBody();
      return;
    }
    const uint64_t limit = server_->options().max_body_bytes;
    if (auto length = header_parser_->content_length(); length && *length > limit) {
      SendError(413, "REQUEST_LIMIT_EXCEEDED",
                absl::StrCat("Request body of ", *length, " bytes exceeds the limit of ", limit,
                             " bytes"));
      return;
    }
    string_parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    string_parser_->body_limit(limit);
    ContinueThen([self = shared_from_this()] { self->ReadBody(&*self->string_parser_); });
  }

  void StartFileBody() {
    file_parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    file_parser_->body_limit(kNoBodyLimit);
    std::filesystem::path path =
        std::filesystem::path(server_->tmp_dir()) / absl::StrCat("cairn-upload-", NewUuidHex());
    beast::error_code ec;
    file_parser_->get().body().open(path.c_str(), beast::file_mode::write_new, ec);
    if (ec) {
      Log(LogLevel::kError,
          absl::StrCat("cannot create temporary file ", path.string(), ": ", ec.message()));
      SendError(500, "INTERNAL_ERROR", "Cannot store the request body in a temporary file");
      return;
    }
    request_.body_file = path.string();
    ContinueThen([self = shared_from_this()] { self->ReadBody(&*self->file_parser_); });
  }

  // Answers "Expect: 100-continue" before the body is read, then runs `next`.
  template <class Next>
  void ContinueThen(Next next) {
    const std::string* expect = request_.Header("expect");
    if (expect == nullptr || !IEquals(*expect, "100-continue")) {
      next();
      return;
    }
    ArmDeadline(kIoTimeout);
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this(), next = std::move(next)](
                          beast::error_code ec, size_t) mutable {
                        self->DisarmDeadline();
                        if (ec) {
                          self->FailBody();
                          return;
                        }
                        next();
                      });
  }

  // Reads the body in pieces, each with its own timeout, so that a long upload only times
  // out when it stalls.
  template <class Parser>
  void ReadBody(Parser* parser) {
    // A small body usually arrives with the header: parse what is buffered here, which
    // saves async_read_some's round trip through the I/O scheduler.
    beast::error_code ec;
    while (!parser->is_done() && buffer_.size() > 0) {
      const size_t used = parser->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
    if (ec == http::error::body_limit) {
      const uint64_t limit = server_->options().max_body_bytes;
      SendError(413, "REQUEST_LIMIT_EXCEEDED",
                absl::StrCat("Request body exceeds the limit of ", limit, " bytes"));
      return;
    }
    if (ec) {
      FailBody();
      return;
    }
    if (parser->is_done()) {
      OnBodyRead();
      return;
    }
    if (buffer_.capacity() - buffer_.size() < kBodyReadBytes) {
      buffer_.reserve(buffer_.size() + kBodyReadBytes);
    }
    ArmDeadline(kIoTimeout);
    http::async_read_some(stream_, buffer_, *parser,
                          [self = shared_from_this(), parser](beast::error_code ec, size_t) {
                            self->DisarmDeadline();
                            if (ec == http::error::body_limit) {
                              const uint64_t limit = self->server_->options().max_body_bytes;
                              self->SendError(
                                  413, "REQUEST_LIMIT_EXCEEDED",
                                  absl::StrCat("Request body exceeds the limit of ", limit,
                                               " bytes"));
                              return;
                            }
                            if (ec) {
                              self->FailBody();
                              return;
                            }
                            self->ReadBody(parser);
                          });
  }

  // The body could not be read (client gone, timeout, bad chunk): nothing to answer.
  void FailBody() {
    RemoveBodyFile();
    Close();
  }

  void RemoveBodyFile() {
    if (file_parser_) {
      beast::error_code ec;
      file_parser_->get().body().file().close(ec);
    }
    if (!request_.body_file.empty()) {
      std::error_code ec;
      std::filesystem::remove(request_.body_file, ec);
    }
  }

  void OnBodyRead() {
    if (string_parser_) {
      request_.body = std::move(string_parser_->get().body());
    } else if (file_parser_) {
      beast::error_code ec;
      file_parser_->get().body().file().close(ec);
    }
    switch (target_) {
      case Target::kHealthz: {
        HttpResponse response;
        response.content_type = "text/plain";
        response.body = "OK";
        SendResponse(std::move(response));
        return;
      }
      case Target::kMetrics: {
        HttpResponse response;
        response.content_type = "text/plain; version=0.0.4; charset=utf-8";
        server_->metrics().AppendPrometheus(&response.body);
        server_->AppendPoolMetrics(&response.body);
        SendResponse(std::move(response));
        return;
      }
      case Target::kNotFound:
        SendResponse(ErrorResponse(404, "ENDPOINT_NOT_FOUND",
                                   absl::StrCat("No endpoint for ", request_.method, " ",
                                                request_.path)));
        return;
      case Target::kMethodNotAllowed:
        SendResponse(ErrorResponse(405, "ENDPOINT_NOT_FOUND",
                                   absl::StrCat("Method ", request_.method,
                                                " is not allowed for ", request_.path)));
        return;
      case Target::kRoute:
        break;
    }
    request_.path_params = std::move(match_.path_params);
    if (route_->options.inline_handler) {
      SendResponse(RunHandler());
      return;
    }
    if (route_->options.inline_when && route_->options.inline_when(request_)) {
      request_.on_io_thread = true;
      HttpResponse response = RunHandler();
      request_.on_io_thread = false;
      if (!response.run_on_pool) {
        SendResponse(std::move(response));
        return;
      }
      // The handler found it must block after all: on to its pool like any other request.
    }
    const HandlerPool kind = route_->options.pool;
    const size_t max_backlog = server_->max_backlog(kind);
    const bool queued = server_->pool(kind).TryPost(
        [self = shared_from_this()]() mutable {
          HttpResponse response = self->RunHandler();
          auto executor = self->stream_.get_executor();
          asio::post(executor, [self = std::move(self), response = std::move(response)]() mutable {
            self->SendResponse(std::move(response));
          });
        },
        max_backlog);
    if (!queued) {
      // Back-pressure: refused at once, the handler never runs; the body was read, so the
      // connection stays usable.
      RemoveBodyFile();
      // The one mapping of every back-pressure answer (api/errors.h): 429, MLflow's
      // REQUEST_LIMIT_EXCEEDED, Retry-After: 1 — as a busy endpoint answers.
      SendResponse(ErrorResponse(
          absl::ResourceExhaustedError(absl::StrCat("server busy: ", max_backlog,
                                                    " requests waiting; retry after 1 s")),
          ErrorDialect::kCairn));
    }
  }

  // Runs the route's handler; never throws. Removes a streamed body file afterwards.
  HttpResponse RunHandler() {
    HttpResponse response;
    try {
      response = route_->handler(request_);
    } catch (const std::exception& e) {
      Log(LogLevel::kError, absl::StrCat("handler for ", request_.method, " ", route_->pattern,
                                         " threw: ", e.what()));
      response = ErrorResponse(500, "INTERNAL_ERROR",
                               absl::StrCat("Internal error while handling ", request_.method,
                                            " ", request_.path));
    } catch (...) {
      Log(LogLevel::kError, absl::StrCat("handler for ", request_.method, " ", route_->pattern,
                                         " threw a non-standard exception"));
      response = ErrorResponse(500, "INTERNAL_ERROR",
                               absl::StrCat("Internal error while handling ", request_.method,
                                            " ", request_.path));
    }
    if (!request_.body_file.empty()) {
      std::error_code ec;
      std::filesystem::remove(request_.body_file, ec);
    }
    return response;
  }

  // An error answered before (or instead of) reading the body: the connection closes after
  // the response, since unread body bytes may follow.
  void SendError(int status, std::string_view error_code, std::string_view message) {
    RemoveBodyFile();
    keep_alive_ = false;
    linger_ = true;
    SendResponse(ErrorResponse(status, error_code, message));
  }

  template <class Body>
  void SetHeaders(http::response<Body>* res, const HttpResponse& response) {
    res->result(static_cast<unsigned>(status_));
    res->version(version_);
    res->set(http::field::server, "cairn");
    if (!response.content_type.empty()) res->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res->insert(name, value);
    res->keep_alive(keep_alive_);
  }

  void SendResponse(HttpResponse response) {
    if (!stream_.is_open()) return;
    if (!HeadersAreSafe(response.content_type, response.headers)) {
      // A value with CR or LF would write header lines of its own.
      Log(LogLevel::kError,
          absl::StrCat("the answer to ", request_.method, " ", request_.path,
                       " has a header with CR, LF or NUL in its value or a name that is not "
                       "a token; answered 500 instead"));
      response = ErrorResponse(
          500, "INTERNAL_ERROR",
          absl::StrCat("Internal error while handling ", request_.method, " ", request_.path));
    }
    status_ = response.status >= 100 && response.status <= 999 ? response.status : 500;
    if (stopping_ || server_->stopping()) keep_alive_ = false;
    if (request_.method == "HEAD") {
      SendHeadResponse(std::move(response));
      return;
    }
    if (response.stream) {
      StartStream(std::move(response));
      return;
    }
    if (!response.file_path.empty()) {
      http::file_body::value_type file;
      beast::error_code ec;
      file.open(response.file_path.c_str(), beast::file_mode::scan, ec);
      if (!ec) {
        file_response_.emplace();
        SetHeaders(&*file_response_, response);
        file_response_->body() = std::move(file);
        file_response_->prepare_payload();
        bytes_ = file_response_->body().size();
        file_serializer_.emplace(*file_response_);
        WriteSome(&*file_serializer_);
        return;
      }
      response = ErrorResponse(404, "RESOURCE_DOES_NOT_EXIST",
                               absl::StrCat("File for ", request_.path, " does not exist"));
      status_ = 404;
    }
    if (CanWriteResponseHead(status_, response.headers, response.body.size())) {
      // The common case: head and body in one buffer pair, one gather write, no Beast
      // message or serializer (the same bytes: api/response_head.h).
      response_head_.clear();
      AppendResponseHead(version_, status_, keep_alive_, response.content_type,
                         response.headers, response.body.size(), &response_head_);
      response_body_ = std::move(response.body);
      bytes_ = response_body_.size();
      response_written_ = 0;
      WriteBuffered();
      return;
    }
    string_response_.emplace();
    SetHeaders(&*string_response_, response);
    string_response_->body() = std::move(response.body);
    string_response_->prepare_payload();
    bytes_ = string_response_->body().size();
    string_serializer_.emplace(*string_response_);
    WriteSome(&*string_serializer_);
  }

  // HEAD (RFC 9110 §9.3.2): the head GET would get, with its Content-Length, and no body.
  // A stream's length is unknown unless it announces one; without it the head goes out
  // without a length and the connection closes after it.
  void SendHeadResponse(HttpResponse response) {
    std::optional<uint64_t> length;
    if (response.stream) {
      length = response.stream_length;
      response.stream = nullptr;
    } else if (!response.file_path.empty()) {
      std::error_code ec;
      const uintmax_t size = std::filesystem::file_size(response.file_path, ec);
      if (ec) {
        response = ErrorResponse(404, "RESOURCE_DOES_NOT_EXIST",
                                 absl::StrCat("File for ", request_.path, " does not exist"));
        status_ = 404;
        length = response.body.size();
      } else {
        length = size;
      }
    } else {
      length = response.body.size();
    }
    if (!length.has_value()) keep_alive_ = false;
    response.body.clear();
    string_response_.emplace();
    SetHeaders(&*string_response_, response);
    // No Content-Length where the answer to GET could have no body (RFC 9110 §8.6).
    const bool bodiless = status_ < 200 || status_ == 204 || status_ == 304;
    if (length.has_value() && !bodiless) string_response_->content_length(*length);
    bytes_ = 0;
    string_serializer_.emplace(*string_response_);
    WriteSome(&*string_serializer_);
  }

  // Writes response_head_ then response_body_ from response_written_ on, in pieces, each
  // with its own timeout (as WriteSome).
  void WriteBuffered() {
    const size_t head_size = response_head_.size();
    std::array<asio::const_buffer, 2> buffers;
    if (response_written_ < head_size) {
      buffers = {asio::buffer(response_head_) + response_written_, asio::buffer(response_body_)};
    } else {
      buffers = {asio::buffer(response_body_) + (response_written_ - head_size),
                 asio::const_buffer()};
    }
    ArmDeadline(kIoTimeout);
    stream_.async_write_some(buffers, [self = shared_from_this()](beast::error_code ec,
                                                                  size_t written) {
      self->DisarmDeadline();
      if (ec) {
        self->Close();
        return;
      }
      self->response_written_ += written;
      if (self->response_written_ < self->response_head_.size() + self->response_body_.size()) {
        self->WriteBuffered();
        return;
      }
      self->OnResponseWritten();
    });
  }

  // Writes in pieces, each with its own timeout, so that a long download only times out
  // when it stalls.
  template <class Serializer>
  void WriteSome(Serializer* serializer) {
    ArmDeadline(kIoTimeout);
    http::async_write_some(
        stream_, *serializer,
        [self = shared_from_this(), serializer](beast::error_code ec, size_t) {
          self->DisarmDeadline();
          if (ec) {
            self->Close();
            return;
          }
          if (!serializer->is_done()) {
            self->WriteSome(serializer);
            return;
          }
          self->OnResponseWritten();
        });
  }

  // Streamed responses (HttpResponse::stream). The header goes out first; then a worker
  // calls the producer (into next_chunk_) and the I/O thread writes what it produced as one
  // chunk (from chunk_) while a worker already makes the next piece, until the producer
  // says it is done (final chunk, then the next request on the connection) or fails, the
  // client goes away, or the server stops (connection closed without the final chunk). At
  // most one producer call is in progress, and only it touches next_chunk_ and producer_.
  void StartStream(HttpResponse response) {
    producer_ = std::move(response.stream);
    bytes_ = 0;
    producing_ = writing_ = produced_ = stream_aborted_ = false;
    stream_response_.emplace();
    SetHeaders(&*stream_response_, response);
    stream_length_ = response.stream_length;
    stream_chunked_ = version_ >= 11 && !stream_length_.has_value();
    if (stream_length_.has_value()) {
      // A known length: the pieces go out as they are, after a Content-Length.
      stream_response_->content_length(*stream_length_);
    } else if (stream_chunked_) {
      stream_response_->chunked(true);
    } else {
      // HTTP/1.0 has no chunked encoding: the end of the body is the end of the connection.
      keep_alive_ = false;
      stream_response_->keep_alive(false);
    }
    stream_serializer_.emplace(*stream_response_);
    ArmDeadline(kIoTimeout);
    http::async_write_header(stream_, *stream_serializer_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               self->DisarmDeadline();
                               if (ec) {
                                 self->AbortStream("the client went away");
                                 return;
                               }
                               self->ProduceChunk();
                             });
  }

  // On the I/O thread: lets a worker call the producer once (into next_chunk_).
  void ProduceChunk() {
    if (stopping_ || server_->stopping()) {
      AbortStream("the server is stopping");
      return;
    }
    if (ClientGone()) {
      AbortStream("the client went away");
      return;
    }
    producing_ = true;
    server_->workers().Post([self = shared_from_this()]() mutable {
      self->next_chunk_.clear();
      absl::StatusOr<bool> more = self->CallProducer();
      auto executor = self->stream_.get_executor();
      asio::post(executor, [self = std::move(self), more = std::move(more)]() mutable {
        self->OnProduced(std::move(more));
      });
    });
  }

  // On a worker thread; never throws.
  absl::StatusOr<bool> CallProducer() {
    try {
      return producer_(&next_chunk_);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("the stream producer threw: ", e.what()));
    } catch (...) {
      return absl::InternalError("the stream producer threw a non-standard exception");
    }
  }

  void OnProduced(absl::StatusOr<bool> more) {
    producing_ = false;
    if (stream_aborted_) {
      producer_ = nullptr;  // AbortStream left it to us: it was running
      return;
    }
    if (!stream_.is_open()) {
      AbortStream("the connection was closed");
      return;
    }
    if (!more.ok()) {
      AbortStream(absl::StrCat("the stream producer failed: ", more.status().ToString()));
      return;
    }
    produced_ = true;
    produced_more_ = *more;
    MaybeWriteChunk();
  }

  // Writes the produced piece unless a write is still in flight (its completion calls
  // here again). While it is written the producer already makes the next one.
  void MaybeWriteChunk() {
    if (writing_ || !produced_ || stream_aborted_) return;
    produced_ = false;
    const bool more = produced_more_;
    if (next_chunk_.empty()) {
      if (!more) {
        FinishStream();
        return;
      }
      // Nothing new yet: ask again after a pause, holding no thread meanwhile.
      stream_pausing_ = true;
      pause_timer_.expires_after(std::chrono::milliseconds(kStreamIdlePauseMs));
      pause_timer_.async_wait([self = shared_from_this()](beast::error_code) {
        self->stream_pausing_ = false;
        self->ProduceChunk();
      });
      return;
    }
    chunk_.swap(next_chunk_);
    bytes_ += chunk_.size();
    if (stream_length_.has_value() && bytes_ > *stream_length_) {
      AbortStream("the stream producer wrote more than its stream_length");
      return;
    }
    writing_ = true;
    auto on_written = [self = shared_from_this(), more](beast::error_code ec, size_t) {
      self->DisarmDeadline();
      self->writing_ = false;
      if (ec) {
        self->AbortStream("the client went away");
        return;
      }
      if (more) {
        self->MaybeWriteChunk();
      } else {
        self->FinishStream();
      }
    };
    ArmDeadline(kIoTimeout);
    if (stream_chunked_) {
      asio::async_write(stream_, http::make_chunk(asio::buffer(chunk_)), std::move(on_written));
    } else {
      asio::async_write(stream_, asio::buffer(chunk_), std::move(on_written));
    }
    if (more) ProduceChunk();
  }

  void FinishStream() {
    producer_ = nullptr;
    chunk_ = std::string();
    next_chunk_ = std::string();
    if (stream_length_.has_value() && bytes_ != *stream_length_) {
      AbortStream("the stream producer wrote less than its stream_length");
      return;
    }
    if (!stream_chunked_) {
      OnResponseWritten();
      return;
    }
    ArmDeadline(kIoTimeout);
    asio::async_write(stream_, http::make_chunk_last(),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->DisarmDeadline();
                        if (ec) {
                          self->AbortStream("the client went away");
                          return;
                        }
                        self->OnResponseWritten();
                      });
  }

  // Ends a streamed response early: the connection closes without the final chunk. The
  // producer is destroyed here, or when its call in progress returns.
  void AbortStream(std::string_view why) {
    if (stream_aborted_) return;
    stream_aborted_ = true;
    if (!producing_) {
      producer_ = nullptr;
      next_chunk_ = std::string();
    }
    RecordRequest(absl::StrCat(" (stream ended early: ", ToAbsl(why), ")"));
    Close();
  }

  // True when the client closed its end (or the connection failed); only a cheap poll.
  bool ClientGone() {
    if (!stream_.is_open()) return true;
    pollfd fd{};
    fd.fd = stream_.native_handle();
    fd.events = POLLRDHUP;
    if (::poll(&fd, 1, 0) <= 0) return false;
    return (fd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
  }

  // The request's metrics (latency: to the last byte written) and access-log line.
  void RecordRequest(std::string_view note = "") {
    const auto duration = std::chrono::steady_clock::now() - start_;
    server_->metrics().Record(series_, status_,
                              std::chrono::duration_cast<std::chrono::nanoseconds>(duration));
    if (AccessLog* log = server_->access_log(); log != nullptr) {
      // Milliseconds with 3 decimals ("%.3f"), from whole microseconds (half rounds up).
      const int64_t nanos = std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count());
      const int64_t micros = (nanos + 500) / 1000;
      const char fraction[] = {'.', static_cast<char>('0' + micros % 1000 / 100),
                               static_cast<char>('0' + micros % 100 / 10),
                               static_cast<char>('0' + micros % 10)};
      access_line_.clear();
      absl::StrAppend(&access_line_, request_.method, " ", request_.target, " ", status_, " ",
                      bytes_, " ", micros / 1000, absl::string_view(fraction, sizeof(fraction)),
                      "ms ", remote_, ToAbsl(note));
      log->Write(access_line_);
    }
  }

  void OnResponseWritten() {
    RecordRequest();
    if (!keep_alive_) {
      if (linger_) {
        Linger();
      } else {
        Close();
      }
      return;
    }
    ReadHeader();
  }

  // Half-closes, then discards what the client still sends until it closes or a short
  // timeout passes; closing with unread data would reset the connection and could destroy
  // the error response before the client reads it.
  void Linger() {
    beast::error_code ec;
    stream_.shutdown(tcp::socket::shutdown_send, ec);
    ArmDeadline(kLingerTimeout);  // for the whole drain
    DrainSome();
  }

  void DrainSome() {
    if (!drain_buffer_) drain_buffer_ = std::make_unique<char[]>(kDrainBufferSize);
    stream_.async_read_some(asio::buffer(drain_buffer_.get(), kDrainBufferSize),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) {
                                self->Close();
                                return;
                              }
                              self->DrainSome();
                            });
  }

  void Close() {
    beast::error_code ec;
    if (stream_.is_open()) stream_.shutdown(tcp::socket::shutdown_both, ec);
    stream_.close(ec);
    DisarmDeadline();
    deadline_timer_.cancel();
  }

  // I/O timeouts: one deadline for the operation in progress (ArmDeadline before starting
  // it, DisarmDeadline first thing in its completion handler) and one timer per
  // connection that is re-armed only when it fires (at most once per kIoTimeout while the
  // connection is busy), instead of a timer armed and cancelled around every read and
  // write. A deadline that passes closes the connection, which completes the operation in
  // progress with an error. No deadline runs while no operation is in progress (a
  // handler at work, a stream producer's call).
  void ArmDeadline(std::chrono::steady_clock::duration timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (!deadline_timer_waiting_) {
      deadline_timer_waiting_ = true;
      deadline_timer_.expires_at(deadline_);
      deadline_timer_.async_wait(
          [self = shared_from_this()](beast::error_code) { self->OnDeadlineTimer(); });
    } else if (deadline_ < deadline_timer_.expiry()) {
      // Earlier than the timer (a linger after a 60 s deadline): this cancels the wait,
      // and OnDeadlineTimer waits again for the new deadline.
      deadline_timer_.expires_at(deadline_);
    }
  }

  void DisarmDeadline() { deadline_ = kNoDeadline; }

  void OnDeadlineTimer() {
    deadline_timer_waiting_ = false;
    if (!stream_.is_open() || deadline_ == kNoDeadline) return;
    if (std::chrono::steady_clock::now() >= deadline_) {
      Close();
      return;
    }
    deadline_timer_waiting_ = true;
    deadline_timer_.expires_at(deadline_);
    deadline_timer_.async_wait(
        [self = shared_from_this()](beast::error_code) { self->OnDeadlineTimer(); });
  }

  static constexpr size_t kDrainBufferSize = 16 * 1024;

  ServerImpl* const server_;
  SessionSocket stream_;
  asio::steady_timer deadline_timer_;
  std::chrono::steady_clock::time_point deadline_ = kNoDeadline;
  bool deadline_timer_waiting_ = false;
  beast::flat_buffer buffer_;
  std::string remote_;
  bool stopping_ = false;
  bool waiting_for_header_ = false;
  bool keep_alive_ = true;
  bool linger_ = false;
  unsigned version_ = 11;

  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> string_parser_;
  std::optional<http::request_parser<http::file_body>> file_parser_;
  HttpRequest request_;
  Target target_ = Target::kNotFound;
  Router::Match match_;
  const Route* route_ = nullptr;

  int series_ = 0;
  int status_ = 0;
  uint64_t bytes_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::string response_head_;  // WriteBuffered: status line and header
  std::string response_body_;  // WriteBuffered: the body
  size_t response_written_ = 0;
  std::string access_line_;
  std::optional<http::response<http::string_body>> string_response_;
  std::optional<http::response_serializer<http::string_body>> string_serializer_;
  std::optional<http::response<http::file_body>> file_response_;
  std::optional<http::response_serializer<http::file_body>> file_serializer_;
  std::optional<http::response<http::empty_body>> stream_response_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  StreamProducer producer_;
  std::string chunk_;       // being written
  std::string next_chunk_;  // being filled by the worker running producer_ (producing_)
  bool producing_ = false;  // a worker is calling producer_: only it touches next_chunk_
  bool writing_ = false;    // chunk_ is being written
  bool produced_ = false;   // next_chunk_ holds a piece not yet written (produced_more_)
  bool produced_more_ = false;
  bool stream_aborted_ = false;
  bool stream_chunked_ = true;
  std::optional<uint64_t> stream_length_;  // HttpResponse::stream_length of the stream
  bool stream_pausing_ = false;
  asio::steady_timer pause_timer_;
  std::unique_ptr<char[]> drain_buffer_;
};


ServerImpl::ServerImpl(ServerOptions options, Router router)
    : options_(std::move(options)),
      router_(std::move(router)),
      iocs_(MakeIoContexts(options_.io_threads)),
      acceptor_(*iocs_.front()),
      accept_retry_timer_(acceptor_.get_executor()) {
  tmp_dir_ = options_.tmp_dir;
  if (tmp_dir_.empty()) {
    std::error_code ec;
    tmp_dir_ = std::filesystem::temp_directory_path(ec).string();
    if (ec || tmp_dir_.empty()) tmp_dir_ = "/tmp";
  }
  // Series ids: one per route (its index in the router), then the built-ins, then the
  // unmatched requests per method.
  for (const Route& route : router_.routes()) {
    metrics_.AddSeries(route.pattern, route.method);
  }
  healthz_series_ = metrics_.AddSeries("/healthz", "GET");
  metrics_series_ = metrics_.AddSeries("/metrics", "GET");
  unmatched_series_ = metrics_.num_series();
  for (std::string_view method : kUnmatchedMethods) {
    metrics_.AddSeries("unmatched", std::string(method));
  }
}

ServerImpl::~ServerImpl() {
  Stop();
  std::thread stopper;
  {
    absl::MutexLock lock(&mu_);
    stopper = std::move(stopper_);
  }
  if (stopper.joinable()) stopper.join();
}

int ServerImpl::UnmatchedSeries(std::string_view method) const {
  for (int method_idx = 0; method_idx < kNumUnmatchedMethods - 1; ++method_idx) {
    if (kUnmatchedMethods[method_idx] == method) return unmatched_series_ + method_idx;
  }
  return unmatched_series_ + kNumUnmatchedMethods - 1;
}

void ServerImpl::Register(Session* session) {
  metrics_.AddConnections(1);
  absl::MutexLock lock(&sessions_mu_);
  sessions_.insert(session);
}

void ServerImpl::Unregister(Session* session) {
  metrics_.AddConnections(-1);
  absl::MutexLock lock(&sessions_mu_);
  sessions_.erase(session);
}

absl::Status ServerImpl::Start() {
  absl::MutexLock lock(&mu_);
  if (state_ != State::kNew) {
    return absl::FailedPreconditionError("HttpServer::Start: the server was already started");
  }
  if (options_.port < 0 || options_.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port: must be between 0 and 65535, got ", options_.port));
  }
  beast::error_code ec;
  tcp::endpoint endpoint;
  asio::ip::address address = asio::ip::make_address(options_.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, static_cast<unsigned short>(options_.port));
  } else {
    tcp::resolver resolver(*iocs_.front());
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "host: cannot resolve '", options_.host, "': ", ec ? ec.message() : "no address"));
    }
    endpoint = results.begin()->endpoint();
  }
  const std::string where = absl::StrCat(options_.host, ":", options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot open a socket for ", where, ": ",
                                                     ec.message()));
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  acceptor_.bind(endpoint, ec);
  if (ec) {
    acceptor_.close(ec);
    return absl::UnavailableError(absl::StrCat("cannot bind ", where, ": ", ec.message(),
                                               " (is another server using this port?)"));
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.close(ec);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", where, ": ", ec.message()));
  }
  port_.store(acceptor_.local_endpoint(ec).port(), std::memory_order_release);

  // Debian builds abseil without NDEBUG, which leaves its debug-only deadlock detection on:
  // every Mutex lock then goes through a process-wide graph under a global spinlock (about
  // 150 instructions per lock, contended across I/O threads), which the hot read paths
  // (online features: several locks per request) cannot afford. Release builds of abseil
  // never do this.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int worker_threads =
      options_.worker_threads > 0 ? options_.worker_threads : std::max(4, 2 * cores);
  workers_.emplace(worker_threads, [this] { t_current_server = this; });
  max_backlog_ = options_.max_backlog > 0 ? options_.max_backlog
                                          : kBacklogPerThread * static_cast<size_t>(worker_threads);
  const bool predict_routes =
      std::any_of(router_.routes().begin(), router_.routes().end(), [](const Route& route) {
        return !route.options.inline_handler && route.options.pool == HandlerPool::kPredict;
      });
  if (predict_routes) {
    const int predict_threads =
        options_.predict_threads > 0 ? options_.predict_threads : kDefaultPredictThreads;
    predict_workers_.emplace(predict_threads, [this] { t_current_server = this; });
    predict_max_backlog_ = options_.predict_max_backlog > 0
                               ? options_.predict_max_backlog
                               : kBacklogPerThread * static_cast<size_t>(predict_threads);
  }
  if (options_.access_log) access_log_ = std::make_unique<AccessLog>();
  for (auto& ioc : iocs_) work_.push_back(asio::make_work_guard(*ioc));
  asio::dispatch(acceptor_.get_executor(), [this] { DoAccept(); });
  io_threads_.reserve(iocs_.size());
  for (auto& ioc : iocs_) {
    io_threads_.emplace_back([this, ioc = ioc.get()] { RunIoThread(ioc); });
  }
  state_ = State::kRunning;
  return absl::OkStatus();
}

void ServerImpl::RunIoThread(asio::io_context* ioc) {
  ScopedServerThread mark(this);
  for (;;) {
    try {
      ioc->run();
      return;
    } catch (const std::exception& e) {
      Log(LogLevel::kError, absl::StrCat("HTTP I/O thread caught: ", e.what()));
    }
  }
}

void ServerImpl::DoAccept() {
  asio::io_context& ioc = *iocs_[next_ioc_];
  next_ioc_ = (next_ioc_ + 1) % iocs_.size();
  acceptor_.async_accept(ioc.get_executor(), [this](beast::error_code ec,
                                                    SessionSocket socket) {
    if (stopping() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning.
      Log(LogLevel::kWarning, absl::StrCat("accept failed: ", ec.message()));
      accept_retry_timer_.expires_after(std::chrono::milliseconds(50));
      accept_retry_timer_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && !stopping()) DoAccept();
      });
      return;
    }
    // Nagle's algorithm delays small responses by up to 40 ms (FACTS.md).
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<Session>(this, std::move(socket))->Start();
    DoAccept();
  });
}

template <class Fn>
void ServerImpl::ForEachSession(Fn fn) {
  absl::MutexLock lock(&sessions_mu_);
  for (Session* session : sessions_) {
    // A session whose destructor is waiting for sessions_mu_ has no owner left.
    std::shared_ptr<Session> alive = session->weak_from_this().lock();
    if (!alive) continue;
    auto executor = alive->executor();
    asio::post(executor, [alive = std::move(alive), fn] { fn(*alive); });
  }
}

void ServerImpl::Wait() {
  absl::MutexLock lock(&mu_);
  if (state_ == State::kNew) return;
  mu_.Await(absl::Condition(this, &ServerImpl::IsStopped));
}

void ServerImpl::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (state_ == State::kNew) {
      state_ = State::kStopped;
      return;
    }
    if (t_current_server == this) {
      // Joining the server's threads from one of them would deadlock.
      if (state_ == State::kRunning && !stopper_.joinable()) {
        stopper_ = std::thread([this] { Stop(); });
      }
      return;
    }
    if (state_ != State::kRunning) {
      mu_.Await(absl::Condition(this, &ServerImpl::IsStopped));
      return;
    }
    state_ = State::kStopping;
  }
  DoStop();
  absl::MutexLock lock(&mu_);
  state_ = State::kStopped;
}

void ServerImpl::DoStop() {
  stopping_.store(true, std::memory_order_release);
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    accept_retry_timer_.cancel();
  });
  ForEachSession([](Session& session) { session.NotifyStopping(); });
  bool drained;
  {
    absl::MutexLock lock(&sessions_mu_);
    drained = sessions_mu_.AwaitWithTimeout(absl::Condition(this, &ServerImpl::NoSessions),
                                            kShutdownGrace);
  }
  if (!drained) {
    Log(LogLevel::kWarning, "HTTP server: requests still running after the shutdown grace "
                            "period; closing their connections");
    ForEachSession([](Session& session) { session.ForceClose(); });
    absl::MutexLock lock(&sessions_mu_);
    sessions_mu_.AwaitWithTimeout(absl::Condition(this, &ServerImpl::NoSessions), absl::Seconds(2));
  }
  work_.clear();
  for (auto& ioc : iocs_) ioc->stop();
  for (std::thread& thread : io_threads_) thread.join();
  io_threads_.clear();
  // The close posted above may not have run before the io_context stopped; no I/O thread
  // is left, so close here directly.
  beast::error_code ec;
  acceptor_.close(ec);
  if (signals_) signals_->cancel(ec);
  // Waits for handlers still running (only after a forced close); their responses go
  // nowhere.
  if (workers_) workers_->Join();
  if (predict_workers_) predict_workers_->Join();
  if (access_log_) access_log_->Flush();
}

void ServerImpl::AppendPoolMetrics(std::string* out) const {
  absl::StrAppend(out,
                  "# HELP cairn_http_handlers_waiting Requests waiting for a handler thread, "
                  "by pool.\n"
                  "# TYPE cairn_http_handlers_waiting gauge\n");
  auto line = [out](const char* name, const char* pool, uint64_t value) {
    absl::StrAppend(out, name, "{pool=\"", pool, "\"} ", value, "\n");
  };
  line("cairn_http_handlers_waiting", "default", workers_->waiting());
  if (predict_workers_) line("cairn_http_handlers_waiting", "predict", predict_workers_->waiting());
  absl::StrAppend(out,
                  "# HELP cairn_http_handlers_max_waiting Waiting requests beyond which a "
                  "request is refused with 429, by pool.\n"
                  "# TYPE cairn_http_handlers_max_waiting gauge\n");
  line("cairn_http_handlers_max_waiting", "default", max_backlog_);
  if (predict_workers_) line("cairn_http_handlers_max_waiting", "predict", predict_max_backlog_);
  absl::StrAppend(out,
                  "# HELP cairn_http_handlers_refused_total Requests refused with 429 because "
                  "their pool's backlog was full, by pool.\n"
                  "# TYPE cairn_http_handlers_refused_total counter\n");
  line("cairn_http_handlers_refused_total", "default", workers_->refused());
  if (predict_workers_) {
    line("cairn_http_handlers_refused_total", "predict", predict_workers_->refused());
  }
}

void ServerImpl::StopOnSignals() {
  absl::MutexLock lock(&mu_);
  if (signals_) return;
  signals_.emplace(*iocs_.front(), SIGINT, SIGTERM);
  signals_->async_wait([this](beast::error_code ec, int signal_number) {
    if (ec) return;
    Log(LogLevel::kInfo, absl::StrCat("received signal ", signal_number, "; stopping"));
    Stop();
  });
}

}  // namespace

class HttpServer::Impl : public ServerImpl {
 public:
  using ServerImpl::ServerImpl;
};

HttpServer::HttpServer(ServerOptions options, Router router)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router))) {}
HttpServer::~HttpServer() = default;
absl::Status HttpServer::Start() { return impl_->Start(); }
int HttpServer::port() const { return impl_->port(); }
void HttpServer::Wait() { impl_->Wait(); }
void HttpServer::Stop() { impl_->Stop(); }
void HttpServer::StopOnSignals() { impl_->StopOnSignals(); }

}  // namespace cairn::api
