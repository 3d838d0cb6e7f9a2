#pragma once

#include <chrono>
#include <functional>

namespace ismscode::gateway {

// How the gateway's asynchronous parts run blocking work and keep time. The real one
// (Scheduler.h: MakeRuntime) posts to the worker pool and the timer thread; unit tests
// run tasks inline on a clock they move by hand, so nothing waits on the wall clock.
struct Runtime {
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void()>;

  // Blocking work (an upstream call). False when it will never run (shutting down).
  std::function<bool(Task)> run;
  // A timer; must not block. Dropped when shutting down.
  std::function<void(Clock::time_point, Task)> at;
  std::function<Clock::time_point()> now;
};

}  // namespace ismscode::gateway
