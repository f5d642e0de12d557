// One contract for every OnlineStore backend: the embedded store always, Redis when
// CAIRN_TEST_REDIS_URL names a server (required under CI).

#include <hiredis/hiredis.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "features/entity_key.h"
#include "features/online/online_store.h"
#include "features/online/online_test_support.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

std::string Key(int64_t id) {
  std::string out;
  EncodeKeyValue(Value(id), FeatureType::kInt64, &out);
  return out;
}

OnlineRow Row(int64_t event_ts, int64_t created_ts, std::vector<Value> values) {
  return OnlineRow{event_ts, created_ts, std::move(values)};
}

class OnlineStoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::random_device random;
    view_ = "contract_view_" + std::to_string(random()) + std::to_string(random());
    if (GetParam() == "redis") {
      CAIRN_REQUIRE_REDIS();
      auto store = OpenOnlineStore(test_support::TestRedisUrl(), "");
      ASSERT_TRUE(store.ok()) << store.status();
      store_ = std::move(*store);
    } else {
      dir_ = std::filesystem::temp_directory_path() /
             ("cairn-online-contract-" + std::to_string(random()));
      auto store = OpenOnlineStore("embedded", dir_.string());
      ASSERT_TRUE(store.ok()) << store.status();
      store_ = std::move(*store);
    }
  }
  void TearDown() override {
    if (store_ != nullptr) EXPECT_TRUE(store_->DropView(view_).ok());
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::vector<std::optional<OnlineRow>> ReadAll(const std::vector<std::string>& keys,
                                                const std::string& view) {
    std::vector<std::optional<OnlineRow>> out;
    absl::Status st = store_->Read(view, keys, &out);
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }
  std::vector<std::optional<OnlineRow>> ReadAll(const std::vector<std::string>& keys) {
    return ReadAll(keys, view_);
  }

  std::filesystem::path dir_;
  std::string view_;
  std::unique_ptr<OnlineStore> store_;
};

TEST_P(OnlineStoreContractTest, UnknownViewAndKeysReadAsAbsent) {
  auto rows = ReadAll({Key(1), Key(2)}, view_ + "_never_written");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].has_value());
  EXPECT_FALSE(rows[1].has_value());
  ASSERT_TRUE(store_->Write(view_, std::vector<std::string>{Key(1)},
                            std::vector<OnlineRow>{Row(1, 1, {Value(1.0)})})
                  .ok());
  rows = ReadAll({Key(2), Key(1)});
  EXPECT_FALSE(rows[0].has_value());
  ASSERT_TRUE(rows[1].has_value());
}

TEST_P(OnlineStoreContractTest, EveryValueTypeRoundTrips) {
  std::string binary("a\0b\xff", 4);
  OnlineRow row = Row(1'700'000'000'123, -5,
                      {Value(int64_t{-9'000'000'000'000'000'000}), Value(3.25), Value(binary),
                       Value(true), Value(false), Value(), Value(int64_t{1'700'000'000'000}),
                       Value(std::string())});
  std::vector<std::string> keys = {Key(42)};
  ASSERT_TRUE(store_->Write(view_, keys, std::vector<OnlineRow>{row}).ok());
  auto rows = ReadAll(keys);
  ASSERT_TRUE(rows[0].has_value());
  EXPECT_EQ(*rows[0], row);
}

TEST_P(OnlineStoreContractTest, NewerOrEqualVersionReplacesOlderIsIgnored) {
  std::vector<std::string> keys = {Key(7)};
  auto write = [&](int64_t ev, int64_t cr, double v) {
    ASSERT_TRUE(store_->Write(view_, keys, std::vector<OnlineRow>{Row(ev, cr, {Value(v)})}).ok());
  };
  auto current = [&] { return std::get<double>(ReadAll(keys)[0]->values[0]); };
  write(100, 5, 1.0);
  write(99, 9, 2.0);  // older event time: ignored
  EXPECT_EQ(current(), 1.0);
  write(100, 4, 3.0);  // same event time, older created time: ignored
  EXPECT_EQ(current(), 1.0);
  write(100, 5, 4.0);  // equal version: replaces
  EXPECT_EQ(current(), 4.0);
  write(100, 6, 5.0);
  EXPECT_EQ(current(), 5.0);
  write(-3, 0, 6.0);  // negative times order below positive ones
  EXPECT_EQ(current(), 5.0);
  write(101, 0, 7.0);
  EXPECT_EQ(current(), 7.0);
}

TEST_P(OnlineStoreContractTest, KeysAndRowsOfDifferentLengthsAreInvalid) {
  absl::Status st = store_->Write(view_, std::vector<std::string>{Key(1), Key(2)},
                                  std::vector<OnlineRow>{Row(1, 1, {})});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
}

TEST_P(OnlineStoreContractTest, LargeBatchesKeepEveryKey) {
  constexpr int kKeys = 5003;
  std::vector<std::string> keys;
  std::vector<OnlineRow> rows;
  for (int i = 0; i < kKeys; ++i) {
    keys.push_back(Key(i));
    rows.push_back(Row(i, 0, {Value(int64_t{i} * 3), Value("s" + std::to_string(i))}));
  }
  ASSERT_TRUE(store_->Write(view_, keys, rows).ok());
  auto got = ReadAll(keys);
  ASSERT_EQ(got.size(), keys.size());
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(got[i].has_value()) << i;
    EXPECT_EQ(*got[i], rows[i]) << i;
  }
}

TEST_P(OnlineStoreContractTest, DropViewRemovesOnlyThatView) {
  std::string other = view_ + "_other";
  std::vector<std::string> keys = {Key(1)};
  std::vector<OnlineRow> rows = {Row(1, 1, {Value(1.0)})};
  ASSERT_TRUE(store_->Write(view_, keys, rows).ok());
  ASSERT_TRUE(store_->Write(other, keys, rows).ok());
  ASSERT_TRUE(store_->DropView(view_).ok());
  EXPECT_FALSE(ReadAll(keys)[0].has_value());
  EXPECT_TRUE(ReadAll(keys, other)[0].has_value());
  ASSERT_TRUE(store_->DropView(other).ok());
  EXPECT_TRUE(store_->DropView(view_ + "_never_written").ok());
  // A dropped view can be written again.
  ASSERT_TRUE(store_->Write(view_, keys, rows).ok());
  EXPECT_TRUE(ReadAll(keys)[0].has_value());
}

TEST_P(OnlineStoreContractTest, ReadersSeeWholeRowsWhileAWriterUpdates) {
  constexpr int kKeys = 200;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back(Key(i));
  auto rows_at = [&](int64_t version) {
    std::vector<OnlineRow> rows;
    for (int i = 0; i < kKeys; ++i) rows.push_back(Row(version, 0, {Value(version), Value(version)}));
    return rows;
  };
  ASSERT_TRUE(store_->Write(view_, keys, rows_at(0)).ok());
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  std::atomic<int> torn{0};
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        std::vector<std::optional<OnlineRow>> out;
        if (!store_->Read(view_, keys, &out).ok()) {
          ++torn;
          continue;
        }
        for (const auto& row : out) {
          if (!row || row->values[0] != row->values[1] ||
              std::get<int64_t>(row->values[0]) != row->event_ts) {
            ++torn;
          }
        }
      }
    });
  }
  for (int64_t version = 1; version <= 20; ++version) {
    ASSERT_TRUE(store_->Write(view_, keys, rows_at(version)).ok());
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(ReadAll(keys)[kKeys - 1]->event_ts, 20);
}

INSTANTIATE_TEST_SUITE_P(Backends, OnlineStoreContractTest,
                         ::testing::Values("embedded", "redis"),
                         [](const auto& info) { return info.param; });

TEST(OpenOnlineStoreTest, UnknownUrlIsInvalidArgument) {
  auto store = OpenOnlineStore("memcached://x", "/tmp");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(store.status().message()).find("memcached://x"), std::string::npos);
  store = OpenOnlineStore("redis://host:notaport", "/tmp");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OpenOnlineStoreTest, UnreachableRedisIsUnavailableNamingTheServer) {
  // Port 1 on loopback: nothing listens there.
  auto store = OpenOnlineStore("redis://127.0.0.1:1", "/tmp");
  ASSERT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  EXPECT_NE(std::string(store.status().message()).find("redis 127.0.0.1:1"), std::string::npos)
      << store.status();
}

TEST(RedisOnlineStoreTest, ReconnectsAfterTheServerDropsItsConnections) {
  CAIRN_REQUIRE_REDIS();
  auto store = OpenOnlineStore(test_support::TestRedisUrl(), "");
  ASSERT_TRUE(store.ok()) << store.status();
  std::string view = "reconnect_view_" + std::to_string(std::random_device()());
  std::vector<std::string> keys = {Key(1)};
  ASSERT_TRUE((*store)->Write(view, keys, std::vector<OnlineRow>{Row(1, 1, {Value(2.0)})}).ok());
  // Kill every other client connection (the store's pooled one included).
  std::string url = test_support::TestRedisUrl();
  std::string hostport = url.substr(8, url.find('/', 8) - 8);
  std::string host = hostport.substr(0, hostport.rfind(':'));
  int port = std::stoi(hostport.substr(hostport.rfind(':') + 1));
  redisContext* admin = redisConnect(host.c_str(), port);
  ASSERT_TRUE(admin != nullptr && admin->err == 0);
  auto* killed =
      static_cast<redisReply*>(redisCommand(admin, "CLIENT KILL TYPE normal SKIPME yes"));
  ASSERT_NE(killed, nullptr);
  EXPECT_GE(killed->integer, 1);
  freeReplyObject(killed);
  redisFree(admin);
  std::vector<std::optional<OnlineRow>> out;
  absl::Status st = (*store)->Read(view, keys, &out);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_TRUE(out[0].has_value());
  EXPECT_EQ(std::get<double>(out[0]->values[0]), 2.0);
  EXPECT_TRUE((*store)->DropView(view).ok());
}

}  // namespace
}  // namespace cairn::features
