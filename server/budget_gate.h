#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/mutex.h"
#include "server/errors.h"
#include "server/rate_budget.h"
#include "server/runtime.h"

namespace ismscode::gateway {

class GatewayMetrics;

// The one place where an upstream request waits for its key's budget and where a 429
// pauses the key, for every purpose. A request waits in its key's queue (purchases,
// then polls, then list calls; within a purpose, the highest priority first, and first
// come, first served among equals) on a timer,
// never on a thread; runs on a worker once the KeyBudget grants a slot; and gives the
// slot back when it is answered. A 429 pauses the key for its Retry-After, or for a
// whole window when the upstream gave none. While the budget's state is unavailable
// (--state, Redis down), purchases are refused at once with STATE_UNAVAILABLE (none
// goes without the fleet's guarantees) and polls and list calls wait. Thread-safe.
class BudgetGate {
 public:
  using Clock = Runtime::Clock;
  using Ticket = uint64_t;

  // How a granted request went, as the gate needs to know it.
  struct Answer {
    bool sent = true;                            // false: nothing went upstream after all
    bool rate_limited = false;                   // the upstream answered 429
    std::optional<Clock::duration> retry_after;  // its Retry-After, if any
    std::function<void()> then;                  // runs after the slot is back (and any pause set)
  };
  using Work = std::function<Answer()>;  // runs on a worker with the slot held
  // RATE_LIMIT_EXCEEDED (with RetryInfo) when no slot can come before `give_up`,
  // STATE_UNAVAILABLE for a purchase while the budget is, or SHUTTING_DOWN once the gate
  // stopped. Never runs under the gate's lock.
  using Refused = std::function<void(const GatewayError& why)>;
  // What a waiting request is worth when a slot frees at `now` (higher goes first). Runs
  // under the gate's lock: it must not block, lock or call into the gate.
  using Priority = std::function<double(Clock::time_point now)>;

  BudgetGate(KeyBudget& budget, Runtime runtime, GatewayMetrics* metrics = nullptr);

  // Exactly one of `work` and `refused` runs (either may run inline), unless Withdraw()
  // takes the request back first. A request that must wait counts once in
  // ismscode_throttled_total{source="rate_budget"}.
  Ticket Submit(const std::string& key, Purpose purpose, Clock::time_point give_up, Work work,
                Refused refused, Priority priority = nullptr);
  // Takes back a request still waiting for its slot. True: neither callback will run.
  bool Withdraw(Ticket ticket);
  // Refuses every waiting request, and every later one, with SHUTTING_DOWN. Idempotent.
  void Stop();
  // Requests waiting for a slot, over all keys.
  size_t waiting() const;

  KeyBudget& budget() { return budget_; }

 private:
  struct Waiter {
    Ticket ticket;
    Clock::time_point give_up;
    Work work;
    Refused refused;
    Priority priority;     // null: 0
    bool counted = false;  // counted as throttled
  };
  struct Queue {
    std::deque<Waiter> by_purpose[3];  // indexed by Purpose
    std::optional<Clock::time_point> timer_at;
    bool unavailable = false;  // the budget's state could not be read when last asked
    bool empty() const;
  };

  static std::deque<Waiter>::iterator Highest(std::deque<Waiter>& waiters, Clock::time_point now);
  // Grants what the key's budget allows, in priority order; refuses what cannot make
  // its give_up; arms one timer for the rest.
  void Dispatch(const std::string& key);
  void Run(const std::string& key, Purpose purpose, KeyBudget::SlotId slot, Work work,
           Refused refused);

  KeyBudget& budget_;
  const Runtime runtime_;
  GatewayMetrics* const metrics_;
  mutable Mutex mutex_;
  bool stopping_ GUARDED_BY(mutex_) = false;
  Ticket next_ticket_ GUARDED_BY(mutex_) = 1;
  std::unordered_map<std::string, Queue> queues_ GUARDED_BY(mutex_);
  std::unordered_map<Ticket, std::string> waiting_
      GUARDED_BY(mutex_);  // ticket -> key, while queued
};

}  // namespace ismscode::gateway
