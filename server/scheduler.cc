#include "server/scheduler.h"

namespace ismscode::gateway {

Scheduler::Scheduler() : thread_([this] { Run(); }) {}

Scheduler::~Scheduler() { Stop(); }

Scheduler::TimerId Scheduler::At(Clock::time_point when, Task task) {
  bool earliest;
  TimerId id;
  {
    MutexLock lock(mutex_);
    id = {when, next_seq_++};
    if (stopping_) return id;
    earliest = timers_.empty() || when < timers_.begin()->first.first;
    timers_.emplace(id, std::move(task));
  }
  // The timer thread sleeps until the earliest timer: wake it only when that changes
  // (most timers, such as a number's purge an hour away, go behind others).
  if (earliest) wake_.NotifyOne();
  return id;
}

bool Scheduler::Cancel(TimerId timer) {
  Task dropped;  // destroyed outside the lock: it may own what takes other locks
  MutexLock lock(mutex_);
  auto it = timers_.find(timer);
  if (it == timers_.end()) return false;
  dropped = std::move(it->second);
  timers_.erase(it);
  return true;
}

size_t Scheduler::pending() const {
  MutexLock lock(mutex_);
  return timers_.size();
}

void Scheduler::Stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.NotifyOne();
  if (thread_.joinable()) thread_.join();
  std::map<TimerId, Task> dropped;
  MutexLock lock(mutex_);
  dropped.swap(timers_);
}

void Scheduler::Run() {
  MutexLock lock(mutex_);
  while (!stopping_) {
    if (timers_.empty()) {
      wake_.Wait(mutex_);
      continue;
    }
    const Clock::time_point when = timers_.begin()->first.first;
    if (Clock::now() < when) {
      wake_.WaitUntil(mutex_, when);
      continue;
    }
    Task task = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    lock.Unlock();
    task();
    task = nullptr;  // what it held goes outside the lock (it may set or cancel timers)
    lock.Lock();
  }
}

WorkerPool::WorkerPool(size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); ++i) {
    threads_.emplace_back([this] {
      MutexLock lock(mutex_);
      for (;;) {
        while (!stopping_ && tasks_.empty()) wake_.Wait(mutex_);
        if (tasks_.empty()) return;
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.Unlock();
        task();
        task = nullptr;  // what it held goes outside the lock (it may post more)
        lock.Lock();
      }
    });
  }
}

WorkerPool::~WorkerPool() { Stop(); }

bool WorkerPool::Post(std::function<void()> task) {
  {
    MutexLock lock(mutex_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
  }
  wake_.NotifyOne();
  return true;
}

void WorkerPool::Stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.NotifyAll();
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
