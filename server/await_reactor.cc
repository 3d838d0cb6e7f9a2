#include "server/await_reactor.h"

#include "server/proto_time.h"
#include "server/verification_service.h"

namespace ismscode::gateway {

namespace v1 = ismscode::harness::v1;

AwaitReactor::AwaitReactor(VerificationService& service, Params params)
    : service_(service), p_(std::move(params)) {}

void AwaitReactor::Start() {
  service_.metrics_.AwaitStarted();
  std::weak_ptr<AwaitReactor> weak = shared_from_this();
  {
    MutexLock lock(mu_);
    deadline_timer_ = service_.scheduler_.At(p_.deadline, [weak] {
      if (auto self = weak.lock()) self->OnDeadline();
    });
  }
  // Not under mu_: a running loop tells a new watcher what it knows at once (OnPoll).
  service_.hub_.Add(p_.number, shared_from_this(), p_.sms_sent_at, p_.deadline);
}

void AwaitReactor::OnPoll(const PollReport& report) {
  mu_.Lock();
  if (ending_) {
    mu_.Unlock();
    return;
  }
  if (report.fatal) {
    EndAndUnlock(report.fatal->ToStatus(), verification_outcome::kUpstreamError);
    return;
  }
  for (; delivered_ < report.sms->size(); ++delivered_) {
    const UpstreamSms& sms = (*report.sms)[delivered_];
    if (p_.received_after && sms.received_at <= *p_.received_after) continue;
    if (!p_.extractor.FromWanted(sms.from)) continue;  // another sender's SMS
    auto code = p_.extractor.Extract(sms.text);
    if (!code) continue;
    v1::AwaitCodeEvent event;
    auto* received = event.mutable_code_received();
    received->mutable_sms()->set_from(sms.from);
    received->mutable_sms()->set_text(sms.text);
    *received->mutable_sms()->mutable_received_at() = ToProto(sms.received_at);
    received->set_code(code->code);
    received->set_raw_match(code->raw_match);
    queue_.push_back(std::move(event));
    if (codes_sent_++ == 0) {
      service_.metrics_.TimeToCode(p_.number.service,
                                   std::chrono::steady_clock::now() - p_.number.acquired_at);
    }
    if (!p_.follow) {
      EndAndUnlock(grpc::Status::OK, verification_outcome::kCodeReceived);
      return;
    }
  }
  v1::AwaitCodeEvent heartbeat;
  auto* waiting = heartbeat.mutable_waiting();
  waiting->set_polls(report.polls);
  *waiting->mutable_next_poll_at() = ToProto(report.next_poll_at);
  *waiting->mutable_expires_at() = ToProto(p_.number.expires_at);
  waiting->set_last_upstream_error(report.last_error);
  waiting->set_waiting_for_budget(report.waiting_for_budget);
  // A slow reader gets the latest heartbeat, not a backlog of them; a change in the
  // upstream's state is never coalesced away.
  if (!queue_.empty() && queue_.back().has_waiting() &&
      queue_.back().waiting().last_upstream_error() == report.last_error &&
      queue_.back().waiting().waiting_for_budget() == report.waiting_for_budget) {
    queue_.pop_back();
  }
  queue_.push_back(std::move(heartbeat));
  PumpAndUnlock();
}

void AwaitReactor::End(const grpc::Status& status, const char* outcome) {
  mu_.Lock();
  EndAndUnlock(status, outcome);
}

void AwaitReactor::OnWriteDone(bool ok) {
  mu_.Lock();
  writing_ = false;
  if (!ok) {  // the client is gone: nothing more can be written
    queue_.clear();
    if (!ending_) {
      ending_ = grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      outcome_ = verification_outcome::kCancelled;
    }
  }
  PumpAndUnlock();
}

void AwaitReactor::OnCancel() {
  mu_.Lock();
  queue_.clear();
  EndAndUnlock(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"),
               verification_outcome::kCancelled);
}

void AwaitReactor::OnDone() {
  // Everything the stream holds goes now, not at its timeout: the deadline timer (and
  // the memory its reference pins), the watch, the service's reference.
  std::optional<Scheduler::TimerId> timer;
  {
    MutexLock lock(mu_);
    timer = deadline_timer_;
  }
  if (timer) service_.scheduler_.Cancel(*timer);
  service_.hub_.Remove(p_.number.id, this);
  service_.Forget(this);  // drops the service's reference; others may linger briefly
}

void AwaitReactor::OnDeadline() {
  mu_.Lock();
  if (p_.follow && codes_sent_ > 0) {
    EndAndUnlock(grpc::Status::OK, verification_outcome::kCodeReceived);
    return;
  }
  const bool expired = p_.deadline_reason == Reason::kNumberExpired;
  EndAndUnlock(GatewayError{.reason = p_.deadline_reason,
                            .message = expired ? "the number's reservation ended before a code "
                                                 "arrived"
                                               : "no code arrived before the timeout",
                            .metadata = {{"number_id", p_.number.id}}}
                   .ToStatus(),
               expired ? verification_outcome::kExpired : verification_outcome::kTimeout);
}

void AwaitReactor::EndAndUnlock(const grpc::Status& status, const char* outcome) {
  if (ending_) {
    mu_.Unlock();
    return;
  }
  ending_ = status;
  outcome_ = outcome;
  PumpAndUnlock();
}

void AwaitReactor::PumpAndUnlock() {
  if (writing_ || finished_) {
    mu_.Unlock();
    return;
  }
  if (!queue_.empty()) {
    // in_flight_ is not touched again until OnWriteDone: gRPC reads it meanwhile.
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    v1::AwaitCodeEvent* writing = &in_flight_;
    mu_.Unlock();
    StartWrite(writing);
    return;
  }
  if (!ending_) {
    mu_.Unlock();
    return;
  }
  finished_ = true;
  const grpc::Status status = *ending_;
  const char* outcome = outcome_;
  mu_.Unlock();
  // Counted before the client can see the status, so a scrape after it agrees.
  service_.metrics_.AwaitEnded();
  service_.metrics_.VerificationEnded(p_.number.service, outcome);
  Finish(status);
}

}  // namespace ismscode::gateway
