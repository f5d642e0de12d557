// Durability of the embedded online store: restarts, torn tails after a crash (a real
// kill -9 of a writing child process, and hand-made tears), compaction.

#include "features/online/embedded_online_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "features/entity_key.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

namespace fs = std::filesystem;

std::string Key(int64_t id) {
  std::string out;
  EncodeKeyValue(Value(id), FeatureType::kInt64, &out);
  return out;
}

class EmbeddedOnlineStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cairn-online-embedded-" + std::to_string(std::random_device()()));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<OnlineStore> Open(EmbeddedOnlineStoreOptions options = {}) {
    auto store = OpenEmbeddedOnlineStore(dir_.string(), options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Writes batch `b`: keys b*10 .. b*10+9 with value b.
  static absl::Status WriteBatch(OnlineStore& store, int64_t b) {
    std::vector<std::string> keys;
    std::vector<OnlineRow> rows;
    for (int64_t i = 0; i < 10; ++i) {
      keys.push_back(Key(b * 10 + i));
      rows.push_back(OnlineRow{b, 0, {Value(b), Value(std::string(20, 'v'))}});
    }
    return store.Write("v", keys, rows);
  }

  static bool HasBatch(const OnlineStore& store, int64_t b) {
    std::vector<std::string> keys;
    for (int64_t i = 0; i < 10; ++i) keys.push_back(Key(b * 10 + i));
    std::vector<std::optional<OnlineRow>> out;
    EXPECT_TRUE(store.Read("v", keys, &out).ok());
    int present = 0;
    for (const auto& row : out) {
      if (row && std::get<int64_t>(row->values[0]) == b) ++present;
    }
    EXPECT_TRUE(present == 0 || present == 10) << "batch " << b << " half applied";
    return present == 10;
  }

  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

TEST_F(EmbeddedOnlineStoreTest, RowsSurviveARestart) {
  {
    auto store = Open();
    for (int b = 0; b < 5; ++b) ASSERT_TRUE(WriteBatch(*store, b).ok());
    ASSERT_TRUE(store->DropView("gone").ok());
  }
  auto store = Open();
  for (int b = 0; b < 5; ++b) EXPECT_TRUE(HasBatch(*store, b)) << b;
  EXPECT_FALSE(HasBatch(*store, 5));
}

TEST_F(EmbeddedOnlineStoreTest, TornTailIsCutOffAndWritingGoesOn) {
  {
    auto store = Open();
    for (int b = 0; b < 3; ++b) ASSERT_TRUE(WriteBatch(*store, b).ok());
  }
  fs::path log = dir_ / "log-0";
  uintmax_t size = fs::file_size(log);
  fs::resize_file(log, size - 7);  // the last record loses its end
  {
    auto store = Open();
    EXPECT_TRUE(HasBatch(*store, 0));
    EXPECT_TRUE(HasBatch(*store, 1));
    EXPECT_FALSE(HasBatch(*store, 2));
    ASSERT_TRUE(WriteBatch(*store, 3).ok());
  }
  auto store = Open();
  EXPECT_TRUE(HasBatch(*store, 1));
  EXPECT_FALSE(HasBatch(*store, 2));
  EXPECT_TRUE(HasBatch(*store, 3));
}

TEST_F(EmbeddedOnlineStoreTest, RecordWithBadChecksumAtTheEndIsDropped) {
  {
    auto store = Open();
    for (int b = 0; b < 2; ++b) ASSERT_TRUE(WriteBatch(*store, b).ok());
  }
  fs::path log = dir_ / "log-0";
  {
    std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x5a');
  }
  {
    std::ofstream f(log, std::ios::app | std::ios::binary);
    f << "garbage after the tear";
  }
  auto store = Open();
  EXPECT_TRUE(HasBatch(*store, 0));
  EXPECT_FALSE(HasBatch(*store, 1));
  ASSERT_TRUE(WriteBatch(*store, 4).ok());
  store.reset();
  store = Open();
  EXPECT_TRUE(HasBatch(*store, 4));
}

TEST_F(EmbeddedOnlineStoreTest, AcknowledgedWritesSurviveKillMinus9) {
  int acks[2];
  ASSERT_EQ(pipe(acks), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(acks[0]);
    auto store = OpenEmbeddedOnlineStore(dir_.string(), {.compact_log_bytes = 16 << 10});
    if (!store.ok()) _exit(2);
    for (int32_t b = 0;; ++b) {
      if (!WriteBatch(**store, b).ok()) _exit(3);
      if (write(acks[1], &b, sizeof b) != sizeof b) _exit(4);
    }
  }
  close(acks[1]);
  int32_t last = -1;
  int32_t b;
  // Let it run through a few compactions, then kill it in the middle of whatever it does.
  while (last < 300 && read(acks[0], &b, sizeof b) == sizeof b) last = b;
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  close(acks[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int32_t i = 0; i <= last; ++i) ASSERT_TRUE(HasBatch(*store, i)) << i;
}

TEST_F(EmbeddedOnlineStoreTest, CompactionBoundsTheFilesAndKeepsTheState) {
  {
    auto store = Open({.compact_log_bytes = 4096});
    for (int round = 0; round < 50; ++round) {
      for (int b = 0; b < 4; ++b) {
        std::vector<std::string> keys;
        std::vector<OnlineRow> rows;
        for (int64_t i = 0; i < 10; ++i) {
          keys.push_back(Key(b * 10 + i));
          rows.push_back(OnlineRow{round, 0, {Value(int64_t{b}), Value(int64_t{round})}});
        }
        ASSERT_TRUE(store->Write("v", keys, rows).ok());
        ASSERT_TRUE(store->Write("w", keys, rows).ok());
      }
    }
    ASSERT_TRUE(store->DropView("w").ok());
    std::vector<std::string> files = Files();
    ASSERT_EQ(files.size(), 2u) << files[0];
    EXPECT_EQ(files[0].substr(0, 4), "log-");
    EXPECT_EQ(files[1].substr(0, 9), "snapshot-");
    EXPECT_NE(files[0], "log-0");
    uintmax_t total = 0;
    for (const auto& f : files) total += fs::file_size(dir_ / f);
    EXPECT_LT(total, 3 * 4096u);
  }
  auto store = Open({.compact_log_bytes = 4096});
  std::vector<std::string> keys;
  for (int64_t i = 0; i < 40; ++i) keys.push_back(Key(i));
  std::vector<std::optional<OnlineRow>> out;
  ASSERT_TRUE(store->Read("v", keys, &out).ok());
  for (const auto& row : out) {
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->event_ts, 49);
    EXPECT_EQ(std::get<int64_t>(row->values[1]), 49);
  }
  ASSERT_TRUE(store->Read("w", keys, &out).ok());
  EXPECT_FALSE(out[0].has_value());
}

TEST_F(EmbeddedOnlineStoreTest, DamagedSnapshotIsDataLoss) {
  {
    auto store = Open({.compact_log_bytes = 1024});
    for (int b = 0; b < 30; ++b) ASSERT_TRUE(WriteBatch(*store, b).ok());
  }
  fs::path snapshot;
  for (const auto& name : Files()) {
    if (name.rfind("snapshot-", 0) == 0) snapshot = dir_ / name;
  }
  ASSERT_FALSE(snapshot.empty());
  fs::resize_file(snapshot, fs::file_size(snapshot) - 5);
  auto store = OpenEmbeddedOnlineStore(dir_.string(), {.compact_log_bytes = 1024});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
}

TEST_F(EmbeddedOnlineStoreTest, NotAStoreFileIsDataLoss) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "log-0") << "hello, this is not a log";
  auto store = OpenEmbeddedOnlineStore(dir_.string());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
}

}  // namespace
}  // namespace cairn::features
