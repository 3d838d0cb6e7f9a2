#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/errors.h"
#include "server/rate_budget.h"
#include "server/upstream_client.h"

namespace ismscode::gateway {

// A fixed set of upstream connections, leased one at a time (a cpp-httplib client
// serialises its requests). Lease() blocks until one is free. Thread-safe.
class UpstreamPool {
 public:
  // nullptr with `error` set when the config is unusable.
  static std::unique_ptr<UpstreamPool> Create(const UpstreamConfig& config, size_t size,
                                              std::string* error);

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
// an unanswered purchase (UPSTREAM_TIMEOUT) are never retried. Thread-safe.
class Acquirer {
 public:
  struct Options {
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5000};
    uint64_t seed = std::random_device{}();
  };
  // Waits for `how_long`; tests pass one that advances a fake clock instead.
  using Sleep = std::function<void(std::chrono::steady_clock::duration how_long)>;
  using Now = std::function<std::chrono::steady_clock::time_point()>;

  Acquirer(UpstreamPool& upstream, RateBudget& budget, Options options, Sleep sleep, Now now);

  AcquireOutcome Acquire(const std::string& key, KeyOwner key_owner, const AcquireRequest& request);

  // The local checks, exposed for the service's own validation messages.
  static std::optional<GatewayError> Validate(const AcquireRequest& request);

 private:
  struct Pending {
    bool done = false;
    AcquireOutcome outcome;
    std::condition_variable cv;
  };

  AcquireOutcome AcquireOnce(const std::string& key, KeyOwner key_owner,
                             const AcquireRequest& request);
  std::chrono::steady_clock::duration Backoff(int retry);

  UpstreamPool& upstream_;
  RateBudget& budget_;
  const Options options_;
  Sleep sleep_;
  Now now_;
  std::mutex mutex_;
  std::mt19937_64 jitter_;
  // (key, request id) -> the purchase made or being made for it.
  std::unordered_map<std::string, std::shared_ptr<Pending>> by_request_id_;
};

}  // namespace ismscode::gateway
