#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "common/mutex.h"
#include "server/rate_budget.h"
#include "server/redis_client.h"

namespace ismscode::gateway {

// One upstream key's request budget shared by every gateway on the same Redis
// (--state): RateBudget's guarantee, by the same BudgetRules, for the whole fleet. No
// interval of the window carries more than the limit of requests for a key, whichever
// replicas sent them; purchases may use every slot, polls and list calls leave theirs;
// the pacer is the fleet's; a 429 seen by one replica pauses the key for all.
//
// Each step is one Lua script that Redis runs atomically, on Redis's clock (replicas'
// clocks may disagree; the window must not). A request counts from its slot until a
// window after its answer (however late the answer); a slot never answered (its replica
// died) counts for `unanswered_for`, then leaves: at least a window, and it should
// cover the longest an upstream request can take (its timeout), or a request still in
// flight would leave the count before its answer. Slot ids are random, so a slot of
// before a Redis restart is never mistaken for a new one. The API key itself is never
// stored: a key's state
// lives under a SHA-256 tag of it. Errors are RedisClient's (UNAVAILABLE while Redis is
// unreachable). Thread-safe.
class SharedRateBudget {
 public:
  struct Decision {
    std::optional<uint64_t> slot;
    bool took_token = false;            // with a slot: it took one of the pacer's tokens
    std::chrono::milliseconds wait{0};  // without: a lower bound on the wait for one
    // The key's epoch in Redis: it changes only when Redis lost the key's state (a
    // restart without persistence), and with it the requests of the last window.
    std::string epoch;
  };

  SharedRateBudget(RedisClient& redis, BudgetRules rules, std::chrono::milliseconds unanswered_for);

  absl::StatusOr<Decision> TryTake(const std::string& key, Purpose purpose);
  // The request behind a slot got its answer (or failed). `sent` false: it never left the
  // gateway; its slot (and its token) are free at once.
  absl::Status Release(const std::string& key, const Decision& taken, bool sent);
  // The upstream said 429: nothing for `key` for `pause`, on every replica.
  absl::Status PauseFor(const std::string& key, std::chrono::milliseconds pause);
  // Purchases per second on `key` over the rules' purchase horizon, fleet-wide.
  absl::StatusOr<double> RecentPurchaseRate(const std::string& key);
  // Requests that count against `key` now, fleet-wide (unanswered ones included).
  absl::StatusOr<int> InUse(const std::string& key);

  // The Redis keys of `key`'s state: "ismscode:budget:{TAG}:" with TAG its StateKeyTag
  // (the braces keep them in one Redis Cluster slot).
  static std::string KeyPrefix(const std::string& key);
  const BudgetRules& rules() const { return rules_; }

 private:
  RedisClient& redis_;
  const BudgetRules rules_;
  const std::chrono::milliseconds unanswered_for_;
  Mutex mutex_;
  std::mt19937_64 random_ GUARDED_BY(mutex_);  // slot ids
};

}  // namespace ismscode::gateway
