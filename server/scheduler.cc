#include "server/scheduler.h"

namespace ismscode::gateway {

Scheduler::Scheduler() : thread_([this] { Run(); }) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::At(Clock::time_point when, Task task) {
  bool earliest;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    earliest = timers_.empty() || when < timers_.top().when;
    timers_.push({when, next_seq_++, std::move(task)});
  }
  // The timer thread sleeps until the earliest timer: wake it only when that changes
  // (most timers, such as a number's purge an hour away, go behind others).
  if (earliest) wake_.notify_one();
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  timers_ = {};
}

void Scheduler::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (timers_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const Clock::time_point when = timers_.top().when;
    if (Clock::now() < when) {
      wake_.wait_until(lock, when);
      continue;
    }
    Task task = std::move(const_cast<Timer&>(timers_.top()).task);
    timers_.pop();
    lock.unlock();
    task();
    lock.lock();
  }
}

WorkerPool::WorkerPool(size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); ++i) {
    threads_.emplace_back([this] {
      std::unique_lock lock(mutex_);
      for (;;) {
        wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        task();
        lock.lock();
      }
    });
  }
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void WorkerPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace ismscode::gateway
