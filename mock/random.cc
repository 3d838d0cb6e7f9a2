#include "mock/random.h"

#include <cmath>
#include <numbers>

namespace ismscode::mock {

uint64_t Random::Below(uint64_t n) {
  // Rejection sampling keeps the result unbiased.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = engine_();
  } while (x >= limit);
  return x % n;
}

double Random::Normal() {
  const double u1 = 1.0 - Uniform();  // (0, 1]: log() stays finite
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double Random::LogNormal(double median, double sigma) {
  return median * std::exp(sigma * Normal());
}

std::string Random::Chars(size_t length, std::string_view alphabet) {
  std::string out;
  out.reserve(length);
  for (size_t i = 0; i < length; ++i) out += alphabet[Below(alphabet.size())];
  return out;
}

}  // namespace ismscode::mock
