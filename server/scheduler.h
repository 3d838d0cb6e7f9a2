#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "server/runtime.h"

namespace ismscode::gateway {

// One timer thread for every delayed action of the gateway (polls, stream deadlines):
// no thread per stream. Tasks must be quick; blocking work goes to a WorkerPool.
class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void()>;

  using TimerId = Runtime::TimerId;

  Scheduler();
  ~Scheduler();  // Stop()

  TimerId At(Clock::time_point when, Task task);
  // Drops a timer that has not run, and what its task holds. False when it ran (or is
  // running) already.
  bool Cancel(TimerId timer);
  // Runs nothing more; pending tasks are dropped. Idempotent.
  void Stop();
  size_t pending() const;

 private:
  void Run();

  mutable Mutex mutex_;
  CondVar wake_;
  std::map<TimerId, Task> timers_ GUARDED_BY(mutex_);
  uint64_t next_seq_ GUARDED_BY(mutex_) = 0;
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

// A fixed set of threads for blocking work (upstream HTTP). Thread-safe.
class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool();  // Stop()

  // False, and the task is not run, once Stop() has begun.
  [[nodiscard]] bool Post(std::function<void()> task);
  // Finishes queued tasks, then joins. Idempotent.
  void Stop();

 private:
  Mutex mutex_;
  CondVar wake_;
  std::deque<std::function<void()>> tasks_ GUARDED_BY(mutex_);
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;  // fixed after construction
};

// The runtime the gateway runs on: blocking work on `workers`, timers on `scheduler`,
// the steady clock.
Runtime MakeRuntime(Scheduler& scheduler, WorkerPool& workers);

}  // namespace ismscode::gateway
