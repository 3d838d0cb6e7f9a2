#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "server/acquirer.h"
#include "server/budget_gate.h"
#include "server/errors.h"
#include "server/runtime.h"
#include "server/shared_poll_loops.h"
#include "server/sms_delay_model.h"
#include "server/upstream_client.h"

namespace ismscode::gateway {

// A number the gateway bought, as polling needs it.
struct WatchedNumber {
  std::string id, key, service;
  KeyOwner key_owner = KeyOwner::kGateway;
  SystemTime expires_at;                              // in the gateway's clock (skew-corrected)
  std::chrono::steady_clock::time_point acquired_at;  // when AcquireNumber answered
};

// What one poll found, handed to every watcher of the number.
struct PollReport {
  int polls = 0;
  SystemTime next_poll_at;
  std::string last_error;                         // empty when this poll succeeded
  const std::vector<UpstreamSms>* sms = nullptr;  // everything received so far
  std::optional<GatewayError> fatal;              // the number cannot be polled any more
  // A heartbeat without a poll: the number's next poll waits for the key's budget.
  bool waiting_for_budget = false;
};

class PollWatcher {
 public:
  virtual ~PollWatcher() = default;
  // Called on a worker or timer thread after every poll, and while a poll waits for
  // the budget; must not block.
  virtual void OnPoll(const PollReport& report) = 0;
};

// How a key's polls are spent. kEven: every waiting number every interval, first come,
// first served (the policy before the scheduler, kept for comparison). kLikely: the same
// while the key's budget has slack; under contention, where a code is likely.
enum class PollPolicy { kEven, kLikely };

// One poll loop per watched number, however many watchers it has: polls wait for the
// key's budget in the BudgetGate (after purchases, before list calls), run on its
// workers, and are timed by the runtime. While a poll waits, watchers get a heartbeat
// every interval that says so. The loop stops, and its state goes, when the last watcher
// leaves. Thread-safe.
//
// The scheduler (kLikely). A number's SMS cannot be older than its origin: when its
// first watcher opened AwaitCode (tests trigger the send just before they await), or
// the caller's own word for when the app sent it. Its delay from the origin follows its
// service's distribution, which SmsDelayModel learns from the deliveries. When the
// key's budget has slack (recent purchases plus every waiting number polled every
// interval, or every 5 s if the interval is shorter, fit in the key's poll capacity),
// every number is polled every interval (as the budget's pacing allows).
// Otherwise a number is polled once the SMS, if it is there, has waited `worth_seconds`
// on average since the last poll (LogNormalDelay::WaitingSeconds), or once `max_gap`
// passed without a poll; and when several wait for a slot, the one whose SMS has waited
// longest on average goes first. Purchases keep their priority (BudgetGate).
class PollHub {
 public:
  struct Options {
    // The least time between two polls of one number (the API document's advice).
    std::chrono::milliseconds interval{5000};
    PollPolicy policy = PollPolicy::kLikely;
    // Under contention, no number waits longer than this between polls.
    std::chrono::milliseconds max_gap{60000};
    double worth_seconds = 4;
    SmsDelayModel::Options delay_model;
    // Why a queued poll waits, when it is more than the budget (--state: "the shared state
    // store is unreachable"): its heartbeats carry it as their last error. Null or empty:
    // nothing to add.
    std::function<std::string()> waiting_reason;
    // --state: one poll loop per number for the whole fleet. Only the replica holding the
    // number's lease in Redis polls it (and publishes what it found); the others read
    // that every second (at most every interval) for their own watchers, and take the
    // lease over when its holder stops renewing it. Null: this gateway polls alone.
    SharedPollLoops* shared = nullptr;
  };

  PollHub(Upstream& upstream, BudgetGate& gate, Runtime runtime, Options options,
          GatewayMetrics* metrics = nullptr);

  // A watcher that joins a running loop is told at once what the loop knows (the SMS so
  // far: a code that is already there arrives without waiting for the next poll).
  // `sent_at`: when the caller's app sent the SMS, if it said (no earlier than the
  // purchase, no later than now); the earliest such word is the number's origin.
  // `deadline`: when the watcher's stream ends; it gets a poll a second before, at the
  // latest, however unlikely its code.
  void Add(const WatchedNumber& number, const std::shared_ptr<PollWatcher>& watcher,
           std::optional<Runtime::Clock::time_point> sent_at = std::nullopt,
           std::optional<Runtime::Clock::time_point> deadline = std::nullopt);
  void Remove(const std::string& number_id, const PollWatcher* watcher);
  // Numbers with a poll loop now.
  size_t loops() const;
  // --state: another replica's poller published new SMS for `number_id`: this replica's
  // watchers of it hear them now, not at their next look. Never blocks.
  void PublishedElsewhere(const std::string& number_id);
  // --state: anything may have been published meanwhile (the listener reconnected).
  void PublishedElsewhereMaybe();

 private:
  struct Entry {
    WatchedNumber number;
    uint64_t loop = 0;  // this loop's generation: a late timer of an earlier loop is stale
    std::vector<std::shared_ptr<PollWatcher>> watchers;
    int polls = 0;
    std::vector<UpstreamSms> sms;
    std::string last_error;  // of the last poll
    SystemTime next_poll_at;
    Runtime::Clock::time_point watch_started;  // the loop's first watcher came
    Runtime::Clock::time_point origin;         // the SMS cannot be older (see the class)
    bool deferred = false;    // idle because its poll was put off, not because it just polled
    bool for_budget = false;  // when deferred: for the key's budget, not for the interval
    Runtime::Clock::time_point planned;  // when deferred: the poll's planned time
    uint64_t plan = 0;                   // the latest plan's number: an older one's timer is stale
    // When each watcher's stream ends (those that said): each gets a poll before.
    std::map<const PollWatcher*, Runtime::Clock::time_point> deadlines;
    std::optional<Runtime::Clock::time_point> last_poll;  // when the last poll went out
    enum class State { kIdle, kQueued, kPolling } state = State::kIdle;
    BudgetGate::Ticket ticket = 0;      // while queued
    bool leads = false;                 // --state: this replica held the number's lease lately
    Runtime::Clock::time_point led_at;  // --state: when it last confirmed so
    size_t published = 0;               // --state: SMS the fleet's store is known to hold
    // The loop's next timer (next poll, or next heartbeat while queued): cancelled when
    // the loop ends, so an ended loop holds nothing until its timer would have come due.
    std::optional<Runtime::TimerId> timer;
  };
  using Entries = std::unordered_map<std::string, Entry>;

  // Decides whether a poll goes now (and with what priority) or when to look again.
  struct Plan {
    bool poll_now = true;
    Runtime::Clock::time_point not_before;  // when !poll_now
    bool for_budget = false;  // when !poll_now: put off for the key's budget (contention)
    BudgetGate::Priority priority;
  };
  Plan PlanPoll(const Entry& e, Runtime::Clock::time_point now) REQUIRES(mutex_);
  // Recent purchases plus every waiting number of `key` polled every interval (at most
  // every 5 s) fit in the key's poll capacity.
  bool HasSlack(const std::string& key, Runtime::Clock::time_point now) REQUIRES(mutex_);
  // The service's delay distribution, refitted at most once a second (and after each
  // delivery), with its waiting numbers as censored observations.
  LogNormalDelay DelayFor(const std::string& service, Runtime::Clock::time_point now,
                          bool refit = false) REQUIRES(mutex_);
  // A loop's turn: with a fleet, FleetTurn first (on a worker); then PlanAndPoll.
  void PollDue(const std::string& number_id, uint64_t loop);
  // --state: leads (then PlanAndPoll) or follows (reads what the leader published).
  void FleetTurn(const std::string& number_id, uint64_t loop);
  void PlanAndPoll(const std::string& number_id, uint64_t loop);
  void Heartbeat(const std::string& number_id, uint64_t loop);
  BudgetGate::Answer RunPoll(const std::string& number_id, uint64_t loop);
  // Ends a loop. `censored`: its watchers left with no SMS (the delay model learns that
  // its service's SMS come later than its last poll).
  void Erase(Entries::iterator it, bool censored) REQUIRES(mutex_);
  // Keeps what an ending loop knew (origin, last poll, SMS) for a loop that takes over
  // soon.
  void Remember(const std::string& number_id, const Entry& e) REQUIRES(mutex_);
  // What the loop knows, for a watcher's report without a poll (the caller adds the SMS).
  PollReport Known(const Entry& e, bool waiting_for_budget) const REQUIRES(mutex_);
  // Teaches the delay model the first SMS of `e` (just found by a poll).
  void LearnDelay(const Entry& e, std::optional<SystemTime> upstream_date) REQUIRES(mutex_);
  // The poll's metrics: its result, and how long each SMS it found first had waited.
  void RecordPoll(const std::string& service,
                  const UpstreamResult<std::vector<UpstreamSms>>& result,
                  const std::vector<UpstreamSms>& sms, size_t known);
  // Sets `loop`'s next timer for number_id (at `when`, default one interval from now),
  // replacing the one it had, if the loop is still in the `expected` state; otherwise the
  // new timer is dropped.
  // With `plan`, only if that is still the loop's latest plan.
  void ArmTimer(const std::string& number_id, uint64_t loop, Entry::State expected,
                Runtime::Task task, std::optional<Runtime::Clock::time_point> when = {},
                std::optional<uint64_t> plan = {});

  Upstream& upstream_;
  BudgetGate& gate_;
  const Runtime runtime_;
  const Options options_;
  GatewayMetrics* const metrics_;
  mutable Mutex mutex_;
  uint64_t next_loop_ GUARDED_BY(mutex_) = 1;
  Entries entries_ GUARDED_BY(mutex_);
  std::unordered_map<std::string, int> loops_per_key_ GUARDED_BY(mutex_);
  SmsDelayModel delay_model_ GUARDED_BY(mutex_);
  struct Fit {
    LogNormalDelay delay;
    Runtime::Clock::time_point at;
  };
  std::unordered_map<std::string, Fit> fits_ GUARDED_BY(mutex_);  // by service
  struct Ended {
    Runtime::Clock::time_point origin;
    std::optional<Runtime::Clock::time_point> last_poll;
    int polls = 0;
    std::vector<UpstreamSms> sms;
    Runtime::Clock::time_point at;
  };
  std::unordered_map<std::string, Ended> ended_ GUARDED_BY(mutex_);  // by number id
};

}  // namespace ismscode::gateway
