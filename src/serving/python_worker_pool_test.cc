#include "serving/python_worker_pool.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::serving {
namespace {

using ::testing::HasSubstr;

// Saves the test models with the real MLflow: a scikit-learn logistic regression
// (predict_proba, with a signature) and two custom pyfunc models.
constexpr char kMakeModels[] = R"py(
import json, os, sys, time
import numpy as np, pandas as pd
import mlflow.pyfunc, mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

out = sys.argv[1]
rng = np.random.default_rng(7)
X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
y = (X["a"] + 0.5 * X["b"] - X["c"] > 0).astype(int)
clf = LogisticRegression().fit(X, y)
mlflow.sklearn.save_model(clf, os.path.join(out, "sklearn"), pyfunc_predict_fn="predict_proba",
                          signature=infer_signature(X, clf.predict_proba(X)))
rows = pd.DataFrame([[0.5, 1.0, -1.0], [2.0, -0.5, 0.3], [1.0, 2.0, 3.0]], columns=["a", "b", "c"])
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(clf.predict_proba(rows)[:, 1].tolist(), f)

class Ctl(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        import json, os, time
        if "describe" in model_input.columns:
            raise ValueError("frame " + json.dumps(
                {c: [str(model_input[c].dtype), model_input[c].tolist()]
                 for c in model_input.columns if c != "describe"}, default=str))
        out = []
        for _, row in model_input.iterrows():
            if "crash" in row and row["crash"] == 1:
                os._exit(3)
            if "fail" in row and row["fail"] == 1:
                raise ValueError("boom")
            if "touch" in row and isinstance(row["touch"], str):
                open(row["touch"], "w").close()
            if "wait_file" in row and isinstance(row["wait_file"], str):
                while not os.path.exists(row["wait_file"]):
                    time.sleep(0.005)
            out.append(float(row["x"]) * 2)
        return out

class Broken(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        raise RuntimeError("cannot load the weights")
    def predict(self, context, model_input, params=None):
        return []

mlflow.pyfunc.save_model(os.path.join(out, "ctl"), python_model=Ctl())
mlflow.pyfunc.save_model(os.path.join(out, "broken"), python_model=Broken())
)py";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Polls `done` until it holds or 60 s pass.
bool Eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// Processes whose command line names `needle` (the zygote and its workers carry the model
// directory as their last argument).
int CountProcessesNaming(const std::string& needle) {
  int count = 0;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    std::string cmdline = Slurp(std::string("/proc/") + entry->d_name + "/cmdline");
    if (cmdline.find(needle) != std::string::npos) ++count;
  }
  closedir(proc);
  return count;
}

// The pid of this process's child whose command line names `needle` (a pool's zygote:
// its workers are the zygote's children), or -1.
pid_t ChildNaming(const std::string& needle) {
  pid_t found = -1;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    std::string base = std::string("/proc/") + entry->d_name;
    std::string stat = Slurp(base + "/stat");  // pid (comm) state ppid …
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 1));
    std::string state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid == getpid() && Slurp(base + "/cmdline").find(needle) != std::string::npos) {
      found = static_cast<pid_t>(std::stol(entry->d_name));
    }
  }
  closedir(proc);
  return found;
}

// The scaling events of one pool, as its on_scaling reports them.
class EventLog {
 public:
  std::function<void(const ScalingEvent&)> Sink() {
    return [this](const ScalingEvent& event) {
      absl::MutexLock lock(&mu_);
      events_.push_back(event);
    };
  }
  std::vector<ScalingEvent> Get() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  size_t Size() { return Get().size(); }

 private:
  absl::Mutex mu_;
  std::vector<ScalingEvent> events_ ABSL_GUARDED_BY(mu_);
};

// Six zygotes import MLflow at once on a loaded 2-core machine: generous.
constexpr int64_t kStartupTimeoutMs = 600'000;

// The deadline pool's: long enough for a fork and a predict on a loaded machine; each
// deadline test waits it out once or twice.
constexpr int64_t kRequestTimeoutMs = 5'000;

// Every zygote imports MLflow (seconds of CPU), so the suite starts its pools once, all
// at the same time, and the tests share them; each test leaves its pool idle.
struct Pools {
  FakeClock clock;
  FakeClock zero_clock;  // the idle_zero pool's
  EventLog sklearn_events, ctl_events, scaling_events, min_zero_events, deadline_events,
      idle_zero_events;
  std::unique_ptr<ModelRuntime> sklearn;   // min 1, max 1
  std::unique_ptr<ModelRuntime> ctl;       // min 1, max 1, queue 1, input_columns {x}
  std::unique_ptr<ModelRuntime> scaling;   // min 1, max 3, fake clock, idle 1 s
  std::unique_ptr<ModelRuntime> min_zero;  // min 0, max 2
  std::unique_ptr<ModelRuntime> shutdown;  // min 2, max 2, its own copy of the model
  std::unique_ptr<ModelRuntime> deadline;  // min 1, max 1, request timeout 5 s, own copy
  std::unique_ptr<ModelRuntime> idle_zero;  // min 0, max 1, fake clock, idle 1 s, own copy
  absl::Status broken;                     // StartPythonRuntime of the model that cannot load
  std::vector<absl::Status> errors;
};

class PythonWorkerPoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/cairn-pypool-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    std::ofstream(*dir_ + "/make_models.py") << kMakeModels;
    std::string command =
        "python3 " + *dir_ + "/make_models.py " + *dir_ + " 2>" + *dir_ + "/make_models.log";
    ASSERT_EQ(std::system(command.c_str()), 0) << Slurp(*dir_ + "/make_models.log");
    std::filesystem::copy(*dir_ + "/ctl", *dir_ + "/ctl-shutdown",
                          std::filesystem::copy_options::recursive);
    std::filesystem::copy(*dir_ + "/ctl", *dir_ + "/ctl-deadline",
                          std::filesystem::copy_options::recursive);
    std::filesystem::copy(*dir_ + "/ctl", *dir_ + "/ctl-zero",
                          std::filesystem::copy_options::recursive);

    pools_ = new Pools;
    Pools& p = *pools_;
    absl::Mutex mu;
    auto start = [&](std::unique_ptr<ModelRuntime>* slot, ModelInfo info,
                     PythonPoolOptions options) {
      auto runtime = StartPythonRuntime(info, options);
      absl::MutexLock lock(&mu);
      if (runtime.ok()) {
        *slot = std::move(*runtime);
      } else {
        p.errors.push_back(runtime.status());
      }
    };
    std::vector<std::thread> starts;
    starts.emplace_back(start, &p.sklearn, Info("sklearn"), Options(1, 1, p.sklearn_events));
    ModelInfo ctl = Info("ctl");
    ctl.input_columns = {"x"};
    PythonPoolOptions ctl_options = Options(1, 1, p.ctl_events);
    ctl_options.max_queue_per_replica = 1;
    starts.emplace_back(start, &p.ctl, ctl, ctl_options);
    PythonPoolOptions scaling = Options(1, 3, p.scaling_events);
    scaling.clock = &p.clock;
    scaling.scale_down_idle_ms = 1'000;
    starts.emplace_back(start, &p.scaling, Info("ctl"), scaling);
    starts.emplace_back(start, &p.min_zero, Info("ctl"), Options(0, 2, p.min_zero_events));
    starts.emplace_back(
        start, &p.shutdown, Info("ctl-shutdown"),
        PythonPoolOptions{
            .min_replicas = 2, .max_replicas = 2, .startup_timeout_ms = kStartupTimeoutMs});
    PythonPoolOptions deadline = Options(1, 1, p.deadline_events);
    deadline.request_timeout_ms = kRequestTimeoutMs;
    starts.emplace_back(start, &p.deadline, Info("ctl-deadline"), deadline);
    PythonPoolOptions idle_zero = Options(0, 1, p.idle_zero_events);
    idle_zero.clock = &p.zero_clock;
    idle_zero.scale_down_idle_ms = 1'000;
    starts.emplace_back(start, &p.idle_zero, Info("ctl-zero"), idle_zero);
    starts.emplace_back([&] {
      auto runtime = StartPythonRuntime(Info("broken"),
                                        PythonPoolOptions{.startup_timeout_ms = kStartupTimeoutMs});
      absl::MutexLock lock(&mu);
      p.broken = runtime.status();
    });
    for (auto& thread : starts) thread.join();
    for (const absl::Status& error : p.errors) ADD_FAILURE() << error;
  }
  static void TearDownTestSuite() {
    delete pools_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  static ModelInfo Info(const std::string& name) {
    ModelInfo info;
    info.model_dir = *dir_ + "/" + name;
    info.flavor = "python_function";
    return info;
  }

  static PythonPoolOptions Options(int min_replicas, int max_replicas, EventLog& events) {
    PythonPoolOptions options;
    options.min_replicas = min_replicas;
    options.max_replicas = max_replicas;
    options.endpoint = "churn";
    options.on_scaling = events.Sink();
    options.startup_timeout_ms = kStartupTimeoutMs;
    return options;
  }

  static ModelInput Ctl(double x, std::vector<std::pair<std::string, features::Value>> extra = {}) {
    ModelInput input;
    input.columns = {"x"};
    input.cells = {x};
    for (auto& [name, value] : extra) {
      input.columns.push_back(name);
      input.cells.push_back(value);
    }
    input.rows = 1;
    return input;
  }

  static std::string* dir_;
  static Pools* pools_;
};
std::string* PythonWorkerPoolTest::dir_ = nullptr;
Pools* PythonWorkerPoolTest::pools_ = nullptr;

TEST_F(PythonWorkerPoolTest, PredictsWhatScikitLearnPredictsInProcess) {
  ASSERT_NE(pools_->sklearn, nullptr);
  ModelRuntime& pool = *pools_->sklearn;
  ModelInput input;
  input.columns = {"a", "b", "c"};
  input.rows = 3;
  // Integers in a double column are converted (the last row).
  input.cells = {0.5, 1.0, -1.0, 2.0, -0.5, 0.3, int64_t{1}, int64_t{2}, int64_t{3}};
  auto predictions = pool.Predict(input);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  std::string expected = Slurp(*dir_ + "/expected.json");  // [p0, p1, p2]
  std::vector<double> want;
  std::stringstream in(expected.substr(1));
  for (double value; in >> value;) {
    want.push_back(value);
    in.ignore(1);
  }
  ASSERT_EQ(want.size(), 3u) << expected;
  ASSERT_EQ(predictions->size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR((*predictions)[i], want[i], 1e-12) << i;
  RuntimeStats stats = pool.Stats();
  EXPECT_EQ(stats.replicas, 1);
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_EQ(stats.queued, 0);
  std::vector<ScalingEvent> events = pools_->sklearn_events.Get();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].endpoint, "churn");
  EXPECT_EQ(events[0].from, 0);
  EXPECT_EQ(events[0].to, 1);
  EXPECT_EQ(events[0].reason, "start: min_replicas 1");
}

TEST_F(PythonWorkerPoolTest, MissingInputColumnIsNamed) {
  ASSERT_NE(pools_->ctl, nullptr);
  ModelInput input;
  input.columns = {"y"};
  input.rows = 1;
  input.cells = {0.5};
  auto predictions = pools_->ctl->Predict(input);  // ModelInfo::input_columns = {x}
  EXPECT_EQ(predictions.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(predictions.status().message(), HasSubstr("column 'x'"));

  // Without input_columns the model's own schema check (MLflow) refuses it.
  ASSERT_NE(pools_->sklearn, nullptr);
  input.columns = {"a", "b"};
  input.cells = {0.5, 1.0};
  predictions = pools_->sklearn->Predict(input);
  EXPECT_EQ(predictions.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(predictions.status().message(), HasSubstr("'c'"));
}

TEST_F(PythonWorkerPoolTest, ModelErrorIsInternalWithThePythonMessage) {
  ASSERT_NE(pools_->ctl, nullptr);
  auto predictions = pools_->ctl->Predict(Ctl(1.0, {{"fail", int64_t{1}}}));
  EXPECT_EQ(predictions.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(predictions.status().message(), HasSubstr("ValueError: boom"));
  // The worker survives a model error.
  auto next = pools_->ctl->Predict(Ctl(21.0));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, std::vector<double>{42.0});
}

TEST_F(PythonWorkerPoolTest, MixedColumnsReachTheModel) {
  ASSERT_NE(pools_->ctl, nullptr);
  ModelInput input;
  input.columns = {"x", "tag", "flag", "count", "any"};
  input.rows = 2;
  input.cells = {1.5,        std::string("a"), true,  int64_t{3}, int64_t{7},
                 int64_t{4}, std::monostate{}, false, int64_t{5}, std::string("s")};
  auto predictions = pools_->ctl->Predict(input);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  EXPECT_EQ(*predictions, (std::vector<double>{3.0, 8.0}));

  // The model sees each column with its type: float64, bool, int64, object.
  input.columns.push_back("describe");
  input.cells.insert(input.cells.begin() + 5, int64_t{1});
  input.cells.push_back(int64_t{1});
  auto described = pools_->ctl->Predict(input);
  ASSERT_EQ(described.status().code(), absl::StatusCode::kInternal);
  std::string frame(described.status().message());
  EXPECT_THAT(frame, HasSubstr(R"("x": ["float64", [1.5, 4.0]])")) << frame;
  EXPECT_THAT(frame, HasSubstr(R"("flag": ["bool", [true, false]])")) << frame;
  EXPECT_THAT(frame, HasSubstr(R"("count": ["int64", [3, 5]])")) << frame;
  EXPECT_THAT(frame, HasSubstr(R"("any": ["object", [7, "s"]])")) << frame;
  EXPECT_THAT(frame, HasSubstr(R"("tag": )")) << frame;
  EXPECT_THAT(frame, HasSubstr(R"(["a", )")) << frame;
}

TEST_F(PythonWorkerPoolTest, DeadWorkerFailsItsRequestWithUnavailableAndIsReplaced) {
  ASSERT_NE(pools_->ctl, nullptr);
  ModelRuntime& pool = *pools_->ctl;
  size_t before = pools_->ctl_events.Size();
  auto crashed = pool.Predict(Ctl(1.0, {{"crash", int64_t{1}}}));
  EXPECT_EQ(crashed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(crashed.status().message(), HasSubstr("died during the request"));
  auto next = pool.Predict(Ctl(2.0));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, std::vector<double>{4.0});
  ASSERT_TRUE(Eventually([&] { return pools_->ctl_events.Size() >= before + 2; }));
  std::vector<ScalingEvent> events = pools_->ctl_events.Get();
  EXPECT_EQ(events[before].from, 1);
  EXPECT_EQ(events[before].to, 0);
  EXPECT_THAT(events[before].reason, HasSubstr("died during a request"));
  EXPECT_EQ(events[before + 1].from, 0);
  EXPECT_EQ(events[before + 1].to, 1);
  EXPECT_THAT(events[before + 1].reason, HasSubstr("below min_replicas 1"));
  EXPECT_EQ(pool.Stats().replicas, 1);
}

TEST_F(PythonWorkerPoolTest, FullQueueIsRefusedWithResourceExhausted) {
  ASSERT_NE(pools_->ctl, nullptr);
  ModelRuntime& pool = *pools_->ctl;  // one replica, a queue of one
  int64_t rejected = pool.Stats().rejected;
  std::string gate = *dir_ + "/gate-queue";
  absl::StatusOr<std::vector<double>> first, second;
  std::thread a([&] { first = pool.Predict(Ctl(1.0, {{"wait_file", gate}})); });
  ASSERT_TRUE(Eventually([&] { return pool.Stats().in_flight == 1; }));
  std::thread b([&] { second = pool.Predict(Ctl(2.0)); });
  ASSERT_TRUE(Eventually([&] { return pool.Stats().queued == 1; }));
  auto third = pool.Predict(Ctl(3.0));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("endpoint busy: 1 requests queued"));
  EXPECT_EQ(pool.Stats().rejected, rejected + 1);
  std::ofstream(gate) << "go";
  a.join();
  b.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*first, std::vector<double>{2.0});
  EXPECT_EQ(*second, std::vector<double>{4.0});
}

TEST_F(PythonWorkerPoolTest, ScalesUpAtOnceAndDownOneAtATimeWhenIdle) {
  ASSERT_NE(pools_->scaling, nullptr);
  ModelRuntime& pool = *pools_->scaling;
  EventLog& log = pools_->scaling_events;
  std::string gate = *dir_ + "/gate-scale";
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      auto result = pool.Predict(Ctl(i, {{"wait_file", gate}}));
      if (result.ok() && *result == std::vector<double>{2.0 * i}) ++ok;
    });
  }
  // 4 requests, target 1 per replica, at most 3 replicas: 3 in flight, 1 queued.
  ASSERT_TRUE(Eventually([&] {
    RuntimeStats stats = pool.Stats();
    return stats.replicas == 3 && stats.in_flight == 3 && stats.queued == 1;
  }));
  std::ofstream(gate) << "go";
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(ok.load(), 4);
  std::vector<ScalingEvent> events = log.Get();
  for (const ScalingEvent& event : events) EXPECT_LE(event.to, 3) << event.reason;
  size_t after_scale_up = events.size();
  EXPECT_EQ(events.back().to, 3);
  EXPECT_THAT(events.back().reason, HasSubstr("over target 1 per replica"));

  pools_->clock.Advance(1'000);
  ASSERT_TRUE(Eventually([&] { return log.Size() == after_scale_up + 1; }));
  pools_->clock.Advance(1'000);
  ASSERT_TRUE(Eventually([&] { return log.Size() == after_scale_up + 2; }));
  events = log.Get();
  EXPECT_EQ(events[after_scale_up].from, 3);
  EXPECT_EQ(events[after_scale_up].to, 2);
  EXPECT_THAT(events[after_scale_up].reason, HasSubstr("idle for 1000 ms"));
  EXPECT_EQ(events[after_scale_up + 1].from, 2);
  EXPECT_EQ(events[after_scale_up + 1].to, 1);
  EXPECT_EQ(pool.Stats().replicas, 1);
  // Never below min_replicas; the last worker still answers.
  pools_->clock.Advance(10'000);
  auto result = pool.Predict(Ctl(5.0));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, std::vector<double>{10.0});
  EXPECT_EQ(pool.Stats().replicas, 1);
}

TEST_F(PythonWorkerPoolTest, MinZeroStartsAWorkerForTheFirstRequestThenServesConcurrently) {
  ASSERT_NE(pools_->min_zero, nullptr);
  ModelRuntime& pool = *pools_->min_zero;
  EXPECT_EQ(pool.Stats().replicas, 0);
  EXPECT_EQ(pools_->min_zero_events.Size(), 0u);
  auto result = pool.Predict(Ctl(3.0));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, std::vector<double>{6.0});
  EXPECT_EQ(pool.Stats().replicas, 1);
  std::vector<ScalingEvent> events = pools_->min_zero_events.Get();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].from, 0);
  EXPECT_EQ(events[0].to, 1);
  EXPECT_EQ(events[0].reason, "load 1 (0 in flight, 1 queued) over target 1 per replica");

  // Six callers on at most two workers: every answer is the caller's own.
  std::atomic<int> right{0}, wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        double x = t * 1000 + i;
        auto answer = pool.Predict(Ctl(x));
        if (answer.ok() && *answer == std::vector<double>{2 * x}) {
          ++right;
        } else {
          ++wrong;
        }
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(right.load(), 240);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(pool.Stats().replicas, 2);
  // Regression: a worker answering between the scaler's poll and its check was taken for
  // one that exited while idle.
  for (const ScalingEvent& event : pools_->min_zero_events.Get()) {
    EXPECT_THAT(event.reason, ::testing::Not(HasSubstr("exited"))) << event.reason;
  }
}

// The pid in "… (Python worker 4242 killed and replaced) …", or -1.
pid_t KilledWorkerPid(absl::string_view message) {
  std::smatch match;
  std::string text(message);
  if (!std::regex_search(text, match, std::regex("Python worker ([0-9]+) killed"))) return -1;
  return static_cast<pid_t>(std::stol(match[1]));
}

TEST_F(PythonWorkerPoolTest, HungModelTimesOutAndItsWorkerIsKilledAndReplaced) {
  ASSERT_NE(pools_->deadline, nullptr);
  ModelRuntime& pool = *pools_->deadline;
  EventLog& log = pools_->deadline_events;
  size_t before = log.Size();
  // The model waits for a file that never appears: it never answers.
  auto hung = pool.Predict(Ctl(1.0, {{"wait_file", *dir_ + "/never"}}));
  ASSERT_EQ(hung.status().code(), absl::StatusCode::kDeadlineExceeded) << hung.status();
  EXPECT_THAT(hung.status().message(),
              HasSubstr("endpoint 'churn': the model did not answer within the timeout of 5s"));
  pid_t pid = KilledWorkerPid(hung.status().message());
  ASSERT_GT(pid, 0) << hung.status();
  // Killed (SIGKILL) and reaped: the pid is gone, not a zombie.
  EXPECT_TRUE(Eventually([&] { return kill(pid, 0) != 0 && errno == ESRCH; }));
  ASSERT_TRUE(Eventually([&] { return log.Size() >= before + 2; }));
  std::vector<ScalingEvent> events = log.Get();
  EXPECT_EQ(events[before].from, 1);
  EXPECT_EQ(events[before].to, 0);
  EXPECT_EQ(events[before].reason,
            "worker " + std::to_string(pid) + " killed after the request timeout of 5s");
  EXPECT_EQ(events[before + 1].from, 0);
  EXPECT_EQ(events[before + 1].to, 1);
  EXPECT_EQ(events[before + 1].reason,
            "below min_replicas 1; replaces worker " + std::to_string(pid) +
                " (killed after the request timeout of 5s)");
  // The replacement answers.
  auto next = pool.Predict(Ctl(4.0));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, std::vector<double>{8.0});
  EXPECT_EQ(pool.Stats().replicas, 1);
  EXPECT_EQ(pool.Stats().in_flight, 0);
}

TEST_F(PythonWorkerPoolTest, RequestWhoseDeadlinePassesInTheQueueNeverReachesAWorker) {
  ASSERT_NE(pools_->deadline, nullptr);
  ModelRuntime& pool = *pools_->deadline;  // one replica
  // A hung request holds the only worker; the zygote is stopped, so its replacement
  // cannot come before the queued request's deadline.
  pid_t zygote = ChildNaming(*dir_ + "/ctl-deadline");
  ASSERT_GT(zygote, 0);
  absl::StatusOr<std::vector<double>> first, second;
  std::thread a([&] { first = pool.Predict(Ctl(1.0, {{"wait_file", *dir_ + "/never"}})); });
  ASSERT_TRUE(Eventually([&] { return pool.Stats().in_flight == 1; }));
  ASSERT_EQ(kill(zygote, SIGSTOP), 0);
  std::string touched = *dir_ + "/touched-by-the-queued-request";
  std::thread b([&] { second = pool.Predict(Ctl(2.0, {{"touch", touched}})); });
  a.join();
  b.join();
  ASSERT_EQ(kill(zygote, SIGCONT), 0);
  EXPECT_EQ(first.status().code(), absl::StatusCode::kDeadlineExceeded) << first.status();
  EXPECT_THAT(first.status().message(), HasSubstr("did not answer within the timeout of 5s"));
  ASSERT_EQ(second.status().code(), absl::StatusCode::kDeadlineExceeded) << second.status();
  EXPECT_THAT(second.status().message(),
              HasSubstr("endpoint 'churn': no Python worker was free within the timeout of 5s"));
  EXPECT_THAT(second.status().message(), HasSubstr("raise replicas.max or the endpoint's timeout"));
  EXPECT_FALSE(std::filesystem::exists(touched));  // the model never saw it
  EXPECT_EQ(pool.Stats().queued, 0);
  // The queue flows again once the replacement is forked.
  auto next = pool.Predict(Ctl(3.0));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, std::vector<double>{6.0});
  EXPECT_FALSE(std::filesystem::exists(touched));
}

// docs/python_runtime.md "Scale to zero keeps the zygote": at 0 workers the zygote, which
// holds the loaded model, stays, and the next request costs a fork, not a reload.
TEST_F(PythonWorkerPoolTest, ScaledToZeroKeepsTheZygoteAndForksForTheNextRequest) {
  ASSERT_NE(pools_->idle_zero, nullptr);
  ModelRuntime& pool = *pools_->idle_zero;
  EventLog& log = pools_->idle_zero_events;
  const std::string model_dir = *dir_ + "/ctl-zero";
  EXPECT_EQ(CountProcessesNaming(model_dir), 1);  // the zygote alone
  auto first = pool.Predict(Ctl(1.0));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, std::vector<double>{2.0});
  EXPECT_EQ(CountProcessesNaming(model_dir), 2);  // and its worker
  pools_->zero_clock.Advance(1'000);
  ASSERT_TRUE(Eventually([&] { return pool.Stats().replicas == 0; }));
  ASSERT_TRUE(Eventually([&] { return CountProcessesNaming(model_dir) == 1; }));
  pid_t zygote = ChildNaming(model_dir);
  ASSERT_GT(zygote, 0);
  auto second = pool.Predict(Ctl(2.0));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, std::vector<double>{4.0});
  EXPECT_EQ(ChildNaming(model_dir), zygote);  // the same zygote: no reload
  ASSERT_TRUE(Eventually([&] { return log.Size() == 3; }));
  std::vector<ScalingEvent> events = log.Get();
  EXPECT_EQ(events[0].reason, "load 1 (0 in flight, 1 queued) over target 1 per replica");
  EXPECT_EQ(events[1].from, 1);
  EXPECT_EQ(events[1].to, 0);
  EXPECT_THAT(events[1].reason, HasSubstr("idle for 1000 ms"));
  EXPECT_EQ(events[2].from, 0);
  EXPECT_EQ(events[2].to, 1);
  EXPECT_EQ(events[2].reason, "load 1 (0 in flight, 1 queued) over target 1 per replica");
}

TEST_F(PythonWorkerPoolTest, ShutdownLeavesNoProcessBehind) {
  ASSERT_NE(pools_->shutdown, nullptr);
  std::string model_dir = *dir_ + "/ctl-shutdown";
  EXPECT_EQ(CountProcessesNaming(model_dir), 3);  // the zygote and two workers
  pools_->shutdown.reset();
  EXPECT_TRUE(Eventually([&] { return CountProcessesNaming(model_dir) == 0; }));
}

TEST_F(PythonWorkerPoolTest, ModelThatCannotLoadIsAFailedPreconditionWithThePythonError) {
  EXPECT_EQ(pools_->broken.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(pools_->broken.message(), HasSubstr("RuntimeError: cannot load the weights"));
}

TEST_F(PythonWorkerPoolTest, BadOptionsAndMissingPiecesAreNamed) {
  PythonPoolOptions options;
  options.min_replicas = 2;
  options.max_replicas = 1;
  auto runtime = StartPythonRuntime(Info("ctl"), options);
  EXPECT_EQ(runtime.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(runtime.status().message(), HasSubstr("max_replicas: 1"));
  options = PythonPoolOptions{};
  options.target_in_flight_per_replica = 0;
  runtime = StartPythonRuntime(Info("ctl"), options);
  EXPECT_EQ(runtime.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(runtime.status().message(), HasSubstr("target_in_flight_per_replica"));
  options = PythonPoolOptions{};
  options.request_timeout_ms = -1;
  runtime = StartPythonRuntime(Info("ctl"), options);
  EXPECT_EQ(runtime.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(runtime.status().message(), HasSubstr("request_timeout_ms: -1 is negative"));
  options = PythonPoolOptions{};
  options.python = "python-that-does-not-exist";
  runtime = StartPythonRuntime(Info("ctl"), options);
  EXPECT_EQ(runtime.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(runtime.status().message(), HasSubstr("'python-that-does-not-exist'"));
  runtime = StartPythonRuntime(Info("no-such-model"), PythonPoolOptions{});
  EXPECT_EQ(runtime.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(runtime.status().message(), HasSubstr("no-such-model"));
}

}  // namespace
}  // namespace cairn::serving
