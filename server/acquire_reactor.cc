#include "server/acquire_reactor.h"

#include "server/proto_time.h"
#include "server/verification_service.h"

namespace ismscode::gateway {

AcquireReactor::AcquireReactor(VerificationService& service,
                               harness::v1::AcquireNumberResponse* response, Caller caller,
                               AcquireRequest request)
    : service_(service),
      response_(response),
      caller_(std::move(caller)),
      request_(std::move(request)) {}

void AcquireReactor::Start() {
  const bool valid = !Acquirer::Validate(request_).has_value();
  MutexLock lock(mu_);
  ticket_ = service_.acquirer_.Acquire(
      caller_.key, caller_.key_owner, request_,
      [this, valid](AcquireOutcome out) { OnOutcome(std::move(out), valid); });
}

void AcquireReactor::OnCancel() {
  Acquirer::Ticket ticket;
  {
    MutexLock lock(mu_);
    ticket = ticket_;
  }
  if (!ticket || !service_.acquirer_.Cancel(ticket)) return;  // the outcome is on its way
  service_.metrics_.NumberAcquired(service_.lists_.CountryLabel(request_.country),
                                   service_.lists_.ServiceLabel(request_.service), "cancelled");
  service_.FinishUnary(this, grpc::Status(grpc::StatusCode::CANCELLED,
                                          "the call was cancelled or its deadline passed"));
}

void AcquireReactor::OnDone() { delete this; }

void AcquireReactor::OnOutcome(AcquireOutcome out, bool valid) {
  ListCache& lists = service_.lists_;
  if (out.number) lists.Vouch(out.number->country, out.number->service);
  // Labels: only names the upstream has vouched for, so callers cannot mint series.
  service_.metrics_.NumberAcquired(out.number ? out.number->country
                                   : valid    ? lists.CountryLabel(request_.country)
                                              : "other",
                                   out.number ? out.number->service
                                   : valid    ? lists.ServiceLabel(request_.service)
                                              : "other",
                                   out.number ? "ok" : ReasonName(out.error->reason));
  if (!out.number) return service_.FinishUnary(this, out.error->ToStatus());
  const UpstreamNumber& number = *out.number;
  service_.Remember(WatchedNumber{.id = number.id,
                                  .key = caller_.key,
                                  .service = number.service,
                                  .key_owner = caller_.key_owner,
                                  .expires_at = number.expires_at,
                                  .acquired_at = std::chrono::steady_clock::now()},
                    /*fresh=*/!out.replayed);
  auto* n = response_->mutable_number();
  n->set_id(number.id);
  n->set_phone(number.phone);
  n->set_country(number.country);
  n->set_service(number.service);
  *n->mutable_expires_at() = ToProto(number.expires_at);
  response_->set_attempts(out.attempts);
  response_->set_replayed(out.replayed);
  service_.FinishUnary(this, grpc::Status::OK);
}

}  // namespace ismscode::gateway
