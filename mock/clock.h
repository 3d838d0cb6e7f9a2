#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "common/mutex.h"
#include "common/time_format.h"

namespace ismscode::mock {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::system_clock::duration;

// The mock's notion of "now" and of how long simulated things take.
//
// Mock time runs with the wall clock (so `expires_at` and `Date` stay meaningful to a
// client comparing them with its own clock), can be started at a fixed instant, can be
// frozen (only Advance() moves it: what determinism tests use), and can be pushed
// forward through the control API. The time scale multiplies every simulated duration
// (reservation length, SMS delays, restock periods): with a scale of 0.01 a 20-minute
// reservation lasts 12 seconds. Thread-safe.
class Clock {
 public:
  struct Options {
    double time_scale = 1.0;              // > 0
    std::optional<TimePoint> start_time;  // default: the wall clock at construction
    bool frozen = false;                  // true: time moves only by Advance()
  };

  explicit Clock(Options options);

  TimePoint Now() const;

  // Moves mock time forward by `by` (>= 0). Everything due by then becomes visible.
  void Advance(Duration by);

  // Back to the state right after construction (start instant, no advance).
  void Reset();

  // A simulated duration of `seconds`, after the time scale.
  Duration Scaled(double seconds) const;

  double time_scale() const { return options_.time_scale; }
  bool frozen() const { return options_.frozen; }
  Duration advanced() const;

 private:
  const Options options_;
  mutable Mutex mutex_;
  TimePoint origin_ GUARDED_BY(mutex_);  // mock time at construction/reset
  std::chrono::steady_clock::time_point started_
      GUARDED_BY(mutex_);  // steady time at construction/reset
  Duration advanced_ GUARDED_BY(mutex_){};
};

}  // namespace ismscode::mock
