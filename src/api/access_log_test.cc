#include "api/access_log.h"

#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::api {
namespace {

std::string Formatted(std::chrono::system_clock::time_point time) {
  std::string out;
  AppendLogTimestamp(time, &out);
  return out;
}

// cairn::Log's format (common/log.cc).
std::string AbslFormatted(std::chrono::system_clock::time_point time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(time), absl::UTCTimeZone());
}

TEST(AccessLogTest, TimestampsAsLogWritesThem) {
  using std::chrono::nanoseconds;
  using std::chrono::system_clock;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> nanos(-2'000'000'000'000'000'000,
                                               4'000'000'000'000'000'000);
  std::vector<system_clock::time_point> times = {
      system_clock::time_point(), system_clock::now(),
      system_clock::time_point(nanoseconds(999'999'999)),
      system_clock::time_point(nanoseconds(-1)), system_clock::time_point(nanoseconds(-1'000'000)),
      system_clock::time_point(nanoseconds(1'796'000'000'999'000'000))};
  for (int time_idx = 0; time_idx < 20000; ++time_idx) {
    times.push_back(system_clock::time_point(nanoseconds(nanos(rng))));
  }
  // Consecutive times within one second use the cached part.
  const auto base = system_clock::now();
  for (int step = 0; step < 3000; ++step) times.push_back(base + nanoseconds(step * 777'777LL));
  for (const auto& time : times) {
    ASSERT_EQ(Formatted(time), AbslFormatted(time)) << time.time_since_epoch().count();
  }
}

TEST(AccessLogTest, EveryLineWholeAndInOrderAfterDestruction) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  constexpr int kThreads = 4;
  constexpr int kLines = 5000;  // several batches of 32 KiB
  {
    AccessLog log(file);
    std::vector<std::thread> threads;
    for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
      threads.emplace_back([&log, thread_idx] {
        for (int line_idx = 0; line_idx < kLines; ++line_idx) {
          log.Write(absl::StrCat("GET /t", thread_idx, " 200 2 0.010ms 127.0.0.1 #", line_idx));
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  std::fseek(file, 0, SEEK_END);
  std::string text(static_cast<size_t>(std::ftell(file)), '\0');
  std::rewind(file);
  ASSERT_EQ(std::fread(text.data(), 1, text.size(), file), text.size());
  std::fclose(file);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLines));
  std::vector<int> next(kThreads, 0);
  for (const std::string& line : lines) {
    ASSERT_THAT(line, ::testing::MatchesRegex(
                          "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z INFO GET /t[0-9] 200 2 "
                          "0\\.010ms 127\\.0\\.0\\.1 #[0-9]+"));
    const int thread_idx = line[line.find("/t") + 2] - '0';
    EXPECT_EQ(line.substr(line.find('#') + 1), std::to_string(next[thread_idx]));
    ++next[thread_idx];
  }
}

TEST(AccessLogTest, FlushWritesWhatWasAdded) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  AccessLog log(file);
  log.Write("one");
  log.Flush();
  std::fseek(file, 0, SEEK_END);
  const long size = std::ftell(file);
  std::rewind(file);
  std::string text(static_cast<size_t>(size), '\0');
  ASSERT_EQ(std::fread(text.data(), 1, text.size(), file), text.size());
  EXPECT_THAT(text, ::testing::EndsWith(" INFO one\n"));
  log.Flush();  // nothing new: writes nothing
  std::fseek(file, 0, SEEK_END);
  EXPECT_EQ(std::ftell(file), size);
}

}  // namespace
}  // namespace cairn::api
