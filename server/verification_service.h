#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ismscode/harness/v1/verification.grpc.pb.h"
#include "server/acquirer.h"
#include "server/metrics.h"
#include "server/poll_hub.h"
#include "server/rate_budget.h"
#include "server/scheduler.h"

namespace ismscode::gateway {

class AwaitReactor;

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
  };

  VerificationService(UpstreamPool& upstream, RateBudget& budget, Acquirer& acquirer, PollHub& hub,
                      Scheduler& scheduler, WorkerPool& workers, GatewayMetrics& metrics,
                      Options options);

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
  // Whose upstream key a call uses: the gateway's, or the caller's own from metadata.
  struct Caller {
    std::string key;
    KeyOwner key_owner = KeyOwner::kGateway;
  };
  // Checks the caller's token and picks the upstream key; an error when not allowed.
  std::optional<GatewayError> Authorize(const grpc::CallbackServerContext& context,
                                        Caller* caller) const;
  // Runs `call` on a worker once `key`'s rate budget has a token, or hands it
  // RATE_LIMIT_EXCEEDED when none comes before `give_up`. Never blocks a thread.
  void WithToken(const std::string& key, KeyOwner key_owner, Scheduler::Clock::time_point give_up,
                 std::function<void(const GatewayError* refused)> call, bool waited = false);
  // A read-only call (ListCountries, ListServices): authorised, counted, paced by the
  // caller's key's budget; `read` runs on a worker and fills the response.
  grpc::ServerUnaryReactor* UpstreamRead(
      grpc::CallbackServerContext* context,
      std::function<std::optional<GatewayError>(const std::string& key)> read);
  void Remember(const WatchedNumber& number);
  void Forget(AwaitReactor* reactor);
  // Unary calls: counted from start to Finish, so that shutdown knows when it is idle.
  bool BeginUnary(grpc::ServerUnaryReactor* reactor);
  void FinishUnary(grpc::ServerUnaryReactor* reactor, const grpc::Status& status);

  UpstreamPool& upstream_;
  RateBudget& budget_;
  Acquirer& acquirer_;
  PollHub& hub_;
  Scheduler& scheduler_;
  WorkerPool& workers_;
  GatewayMetrics& metrics_;
  const Options options_;

  std::mutex mutex_;
  bool draining_ = false;
  int unary_in_flight_ = 0;
  std::condition_variable idle_;
  // Numbers bought through this gateway, forgotten a while after they expire.
  std::unordered_map<std::string, WatchedNumber> numbers_;
  // Open AwaitCode streams; the service holds one reference until OnDone.
  std::unordered_map<AwaitReactor*, std::shared_ptr<AwaitReactor>> streams_;
};

}  // namespace ismscode::gateway
