#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace ismscode::mock {

// The one source of randomness in the mock. std::mt19937_64's output is fixed by the
// standard, and every distribution here is computed by hand from it (the standard
// library's distributions differ between implementations), so a seed gives the same
// draws on every platform. Not thread-safe: the owner serialises access.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}

  void Reseed(uint64_t seed) { engine_.seed(seed); }

  uint64_t Next() { return engine_(); }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [0, n); n > 0.
  uint64_t Below(uint64_t n);
  bool Chance(double probability) { return probability > 0 && Uniform() < probability; }
  // Standard normal (Box-Muller).
  double Normal();
  // Log-normal with the given median and shape (sigma of the underlying normal).
  double LogNormal(double median, double sigma);
  // `length` characters drawn from `alphabet`.
  std::string Chars(size_t length, std::string_view alphabet);

 private:
  std::mt19937_64 engine_;
};

}  // namespace ismscode::mock
