// Times Expression::Evaluate over a synthetic table (not a test; no assertions).
//
//   expression_bench [rows] [expression]
//
// Default: 1,000,000 rows of `log1p(amount) * 2 + if(amount > 10, 1, 0)`. Input columns:
// amount (double, 1% null, lognormal-ish), n (int64), s (string), ts (timestamp). Prints the
// best and median of 15 runs in milliseconds of wall time and of this thread's CPU time (the
// latter barely moves when other work shares the cores), and the rows per second of the best.

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "features/expr/expression.h"

using cairn::features::Expression;
using cairn::features::FeatureType;
using cairn::features::Schema;
using cairn::features::Table;

int main(int argc, char** argv) {
  const size_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const std::string text = argc > 2 ? argv[2] : "log1p(amount) * 2 + if(amount > 10, 1, 0)";
  const Schema schema = {{"amount", FeatureType::kDouble, true},
                         {"n", FeatureType::kInt64, true},
                         {"s", FeatureType::kString, true},
                         {"ts", FeatureType::kTimestamp, true}};
  auto expr = Expression::Compile(text, schema);
  if (!expr.ok()) {
    std::fprintf(stderr, "%s\n", std::string(expr.status().message()).c_str());
    return 1;
  }
  Table table = Table::FromSchema(schema);
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> amount(2.0, 1.5);
  for (auto& c : table.columns) c.Reserve(rows);
  for (size_t r = 0; r < rows; ++r) {
    if (rng() % 100 == 0) table.columns[0].AppendNull();
    else table.columns[0].AppendDouble(amount(rng));
    table.columns[1].AppendInt(static_cast<int64_t>(rng() % 1000));
    table.columns[2].AppendString(std::to_string(rng() % 1000));
    table.columns[3].AppendInt(1700000000000 + static_cast<int64_t>(rng() % 31536000000));
  }
  auto cpu_ms = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  };
  std::vector<double> ms, cpu;
  for (int run = 0; run < 15; ++run) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = cpu_ms();
    auto out = expr->Evaluate(table);
    cpu.push_back(cpu_ms() - cpu_start);
    const auto end = std::chrono::steady_clock::now();
    if (!out.ok() || out->size() != rows) return 1;
    ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf("expr '%s' over %zu rows: wall best %.2f ms, median %.2f ms; thread CPU best %.2f ms, "
              "median %.2f ms (%.1fM rows/s)\n",
              text.c_str(), rows, ms.front(), ms[ms.size() / 2], cpu.front(), cpu[cpu.size() / 2],
              rows / ms.front() / 1000.0);
  return 0;
}
