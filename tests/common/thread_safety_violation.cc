// Must NOT compile under clang's -Wthread-safety -Werror: it touches a GUARDED_BY member
// without its mutex and calls a REQUIRES function unlocked. CTest builds it and expects
// the build to fail, so a broken annotation macro (annotations that check nothing)
// fails the suite.
#include "common/mutex.h"

namespace {

class Counter {
 public:
  void Bump() { ++value_; }  // error: writing value_ requires holding mutex_
  void BumpLocked() REQUIRES(mutex_) { ++value_; }
  void BumpTwice() {
    ismscode::MutexLock lock(mutex_);
    BumpLocked();
    lock.Unlock();
    BumpLocked();  // error: calling BumpLocked requires holding mutex_
  }

 private:
  ismscode::Mutex mutex_;
  int value_ GUARDED_BY(mutex_) = 0;
};

}  // namespace

int main() {
  Counter c;
  c.Bump();
  c.BumpTwice();
}
