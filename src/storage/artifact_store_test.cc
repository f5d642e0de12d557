#include "storage/artifact_store.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/ids.h"
#include "gtest/gtest.h"

namespace cairn::storage {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class ArtifactStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("cairn-artifacts-" + NewUuidHex());
    fs::create_directories(base_);
    store_ = std::make_unique<ArtifactStore>((base_ / "artifacts").string());
  }
  void TearDown() override { fs::remove_all(base_); }

  // Writes `bytes` into a new file of the store's temp dir (as the HTTP server does).
  std::string TempUpload(const std::string& bytes) {
    std::string path = store_->TempDir() + "/upload-" + NewUuidHex();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  fs::path base_;
  std::unique_ptr<ArtifactStore> store_;
};

TEST_F(ArtifactStoreTest, ConstructorCreatesRootAndTempDir) {
  EXPECT_TRUE(fs::is_directory(base_ / "artifacts"));
  EXPECT_TRUE(fs::is_directory(store_->TempDir()));
}

TEST_F(ArtifactStoreTest, RelativePathOfUriAcceptsProxyForms) {
  EXPECT_EQ(*ArtifactStore::RelativePathOfUri("mlflow-artifacts:/1/abc/artifacts"),
            "1/abc/artifacts");
  EXPECT_EQ(*ArtifactStore::RelativePathOfUri("mlflow-artifacts:///1/abc"), "1/abc");
  EXPECT_EQ(*ArtifactStore::RelativePathOfUri("mlflow-artifacts://host:5000/1/abc/"), "1/abc");
  EXPECT_EQ(*ArtifactStore::RelativePathOfUri("mlflow-artifacts:/"), "");
}

TEST_F(ArtifactStoreTest, RelativePathOfUriRejectsOtherSchemes) {
  for (const char* uri : {"s3://bucket/1/abc", "file:///tmp/x", "/tmp/x", "", "mlflow-artifact:/1"}) {
    EXPECT_EQ(ArtifactStore::RelativePathOfUri(uri).status().code(),
              absl::StatusCode::kInvalidArgument)
        << uri;
  }
}

TEST_F(ArtifactStoreTest, PutFileThenReadRoundTrips) {
  std::string upload = TempUpload("model bytes");
  ASSERT_TRUE(store_->PutFile("1/run/artifacts/model/model.pkl", upload).ok());
  EXPECT_FALSE(fs::exists(upload));  // moved, not copied
  absl::StatusOr<std::string> path = store_->FileForRead("1/run/artifacts/model/model.pkl");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadAll(*path), "model bytes");
}

TEST_F(ArtifactStoreTest, PutFileFromAnotherFilesystemCopiesThenRenames) {
  // /dev/shm is tmpfs on Linux: rename(2) from there into the store fails with EXDEV.
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  std::string source = "/dev/shm/cairn-artifact-" + NewUuidHex();
  std::ofstream(source, std::ios::binary) << "elsewhere";
  ASSERT_TRUE(store_->PutFile("1/x.bin", source).ok());
  EXPECT_EQ(ReadAll(*store_->FileForRead("1/x.bin")), "elsewhere");
  EXPECT_FALSE(fs::exists(source));
  EXPECT_TRUE(fs::is_empty(store_->TempDir()));
}

TEST_F(ArtifactStoreTest, ConcurrentWritersOfOnePathLeaveOneWholeFile) {
  constexpr int kWriters = 8;
  std::vector<std::string> contents;
  for (int writer_idx = 0; writer_idx < kWriters; ++writer_idx)
    contents.push_back(std::string(64 * 1024, static_cast<char>('a' + writer_idx)));
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kWriters);
  for (int writer_idx = 0; writer_idx < kWriters; ++writer_idx) {
    threads.emplace_back([&, writer_idx] {
      results[writer_idx] = store_->PutBytes("1/run/artifacts/shared/model.bin", contents[writer_idx]);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : results) EXPECT_TRUE(status.ok()) << status;
  std::string final_content = ReadAll(*store_->FileForRead("1/run/artifacts/shared/model.bin"));
  EXPECT_NE(std::find(contents.begin(), contents.end(), final_content), contents.end());
  EXPECT_TRUE(fs::is_empty(store_->TempDir()));
}

TEST_F(ArtifactStoreTest, PutBytesOverwritesExistingFile) {
  ASSERT_TRUE(store_->PutBytes("a/b.txt", "first").ok());
  ASSERT_TRUE(store_->PutBytes("a/b.txt", "second").ok());
  EXPECT_EQ(ReadAll(*store_->FileForRead("a/b.txt")), "second");
  // No temp files are left behind.
  EXPECT_TRUE(fs::is_empty(store_->TempDir()));
}

TEST_F(ArtifactStoreTest, PutOntoDirectoryIsInvalidArgument) {
  ASSERT_TRUE(store_->PutBytes("a/b.txt", "x").ok());
  EXPECT_EQ(store_->PutBytes("a", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PutBytes("", "x").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ArtifactStoreTest, PutBelowAFileIsInvalidArgument) {
  ASSERT_TRUE(store_->PutBytes("a/b.txt", "x").ok());
  EXPECT_EQ(store_->PutBytes("a/b.txt/c", "x").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ArtifactStoreTest, FileForReadMissingOrDirectoryIsNotFound) {
  EXPECT_EQ(store_->FileForRead("nothing/here").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->PutBytes("dir/file", "x").ok());
  EXPECT_EQ(store_->FileForRead("dir").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ArtifactStoreTest, ListGivesDirectChildrenSortedWithSizes) {
  ASSERT_TRUE(store_->PutBytes("1/run/artifacts/b.txt", "12345").ok());
  ASSERT_TRUE(store_->PutBytes("1/run/artifacts/a/nested.txt", "x").ok());
  absl::StatusOr<std::vector<ArtifactStore::FileInfo>> files =
      store_->List("1/run/artifacts");
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].path, "1/run/artifacts/a");
  EXPECT_TRUE((*files)[0].is_dir);
  EXPECT_EQ((*files)[1].path, "1/run/artifacts/b.txt");
  EXPECT_FALSE((*files)[1].is_dir);
  EXPECT_EQ((*files)[1].file_size, 5);
}

TEST_F(ArtifactStoreTest, ListRootHidesTempDir) {
  ASSERT_TRUE(store_->PutBytes("1/x", "x").ok());
  absl::StatusOr<std::vector<ArtifactStore::FileInfo>> files = store_->List("");
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].path, "1");
}

TEST_F(ArtifactStoreTest, ListMissingDirectoryIsEmpty) {
  absl::StatusOr<std::vector<ArtifactStore::FileInfo>> files = store_->List("no/such/dir");
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(files->empty());
}

TEST_F(ArtifactStoreTest, DeleteRemovesFileAndTree) {
  ASSERT_TRUE(store_->PutBytes("1/run/artifacts/a.txt", "x").ok());
  ASSERT_TRUE(store_->PutBytes("1/run/artifacts/d/b.txt", "x").ok());
  ASSERT_TRUE(store_->Delete("1/run/artifacts/a.txt").ok());
  EXPECT_EQ(store_->FileForRead("1/run/artifacts/a.txt").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->Delete("1/run/artifacts/d").ok());
  EXPECT_TRUE(store_->List("1/run/artifacts")->empty());
  EXPECT_EQ(store_->Delete("1/run/artifacts/d").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ArtifactStoreTest, TraversalAttemptsAreInvalidArgument) {
  const std::string cases[] = {
      "..",           "../x",        "a/../../x", "a/..",  "/etc/passwd", "a\\..\\b",
      "a\\b",         std::string("a\0b", 3),     ".tmp/upload", "./.tmp/x", "a#b",
  };
  for (const std::string& path : cases) {
    EXPECT_EQ(store_->Resolve(path).status().code(), absl::StatusCode::kInvalidArgument)
        << path;
    EXPECT_EQ(store_->PutBytes(path, "x").code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(store_->FileForRead(path).status().code(), absl::StatusCode::kInvalidArgument)
        << path;
    EXPECT_EQ(store_->Delete(path).code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(store_->List(path).status().code(), absl::StatusCode::kInvalidArgument) << path;
  }
}

TEST_F(ArtifactStoreTest, ResolveNormalizesHarmlessSegments) {
  absl::StatusOr<std::string> path = store_->Resolve("./a//b/./c");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, store_->root() + "/a/b/c");
  EXPECT_EQ(*store_->Resolve(""), store_->root());
}

TEST_F(ArtifactStoreTest, SymlinkOutOfRootIsInvalidArgument) {
  fs::path outside = base_ / "outside";
  fs::create_directories(outside);
  std::ofstream(outside / "secret.txt") << "secret";
  fs::create_directories(fs::path(store_->root()) / "1");
  fs::create_directory_symlink(outside, fs::path(store_->root()) / "1" / "escape");
  fs::create_symlink(outside / "secret.txt", fs::path(store_->root()) / "1" / "secret-link");

  EXPECT_EQ(store_->FileForRead("1/escape/secret.txt").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->FileForRead("1/secret-link").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PutBytes("1/escape/new.txt", "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(outside / "new.txt"));
  EXPECT_EQ(store_->List("1/escape").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Delete("1/escape/secret.txt").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::exists(outside / "secret.txt"));
}

TEST_F(ArtifactStoreTest, SymlinkInsideRootIsAllowed) {
  ASSERT_TRUE(store_->PutBytes("1/real/file.txt", "inside").ok());
  fs::create_directory_symlink(fs::path(store_->root()) / "1" / "real",
                               fs::path(store_->root()) / "1" / "alias");
  absl::StatusOr<std::string> path = store_->FileForRead("1/alias/file.txt");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadAll(*path), "inside");
}

TEST_F(ArtifactStoreTest, DanglingSymlinkIsInvalidArgument) {
  fs::create_directories(fs::path(store_->root()) / "1");
  fs::create_symlink(base_ / "does-not-exist", fs::path(store_->root()) / "1" / "dangling");
  EXPECT_EQ(store_->PutBytes("1/dangling", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(base_ / "does-not-exist"));
}

}  // namespace
}  // namespace cairn::storage
