#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace ismscode::gateway {

// The upstream request budget: one token bucket per upstream API key, shared by every
// purchase and every poll made with that key. Purchases go first: polls leave
// `reserved_for_acquire` tokens in the bucket. A 429 pauses the key until its
// Retry-After has passed. Time is passed in, so the budget is tested without waiting.
// Thread-safe.
class RateBudget {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    double requests_per_minute = 60;  // the provider's documented limit
    double burst = 10;                // bucket size: at most this many back to back
    double reserved_for_acquire = 1;  // tokens polls may not take
  };
  enum class Priority { kAcquire, kPoll };

  explicit RateBudget(Options options);

  // Takes a token for `key` and returns nullopt, or takes nothing and returns how long
  // until a token of this priority can be had.
  std::optional<Clock::duration> TryTake(const std::string& key, Priority priority,
                                         Clock::time_point now);
  // The upstream said 429: nothing for `key` until `until` (a later pause wins).
  void PauseUntil(const std::string& key, Clock::time_point until);
  // Keys with a bucket now (idle, full buckets are forgotten once there are many).
  size_t keys() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point refilled;
    Clock::time_point paused_until;
  };

  static constexpr size_t kSweepAbove = 1024;
  void ForgetIdleLocked(Clock::time_point now);

  const Options options_;
  const double tokens_per_second_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace ismscode::gateway
