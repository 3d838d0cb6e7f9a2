#include "mock/clock.h"

namespace ismscode::mock {

Clock::Clock(Options options) : options_(options) { Reset(); }

TimePoint Clock::Now() const {
  MutexLock lock(mutex_);
  Duration flowed{};
  if (!options_.frozen) {
    flowed = std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started_);
  }
  return origin_ + flowed + advanced_;
}

void Clock::Advance(Duration by) {
  if (by <= Duration::zero()) return;
  MutexLock lock(mutex_);
  advanced_ += by;
}

void Clock::Reset() {
  MutexLock lock(mutex_);
  origin_ = options_.start_time.value_or(std::chrono::system_clock::now());
  started_ = std::chrono::steady_clock::now();
  advanced_ = Duration::zero();
}

Duration Clock::Scaled(double seconds) const {
  const double scaled = seconds * options_.time_scale;
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(scaled));
}

Duration Clock::advanced() const {
  MutexLock lock(mutex_);
  return advanced_;
}

}  // namespace ismscode::mock
