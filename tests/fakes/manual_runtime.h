#pragma once

// A Runtime on a clock that moves only when a test says so: work runs inline on the
// caller's thread (or, with WorkOnThreads, each task on a thread of its own, for races
// with a request on the wire), timers run in time order as Advance() passes them.
// Thread-safe.
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "server/runtime.h"

namespace ismscode::gateway::fakes {

class ManualRuntime {
 public:
  using Clock = Runtime::Clock;

  enum class Work { kInline, kOnThreads };
  explicit ManualRuntime(Work work = Work::kInline) : work_(work) {}
  ManualRuntime(const ManualRuntime&) = delete;
  ~ManualRuntime() { JoinWork(); }

  // Waits for every task started on a thread so far.
  void JoinWork() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  Runtime runtime() {
    return Runtime{.run =
                       [this](Runtime::Task task) {
                         std::unique_lock lock(mu_);
                         if (stopped_) return false;
                         if (work_ == Work::kOnThreads) {
                           threads_.emplace_back(std::move(task));
                           return true;
                         }
                         lock.unlock();
                         task();
                         return true;
                       },
                   .at =
                       [this](Clock::time_point when, Runtime::Task task) {
                         std::lock_guard lock(mu_);
                         const Runtime::TimerId id{when, seq_++};
                         timers_.emplace(id, std::move(task));
                         return id;
                       },
                   .cancel =
                       [this](Runtime::TimerId id) {
                         Runtime::Task dropped;  // destroyed outside the lock
                         std::lock_guard lock(mu_);
                         auto it = timers_.find(id);
                         if (it == timers_.end()) return;
                         dropped = std::move(it->second);
                         timers_.erase(it);
                       },
                   .now = [this] { return now(); }};
  }

  Clock::time_point now() const {
    std::lock_guard lock(mu_);
    return now_;
  }
  // Moves the clock forward by `d`, running every timer that comes due on the way (and
  // those they set), in time order.
  void Advance(Clock::duration d) {
    const Clock::time_point until = now() + d;
    for (;;) {
      Runtime::Task task;
      {
        std::lock_guard lock(mu_);
        if (timers_.empty() || timers_.begin()->first.first > until) break;
        now_ = std::max(now_, timers_.begin()->first.first + lateness_);
        task = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
      }
      task();
    }
    std::lock_guard lock(mu_);
    now_ = until;
  }
  size_t timers() const {
    std::lock_guard lock(mu_);
    return timers_.size();
  }
  // Timers run this much after they are due, as a busy timer thread's do.
  void set_lateness(Clock::duration lateness) {
    std::lock_guard lock(mu_);
    lateness_ = lateness;
  }
  // From now on `run` refuses work, as a stopped worker pool does.
  void StopWorkers() {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }

 private:
  mutable std::mutex mu_;
  Clock::time_point now_ = Clock::time_point{} + std::chrono::hours(1);
  std::map<Runtime::TimerId, Runtime::Task> timers_;
  uint64_t seq_ = 0;
  bool stopped_ = false;
  Clock::duration lateness_{};
  const Work work_;
  std::vector<std::thread> threads_;
};

}  // namespace ismscode::gateway::fakes
