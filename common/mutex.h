#pragma once

// A std::mutex that clang's Thread Safety Analysis can see (-Wthread-safety; every clang
// build of the project turns it on as an error). Members a mutex protects are marked
// GUARDED_BY(mutex_), functions that expect it held REQUIRES(mutex_) (and by convention
// end in "Locked"), functions that must not be called with it held EXCLUDES(mutex_).
// Other compilers see plain std::mutex code.

#include <chrono>
#include <condition_variable>
#include <mutex>

// Abseil (through gRPC) defines some of these names the same way; whichever comes first
// is kept.
#if defined(__clang__)
#define ISMSCODE_TSA(x) __attribute__((x))
#else
#define ISMSCODE_TSA(x)
#endif

#ifndef CAPABILITY
#define CAPABILITY(x) ISMSCODE_TSA(capability(x))
#endif
#ifndef SCOPED_CAPABILITY
#define SCOPED_CAPABILITY ISMSCODE_TSA(scoped_lockable)
#endif
#ifndef GUARDED_BY
#define GUARDED_BY(x) ISMSCODE_TSA(guarded_by(x))
#endif
#ifndef PT_GUARDED_BY
#define PT_GUARDED_BY(x) ISMSCODE_TSA(pt_guarded_by(x))
#endif
#ifndef REQUIRES
#define REQUIRES(...) ISMSCODE_TSA(requires_capability(__VA_ARGS__))
#endif
#ifndef ACQUIRE
#define ACQUIRE(...) ISMSCODE_TSA(acquire_capability(__VA_ARGS__))
#endif
#ifndef RELEASE
#define RELEASE(...) ISMSCODE_TSA(release_capability(__VA_ARGS__))
#endif
#ifndef EXCLUDES
#define EXCLUDES(...) ISMSCODE_TSA(locks_excluded(__VA_ARGS__))
#endif
#ifndef RETURN_CAPABILITY
#define RETURN_CAPABILITY(x) ISMSCODE_TSA(lock_returned(x))
#endif
#ifndef NO_THREAD_SAFETY_ANALYSIS
#define NO_THREAD_SAFETY_ANALYSIS ISMSCODE_TSA(no_thread_safety_analysis)
#endif

namespace ismscode {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mutex_.lock(); }
  void Unlock() RELEASE() { mutex_.unlock(); }

  // BasicLockable, for std::condition_variable_any (see CondVar).
  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};

// Holds a Mutex for a scope. Unlock()/Lock() let a scope call out (a callback, a
// notification) without the lock and take it back; the analysis follows both.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mutex_.Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    mutex_.Unlock();
    held_ = false;
  }
  void Lock() ACQUIRE() {
    mutex_.Lock();
    held_ = true;
  }

 private:
  Mutex& mutex_;
  bool held_ = true;
};

// A condition variable for Mutex. Every wait needs the mutex held and returns with it
// held again.
class CondVar {
 public:
  // No predicate overload: a lambda is analysed as a function of its own, without the
  // lock. Loop in the caller instead: `while (!ready_) cv_.Wait(mutex_);`
  void Wait(Mutex& mutex) REQUIRES(mutex) { cv_.wait(mutex); }
  // False when `deadline` passed first.
  template <class Clock, class Duration>
  bool WaitUntil(Mutex& mutex, std::chrono::time_point<Clock, Duration> deadline) REQUIRES(mutex) {
    return cv_.wait_until(mutex, deadline) == std::cv_status::no_timeout;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace ismscode
