#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace ismscode::gateway {

// One timer thread for every delayed action of the gateway (polls, stream deadlines):
// no thread per stream. Tasks must be quick; blocking work goes to a WorkerPool.
class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void()>;

  Scheduler();
  ~Scheduler();  // Stop()

  void At(Clock::time_point when, Task task);
  // Runs nothing more; pending tasks are dropped. Idempotent.
  void Stop();

 private:
  struct Timer {
    Clock::time_point when;
    uint64_t seq;  // FIFO among equal times
    Task task;
    bool operator>(const Timer& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  void Run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  uint64_t next_seq_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// A fixed set of threads for blocking work (upstream HTTP). Thread-safe.
class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool();  // Stop()

  void Post(std::function<void()> task);
  // Finishes queued tasks, then joins. Idempotent.
  void Stop();

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ismscode::gateway
