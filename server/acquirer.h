#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "server/budget_gate.h"
#include "server/errors.h"
#include "server/rate_budget.h"
#include "server/runtime.h"
#include "server/shared_request_ids.h"
#include "server/upstream_client.h"

namespace ismscode::gateway {

class GatewayMetrics;

struct AcquireRequest {
  std::string country, service;
  std::vector<std::string> fallback_countries;
  std::string request_id;                 // idempotency key; empty: none
  std::chrono::milliseconds max_wait{0};  // keep retrying retryable failures this long
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct AcquireOutcome {
  // On success, with `expires_at` already in the gateway's clock (corrected by the
  // purchase answer's Date header), computed once: a replay returns exactly this.
  std::optional<UpstreamNumber> number;
  std::optional<GatewayError> error;
  int attempts = 0;       // purchase requests this call sent upstream
  bool replayed = false;  // served from an earlier call with the same request_id
};

// An outcome as the fleet's shared state keeps it (JSON), and back: a number, or an
// error's reason, message and metadata. nullopt: not an outcome this code wrote.
std::string EncodeOutcome(const AcquireOutcome& outcome);
std::optional<AcquireOutcome> DecodeOutcome(const std::string& text);

// AcquireNumber's logic, independent of gRPC: validates locally, deduplicates by
// request id (concurrent duplicates wait for the first; a number is never bought twice
// for one id), waits for purchase slots of the key's budget (BudgetGate), and tries the
// country then the fallbacks, retrying stock-outs, 429s and transient failures with
// exponential backoff and full jitter until max_wait or the deadline. 400, 401, 402 and
// an unanswered purchase (UPSTREAM_TIMEOUT) are never retried.
//
// With a fleet (Options::shared_ids), an id is also claimed in Redis before anything is
// bought: a duplicate on another replica waits for the buyer's outcome and replays it;
// an id whose buyer vanished mid-purchase stays UPSTREAM_TIMEOUT; and while Redis cannot
// be reached, nothing with an id is bought (STATE_UNAVAILABLE).
//
// A caller that goes away (Cancel) stops the retries: once no caller waits on an
// acquisition, nothing more is sent upstream; a purchase already on the wire is kept
// under its request id, so a retry with that id gets the number.
//
// Asynchronous: no thread ever waits for time. Upstream calls run on the gate's
// workers, pauses on the runtime's timers, and the outcome arrives through a callback.
// Thread-safe.
class Acquirer {
 public:
  struct Options {
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5000};
    // How long a request id remembers its number (then it may buy a new one).
    std::chrono::milliseconds request_id_ttl{std::chrono::hours(1)};
    uint64_t seed = std::random_device{}();
    // --state: request ids are claimed across the fleet, so that one id buys once
    // whichever replicas it reaches. Null: this gateway's own map only.
    SharedRequestIds* shared_ids = nullptr;
    // How long a claim lasts unless renewed (renewed every quarter of it while it buys).
    std::chrono::milliseconds shared_lease{20000};
  };
  using Clock = Runtime::Clock;
  using Done = std::function<void(AcquireOutcome)>;
  using Ticket = uint64_t;  // one caller's place in an acquisition, for Cancel

  // (Purchases are counted where their outcome is known: the service and the upstream
  // client.)
  Acquirer(Upstream& upstream, BudgetGate& gate, Options options, Runtime runtime);

  // Calls `done` exactly once, on a worker or timer thread (or inline when the answer is
  // known at once), unless Cancel(ticket) returns true first.
  Ticket Acquire(const std::string& key, KeyOwner key_owner, const AcquireRequest& request,
                 Done done);
  // The caller behind `ticket` is gone (cancelled, or its deadline passed). True: its
  // `done` will never run. False: it has run or is running.
  bool Cancel(Ticket ticket);
  // Acquisitions not on the wire end now with SHUTTING_DOWN (nothing more is sent); a
  // purchase on the wire ends when it is answered; later calls end at once. Idempotent.
  void Stop();
  // Acquisitions in progress (for tests: a cancelled one is gone at once).
  size_t in_progress() const;

  // The local checks, exposed for the service's own validation messages.
  static std::optional<GatewayError> Validate(const AcquireRequest& request);

 private:
  struct Job;
  // What a request id's purchase came to, kept for replays.
  struct Answered {
    Clock::time_point at;
    AcquireOutcome outcome;
  };

  void Step(const std::shared_ptr<Job>& job);
  // --state: claims the job's request id for the fleet, then steps, replays or waits.
  void Claim(const std::shared_ptr<Job>& job);
  void RenewLater(const std::shared_ptr<Job>& job);
  // --state: what the fleet keeps of a retired job's claim (its outcome, or nothing).
  void Settle(const std::shared_ptr<Job>& job, const AcquireOutcome& outcome, int tries_left = 30);
  BudgetGate::Answer Attempt(const std::shared_ptr<Job>& job);
  void Wait(const std::shared_ptr<Job>& job, Clock::duration how_long);
  // Ends the job: every caller still waiting gets `outcome` (duplicates as a replay).
  void Finish(const std::shared_ptr<Job>& job, AcquireOutcome outcome);
  // Marks the job done and records its outcome for its request id; returns the callers
  // to tell. REQUIRES: mutex_ held. Idempotent (a done job returns nobody). A job that
  // holds a claim in the fleet must be Settle()d after the lock is released.
  // `settle`: set when the job held a claim in the fleet, which must now be settled.
  std::vector<std::pair<Ticket, Done>> Retire(const std::shared_ptr<Job>& job,
                                              const AcquireOutcome& outcome, bool* settle = nullptr)
      REQUIRES(mutex_);
  // True when the job must not send anything more (stopping, or nobody waits).
  bool Abandoned(const Job& job) const REQUIRES(mutex_);
  // The first caller's deadline has passed: its call is over, whatever comes next.
  bool PastDeadline(const Job& job) const;
  void FinishLate(const std::shared_ptr<Job>& job);
  Clock::duration Backoff(int retry);
  void ForgetOldRequestIds(Clock::time_point now) REQUIRES(mutex_);

  Upstream& upstream_;
  BudgetGate& gate_;
  const Options options_;
  const Runtime runtime_;
  mutable Mutex mutex_;
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::mt19937_64 jitter_ GUARDED_BY(mutex_);
  Ticket next_ticket_ GUARDED_BY(mutex_) = 1;
  std::unordered_map<Ticket, std::shared_ptr<Job>> callers_
      GUARDED_BY(mutex_);                                   // callers still waiting
  std::set<std::shared_ptr<Job>> jobs_ GUARDED_BY(mutex_);  // acquisitions in progress
  // (key, request id) -> the outcome of the purchase made for it, once made.
  std::unordered_map<std::string, Answered> by_request_id_ GUARDED_BY(mutex_);
  // (key, request id) -> the acquisition making it.
  std::unordered_map<std::string, std::shared_ptr<Job>> running_by_request_id_ GUARDED_BY(mutex_);
  size_t inserts_since_sweep_ GUARDED_BY(mutex_) = 0;
};

}  // namespace ismscode::gateway
