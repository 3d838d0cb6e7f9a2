#pragma once

#include <absl/status/status.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/mutex.h"
#include "server/rate_budget.h"
#include "server/redis_client.h"
#include "server/redis_subscriber.h"
#include "server/shared_number_registry.h"
#include "server/shared_poll_loops.h"
#include "server/shared_rate_budget.h"
#include "server/shared_request_ids.h"
#include "server/state_url.h"

namespace ismscode::gateway {

class GatewayMetrics;

// A key's request budget kept in Redis for the whole fleet (SharedRateBudget), as
// BudgetGate asks for it. While Redis cannot be reached, nothing is granted: a decision
// says `unavailable` and to ask again in a second. A slot whose release cannot reach
// Redis stays counted there until it leaves on its own (SharedRateBudget's
// unanswered_for, which covers the longest request and a window after it). A 429 pauses
// the key here at once, and in Redis for the fleet. When Redis loses a key's state (it
// restarted without persistence: the key's epoch changed), the key waits a window on
// this replica, as the upstream still counts the requests Redis forgot. Thread-safe.
class FleetBudget final : public KeyBudget {
 public:
  explicit FleetBudget(SharedRateBudget& shared) : shared_(shared) {}

  Decision TryTake(const std::string& key, Purpose purpose, Clock::time_point now) override;
  void Release(const std::string& key, SlotId slot, Clock::time_point now, bool sent) override;
  void PauseUntil(const std::string& key, Clock::time_point until, Clock::time_point now) override;
  // Read from Redis at most every 250 ms per key (polls plan on it often); while Redis
  // is unreachable, the last rate read.
  double RecentPurchaseRate(const std::string& key, Clock::time_point now) override;
  const BudgetRules& rules() const override { return shared_.rules(); }

 private:
  struct Rate {
    double per_second = 0;
    Clock::time_point read_at;
  };
  SharedRateBudget& shared_;
  Mutex mutex_;
  std::unordered_map<SlotId, bool> took_token_ GUARDED_BY(mutex_);  // slots held now
  std::unordered_map<std::string, Rate> rates_ GUARDED_BY(mutex_);
  // 429 pauses this replica saw, kept here too (Redis may not have heard of them).
  std::unordered_map<std::string, Clock::time_point> paused_until_ GUARDED_BY(mutex_);
  // Each key's epoch in Redis as this replica last saw it (see SharedRateBudget).
  std::unordered_map<std::string, std::string> epochs_ GUARDED_BY(mutex_);
};

// Everything a gateway shares with the rest of its fleet (--state): one connection to
// Redis and the shared rate budget, request ids, number registry and poll loops over it.
// Knows whether Redis answered lately (up()), for health and for heartbeats that say
// why a poll waits. Thread-safe.
class StateStore {
 public:
  struct Options {
    StateUrl url;
    std::string password;  // from a file or the environment, never argv
    std::string replica;   // this gateway's name in the fleet: unique, new on each start
    BudgetRules::Options budget;
    // The longest an upstream request can take (connect, write and read, with a margin):
    // a slot whose replica died (or whose release was lost) still counts this long and a
    // window more; and a purchase's lease is twice this.
    std::chrono::milliseconds upstream_timeout{30000};
    std::chrono::milliseconds request_id_ttl{std::chrono::hours(1)};
    std::chrono::milliseconds poll_lease{15000};
    std::chrono::milliseconds timeout{500};  // each Redis call
  };

  StateStore(Options options, GatewayMetrics* metrics);

  KeyBudget& budget() { return budget_; }
  SharedRequestIds& request_ids() { return request_ids_; }
  SharedNumberRegistry& numbers() { return numbers_; }
  SharedPollLoops& poll_loops() { return poll_loops_; }
  const std::string& replica() const { return options_.replica; }
  // How long a purchase's claim on its request id lasts unless renewed.
  std::chrono::milliseconds purchase_lease() const { return purchase_lease_; }

  // Hears every number whose poller published new SMS (pub/sub, on a connection of its
  // own), and `resync` after every (re)connection, when messages may have been missed.
  // Both run on the listener's thread and must not block. Once.
  void Listen(std::function<void(const std::string& number_id)> published,
              std::function<void()> resync);
  // Stops listening: no callback runs after it returns. Idempotent.
  void StopListening();

  // Asks Redis (PING) now; the answer also updates up().
  absl::Status Check();
  // Whether the last call to Redis, of any kind, succeeded.
  bool up() const { return up_.load(std::memory_order_relaxed); }
  // "redis://host:6379/0", never a password.
  std::string Describe() const;

 private:
  void Observe(const absl::Status& status, std::chrono::steady_clock::duration took);

  const Options options_;
  GatewayMetrics* const metrics_;
  const std::chrono::milliseconds purchase_lease_;
  std::atomic<bool> up_{false};
  RedisClient redis_;
  SharedRateBudget shared_budget_;
  FleetBudget budget_;
  SharedRequestIds request_ids_;
  SharedNumberRegistry numbers_;
  SharedPollLoops poll_loops_;
  std::unique_ptr<RedisSubscriber> listener_;
};

}  // namespace ismscode::gateway
