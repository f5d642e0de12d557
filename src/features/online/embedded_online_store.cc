#include "features/online/embedded_online_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/online/online_codec.h"
#include "features/online/online_log.h"
#include "features/online/varint.h"

namespace cairn::features {
namespace {

namespace fs = std::filesystem;
using online_internal::GetBytes;
using online_internal::GetVarint;
using online_internal::PutBytes;
using online_internal::PutVarint;

enum RecordType : uint8_t { kPut = 1, kDrop = 2 };
constexpr size_t kSnapshotRowsPerRecord = 10000;

absl::Status Errno(std::string_view what, const std::string& path) {
  int err = errno;
  return absl::UnavailableError(absl::StrCat("online store: ", ToAbsl(what), " ", path, ": ",
                                             std::strerror(err)));
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno("open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("fsync directory", dir);
  return absl::OkStatus();
}

std::string GenPath(const std::string& dir, std::string_view kind, int64_t gen) {
  return absl::StrCat(dir, "/", ToAbsl(kind), "-", gen);
}

// One view's rows: encoded entity key → encoded row (online_codec.h).
class ViewTable {
 public:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, std::string> rows ABSL_GUARDED_BY(mu);
  };
  static size_t ShardOf(std::string_view key) {
    return absl::Hash<std::string_view>{}(key) % kShards;
  }
  Shard& shard(size_t i) { return shards_[i]; }
  const Shard& shard(size_t i) const { return shards_[i]; }

 private:
  Shard shards_[kShards];
};

class EmbeddedOnlineStore final : public OnlineStore {
 public:
  EmbeddedOnlineStore(std::string dir, EmbeddedOnlineStoreOptions options)
      : dir_(std::move(dir)), options_(options) {}
  ~EmbeddedOnlineStore() override {
    if (log_fd_ >= 0) ::close(log_fd_);
  }

  absl::Status Open();

  absl::Status Write(std::string_view view, std::span<const std::string> keys,
                     std::span<const OnlineRow> rows) override;
  absl::Status Read(std::string_view view, std::span<const std::string> keys,
                    std::vector<std::optional<OnlineRow>>* out) const override;
  absl::Status DropView(std::string_view view) override;

 private:
  std::shared_ptr<ViewTable> FindView(std::string_view view) const;
  std::shared_ptr<ViewTable> GetOrCreateView(std::string_view view);
  // Applies one log payload to memory (replay and the write path share it).
  absl::Status ApplyPayload(std::string_view payload);
  absl::Status Replay(const std::string& path, std::string_view magic, bool is_log);
  absl::Status AppendToLog(std::string_view record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status Compact() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status OpenLog(int64_t gen, bool create);

  const std::string dir_;
  const EmbeddedOnlineStoreOptions options_;

  mutable absl::Mutex views_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<ViewTable>> views_ ABSL_GUARDED_BY(views_mu_);

  absl::Mutex write_mu_;
  int log_fd_ = -1;
  int64_t gen_ = 0;
  int64_t log_bytes_ = 0;
  int64_t snapshot_bytes_ = 0;
  std::string failed_;  // set when the log could not be repaired after a failed append
};

std::shared_ptr<ViewTable> EmbeddedOnlineStore::FindView(std::string_view view) const {
  absl::ReaderMutexLock lock(&views_mu_);
  auto it = views_.find(ToAbsl(view));
  return it == views_.end() ? nullptr : it->second;
}

std::shared_ptr<ViewTable> EmbeddedOnlineStore::GetOrCreateView(std::string_view view) {
  absl::MutexLock lock(&views_mu_);
  auto& slot = views_[ToAbsl(view)];
  if (slot == nullptr) slot = std::make_shared<ViewTable>();
  return slot;
}

absl::Status EmbeddedOnlineStore::ApplyPayload(std::string_view payload) {
  const char* p = payload.data();
  const char* end = p + payload.size();
  auto bad = [] { return absl::DataLossError("online store: malformed log record"); };
  if (p >= end) return bad();
  uint8_t type = static_cast<uint8_t>(*p++);
  std::string_view view;
  if (!GetBytes(p, end, &view)) return bad();
  if (type == kDrop) {
    absl::MutexLock lock(&views_mu_);
    views_.erase(ToAbsl(view));
    return absl::OkStatus();
  }
  if (type != kPut) return bad();
  uint64_t count;
  if (!GetVarint(p, end, &count)) return bad();
  std::shared_ptr<ViewTable> table = GetOrCreateView(view);
  // Group by shard so that each shard is locked once per record.
  std::vector<std::pair<std::string_view, std::string_view>> entries;
  entries.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view key, row;
    if (!GetBytes(p, end, &key) || !GetBytes(p, end, &row) ||
        row.size() < kOnlineRowVersionBytes) {
      return bad();
    }
    entries.emplace_back(key, row);
  }
  std::vector<uint32_t> shard_of(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    shard_of[i] = static_cast<uint32_t>(ViewTable::ShardOf(entries[i].first));
  }
  for (size_t s = 0; s < ViewTable::kShards; ++s) {
    ViewTable::Shard& shard = table->shard(s);
    absl::MutexLock lock(&shard.mu);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (shard_of[i] != s) continue;
      auto [it, inserted] = shard.rows.try_emplace(ToAbsl(entries[i].first), entries[i].second);
      if (!inserted && RowVersionNewerOrEqual(entries[i].second, it->second)) {
        it->second.assign(entries[i].second.data(), entries[i].second.size());
      }
    }
  }
  return absl::OkStatus();
}

absl::Status EmbeddedOnlineStore::Replay(const std::string& path, std::string_view magic,
                                         bool is_log) {
  absl::StatusOr<online_log::RecordReader> reader = online_log::RecordReader::Open(path, magic);
  if (!reader.ok()) return reader.status();
  std::string payload;
  while (reader->Next(&payload)) {
    absl::Status applied = ApplyPayload(payload);
    if (!applied.ok()) {
      return absl::DataLossError(absl::StrCat(path, ": ", applied.message()));
    }
  }
  if (is_log) {
    log_bytes_ = reader->valid_end();
    if (reader->torn() || reader->valid_end() < static_cast<int64_t>(online_log::kMagicBytes)) {
      // Cut off the torn tail (or a log that died before its magic was written) so new
      // records follow the last valid one.
      if (::truncate(path.c_str(), reader->valid_end()) != 0) return Errno("truncate", path);
    }
  } else {
    if (reader->torn()) {
      return absl::DataLossError(absl::StrCat(path, ": snapshot is damaged at byte ",
                                              reader->valid_end(),
                                              "; restore the data directory from a backup or "
                                              "remove it and re-materialize"));
    }
    snapshot_bytes_ = reader->valid_end();
  }
  return absl::OkStatus();
}

absl::Status EmbeddedOnlineStore::OpenLog(int64_t gen, bool create) {
  std::string path = GenPath(dir_, "log", gen);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open", path);
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size == 0) {
    absl::Status st = WriteAll(fd, std::string_view(online_log::kLogMagic, online_log::kMagicBytes),
                               path);
    if (st.ok() && ::fdatasync(fd) != 0) st = Errno("fdatasync", path);
    if (!st.ok()) {
      ::close(fd);
      return st;
    }
    size = online_log::kMagicBytes;
    if (create) CAIRN_RETURN_IF_ERROR(SyncDir(dir_));
  }
  if (log_fd_ >= 0) ::close(log_fd_);
  log_fd_ = fd;
  log_bytes_ = size;
  return absl::OkStatus();
}

absl::Status EmbeddedOnlineStore::Open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("online store: cannot create ", dir_, ": ", ec.message()));
  }
  // The newest snapshot names the generation; older files are leftovers of a compaction
  // that was interrupted after its snapshot was renamed into place.
  int64_t gen = 0;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("snapshot-", 0) == 0 && name.find('.') == std::string::npos) {
      gen = std::max<int64_t>(gen, std::strtoll(name.c_str() + 9, nullptr, 10));
    }
  }
  gen_ = gen;
  if (gen > 0) {
    CAIRN_RETURN_IF_ERROR(Replay(GenPath(dir_, "snapshot", gen), online_log::kSnapshotMagic,
                                 /*is_log=*/false));
  }
  std::string log_path = GenPath(dir_, "log", gen);
  absl::Status replayed = Replay(log_path, online_log::kLogMagic, /*is_log=*/true);
  if (!replayed.ok() && !absl::IsNotFound(replayed)) return replayed;
  CAIRN_RETURN_IF_ERROR(OpenLog(gen, /*create=*/absl::IsNotFound(replayed)));
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    bool stale = false;
    for (std::string_view kind : {"snapshot-", "log-"}) {
      if (name.rfind(kind, 0) == 0) {
        std::string rest = name.substr(kind.size());
        stale = rest.find('.') != std::string::npos ||  // an unfinished snapshot-<gen>.tmp
                std::strtoll(rest.c_str(), nullptr, 10) < gen;
      }
    }
    if (stale) fs::remove(entry.path(), ec);
  }
  return absl::OkStatus();
}

absl::Status EmbeddedOnlineStore::AppendToLog(std::string_view record) {
  if (!failed_.empty()) return absl::UnavailableError(failed_);
  std::string path = GenPath(dir_, "log", gen_);
  absl::Status st = WriteAll(log_fd_, record, path);
  if (st.ok() && options_.sync && ::fdatasync(log_fd_) != 0) st = Errno("fdatasync", path);
  if (!st.ok()) {
    // Remove a partial record so that later records do not follow garbage.
    if (::ftruncate(log_fd_, log_bytes_) != 0) {
      failed_ = absl::StrCat("online store: log ", path,
                             " could not be repaired after a failed write (", st.message(),
                             "); restart the server");
    }
    return st;
  }
  log_bytes_ += static_cast<int64_t>(record.size());
  return absl::OkStatus();
}

absl::Status EmbeddedOnlineStore::Write(std::string_view view, std::span<const std::string> keys,
                                        std::span<const OnlineRow> rows) {
  if (keys.size() != rows.size()) {
    return absl::InvalidArgumentError(absl::StrCat("online write to view '", ToAbsl(view),
                                                   "': ", keys.size(), " keys but ",
                                                   rows.size(), " rows"));
  }
  if (keys.empty()) return absl::OkStatus();
  absl::MutexLock write_lock(&write_mu_);
  std::shared_ptr<ViewTable> table = FindView(view);
  std::string payload;
  payload.push_back(static_cast<char>(kPut));
  PutBytes(view, &payload);
  std::string body;
  std::string encoded;
  uint64_t kept = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    encoded.clear();
    EncodeOnlineRow(rows[i], &encoded);
    if (table != nullptr) {
      // Rows older than what is stored would be ignored on replay too: do not log them.
      const ViewTable::Shard& shard = table->shard(ViewTable::ShardOf(keys[i]));
      absl::ReaderMutexLock lock(&shard.mu);
      auto it = shard.rows.find(keys[i]);
      if (it != shard.rows.end() && !RowVersionNewerOrEqual(encoded, it->second)) continue;
    }
    PutBytes(keys[i], &body);
    PutBytes(encoded, &body);
    ++kept;
  }
  if (kept == 0) return absl::OkStatus();
  PutVarint(kept, &payload);
  payload += body;
  body.clear();
  body.shrink_to_fit();
  std::string record;
  record.reserve(payload.size() + online_log::kHeaderBytes);
  online_log::AppendRecord(payload, &record);
  CAIRN_RETURN_IF_ERROR(AppendToLog(record));
  CAIRN_RETURN_IF_ERROR(ApplyPayload(payload));
  if (log_bytes_ > std::max(options_.compact_log_bytes, snapshot_bytes_)) {
    // The write is durable already; a failed compaction leaves the old generation whole.
    CAIRN_RETURN_IF_ERROR(Compact());
  }
  return absl::OkStatus();
}

absl::Status EmbeddedOnlineStore::DropView(std::string_view view) {
  absl::MutexLock write_lock(&write_mu_);
  if (FindView(view) == nullptr) return absl::OkStatus();
  std::string payload;
  payload.push_back(static_cast<char>(kDrop));
  PutBytes(view, &payload);
  std::string record;
  online_log::AppendRecord(payload, &record);
  CAIRN_RETURN_IF_ERROR(AppendToLog(record));
  return ApplyPayload(payload);
}

absl::Status EmbeddedOnlineStore::Compact() {
  int64_t next = gen_ + 1;
  std::string final_path = GenPath(dir_, "snapshot", next);
  std::string tmp_path = final_path + ".tmp";
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open", tmp_path);
  auto fail = [&](absl::Status st) {
    ::close(fd);
    ::unlink(tmp_path.c_str());
    return st;
  };
  std::string buffer(online_log::kSnapshotMagic, online_log::kMagicBytes);
  int64_t written = 0;
  std::vector<std::pair<std::string, std::shared_ptr<ViewTable>>> views;
  {
    absl::ReaderMutexLock lock(&views_mu_);
    for (const auto& [name, table] : views_) views.emplace_back(name, table);
  }
  for (const auto& [name, table] : views) {
    std::string payload;
    uint64_t count = 0;
    std::string body;
    auto flush = [&]() -> absl::Status {
      if (count == 0) return absl::OkStatus();
      payload.clear();
      payload.push_back(static_cast<char>(kPut));
      PutBytes(name, &payload);
      PutVarint(count, &payload);
      payload += body;
      online_log::AppendRecord(payload, &buffer);
      body.clear();
      count = 0;
      if (buffer.size() >= (4u << 20)) {
        CAIRN_RETURN_IF_ERROR(WriteAll(fd, buffer, tmp_path));
        written += static_cast<int64_t>(buffer.size());
        buffer.clear();
      }
      return absl::OkStatus();
    };
    for (size_t s = 0; s < ViewTable::kShards; ++s) {
      const ViewTable::Shard& shard = table->shard(s);
      absl::ReaderMutexLock lock(&shard.mu);
      for (const auto& [key, row] : shard.rows) {
        PutBytes(key, &body);
        PutBytes(row, &body);
        if (++count == kSnapshotRowsPerRecord) {
          absl::Status st = flush();
          if (!st.ok()) return fail(st);
        }
      }
    }
    absl::Status st = flush();
    if (!st.ok()) return fail(st);
  }
  absl::Status st = WriteAll(fd, buffer, tmp_path);
  written += static_cast<int64_t>(buffer.size());
  if (st.ok() && options_.sync && ::fsync(fd) != 0) st = Errno("fsync", tmp_path);
  if (!st.ok()) return fail(st);
  ::close(fd);
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    absl::Status renamed = Errno("rename", tmp_path);
    ::unlink(tmp_path.c_str());
    return renamed;
  }
  // From here the new snapshot is the state; the new log starts empty.
  int64_t old = gen_;
  gen_ = next;
  snapshot_bytes_ = written;
  CAIRN_RETURN_IF_ERROR(OpenLog(next, /*create=*/true));
  ::unlink(GenPath(dir_, "log", old).c_str());
  if (old > 0) ::unlink(GenPath(dir_, "snapshot", old).c_str());
  return absl::OkStatus();
}

absl::Status EmbeddedOnlineStore::Read(std::string_view view, std::span<const std::string> keys,
                                       std::vector<std::optional<OnlineRow>>* out) const {
  out->resize(keys.size());
  std::shared_ptr<ViewTable> table = FindView(view);
  for (size_t i = 0; i < keys.size(); ++i) {
    std::optional<OnlineRow>& slot = (*out)[i];
    if (table == nullptr) {
      slot.reset();
      continue;
    }
    const ViewTable::Shard& shard = table->shard(ViewTable::ShardOf(keys[i]));
    absl::ReaderMutexLock lock(&shard.mu);
    auto it = shard.rows.find(keys[i]);
    if (it == shard.rows.end()) {
      slot.reset();
      continue;
    }
    if (!slot.has_value()) slot.emplace();
    CAIRN_RETURN_IF_ERROR(DecodeOnlineRow(it->second, &*slot));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<OnlineStore>> OpenEmbeddedOnlineStore(
    std::string dir, const EmbeddedOnlineStoreOptions& options) {
  auto store = std::make_unique<EmbeddedOnlineStore>(std::move(dir), options);
  CAIRN_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<OnlineStore>(std::move(store));
}

}  // namespace cairn::features
