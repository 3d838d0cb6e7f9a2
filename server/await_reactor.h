#pragma once

#include <grpcpp/support/server_callback.h>

#include <deque>
#include <memory>
#include <optional>

#include "common/mutex.h"
#include "ismscode/harness/v1/verification.pb.h"
#include "server/code_extractor.h"
#include "server/errors.h"
#include "server/metrics.h"
#include "server/poll_hub.h"
#include "server/scheduler.h"

namespace ismscode::gateway {

class VerificationService;

// One AwaitCode stream: a watcher of its number's poll loop. Events queue up and are
// written one at a time; the stream finishes exactly once, after what was queued before
// the end (a code) has been written, or at once when the client is gone.
//
// Start() once, after the service has registered it; every other method is gRPC's or
// the poll hub's to call. The service keeps a reference until OnDone.
class AwaitReactor final : public grpc::ServerWriteReactor<harness::v1::AwaitCodeEvent>,
                           public PollWatcher,
                           public std::enable_shared_from_this<AwaitReactor> {
 public:
  struct Params {
    WatchedNumber number;
    CodeExtractor extractor;
    std::optional<SystemTime> received_after;
    // When the caller's app sent the SMS, in the gateway's steady clock, if it said.
    std::optional<Scheduler::Clock::time_point> sms_sent_at;
    bool follow;
    Scheduler::Clock::time_point deadline;
    Reason deadline_reason;  // CODE_WAIT_TIMEOUT or NUMBER_EXPIRED
  };

  AwaitReactor(VerificationService& service, Params params);

  // Arms the deadline and joins the number's poll loop.
  void Start() EXCLUDES(mu_);

  // The reactor's reactions take mu_ and end through EndAndUnlock or PumpAndUnlock,
  // which release it on every path before calling into gRPC.
  void OnPoll(const PollReport& report) override EXCLUDES(mu_);

  // Ends the stream from outside (the service draining): `status` once what is queued
  // is written; `outcome` labels ismscode_verifications_total.
  void End(const grpc::Status& status, const char* outcome) EXCLUDES(mu_);

  void OnWriteDone(bool ok) override EXCLUDES(mu_);

  void OnCancel() override EXCLUDES(mu_);

  void OnDone() override;

 private:
  void OnDeadline() EXCLUDES(mu_);

  // Ends the stream once what is queued is written. `outcome` labels
  // ismscode_verifications_total. Releases mu_.
  void EndAndUnlock(const grpc::Status& status, const char* outcome) RELEASE(mu_);

  // Starts the next write, or finishes once everything queued is written. Decides under
  // mu_ and acts after releasing it: gRPC may run a reaction (OnWriteDone) on the
  // calling thread, which takes mu_ again.
  void PumpAndUnlock() RELEASE(mu_);

  VerificationService& service_;
  Params p_;
  Mutex mu_;
  std::deque<harness::v1::AwaitCodeEvent> queue_ GUARDED_BY(mu_);
  harness::v1::AwaitCodeEvent in_flight_ GUARDED_BY(mu_);
  bool writing_ GUARDED_BY(mu_) = false;
  bool finished_ GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> ending_ GUARDED_BY(mu_);
  const char* outcome_ GUARDED_BY(mu_) = verification_outcome::kCancelled;
  size_t delivered_ GUARDED_BY(mu_) = 0;
  int codes_sent_ GUARDED_BY(mu_) = 0;
  std::optional<Scheduler::TimerId> deadline_timer_ GUARDED_BY(mu_);
};

}  // namespace ismscode::gateway
