#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "features/offline/crc32c.h"
#include "features/offline/manifest.h"
#include "features/offline/segment_reader.h"
#include "features/offline/segment_writer.h"

namespace cairn::features::offline {
namespace {

namespace fs = std::filesystem;

TEST(Crc32cTest, MatchesTheRfc3720Vectors) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  // Incremental equals one-shot.
  EXPECT_EQ(Crc32c("6789", 4, Crc32c("12345", 5)), 0xE3069283u);
}

TEST(ManifestTest, SegmentFileNamesRoundTrip) {
  EXPECT_EQ(SegmentFileName(42), "seg-00000042.cseg");
  EXPECT_EQ(ParseSegmentFileName("seg-00000042.cseg"), 42u);
  EXPECT_EQ(ParseSegmentFileName("seg-00000042.cseg.tmp"), 0u);
  EXPECT_EQ(ParseSegmentFileName("MANIFEST"), 0u);
  EXPECT_EQ(ParseSegmentFileName("seg-4x.cseg"), 0u);
}

std::string TempPath() {
  std::string tmpl = (fs::temp_directory_path() / "cairn-seg-XXXXXX").string();
  int fd = ::mkstemp(tmpl.data());
  ::close(fd);
  return tmpl;
}

// Writes a small segment with every type, nulls and block_rows 5.
std::string WriteSample(const std::string& path) {
  Schema schema = {{"k", FeatureType::kInt64, true},
                   {"__event_ts", FeatureType::kTimestamp, false},
                   {"__created_ts", FeatureType::kTimestamp, true},
                   {"d", FeatureType::kDouble, true},
                   {"s", FeatureType::kString, true},
                   {"b", FeatureType::kBool, true}};
  Table t = Table::FromSchema(schema);
  for (int r = 0; r < 23; ++r) {
    t.columns[0].AppendInt(r / 4);
    t.columns[1].AppendInt(1000 + r);
    if (r % 5 == 0) t.columns[2].AppendNull(); else t.columns[2].AppendInt(r);
    if (r % 3 == 0) t.columns[3].AppendNull(); else t.columns[3].AppendDouble(r * 0.5 - 3);
    t.columns[4].AppendString(std::string(r % 4, static_cast<char>(r % 2 ? '\0' : 'q')));
    t.columns[5].AppendBool(r % 2);
  }
  auto w = SegmentWriter::Create(path, schema, {0}, {.block_rows = 5});
  EXPECT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE((*w)->Add(t).ok());
  EXPECT_TRUE((*w)->Finish().ok());
  return path;
}

TEST(SegmentTest, RoundTripsBlocksWithStatistics) {
  std::string path = WriteSample(TempPath());
  auto reader = SegmentReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const SegmentFooter& f = (*reader)->footer();
  EXPECT_EQ(f.num_rows, 23u);
  ASSERT_EQ(f.blocks.size(), 5u);
  EXPECT_EQ(f.blocks[4].rows, 3u);
  // Block 1 holds rows 5..9: event times 1005..1009, doubles null at rows 6 and 9.
  EXPECT_EQ(f.blocks[1].chunks[1].min, 1005);
  EXPECT_EQ(f.blocks[1].chunks[1].max, 1009);
  EXPECT_EQ(f.blocks[1].chunks[3].null_count, 2u);
  EXPECT_EQ(BitsToDouble(f.blocks[1].chunks[3].min), 5 * 0.5 - 3);
  EXPECT_EQ(BitsToDouble(f.blocks[1].chunks[3].max), 8 * 0.5 - 3);
  EXPECT_FALSE(f.blocks[1].chunks[4].has_minmax);
  ChunkScratch scratch;
  Column strings(FeatureType::kString), doubles(FeatureType::kDouble);
  ASSERT_TRUE((*reader)->ReadChunk(1, 4, &scratch, &strings).ok());
  ASSERT_TRUE((*reader)->ReadChunk(1, 3, &scratch, &doubles).ok());
  EXPECT_EQ(strings.strings[2], std::string(3, '\0'));  // row 7
  EXPECT_TRUE(doubles.IsNull(1));
  EXPECT_EQ(doubles.doubles[2], 7 * 0.5 - 3);
  fs::remove(path);
}

// Every single-byte change and every truncation of a segment either reads back the same
// rows or fails with DataLoss / FailedPrecondition; none crashes.
TEST(SegmentTest, DamageIsDetectedNeverACrash) {
  std::string path = WriteSample(TempPath());
  std::string good;
  {
    std::ifstream in(path, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto read_all = [&](const std::string& bytes) -> absl::Status {
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    auto reader = SegmentReader::Open(path);
    if (!reader.ok()) return reader.status();
    ChunkScratch scratch;
    const SegmentFooter& f = (*reader)->footer();
    for (size_t b = 0; b < f.blocks.size(); ++b) {
      for (size_t c = 0; c < f.schema.size(); ++c) {
        Column col(f.schema[c].type);
        absl::Status s = (*reader)->ReadChunk(b, c, &scratch, &col);
        if (!s.ok()) return s;
      }
    }
    return absl::OkStatus();
  };
  ASSERT_TRUE(read_all(good).ok());
  int detected = 0;
  for (size_t pos = 0; pos < good.size(); ++pos) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x5a);
    absl::Status s = read_all(bad);
    if (s.ok()) continue;  // e.g. the reserved flags word
    ++detected;
    EXPECT_TRUE(s.code() == absl::StatusCode::kDataLoss ||
                s.code() == absl::StatusCode::kFailedPrecondition)
        << "byte " << pos << ": " << s;
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(path));
  }
  EXPECT_GE(detected, static_cast<int>(good.size()) - 4);
  for (size_t len = 0; len < good.size(); len += 7) {
    absl::Status s = read_all(good.substr(0, len));
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "length " << len;
  }
  fs::remove(path);
}

}  // namespace
}  // namespace cairn::features::offline
