#include "server/verification_service.h"

#include <google/protobuf/util/time_util.h>

#include <deque>

#include "server/code_extractor.h"

namespace ismscode::gateway {

namespace v1 = ismscode::harness::v1;
using google::protobuf::util::TimeUtil;

namespace {

google::protobuf::Timestamp ToProto(SystemTime t) {
  return TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

SystemTime FromProto(const google::protobuf::Timestamp& t) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::nanoseconds(TimeUtil::TimestampToNanoseconds(t))));
}

std::chrono::milliseconds FromProto(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(d));
}

grpc::Status ShuttingDown() {
  return GatewayError{.reason = Reason::kShuttingDown, .message = "the gateway is shutting down"}
      .ToStatus();
}

// A stream that ends before it starts (bad request, unknown number, draining).
class FailedStream final : public grpc::ServerWriteReactor<v1::AwaitCodeEvent> {
 public:
  explicit FailedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

// One AwaitCode stream: a watcher of its number's poll loop. Events queue up and are
// written one at a time; the stream finishes exactly once, after what was queued before
// the end (a code) has been written, or at once when the client is gone.
class AwaitReactor final : public grpc::ServerWriteReactor<v1::AwaitCodeEvent>,
                           public PollWatcher,
                           public std::enable_shared_from_this<AwaitReactor> {
 public:
  struct Params {
    WatchedNumber number;
    CodeExtractor extractor;
    std::optional<SystemTime> received_after;
    bool follow;
    Scheduler::Clock::time_point deadline;
    Reason deadline_reason;  // CODE_WAIT_TIMEOUT or NUMBER_EXPIRED
  };

  AwaitReactor(VerificationService& service, Params params)
      : service_(service), p_(std::move(params)) {}

  void Start() {
    std::weak_ptr<AwaitReactor> weak = shared_from_this();
    service_.scheduler_.At(p_.deadline, [weak] {
      if (auto self = weak.lock()) self->OnDeadline();
    });
    service_.hub_.Add(p_.number, shared_from_this());
  }

  void OnPoll(const PollReport& report) override {
    std::unique_lock lock(mu_);
    if (ending_) return;
    if (report.fatal) {
      EndLocked(report.fatal->ToStatus(), lock);
      return;
    }
    for (; delivered_ < report.sms->size(); ++delivered_) {
      const UpstreamSms& sms = (*report.sms)[delivered_];
      if (p_.received_after && sms.received_at <= *p_.received_after) continue;
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
      ++codes_sent_;
      if (!p_.follow) {
        EndLocked(grpc::Status::OK, lock);
        return;
      }
    }
    v1::AwaitCodeEvent heartbeat;
    auto* waiting = heartbeat.mutable_waiting();
    waiting->set_polls(report.polls);
    *waiting->mutable_next_poll_at() = ToProto(report.next_poll_at);
    *waiting->mutable_expires_at() = ToProto(p_.number.expires_at);
    waiting->set_last_upstream_error(report.last_error);
    // A slow reader gets the latest heartbeat, not a backlog of them; a change in the
    // upstream's state is never coalesced away.
    if (!queue_.empty() && queue_.back().has_waiting() &&
        queue_.back().waiting().last_upstream_error() == report.last_error) {
      queue_.pop_back();
    }
    queue_.push_back(std::move(heartbeat));
    Pump(lock);
  }

  void End(const grpc::Status& status) {
    std::unique_lock lock(mu_);
    EndLocked(status, lock);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    writing_ = false;
    if (!ok) {  // the client is gone: nothing more can be written
      queue_.clear();
      if (!ending_) ending_ = grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    Pump(lock);
  }

  void OnCancel() override {
    std::unique_lock lock(mu_);
    queue_.clear();
    EndLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"), lock);
  }

  void OnDone() override {
    service_.hub_.Remove(p_.number.id, this);
    service_.Forget(this);  // drops the service's reference; others may linger briefly
  }

 private:
  void OnDeadline() {
    std::unique_lock lock(mu_);
    if (p_.follow && codes_sent_ > 0) {
      EndLocked(grpc::Status::OK, lock);
      return;
    }
    const bool expired = p_.deadline_reason == Reason::kNumberExpired;
    EndLocked(GatewayError{.reason = p_.deadline_reason,
                           .message = expired ? "the number's reservation ended before a code "
                                                "arrived"
                                              : "no code arrived before the timeout",
                           .metadata = {{"number_id", p_.number.id}}}
                  .ToStatus(),
              lock);
  }

  void EndLocked(const grpc::Status& status, std::unique_lock<std::mutex>& lock) {
    if (ending_) return;
    ending_ = status;
    Pump(lock);
  }

  // Starts the next write, or finishes once everything queued is written. Decides under
  // the lock and acts after releasing it: gRPC may run a reaction (OnWriteDone) on the
  // calling thread, which takes the lock again.
  void Pump(std::unique_lock<std::mutex>& lock) {
    if (writing_ || finished_) return;
    if (!queue_.empty()) {
      in_flight_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      lock.unlock();
      StartWrite(&in_flight_);
      return;
    }
    if (ending_) {
      finished_ = true;
      const grpc::Status status = *ending_;
      lock.unlock();
      Finish(status);
    }
  }

  VerificationService& service_;
  Params p_;
  std::mutex mu_;
  std::deque<v1::AwaitCodeEvent> queue_;
  v1::AwaitCodeEvent in_flight_;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> ending_;
  size_t delivered_ = 0;
  int codes_sent_ = 0;
};

VerificationService::VerificationService(UpstreamPool& upstream, Acquirer& acquirer, PollHub& hub,
                                         Scheduler& scheduler, WorkerPool& workers, Options options)
    : upstream_(upstream),
      acquirer_(acquirer),
      hub_(hub),
      scheduler_(scheduler),
      workers_(workers),
      options_(std::move(options)) {}

grpc::ServerUnaryReactor* VerificationService::ListCountries(grpc::CallbackServerContext* context,
                                                             const v1::ListCountriesRequest*,
                                                             v1::ListCountriesResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!BeginUnary(reactor)) return reactor;
  workers_.Post([this, reactor, response] {
    auto r = upstream_.Take()->ListCountries(options_.upstream_key);
    if (!r.ok()) return FinishUnary(reactor, r.error->ToStatus());
    for (const auto& c : *r.value) {
      auto* out = response->add_countries();
      out->set_code(c.code);
      out->set_name(c.name);
      out->set_dial_prefix(c.prefix);
    }
    FinishUnary(reactor, grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* VerificationService::ListServices(grpc::CallbackServerContext* context,
                                                            const v1::ListServicesRequest*,
                                                            v1::ListServicesResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!BeginUnary(reactor)) return reactor;
  workers_.Post([this, reactor, response] {
    auto r = upstream_.Take()->ListServices(options_.upstream_key);
    if (!r.ok()) return FinishUnary(reactor, r.error->ToStatus());
    for (const auto& s : *r.value) response->add_services(s);
    FinishUnary(reactor, grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* VerificationService::AcquireNumber(
    grpc::CallbackServerContext* context, const v1::AcquireNumberRequest* request,
    v1::AcquireNumberResponse* response) {
  auto* reactor = context->DefaultReactor();
  AcquireRequest r{.country = request->country(),
                   .service = request->service(),
                   .fallback_countries = {request->fallback_countries().begin(),
                                          request->fallback_countries().end()},
                   .request_id = request->request_id(),
                   .max_wait = FromProto(request->max_wait())};
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    r.deadline = Scheduler::Clock::now() + (context->deadline() - std::chrono::system_clock::now());
  }
  if (!BeginUnary(reactor)) return reactor;
  workers_.Post([this, reactor, response, r = std::move(r)] {
    AcquireOutcome out = acquirer_.Acquire(options_.upstream_key, KeyOwner::kGateway, r);
    if (!out.number) return FinishUnary(reactor, out.error->ToStatus());
    // Judge expiry in our own clock: the upstream's Date tells how far its clock is off.
    const auto now = std::chrono::system_clock::now();
    const SystemTime expires = out.upstream_date
                                   ? now + (out.number->expires_at - *out.upstream_date)
                                   : out.number->expires_at;
    {
      std::lock_guard lock(mutex_);
      numbers_[out.number->id] = WatchedNumber{.id = out.number->id,
                                               .key = options_.upstream_key,
                                               .service = out.number->service,
                                               .key_owner = KeyOwner::kGateway,
                                               .expires_at = expires};
    }
    auto* n = response->mutable_number();
    n->set_id(out.number->id);
    n->set_phone(out.number->phone);
    n->set_country(out.number->country);
    n->set_service(out.number->service);
    *n->mutable_expires_at() = ToProto(expires);
    response->set_attempts(out.attempts);
    response->set_replayed(out.replayed);
    FinishUnary(reactor, grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::AwaitCodeEvent>* VerificationService::AwaitCode(
    grpc::CallbackServerContext* context, const v1::AwaitCodeRequest* request) {
  auto invalid = [](const std::string& field, const std::string& why) {
    return new FailedStream(GatewayError{
        .reason = Reason::kInvalidArgument,
        .message = "invalid AwaitCode request: " + field + " " + why,
        .field_violations = {
            {field, why}}}.ToStatus());
  };
  WatchedNumber number;
  {
    std::lock_guard lock(mutex_);
    if (draining_) return new FailedStream(ShuttingDown());
    auto it = numbers_.find(request->number_id());
    if (it == numbers_.end()) {
      return new FailedStream(
          GatewayError{.reason = Reason::kNumberNotFound,
                       .message = "no number with that id was acquired through this gateway",
                       .metadata = {{"number_id", request->number_id().substr(0, 64)}}}
              .ToStatus());
    }
    number = it->second;
  }
  const auto timeout =
      request->has_timeout() ? FromProto(request->timeout()) : options_.default_timeout;
  if (timeout.count() <= 0) return invalid("timeout", "must be positive");
  std::string error;
  auto extractor = CodeExtractor::Create(
      {.service = number.service,
       .pattern = request->code_pattern(),
       .min_length = request->min_code_length() ? request->min_code_length() : 4,
       .max_length = request->max_code_length() ? request->max_code_length() : 8},
      &error);
  if (!extractor) {
    return invalid(request->code_pattern().empty() ? "min_code_length" : "code_pattern", error);
  }
  // Whichever comes first: the caller's timeout or the reservation's end.
  const auto steady_now = Scheduler::Clock::now();
  const auto until_expiry = number.expires_at - std::chrono::system_clock::now();
  const bool expiry_first = until_expiry < timeout;
  AwaitReactor::Params params{
      .number = number,
      .extractor = std::move(*extractor),
      .received_after = request->has_received_after()
                            ? std::optional<SystemTime>(FromProto(request->received_after()))
                            : std::nullopt,
      .follow = request->follow(),
      .deadline =
          steady_now + (expiry_first
                            ? std::chrono::duration_cast<Scheduler::Clock::duration>(until_expiry)
                            : std::chrono::duration_cast<Scheduler::Clock::duration>(timeout)),
      .deadline_reason = expiry_first ? Reason::kNumberExpired : Reason::kCodeWaitTimeout};
  auto reactor = std::make_shared<AwaitReactor>(*this, std::move(params));
  {
    std::lock_guard lock(mutex_);
    streams_.insert(reactor);
  }
  reactor->Start();
  return reactor.get();
}

void VerificationService::Forget(AwaitReactor* reactor) {
  {
    std::lock_guard lock(mutex_);
    std::erase_if(streams_, [&](const auto& r) { return r.get() == reactor; });
  }
  idle_.notify_all();
}

bool VerificationService::BeginUnary(grpc::ServerUnaryReactor* reactor) {
  {
    std::lock_guard lock(mutex_);
    if (!draining_) {
      ++unary_in_flight_;
      return true;
    }
  }
  reactor->Finish(ShuttingDown());
  return false;
}

void VerificationService::FinishUnary(grpc::ServerUnaryReactor* reactor,
                                      const grpc::Status& status) {
  reactor->Finish(status);
  {
    std::lock_guard lock(mutex_);
    --unary_in_flight_;
  }
  idle_.notify_all();
}

bool VerificationService::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return idle_.wait_until(lock, deadline,
                          [&] { return unary_in_flight_ == 0 && streams_.empty(); });
}

void VerificationService::Drain() {
  std::set<std::shared_ptr<AwaitReactor>> open;
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    open = streams_;
  }
  for (const auto& r : open) r->End(ShuttingDown());
}

}  // namespace ismscode::gateway
