#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/mutex.h"
#include "ismscode/harness/v1/verification.grpc.pb.h"
#include "server/acquirer.h"
#include "server/caller_access.h"
#include "server/list_cache.h"
#include "server/metrics.h"
#include "server/number_registry.h"
#include "server/poll_hub.h"
#include "server/runtime.h"
#include "server/scheduler.h"
#include "server/shared_number_registry.h"

namespace ismscode::gateway {

class AwaitReactor;
class AcquireReactor;

// The gRPC service: the callback API throughout, handlers never block (upstream work
// runs on the worker pool, delays on the scheduler), and every reactor finishes exactly
// once. Owns nothing it is given; the Gateway wires the parts and their lifetimes.
class VerificationService final
    : public ismscode::harness::v1::VerificationService::CallbackService {
 public:
  struct Options {
    std::string upstream_key;  // the gateway's own key (never logged)
    std::chrono::milliseconds default_timeout{120000};
    // Bearer tokens callers must present ("authorization: Bearer <token>"); empty: none.
    std::vector<std::string> caller_tokens;
    // Callers may send their own upstream key in "x-ismscode-api-key"; it gets its own
    // rate budget, and numbers bought with it are visible only to that key.
    bool allow_caller_keys = false;
    // How long a list call may wait for the key's budget when its list is not cached.
    std::chrono::milliseconds list_budget_wait{2000};
    // --state: numbers are also kept in the fleet's registry, so that AwaitCode works on
    // any replica. Null: this gateway's own numbers only.
    SharedNumberRegistry* shared_numbers = nullptr;
    // With shared_numbers: where a number the registry did not take is tried again (every
    // second, until its reservation ends).
    Runtime runtime;
  };

  VerificationService(Acquirer& acquirer, PollHub& hub, ListCache& lists, Scheduler& scheduler,
                      GatewayMetrics& metrics, Options options);

  grpc::ServerUnaryReactor* ListCountries(grpc::CallbackServerContext* context,
                                          const harness::v1::ListCountriesRequest* request,
                                          harness::v1::ListCountriesResponse* response) override;
  grpc::ServerUnaryReactor* ListServices(grpc::CallbackServerContext* context,
                                         const harness::v1::ListServicesRequest* request,
                                         harness::v1::ListServicesResponse* response) override;
  grpc::ServerUnaryReactor* AcquireNumber(grpc::CallbackServerContext* context,
                                          const harness::v1::AcquireNumberRequest* request,
                                          harness::v1::AcquireNumberResponse* response) override;
  grpc::ServerWriteReactor<harness::v1::AwaitCodeEvent>* AwaitCode(
      grpc::CallbackServerContext* context, const harness::v1::AwaitCodeRequest* request) override;

  // Ends every open stream with UNAVAILABLE / SHUTTING_DOWN and refuses new work.
  void Drain();
  // Waits until no call is in progress, or `deadline`. True when idle.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);

 private:
  friend class AwaitReactor;
  friend class AcquireReactor;
  // A list call (ListCountries, ListServices): authorised, counted, served by the
  // ListCache; `fetch` asks it and finishes the reactor through `finish`.
  using FinishList = std::function<void(const GatewayError* error)>;
  grpc::ServerUnaryReactor* ListCall(
      grpc::CallbackServerContext* context,
      std::function<void(const Caller& caller, Scheduler::Clock::time_point give_up,
                         FinishList finish)>
          fetch);
  void Forget(AwaitReactor* reactor);
  // Keeps a number bought (or replayed) for `caller`, here and in the fleet's registry.
  void Remember(const WatchedNumber& number, bool fresh);
  void RememberInFleet(const WatchedNumber& number, bool fresh, bool first_try);
  // The number `id`, when `key` bought it: here, or anywhere in the fleet. An error only
  // when the fleet's registry cannot be read (STATE_UNAVAILABLE).
  std::variant<std::optional<WatchedNumber>, GatewayError> Find(const std::string& id,
                                                                const std::string& key);
  // Unary calls: counted from start to Finish, so that shutdown knows when it is idle.
  bool BeginUnary(grpc::ServerUnaryReactor* reactor);
  void FinishUnary(grpc::ServerUnaryReactor* reactor, const grpc::Status& status);

  Acquirer& acquirer_;
  PollHub& hub_;
  ListCache& lists_;
  Scheduler& scheduler_;
  GatewayMetrics& metrics_;
  const Options options_;
  const CallerAccess access_;
  NumberRegistry numbers_;  // bought through this gateway, for AwaitCode

  Mutex mutex_;
  bool draining_ GUARDED_BY(mutex_) = false;
  int unary_in_flight_ GUARDED_BY(mutex_) = 0;
  CondVar idle_;
  // Open AwaitCode streams; the service holds one reference until OnDone.
  std::unordered_map<AwaitReactor*, std::shared_ptr<AwaitReactor>> streams_ GUARDED_BY(mutex_);
};

}  // namespace ismscode::gateway
