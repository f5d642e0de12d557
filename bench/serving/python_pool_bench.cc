// The Python worker runtime's two targets (issue 6 "Performance"; docs/benchmarks.md,
// "Serving: Python worker pool"):
//
// 1. Overhead per request over calling the model in-process: a scikit-learn logistic
//    regression over 20 features (mlflow.sklearn, predict_proba), single-row predictions.
//    In-process = pyfunc_model.predict(one-row DataFrame) timed in Python (the DataFrame
//    built beforehand); pool = ModelRuntime::Predict of the same rows from C++ (encode,
//    pipe, decode into a DataFrame, the same predict, answer). Target ≤ 1 ms at p50. The
//    same for a pyfunc model that returns zeros, where the pool's own cost stands out.
// 2. Scale-up for a 10× load step: a model that takes 20 ms per request (time.sleep, so two
//    cores can hold ten replicas), min_replicas 1, max_replicas 12, paced callers offering
//    40 req/s, then 400 req/s. Reports when the pool reached its new size, when latency
//    came back to ≤ 2 × the service time, and the failures by code. Target ≤ 5 s, no
//    failure but 429 (ResourceExhausted).
//
//   build/<dir>/src/serving/serving_python_pool_bench [REQUESTS] [STEP_SECONDS]
//
// Needs python3 with mlflow and scikit-learn. Prints one line per figure.

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "serving/python_worker_pool.h"

namespace {

using cairn::serving::ModelInfo;
using cairn::serving::ModelInput;
using cairn::serving::ModelRuntime;
using cairn::serving::PythonPoolOptions;
using cairn::serving::ScalingEvent;
using Clock = std::chrono::steady_clock;

constexpr char kPrepare[] = R"py(
import json, os, sys, time
import numpy as np, pandas as pd
import mlflow.pyfunc, mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(11)
cols = ["f%02d" % i for i in range(20)]
X = pd.DataFrame(rng.normal(size=(2000, 20)), columns=cols)
y = (X.sum(axis=1) > 0).astype(int)
clf = LogisticRegression().fit(X, y)
mlflow.sklearn.save_model(clf, os.path.join(out, "sklearn20"), pyfunc_predict_fn="predict_proba",
                          signature=infer_signature(X, clf.predict_proba(X)))
X.iloc[:100].to_csv(os.path.join(out, "rows.csv"), index=False, header=False)

class Sleepy(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        import time
        time.sleep(0.020)
        return [0.5] * len(model_input)

mlflow.pyfunc.save_model(os.path.join(out, "sleepy"), python_model=Sleepy())

class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return np.zeros(len(model_input))

mlflow.pyfunc.save_model(os.path.join(out, "constant"), python_model=Constant())

model = mlflow.pyfunc.load_model(os.path.join(out, "sklearn20"))
constant = mlflow.pyfunc.load_model(os.path.join(out, "constant"))
rows = [X.iloc[[i % 100]] for i in range(100)]
for i in range(300):
    model.predict(rows[i % 100])
    constant.predict(rows[i % 100])
def timed(fn):
    t = []
    cpu = time.thread_time_ns()
    for i in range(n):
        s = time.perf_counter_ns(); fn(i); t.append((time.perf_counter_ns() - s) / 1000.0)
    cpu = (time.thread_time_ns() - cpu) / 1000.0 / n
    t.sort()
    return {"p50_us": t[len(t) // 2], "p99_us": t[int(len(t) * 0.99)], "cpu_us": cpu}
result = {
    "sklearn20": timed(lambda i: model.predict(rows[i % 100])),
    "sklearn20 predict_proba": timed(lambda i: clf.predict_proba(rows[i % 100])),
    "constant": timed(lambda i: constant.predict(rows[i % 100])),
}
json.dump(result, open(os.path.join(out, "inprocess.json"), "w"))
)py";

// CPU time (user + system) of the processes whose command line names `needle`: the
// pool's zygote and workers carry the model directory as their last argument.
double ProcessesCpuUs(const std::string& needle) {
  double ticks = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string pid = entry.path().filename();
    if (pid.empty() || pid[0] < '1' || pid[0] > '9') continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (args.find(needle) == std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::stringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14 || i == 15) ticks += std::atof(field.c_str());  // utime, stime
    }
  }
  return ticks * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(values.size() * p))];
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int Overhead(const std::string& dir, const std::string& model, int requests) {
  ModelInfo info{dir + "/" + model, "python_function", {}, 0};
  PythonPoolOptions options;
  options.startup_timeout_ms = 600'000;
  auto runtime = cairn::serving::StartPythonRuntime(info, options);
  if (!runtime.ok()) {
    std::fprintf(stderr, "start: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  std::vector<ModelInput> rows;
  std::ifstream csv(dir + "/rows.csv");
  for (std::string line; std::getline(csv, line);) {
    ModelInput input;
    for (int i = 0; i < 20; ++i) {
      char name[8];
      std::snprintf(name, sizeof(name), "f%02d", i);
      input.columns.push_back(name);
    }
    input.rows = 1;
    std::stringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) input.cells.push_back(std::stod(cell));
    rows.push_back(std::move(input));
  }
  for (int i = 0; i < 300; ++i) (void)(*runtime)->Predict(rows[i % rows.size()]);
  std::vector<double> micros;
  micros.reserve(requests);
  double workers_cpu = ProcessesCpuUs(info.model_dir), caller_cpu = ThreadCpuUs();
  for (int i = 0; i < requests; ++i) {
    auto start = Clock::now();
    auto result = (*runtime)->Predict(rows[i % rows.size()]);
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    if (!result.ok()) {
      std::fprintf(stderr, "predict: %s\n", std::string(result.status().message()).c_str());
      return 1;
    }
  }
  workers_cpu = (ProcessesCpuUs(info.model_dir) - workers_cpu) / requests;
  caller_cpu = (ThreadCpuUs() - caller_cpu) / requests;
  std::string inprocess = Slurp(dir + "/inprocess.json");
  double p50 = Percentile(micros, 0.5), p99 = Percentile(micros, 0.99);
  std::printf(
      "%s: pool Predict, 1 row x 20 features, %d sequential calls: p50 %.0f us, "
      "p99 %.0f us\n",
      model.c_str(), requests, p50, p99);
  auto number_after = [&](const std::string& key) {
    size_t at = inprocess.find("\"" + model + "\"");
    at = inprocess.find(key, at);
    return std::atof(inprocess.c_str() + inprocess.find(':', at) + 1);
  };
  double in_p50 = number_after("\"p50_us\""), in_p99 = number_after("\"p99_us\"");
  double in_cpu = number_after("\"cpu_us\"");
  std::printf(
      "%s: CPU per request: pool %.0f us (caller thread %.0f + Python workers %.0f), "
      "in-process %.0f us; overhead %.0f us of CPU\n",
      model.c_str(), caller_cpu + workers_cpu, caller_cpu, workers_cpu, in_cpu,
      caller_cpu + workers_cpu - in_cpu);
  std::printf(
      "%s: in-process pyfunc predict p50 %.0f us, p99 %.0f us; pool overhead p50 %.0f us, "
      "p99 %.0f us\n",
      model.c_str(), in_p50, in_p99, p50 - in_p50, p99 - in_p99);
  return 0;
}

int ScaleStep(const std::string& dir, int step_seconds) {
  constexpr int kBaseCallers = 2, kStepCallers = 20;  // each paced at 20 req/s
  constexpr double kServiceMs = 20.0;
  ModelInfo info{dir + "/sleepy", "python_function", {}, 0};
  absl::Mutex mu;
  std::vector<std::pair<double, ScalingEvent>> events;  // (seconds since step, event)
  std::atomic<int64_t> step_at_ns{
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count()};
  auto since_step = [&] {
    return std::chrono::duration<double>(Clock::now().time_since_epoch()).count() -
           step_at_ns.load() / 1e9;
  };
  PythonPoolOptions options;
  options.min_replicas = 1;
  options.max_replicas = 12;
  options.startup_timeout_ms = 600'000;
  options.endpoint = "bench";
  options.on_scaling = [&](const ScalingEvent& event) {
    absl::MutexLock lock(&mu);
    events.emplace_back(since_step(), event);
  };
  auto runtime = cairn::serving::StartPythonRuntime(info, options);
  if (!runtime.ok()) {
    std::fprintf(stderr, "start: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  ModelRuntime& pool = **runtime;
  ModelInput input;
  input.columns = {"x"};
  input.rows = 1;
  input.cells = {1.0};

  struct Sample {
    double sent_s;  // since the step
    double latency_ms;
    int code;
  };
  std::vector<Sample> samples;
  std::atomic<bool> stop{false};
  auto caller = [&](double start_offset_s) {
    std::vector<Sample> mine;
    auto next = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(start_offset_s));
    while (!stop.load()) {
      std::this_thread::sleep_until(next);
      next += std::chrono::milliseconds(50);
      double sent = since_step();
      auto begin = Clock::now();
      auto result = pool.Predict(input);
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
      mine.push_back({sent, ms, static_cast<int>(result.status().code())});
    }
    absl::MutexLock lock(&mu);
    samples.insert(samples.end(), mine.begin(), mine.end());
  };
  std::vector<std::thread> callers;
  // Base load: 2 callers × 20 req/s = 40 req/s (0.8 of one replica) for 3 s.
  step_at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   (Clock::now() + std::chrono::seconds(3)).time_since_epoch())
                   .count();
  for (int i = 0; i < kBaseCallers; ++i) callers.emplace_back(caller, i * 0.025);
  std::this_thread::sleep_until(Clock::time_point(std::chrono::nanoseconds(step_at_ns.load())));
  // The step: 18 more callers, 400 req/s in all.
  for (int i = kBaseCallers; i < kStepCallers; ++i) {
    callers.emplace_back(caller, (i % 10) * 0.005);
  }
  std::this_thread::sleep_for(std::chrono::seconds(step_seconds));
  stop = true;
  for (auto& thread : callers) thread.join();

  std::sort(samples.begin(), samples.end(),
            [](const Sample& a, const Sample& b) { return a.sent_s < b.sent_s; });
  std::map<int, int> failures;
  int after_step = 0;
  double settled_s = -1;  // the first send time after which every request took ≤ 2 × service
  for (const Sample& s : samples) {
    if (s.code != 0) ++failures[s.code];
    if (s.sent_s < 0) continue;
    ++after_step;
    if (s.code != 0 || s.latency_ms > 2 * kServiceMs) settled_s = s.sent_s;
  }
  // Per second of send time: requests (offered 40/s before the step, 400/s after, less
  // when callers fall behind), answered, p50 / p99 latency.
  for (int second = -3; second < step_seconds; ++second) {
    std::vector<double> window;
    int sent = 0;
    for (const Sample& s : samples) {
      if (s.sent_s < second || s.sent_s >= second + 1) continue;
      ++sent;
      if (s.code == 0) window.push_back(s.latency_ms);
    }
    std::printf("  second %+d: %d sent, %zu answered, p50 %.1f ms, p99 %.1f ms\n", second, sent,
                window.size(), Percentile(window, 0.5), Percentile(window, 0.99));
  }
  int final_replicas = pool.Stats().replicas;
  double reached_s = -1;
  {
    absl::MutexLock lock(&mu);
    for (const auto& [at, event] : events) {
      std::printf("  scaling at %+.3f s: %d -> %d (%s)\n", at, event.from, event.to,
                  event.reason.c_str());
      if (at >= 0 && event.to >= final_replicas && reached_s < 0) reached_s = at;
    }
  }
  std::vector<double> late;
  for (const Sample& s : samples) {
    if (s.sent_s > step_seconds - 2 && s.code == 0) late.push_back(s.latency_ms);
  }
  std::printf(
      "10x step (40 -> 400 req/s, 20 ms model, max_replicas 12): %d requests after the "
      "step; pool at %d replicas %.3f s after the step; latency <= %.0f ms for every "
      "request sent from %.3f s on; last 2 s p50 %.1f ms p99 %.1f ms\n",
      after_step, final_replicas, reached_s, 2 * kServiceMs, settled_s, Percentile(late, 0.5),
      Percentile(late, 0.99));
  int other = 0;
  for (const auto& [code, count] : failures) {
    std::printf("  failures with code %d: %d\n", code, count);
    if (code != static_cast<int>(absl::StatusCode::kResourceExhausted)) other += count;
  }
  std::printf("failures other than ResourceExhausted (429): %d\n", other);
  return other == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int requests = argc > 1 ? std::atoi(argv[1]) : 2000;
  int step_seconds = argc > 2 ? std::atoi(argv[2]) : 10;
  char tmpl[] = "/tmp/cairn-pypool-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/prepare.py") << kPrepare;
  // One BLAS/OpenMP thread, as in the pool's workers.
  std::string command = "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 " + dir + "/prepare.py " +
                        dir + " " + std::to_string(requests);
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "preparing the models failed (%s)\n", command.c_str());
    return 1;
  }
  std::printf("in-process (python, microseconds): %s\n", Slurp(dir + "/inprocess.json").c_str());
  int rc = Overhead(dir, "constant", requests);
  if (rc == 0) rc = Overhead(dir, "sklearn20", requests);
  if (rc == 0) rc = ScaleStep(dir, step_seconds);
  std::filesystem::remove_all(dir);
  return rc;
}
