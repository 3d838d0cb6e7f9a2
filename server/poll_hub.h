#pragma once

#include <chrono>
#include <deque>
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

// One poll loop per watched number, however many watchers it has: polls wait for the
// key's budget in the BudgetGate (after purchases, before list calls), run on its
// workers, and are timed by the runtime. While a poll waits for budget, watchers get a
// heartbeat every interval that says so. The loop stops, and its state goes, when the
// last watcher leaves. Thread-safe.
class PollHub {
 public:
  struct Options {
    std::chrono::milliseconds interval{5000};  // the API document's advice
  };

  PollHub(Upstream& upstream, BudgetGate& gate, Runtime runtime, Options options,
          GatewayMetrics* metrics = nullptr);

  // A watcher that joins a running loop is told at once what the loop knows (the SMS so
  // far: a code that is already there arrives without waiting for the next poll).
  void Add(const WatchedNumber& number, const std::shared_ptr<PollWatcher>& watcher);
  void Remove(const std::string& number_id, const PollWatcher* watcher);
  // Numbers with a poll loop now.
  size_t loops() const;

 private:
  struct Entry {
    WatchedNumber number;
    uint64_t loop = 0;  // this loop's generation: a late timer of an earlier loop is stale
    std::vector<std::shared_ptr<PollWatcher>> watchers;
    int polls = 0;
    std::vector<UpstreamSms> sms;
    std::string last_error;  // of the last poll
    SystemTime next_poll_at;
    enum class State { kIdle, kQueued, kPolling } state = State::kIdle;
    BudgetGate::Ticket ticket = 0;  // while queued
    // The loop's next timer (next poll, or next heartbeat while queued): cancelled when
    // the loop ends, so an ended loop holds nothing until its timer would have come due.
    std::optional<Runtime::TimerId> timer;
  };
  using Entries = std::unordered_map<std::string, Entry>;

  void PollDue(const std::string& number_id, uint64_t loop);
  void Heartbeat(const std::string& number_id, uint64_t loop);
  BudgetGate::Answer RunPoll(const std::string& number_id, uint64_t loop);
  void Erase(Entries::iterator it) REQUIRES(mutex_);
  // The poll's metrics: its result, and how long each SMS it found first had waited.
  void RecordPoll(const std::string& service,
                  const UpstreamResult<std::vector<UpstreamSms>>& result,
                  const std::vector<UpstreamSms>& sms, size_t known);
  // Sets `loop`'s next timer for number_id, replacing the one it had, if the loop is
  // still in the `expected` state; otherwise the new timer is dropped.
  void ArmTimer(const std::string& number_id, uint64_t loop, Entry::State expected,
                Runtime::Task task);

  Upstream& upstream_;
  BudgetGate& gate_;
  const Runtime runtime_;
  const Options options_;
  GatewayMetrics* const metrics_;
  mutable Mutex mutex_;
  uint64_t next_loop_ GUARDED_BY(mutex_) = 1;
  Entries entries_ GUARDED_BY(mutex_);
};

}  // namespace ismscode::gateway
