#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/mutex.h"

namespace ismscode::gateway {

// Whose request an upstream slot serves, in priority order: purchases first, then SMS
// polls, then list calls.
enum class Purpose { kAcquire, kPoll, kList };
// "acquire", "poll", "list": the `purpose` label of ismscode_throttled_total.
std::string_view PurposeName(Purpose purpose);

// How a key's request budget is spent, whoever keeps its state (RateBudget in this
// process; SharedRateBudget in Redis, for a fleet of gateways): at most `limit` requests
// per `window`; purchases may use every slot, polls leave `reserve_for_acquire` of them,
// list calls leave `reserve_for_polls` more; polls and list calls are paced by a token
// bucket (`burst` at once, then limit/window a second).
class BudgetRules {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    int limit = 60;  // requests per window per key
    Clock::duration window = std::chrono::seconds(60);
    int reserve_for_acquire = -1;  // slots polls and lists leave; -1: max(1, limit / 20)
    int reserve_for_polls = -1;    // further slots lists leave; -1: max(1, limit / 20)
    double burst = -1;             // the pacer's bucket; -1: max(1, limit / 6)
  };

  explicit BudgetRules(Options options);

  int limit() const { return options_.limit; }
  Clock::duration window() const { return options_.window; }
  // The slots `purpose` must leave to the purposes before it (never all of a budget).
  int Floor(Purpose purpose) const;
  double burst() const { return burst_; }
  double tokens_per_second() const { return tokens_per_second_; }
  // How far back purchases count for the recent purchase rate: a third of the window.
  Clock::duration PurchaseHorizon() const { return options_.window / 3; }
  // Requests per second polls could use if nothing else needed the key.
  double PollCapacity() const;

 private:
  const Options options_;
  const int reserve_for_acquire_;
  const int reserve_for_polls_;
  const double burst_;
  const double tokens_per_second_;
};

// What BudgetGate asks of a key's request budget, wherever its state lives: RateBudget
// keeps it in this process; FleetBudget (fleet_budget.h) in Redis, for every gateway on
// the same --state. Both follow one BudgetRules.
class KeyBudget {
 public:
  using Clock = std::chrono::steady_clock;
  using SlotId = uint64_t;

  // Either a slot (the request may go now) or how long until one could be free: a
  // lower bound, exact when no granted request is still unanswered. `unavailable`: the
  // budget's state cannot be read now (the state store is down), so nothing may go;
  // `wait` is when to ask again.
  struct Decision {
    std::optional<SlotId> slot;
    Clock::duration wait{};
    bool unavailable = false;
  };

  virtual ~KeyBudget() = default;

  // REQUIRES: `now` never goes backwards between calls for one key.
  virtual Decision TryTake(const std::string& key, Purpose purpose, Clock::time_point now) = 0;
  // The request behind `slot` got its answer (or failed) at `now`. `sent` false: it never
  // left the gateway, and its slot is free at once.
  virtual void Release(const std::string& key, SlotId slot, Clock::time_point now,
                       bool sent = true) = 0;
  // The upstream said 429: nothing for `key` until `until` (a later pause wins).
  virtual void PauseUntil(const std::string& key, Clock::time_point until,
                          Clock::time_point now) = 0;
  // Purchases per second on `key` lately (over the rules' purchase horizon): the share
  // of the budget that polls cannot count on.
  virtual double RecentPurchaseRate(const std::string& key, Clock::time_point now) = 0;
  virtual const BudgetRules& rules() const = 0;

  Clock::duration window() const { return rules().window(); }
  int limit() const { return rules().limit(); }
  // Requests per second polls could use if nothing else needed the key.
  double PollCapacity() const { return rules().PollCapacity(); }
};

// Spends one upstream key's request budget: no interval of `window` ever carries more
// than `limit` requests for a key, whatever the upstream's window algorithm (fixed or
// sliding) and however late a granted request reaches it. A request counts from the
// moment its slot is taken until `window` after its answer came back (its arrival
// upstream lies somewhere in between). Purchases may use every slot; polls leave
// `reserve_for_acquire` of them; list calls leave `reserve_for_polls` more.
//
// Polls and list calls are also paced by a token bucket (`burst` requests at once, then
// limit/window a second), so that they spread over the window instead of spending it
// in its first seconds and then waiting for all of it to pass. Purchases are not paced
// (they take a token when there is one). A 429 pauses the key. Time is passed in, so
// the budget is tested without waiting. Thread-safe.
class RateBudget final : public KeyBudget {
 public:
  using Options = BudgetRules::Options;

  explicit RateBudget(Options options);

  Decision TryTake(const std::string& key, Purpose purpose, Clock::time_point now) override;
  void Release(const std::string& key, SlotId slot, Clock::time_point now,
               bool sent = true) override;
  void PauseUntil(const std::string& key, Clock::time_point until,
                  Clock::time_point now = {}) override;
  double RecentPurchaseRate(const std::string& key, Clock::time_point now) override;
  const BudgetRules& rules() const override { return rules_; }
  // Keys with state now (idle keys are forgotten once there are many).
  size_t keys() const;
  // Requests that count against `key` at `now` (unanswered ones included).
  int InUse(const std::string& key, Clock::time_point now) const;

 private:
  struct Key {
    std::map<SlotId, bool> unanswered;          // slot -> it took a pacer token
    std::multiset<Clock::time_point> answered;  // answer times still inside the window
    Clock::time_point paused_until;
    std::deque<Clock::time_point> purchases;  // slots taken for purchases, lately
    double tokens = -1;                       // the pacer's; -1: not started (a full bucket)
    Clock::time_point refilled;
  };

  static constexpr size_t kSweepAbove = 1024;
  void ForgetIdle(Clock::time_point now) REQUIRES(mutex_);
  void Expire(Key& k, Clock::time_point now) const REQUIRES(mutex_);
  void ForgetOldPurchases(Key& k, Clock::time_point now) const REQUIRES(mutex_);
  // Refills the pacer to `now`; how long until it holds one token (zero when it does).
  Clock::duration Pace(Key& k, Clock::time_point now) const;

  const BudgetRules rules_;
  mutable Mutex mutex_;
  SlotId next_slot_ GUARDED_BY(mutex_) = 1;
  mutable std::unordered_map<std::string, Key> keys_ GUARDED_BY(mutex_);
};

}  // namespace ismscode::gateway
