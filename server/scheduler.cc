#include "server/scheduler.h"

namespace ismscode::gateway {

Scheduler::Scheduler() : thread_([this] { Run(); }) {}

Scheduler::~Scheduler() { Stop(); }

Scheduler::TimerId Scheduler::At(Clock::time_point when, Task task) {
  bool earliest;
  TimerId id;
  {
    std::lock_guard lock(mutex_);
    id = {when, next_seq_++};
    if (stopping_) return id;
    earliest = timers_.empty() || when < timers_.begin()->first.first;
    timers_.emplace(id, std::move(task));
  }
  // The timer thread sleeps until the earliest timer: wake it only when that changes
  // (most timers, such as a number's purge an hour away, go behind others).
  if (earliest) wake_.notify_one();
  return id;
}

bool Scheduler::Cancel(TimerId timer) {
  Task dropped;  // destroyed outside the lock: it may own what takes other locks
  std::lock_guard lock(mutex_);
  auto it = timers_.find(timer);
  if (it == timers_.end()) return false;
  dropped = std::move(it->second);
  timers_.erase(it);
  return true;
}

size_t Scheduler::pending() const {
  std::lock_guard lock(mutex_);
  return timers_.size();
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::map<TimerId, Task> dropped;
  std::lock_guard lock(mutex_);
  dropped.swap(timers_);
}

void Scheduler::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (timers_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const Clock::time_point when = timers_.begin()->first.first;
    if (Clock::now() < when) {
      wake_.wait_until(lock, when);
      continue;
    }
    Task task = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    lock.unlock();
    task();
    task = nullptr;  // what it held goes outside the lock (it may set or cancel timers)
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
        task = nullptr;  // what it held goes outside the lock (it may post more)
        lock.lock();
      }
    });
  }
}

WorkerPool::~WorkerPool() { Stop(); }

bool WorkerPool::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
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

Runtime MakeRuntime(Scheduler& scheduler, WorkerPool& workers) {
  return Runtime{
      .run = [&workers](Runtime::Task task) { return workers.Post(std::move(task)); },
      .at = [&scheduler](Runtime::Clock::time_point when,
                         Runtime::Task task) { return scheduler.At(when, std::move(task)); },
      .cancel = [&scheduler](Runtime::TimerId timer) { scheduler.Cancel(timer); },
      .now = [] { return Runtime::Clock::now(); }};
}

}  // namespace ismscode::gateway
