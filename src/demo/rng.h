#pragma once
// The demo generators' random numbers: std::mt19937_64 with hand-written uniform, normal,
// Poisson, exponential and categorical transforms. The std:: distributions are
// implementation-defined; these are not, so a seed gives the same data with every
// standard library. Not thread-safe (one generator per thread).

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>

namespace cairn::demo {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }

  bool Bernoulli(double p) { return Uniform() < p; }

  // Box-Muller; uses one pair per call for simplicity.
  double Normal(double mean, double stddev) {
    double u1 = Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double u2 = Uniform();
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

  // Knuth's multiplication method; fine for the small means used here.
  int Poisson(double mean) {
    const double limit = std::exp(-mean);
    int count = 0;
    double product = Uniform();
    while (product > limit) {
      ++count;
      product *= Uniform();
    }
    return count;
  }

  double Exponential(double mean) { return -mean * std::log(1.0 - Uniform()); }

  // Index i with probability weights[i] / sum(weights).
  int Categorical(std::initializer_list<double> weights) {
    double total = 0;
    for (double weight : weights) total += weight;
    double pick = Uniform() * total;
    int index = 0;
    for (double weight : weights) {
      if (pick < weight) return index;
      pick -= weight;
      ++index;
    }
    return index - 1;
  }

  // Uniform in [0, bound); bound > 0.
  uint64_t Below(uint64_t bound) { return engine_() % bound; }

 private:
  std::mt19937_64 engine_;
};

}  // namespace cairn::demo
