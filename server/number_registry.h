#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/mutex.h"
#include "server/poll_hub.h"
#include "server/scheduler.h"

namespace ismscode::gateway {

// The numbers bought through this gateway, by id, with the upstream key that bought
// them: what AwaitCode may watch, and for whom. A number is forgotten `keep_expired`
// after its reservation ends (until then AwaitCode on it says NUMBER_EXPIRED rather
// than NUMBER_NOT_FOUND). Thread-safe.
class NumberRegistry {
 public:
  // `scheduler` runs the forgetting and must outlive the registry's timers (the
  // Gateway stops it first).
  NumberRegistry(Scheduler& scheduler, std::chrono::minutes keep_expired);

  // Keeps a bought number. `fresh`: a new purchase, which replaces whatever an earlier
  // number with the same id left (the upstream may re-issue ids); a replay keeps the
  // entry it finds.
  void Remember(const WatchedNumber& number, bool fresh) EXCLUDES(mutex_);

  // The number, when `key` bought it. An unknown id and another key's number look the
  // same (nullopt): nothing leaks across keys. The copy stays valid after forgetting.
  std::optional<WatchedNumber> Find(const std::string& id, const std::string& key) const
      EXCLUDES(mutex_);

 private:
  Scheduler& scheduler_;
  const std::chrono::minutes keep_expired_;
  mutable Mutex mutex_;
  std::unordered_map<std::string, WatchedNumber> numbers_ GUARDED_BY(mutex_);
};

}  // namespace ismscode::gateway
