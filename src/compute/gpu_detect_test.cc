#include "compute/gpu_detect.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "compute/process_record.h"

namespace cairn::compute {
namespace {

TEST(ParseGpuListTest, DeviceNumbers) {
  EXPECT_EQ(*ParseGpuList("0,1,3"), (std::vector<int>{0, 1, 3}));
  EXPECT_EQ(*ParseGpuList(" 2 , 0 "), (std::vector<int>{0, 2}));
  EXPECT_EQ(*ParseGpuList(""), std::vector<int>{});
  EXPECT_EQ(*ParseGpuList("7"), std::vector<int>{7});
}

TEST(ParseGpuListTest, RefusesUuidsDuplicatesAndJunk) {
  absl::StatusOr<std::vector<int>> uuid = ParseGpuList("GPU-5f3c1a2b,1");
  ASSERT_EQ(uuid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(uuid.status().message()),
            "GPU list 'GPU-5f3c1a2b,1': entry 'GPU-5f3c1a2b' is not a device number; write "
            "device numbers separated by commas, e.g. 0,1");
  EXPECT_EQ(std::string(ParseGpuList("1,1").status().message()),
            "GPU list '1,1': device 1 is listed twice");
  EXPECT_EQ(ParseGpuList("0,,1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseGpuList("-1").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseNvidiaSmiListTest, ReadsIndices) {
  EXPECT_EQ(ParseNvidiaSmiList("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1d2f)\n"
                               "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-9a8b)\n"),
            (std::vector<int>{0, 1}));
  EXPECT_EQ(ParseNvidiaSmiList("  MIG 1g.10gb Device 0: (UUID: MIG-...)\nGPU 3: A100\n"),
            std::vector<int>{3});
  EXPECT_EQ(ParseNvidiaSmiList("No devices found.\n"), std::vector<int>{});
  EXPECT_EQ(ParseNvidiaSmiList(""), std::vector<int>{});
}

TEST(DetectGpusTest, CudaVisibleDevicesWins) {
  const char* saved = getenv("CUDA_VISIBLE_DEVICES");
  std::string saved_value = saved == nullptr ? "" : saved;
  setenv("CUDA_VISIBLE_DEVICES", "1,0", 1);
  GpuInventory inventory = DetectGpus();
  EXPECT_EQ(inventory.indices, (std::vector<int>{0, 1}));
  EXPECT_EQ(inventory.source, "CUDA_VISIBLE_DEVICES");
  setenv("CUDA_VISIBLE_DEVICES", "", 1);  // set but empty: no GPUs
  inventory = DetectGpus();
  EXPECT_TRUE(inventory.indices.empty());
  EXPECT_EQ(inventory.source, "CUDA_VISIBLE_DEVICES");
  if (saved == nullptr) {
    unsetenv("CUDA_VISIBLE_DEVICES");
  } else {
    setenv("CUDA_VISIBLE_DEVICES", saved_value.c_str(), 1);
  }
  EXPECT_EQ(FormatGpuList({0, 2}), "0,2");
  EXPECT_EQ(FormatGpuList({}), "");
}

TEST(JobRecordTest, ParsesEveryState) {
  absl::StatusOr<JobRecord> running = ParseJobRecord(
      "cairn-job 1 token=abc pid=42 starttime=777 start_ms=1700000000000 state=running "
      "gpus=0,2\n");
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->token, "abc");
  EXPECT_EQ(running->pid, 42);
  EXPECT_EQ(running->starttime, 777u);
  EXPECT_EQ(running->start_ms, 1700000000000);
  EXPECT_EQ(running->state, JobRecord::State::kRunning);
  EXPECT_EQ(running->gpus, (std::vector<int>{0, 2}));

  absl::StatusOr<JobRecord> exited = ParseJobRecord(
      "cairn-job 1 token=abc pid=42 starttime=777 start_ms=1 state=exited code=3 end_ms=9");
  ASSERT_TRUE(exited.ok()) << exited.status();
  EXPECT_EQ(exited->state, JobRecord::State::kExited);
  EXPECT_EQ(exited->exit_code, 3);
  EXPECT_EQ(exited->end_ms, 9);

  absl::StatusOr<JobRecord> signaled = ParseJobRecord(
      "cairn-job 1 token=abc pid=42 starttime=777 start_ms=1 state=signaled signal=9 end_ms=9");
  ASSERT_TRUE(signaled.ok());
  EXPECT_EQ(signaled->state, JobRecord::State::kSignaled);
  EXPECT_EQ(signaled->signal, 9);

  absl::StatusOr<JobRecord> launch = ParseJobRecord(
      "cairn-job 1 token=abc pid=42 starttime=777 start_ms=1 state=launch_error errno=2 "
      "end_ms=9");
  ASSERT_TRUE(launch.ok());
  EXPECT_EQ(launch->state, JobRecord::State::kLaunchError);
  EXPECT_EQ(launch->error, 2);
}

TEST(JobRecordTest, RefusesGarbage) {
  EXPECT_EQ(ParseJobRecord("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJobRecord("hello world").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJobRecord("cairn-job 1 token=a pid=1 starttime=1 start_ms=1 state=exited")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);  // no code, no end_ms
  EXPECT_EQ(ReadJobRecord("/nonexistent/x.status").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(JobRecordPath("/logs/train.log"), "/logs/train.log.status");
}

// The shim appends its end line to its start line; a line still being written is ignored.
TEST(JobRecordTest, ReadsTheLastCompleteLine) {
  char dir[] = "/tmp/job-record-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/a.log.status";
  auto write = [&](const std::string& text) {
    FILE* file = fopen(path.c_str(), "w");
    ASSERT_NE(file, nullptr);
    fputs(text.c_str(), file);
    fclose(file);
  };
  const std::string start = "cairn-job 1 token=t pid=5 starttime=7 start_ms=1 state=running gpus=\n";
  write("");
  EXPECT_EQ(ReadJobRecord(path).status().code(), absl::StatusCode::kNotFound);
  write("cairn-job 1 token=t pid=5 sta");
  EXPECT_EQ(ReadJobRecord(path).status().code(), absl::StatusCode::kNotFound);
  write(start + "cairn-job 1 token=t pid=5 starttime=7 start_ms=1 state=exi");
  absl::StatusOr<JobRecord> record = ReadJobRecord(path);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->state, JobRecord::State::kRunning);
  write(start + "cairn-job 1 token=t pid=5 starttime=7 start_ms=1 state=exited code=4 end_ms=9\n");
  record = ReadJobRecord(path);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->state, JobRecord::State::kExited);
  EXPECT_EQ(record->exit_code, 4);
  EXPECT_EQ(record->end_ms, 9);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace cairn::compute
