#include "server/rate_budget.h"

#include <algorithm>
#include <cmath>

namespace ismscode::gateway {

RateBudget::RateBudget(Options options)
    : options_(options), tokens_per_second_(options.requests_per_minute / 60.0) {}

std::optional<RateBudget::Clock::duration> RateBudget::TryTake(const std::string& key,
                                                               Priority priority,
                                                               Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{options_.burst, now, {}});
  if (fresh && buckets_.size() > kSweepAbove) {
    ForgetIdleLocked(now);
    it = buckets_.find(key);
  }
  Bucket& b = it->second;
  if (now < b.paused_until) return b.paused_until - now;
  if (now > b.refilled) {
    const double elapsed = std::chrono::duration<double>(now - b.refilled).count();
    b.tokens = std::min(options_.burst, b.tokens + elapsed * tokens_per_second_);
    b.refilled = now;
  }
  // Polls keep a reserve so that a purchase never waits behind a crowd of pollers (but
  // never all of a small bucket, or polls would starve).
  const double floor = priority == Priority::kPoll ? std::min(options_.reserved_for_acquire,
                                                              std::max(0.0, options_.burst - 1))
                                                   : 0;
  if (b.tokens >= floor + 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  const double missing = floor + 1 - b.tokens;
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(missing / tokens_per_second_));
}

void RateBudget::ForgetIdleLocked(Clock::time_point now) {
  // A bucket that has refilled completely and is not paused is the same as no bucket:
  // callers' own keys come and go, and their buckets must not pile up.
  const double refill_seconds = options_.burst / tokens_per_second_;
  std::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    return now >= b.paused_until &&
           std::chrono::duration<double>(now - b.refilled).count() >= refill_seconds;
  });
}

size_t RateBudget::keys() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

void RateBudget::PauseUntil(const std::string& key, Clock::time_point until) {
  std::lock_guard lock(mutex_);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{0, until, until});
  Bucket& b = it->second;
  b.paused_until = std::max(b.paused_until, until);
  // The upstream's window is spent: start again from an empty bucket after the pause.
  b.tokens = 0;
  b.refilled = std::max(b.refilled, b.paused_until);
}

}  // namespace ismscode::gateway
