#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "ismscode/harness/v1/verification.grpc.pb.h"
#include "server/acquirer.h"
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
  };

  VerificationService(UpstreamPool& upstream, Acquirer& acquirer, PollHub& hub,
                      Scheduler& scheduler, WorkerPool& workers, Options options);

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
  void Forget(AwaitReactor* reactor);
  // Unary calls: counted from start to Finish, so that shutdown knows when it is idle.
  bool BeginUnary(grpc::ServerUnaryReactor* reactor);
  void FinishUnary(grpc::ServerUnaryReactor* reactor, const grpc::Status& status);

  UpstreamPool& upstream_;
  Acquirer& acquirer_;
  PollHub& hub_;
  Scheduler& scheduler_;
  WorkerPool& workers_;
  const Options options_;

  std::mutex mutex_;
  bool draining_ = false;
  int unary_in_flight_ = 0;
  std::condition_variable idle_;
  std::unordered_map<std::string, WatchedNumber> numbers_;  // bought through this gateway
  std::set<std::shared_ptr<AwaitReactor>> streams_;         // open AwaitCode streams
};

}  // namespace ismscode::gateway
