#pragma once

#include <grpcpp/support/server_callback.h>

#include "common/mutex.h"
#include "ismscode/harness/v1/verification.pb.h"
#include "server/acquirer.h"
#include "server/caller_access.h"

namespace ismscode::gateway {

class VerificationService;

// One AcquireNumber: finishes once, with the purchase's outcome or, when the caller
// cancels or its deadline passes first, with CANCELLED at once; the Acquirer then stops
// retrying (what is already on the wire is kept under the request id). Deletes itself
// in OnDone; `response` is gRPC's and lives as long as the call.
class AcquireReactor final : public grpc::ServerUnaryReactor {
 public:
  AcquireReactor(VerificationService& service, harness::v1::AcquireNumberResponse* response,
                 Caller caller, AcquireRequest request);

  // Starts the purchase; the reactor may finish before this returns.
  void Start() EXCLUDES(mu_);
  void OnCancel() override EXCLUDES(mu_);
  void OnDone() override;

 private:
  void OnOutcome(AcquireOutcome out, bool valid);

  VerificationService& service_;
  harness::v1::AcquireNumberResponse* const response_;
  const Caller caller_;
  const AcquireRequest request_;
  Mutex mu_;
  Acquirer::Ticket ticket_ GUARDED_BY(mu_) = 0;
};

}  // namespace ismscode::gateway
