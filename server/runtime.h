#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

namespace ismscode::gateway {

// How the gateway's asynchronous parts run blocking work and keep time. The real one
// (Scheduler.h: MakeRuntime) posts to the worker pool and the timer thread; unit tests
// run tasks inline on a clock they move by hand, so nothing waits on the wall clock.
struct Runtime {
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void()>;
  // When a timer is due, and a sequence number: FIFO among equal times.
  using TimerId = std::pair<Clock::time_point, uint64_t>;

  // Blocking work (an upstream call). False when it will never run (shutting down).
  std::function<bool(Task)> run;
  // A timer; its task must not block. Dropped when shutting down.
  std::function<TimerId(Clock::time_point, Task)> at;
  // Drops a timer that has not run yet, and what its task holds, now.
  std::function<void(TimerId)> cancel;
  std::function<Clock::time_point()> now;
};

}  // namespace ismscode::gateway
