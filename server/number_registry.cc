#include "server/number_registry.h"

namespace ismscode::gateway {

NumberRegistry::NumberRegistry(Scheduler& scheduler, std::chrono::minutes keep_expired)
    : scheduler_(scheduler), keep_expired_(keep_expired) {}

void NumberRegistry::Remember(const WatchedNumber& number, bool fresh) {
  {
    MutexLock lock(mutex_);
    auto [it, inserted] = numbers_.try_emplace(number.id, number);
    // A replay: known already, its purge is set. A fresh purchase of an id seen before
    // (the upstream re-issued it) inherits nothing: not the key, not the expiry.
    if (!inserted && !fresh) return;
    it->second = number;
  }
  const auto forget_at = Scheduler::Clock::now() +
                         std::chrono::duration_cast<Scheduler::Clock::duration>(
                             number.expires_at - std::chrono::system_clock::now()) +
                         keep_expired_;
  scheduler_.At(forget_at, [this, id = number.id, acquired_at = number.acquired_at] {
    MutexLock lock(mutex_);
    auto it = numbers_.find(id);
    // Only the entry this timer was set for: a re-issued id has its own timer.
    if (it != numbers_.end() && it->second.acquired_at == acquired_at) numbers_.erase(it);
  });
}

std::optional<WatchedNumber> NumberRegistry::Find(const std::string& id,
                                                  const std::string& key) const {
  MutexLock lock(mutex_);
  auto it = numbers_.find(id);
  if (it == numbers_.end() || it->second.key != key) return std::nullopt;
  return it->second;
}

}  // namespace ismscode::gateway
