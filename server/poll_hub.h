#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/acquirer.h"
#include "server/errors.h"
#include "server/rate_budget.h"
#include "server/scheduler.h"
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
  std::string last_error;               // empty when this poll succeeded
  const std::vector<UpstreamSms>* sms;  // everything the number has received so far
  std::optional<GatewayError> fatal;    // the number cannot be polled any more
};

class PollWatcher {
 public:
  virtual ~PollWatcher() = default;
  // Called on a worker thread after every poll; must not block.
  virtual void OnPoll(const PollReport& report) = 0;
};

// One poll loop per watched number, however many watchers it has: polls run on the
// worker pool, are timed by the scheduler, and take poll-priority tokens from the rate
// budget (waiting when it is spent, pausing the key on a 429). The loop stops when the
// last watcher leaves. Thread-safe.
class PollHub {
 public:
  struct Options {
    std::chrono::milliseconds interval{5000};  // the API document's advice
  };

  PollHub(UpstreamPool& upstream, RateBudget& budget, Scheduler& scheduler, WorkerPool& workers,
          Options options, GatewayMetrics* metrics = nullptr);

  void Add(const WatchedNumber& number, const std::shared_ptr<PollWatcher>& watcher);
  void Remove(const std::string& number_id, const PollWatcher* watcher);

 private:
  struct Entry {
    WatchedNumber number;
    std::vector<std::shared_ptr<PollWatcher>> watchers;
    int polls = 0;
    std::vector<UpstreamSms> sms;
    bool scheduled = false;  // a poll is pending or running
    bool throttled = false;  // the pending poll waited for the budget (counted once)
  };
  // Runs the polls of `key` waiting for its budget, in arrival order, while tokens last.
  void DrainQueue(const std::string& key);
  // Drops a finished loop. Called with mutex_ held.
  void EraseLocked(std::unordered_map<std::string, Entry>::iterator it);

  void PollDue(const std::string& number_id);
  void RunPoll(const WatchedNumber& number);

  UpstreamPool& upstream_;
  RateBudget& budget_;
  Scheduler& scheduler_;
  WorkerPool& workers_;
  const Options options_;
  GatewayMetrics* const metrics_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  // By upstream key: number ids whose poll waits for the key's budget, oldest first.
  std::unordered_map<std::string, std::deque<std::string>> queues_;
};

}  // namespace ismscode::gateway
