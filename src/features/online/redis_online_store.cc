#include "features/online/redis_online_store.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <charconv>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/online/online_codec.h"

namespace cairn::features {
namespace {

constexpr size_t kWriteChunk = 1000;
constexpr size_t kUnlinkChunk = 1000;

// Keeps the stored row when its 16-byte (event_ts, created_ts) prefix is greater.
constexpr char kUpsertScript[] = R"lua(
local n = 0
for i = 1, #KEYS do
  local new = ARGV[i]
  local old = redis.call('GET', KEYS[i])
  local take = true
  if old then
    for j = 1, 16 do
      local x, y = string.byte(new, j), string.byte(old, j)
      if x ~= y then take = x > y; break end
    end
  end
  if take then redis.call('SET', KEYS[i], new); n = n + 1 end
end
return n
)lua";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

timeval Millis(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

class RedisOnlineStore final : public OnlineStore {
 public:
  RedisOnlineStore(std::string host, int port, int db, RedisOnlineStoreOptions options)
      : host_(std::move(host)),
        port_(port),
        db_(db),
        options_(options),
        server_(absl::StrCat("redis ", host_, ":", port_)) {}

  absl::Status Ping() {
    std::vector<std::string> args = {"PING"};
    return Run([&](redisContext* c) -> absl::StatusOr<bool> {
      CAIRN_ASSIGN_OR_RETURN(Reply r, Call(c, args));
      return true;
    }).status();
  }

  absl::Status Write(std::string_view view, std::span<const std::string> keys,
                     std::span<const OnlineRow> rows) override;
  absl::Status Read(std::string_view view, std::span<const std::string> keys,
                    std::vector<std::optional<OnlineRow>>* out) const override;
  absl::Status DropView(std::string_view view) override;

 private:
  std::string RedisKey(std::string_view view, std::string_view key) const {
    std::string k;
    k.reserve(7 + view.size() + key.size());
    k.append("cairn:").append(view).push_back(':');
    k.append(key);
    return k;
  }

  absl::Status ConnectionError(const redisContext* c, std::string_view doing) const {
    std::string why = c == nullptr ? "cannot allocate a connection" : c->errstr;
    return absl::UnavailableError(absl::StrCat(server_, ": ", ToAbsl(doing), ": ", why,
                                               "; is redis-server running there?"));
  }

  absl::StatusOr<Context> Connect() const {
    Context c(redisConnectWithTimeout(host_.c_str(), port_, Millis(options_.connect_timeout_ms)));
    if (c == nullptr || c->err) return ConnectionError(c.get(), "connect");
    redisSetTimeout(c.get(), Millis(options_.io_timeout_ms));
    redisEnableKeepAlive(c.get());
    if (db_ != 0) {
      Reply r(static_cast<redisReply*>(redisCommand(c.get(), "SELECT %d", db_)));
      if (r == nullptr) return ConnectionError(c.get(), "SELECT");
      if (r->type == REDIS_REPLY_ERROR) {
        return absl::InvalidArgumentError(absl::StrCat(server_, ": SELECT ", db_, ": ",
                                                       std::string(r->str, r->len)));
      }
    }
    return c;
  }

  absl::StatusOr<Context> Acquire() const {
    {
      absl::MutexLock lock(&pool_mu_);
      if (!idle_.empty()) {
        Context c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return Connect();
  }

  void Release(Context c) const {
    if (c == nullptr || c->err) return;  // broken: drop it
    absl::MutexLock lock(&pool_mu_);
    if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(c));
  }

  // Runs `fn` on a pooled connection; on a connection error (fn's Unavailable with the
  // context's err set) retries once on a fresh connection. fn must be idempotent.
  template <typename Fn>
  auto Run(Fn fn) const -> decltype(fn(nullptr)) {
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<Context> c = Acquire();
      if (!c.ok()) return c.status();
      auto result = fn(c->get());
      bool broken = (*c)->err != 0;
      Release(std::move(*c));
      if (result.ok() || !broken || attempt == 1) return result;
    }
  }

  // Sends one command and reads its reply. Unavailable on I/O errors, Internal on an
  // error reply.
  absl::StatusOr<Reply> Call(redisContext* c, const std::vector<std::string>& args) const {
    CAIRN_RETURN_IF_ERROR(Append(c, args));
    return GetReply(c, "command");
  }

  absl::Status Append(redisContext* c, const std::vector<std::string>& args) const {
    std::vector<const char*> argv(args.size());
    std::vector<size_t> lens(args.size());
    for (size_t i = 0; i < args.size(); ++i) {
      argv[i] = args[i].data();
      lens[i] = args[i].size();
    }
    if (redisAppendCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      return ConnectionError(c, "send");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Reply> GetReply(redisContext* c, std::string_view doing) const {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) return ConnectionError(c, doing);
    Reply r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR) {
      return absl::InternalError(absl::StrCat(server_, ": ", ToAbsl(doing), ": ",
                                              std::string(r->str, r->len)));
    }
    return r;
  }

  const std::string host_;
  const int port_;
  const int db_;
  const RedisOnlineStoreOptions options_;
  const std::string server_;
  mutable absl::Mutex pool_mu_;
  mutable std::vector<Context> idle_ ABSL_GUARDED_BY(pool_mu_);
};

absl::Status RedisOnlineStore::Write(std::string_view view, std::span<const std::string> keys,
                                     std::span<const OnlineRow> rows) {
  if (keys.size() != rows.size()) {
    return absl::InvalidArgumentError(absl::StrCat("online write to view '", ToAbsl(view),
                                                   "': ", keys.size(), " keys but ",
                                                   rows.size(), " rows"));
  }
  if (keys.empty()) return absl::OkStatus();
  // One EVAL per chunk: EVAL script numkeys k1..kn v1..vn.
  std::vector<std::vector<std::string>> commands;
  for (size_t begin = 0; begin < keys.size(); begin += kWriteChunk) {
    size_t end = std::min(keys.size(), begin + kWriteChunk);
    std::vector<std::string> args;
    args.reserve(3 + 2 * (end - begin));
    args.emplace_back("EVAL");
    args.emplace_back(kUpsertScript);
    args.push_back(std::to_string(end - begin));
    for (size_t i = begin; i < end; ++i) args.push_back(RedisKey(view, keys[i]));
    for (size_t i = begin; i < end; ++i) {
      std::string encoded;
      EncodeOnlineRow(rows[i], &encoded);
      args.push_back(std::move(encoded));
    }
    commands.push_back(std::move(args));
  }
  return Run([&](redisContext* c) -> absl::StatusOr<bool> {
           for (const auto& args : commands) CAIRN_RETURN_IF_ERROR(Append(c, args));
           absl::Status first = absl::OkStatus();
           for (size_t i = 0; i < commands.size(); ++i) {
             absl::StatusOr<Reply> r = GetReply(c, "write");
             if (!r.ok() && first.ok()) first = r.status();
             if (c->err) break;
           }
           if (!first.ok()) return first;
           return true;
         })
      .status();
}

absl::Status RedisOnlineStore::Read(std::string_view view, std::span<const std::string> keys,
                                    std::vector<std::optional<OnlineRow>>* out) const {
  out->resize(keys.size());
  if (keys.empty()) return absl::OkStatus();
  std::vector<std::string> args;
  args.reserve(keys.size() + 1);
  args.emplace_back("MGET");
  for (const std::string& key : keys) args.push_back(RedisKey(view, key));
  absl::StatusOr<Reply> reply = Run([&](redisContext* c) { return Call(c, args); });
  if (!reply.ok()) return reply.status();
  const redisReply* r = reply->get();
  if (r->type != REDIS_REPLY_ARRAY || r->elements != keys.size()) {
    return absl::InternalError(absl::StrCat(server_, ": MGET answered an unexpected reply"));
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const redisReply* e = r->element[i];
    std::optional<OnlineRow>& slot = (*out)[i];
    if (e->type != REDIS_REPLY_STRING) {
      slot.reset();
      continue;
    }
    if (!slot.has_value()) slot.emplace();
    absl::Status decoded = DecodeOnlineRow(std::string_view(e->str, e->len), &*slot);
    if (!decoded.ok()) {
      return absl::DataLossError(absl::StrCat(server_, ": view '", ToAbsl(view),
                                              "': ", decoded.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status RedisOnlineStore::DropView(std::string_view view) {
  std::string pattern = "cairn:";
  for (char ch : view) {
    if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') pattern.push_back('\\');
    pattern.push_back(ch);
  }
  pattern += ":*";
  return Run([&](redisContext* c) -> absl::StatusOr<bool> {
           std::string cursor = "0";
           do {
             CAIRN_ASSIGN_OR_RETURN(
                 Reply r, Call(c, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}));
             if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
               return absl::InternalError(absl::StrCat(server_, ": SCAN: unexpected reply"));
             }
             cursor.assign(r->element[0]->str, r->element[0]->len);
             const redisReply* found = r->element[1];
             for (size_t begin = 0; begin < found->elements; begin += kUnlinkChunk) {
               std::vector<std::string> args = {"UNLINK"};
               size_t end = std::min(found->elements, begin + kUnlinkChunk);
               for (size_t i = begin; i < end; ++i) {
                 args.emplace_back(found->element[i]->str, found->element[i]->len);
               }
               CAIRN_ASSIGN_OR_RETURN(Reply unlinked, Call(c, args));
             }
           } while (cursor != "0");
           return true;
         })
      .status();
}

}  // namespace

absl::StatusOr<std::unique_ptr<OnlineStore>> OpenRedisOnlineStore(
    std::string_view url, const RedisOnlineStoreOptions& options) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("online store URL '", ToAbsl(url), "': ",
                                                   ToAbsl(why),
                                                   "; expected redis://host:port[/db]"));
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return invalid("not a redis:// URL");
  std::string_view rest = url.substr(kScheme.size());
  int db = 0;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db_text = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db_text.empty()) {
      auto [p, ec] = std::from_chars(db_text.data(), db_text.data() + db_text.size(), db);
      if (ec != std::errc() || p != db_text.data() + db_text.size() || db < 0) {
        return invalid("database must be a number");
      }
    }
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    return invalid("passwords are not supported");
  }
  std::string host(rest);
  int port = 6379;
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = std::string(rest.substr(0, colon));
    std::string_view port_text = rest.substr(colon + 1);
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port <= 0 ||
        port > 65535) {
      return invalid("port must be a number from 1 to 65535");
    }
  }
  if (host.empty()) return invalid("host is empty");
  auto store = std::make_unique<RedisOnlineStore>(host, port, db, options);
  CAIRN_RETURN_IF_ERROR(store->Ping());
  return std::unique_ptr<OnlineStore>(std::move(store));
}

}  // namespace cairn::features
