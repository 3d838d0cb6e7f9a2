#pragma once

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

#include "server/errors.h"
#include "server/rate_budget.h"
#include "server/upstream_client.h"

namespace ismscode::gateway {

class GatewayMetrics;

// A fixed set of upstream connections, leased one at a time (a cpp-httplib client
// serialises its requests). Lease() blocks until one is free. Thread-safe.
class UpstreamPool {
 public:
  // nullptr with `error` set when the config is unusable.
  static std::unique_ptr<UpstreamPool> Create(const UpstreamConfig& config, size_t size,
                                              std::string* error,
                                              GatewayMetrics* metrics = nullptr);

  class Lease {
   public:
    Lease(UpstreamPool& pool, std::unique_ptr<UpstreamClient> client);
    ~Lease();
    Lease(Lease&&) = default;
    UpstreamClient* operator->() { return client_.get(); }

   private:
    UpstreamPool* pool_;
    std::unique_ptr<UpstreamClient> client_;
  };
  Lease Take();

 private:
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<UpstreamClient>> idle_;
};

struct AcquireRequest {
  std::string country, service;
  std::vector<std::string> fallback_countries;
  std::string request_id;                 // idempotency key; empty: none
  std::chrono::milliseconds max_wait{0};  // keep retrying retryable failures this long
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct AcquireOutcome {
  std::optional<UpstreamNumber> number;
  std::optional<SystemTime> upstream_date;  // the purchase answer's Date, for clock skew
  std::optional<GatewayError> error;
  int attempts = 0;       // purchase requests this call sent upstream
  bool replayed = false;  // served from an earlier call with the same request_id
};

// AcquireNumber's logic, independent of gRPC: validates locally, deduplicates by
// request id (concurrent duplicates wait for the first; a number is never bought twice
// for one id), takes purchase-priority tokens from the rate budget, and tries the
// country then the fallbacks, retrying stock-outs, 429s and transient failures with
// exponential backoff and full jitter until max_wait or the deadline. 400, 401, 402 and
// an unanswered purchase (UPSTREAM_TIMEOUT) are never retried.
//
// Asynchronous: no thread ever waits for time. Upstream calls run through
// `Runtime::run` (the worker pool), pauses through `Runtime::after` (the scheduler), and
// the outcome arrives through a callback. Thread-safe.
class Acquirer {
 public:
  struct Options {
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5000};
    // How long a request id remembers its number (then it may buy a new one).
    std::chrono::milliseconds request_id_ttl{std::chrono::hours(1)};
    uint64_t seed = std::random_device{}();
  };
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void()>;
  struct Runtime {
    std::function<void(Task)> run;                     // blocking work (upstream calls)
    std::function<void(Clock::duration, Task)> after;  // a timer; must not block
    std::function<Clock::time_point()> now;
  };
  using Done = std::function<void(AcquireOutcome)>;

  Acquirer(UpstreamPool& upstream, RateBudget& budget, Options options, Runtime runtime,
           GatewayMetrics* metrics = nullptr);

  // Calls `done` exactly once, on a worker or timer thread (or inline when the answer is
  // known at once).
  void Acquire(const std::string& key, KeyOwner key_owner, const AcquireRequest& request,
               Done done);
  // Acquisitions waiting for a pause end now with SHUTTING_DOWN; those in an upstream
  // call end after it; later calls end at once. Idempotent.
  void Stop();

  // The local checks, exposed for the service's own validation messages.
  static std::optional<GatewayError> Validate(const AcquireRequest& request);

 private:
  struct Job;
  struct Pending {
    bool done = false;
    Clock::time_point done_at;
    AcquireOutcome outcome;
    std::vector<Done> waiters;  // concurrent duplicates
  };

  void Step(const std::shared_ptr<Job>& job);
  void Attempt(const std::shared_ptr<Job>& job);
  void Wait(const std::shared_ptr<Job>& job, Clock::duration how_long);
  void Finish(const std::shared_ptr<Job>& job);
  Clock::duration Backoff(int retry);
  void ForgetOldRequestIdsLocked(Clock::time_point now);

  UpstreamPool& upstream_;
  RateBudget& budget_;
  const Options options_;
  const Runtime runtime_;
  GatewayMetrics* const metrics_;
  std::mutex mutex_;
  bool stopping_ = false;
  std::mt19937_64 jitter_;
  std::set<std::shared_ptr<Job>> waiting_;  // jobs in a pause, for Stop()
  // (key, request id) -> the purchase made or being made for it.
  std::unordered_map<std::string, std::shared_ptr<Pending>> by_request_id_;
  size_t inserts_since_sweep_ = 0;
};

}  // namespace ismscode::gateway
