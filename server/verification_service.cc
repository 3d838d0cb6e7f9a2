#include "server/verification_service.h"

#include <google/protobuf/util/time_util.h>

#include <deque>

#include "common/mutex.h"
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

// Durations beyond this mean "as long as allowed": a number's reservation and a call's
// deadline bound every wait long before it, and clock arithmetic stays far from overflow.
constexpr auto kLongestWait = std::chrono::hours(24 * 365);

std::chrono::milliseconds FromProto(const google::protobuf::Duration& d) {
  return std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(d)), kLongestWait);
}

grpc::Status ShuttingDown() { return ShuttingDownError().ToStatus(); }

// How long a number stays known after its reservation ended: AwaitCode on it then says
// NUMBER_EXPIRED rather than NUMBER_NOT_FOUND.
constexpr auto kRememberExpired = std::chrono::minutes(10);

Scheduler::Clock::time_point SteadyDeadline(const grpc::CallbackServerContext& context) {
  if (context.deadline() == std::chrono::system_clock::time_point::max()) {
    return Scheduler::Clock::time_point::max();
  }
  return Scheduler::Clock::now() + (context.deadline() - std::chrono::system_clock::now());
}

// Compares without an early exit, so that timing does not reveal a token's prefix.
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::optional<std::string_view> Metadata(const grpc::CallbackServerContext& context,
                                         std::string_view name) {
  const auto& md = context.client_metadata();
  auto it = md.find(grpc::string_ref(name.data(), name.size()));
  if (it == md.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
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
    service_.metrics_.AwaitStarted();
    std::weak_ptr<AwaitReactor> weak = shared_from_this();
    {
      MutexLock lock(mu_);
      deadline_timer_ = service_.scheduler_.At(p_.deadline, [weak] {
        if (auto self = weak.lock()) self->OnDeadline();
      });
    }
    // Not under mu_: a running loop tells a new watcher what it knows at once (OnPoll).
    service_.hub_.Add(p_.number, shared_from_this());
  }

  // The reactor's reactions take mu_ and end through EndAndUnlock or PumpAndUnlock,
  // which release it on every path before calling into gRPC.
  void OnPoll(const PollReport& report) override EXCLUDES(mu_) {
    mu_.Lock();
    if (ending_) {
      mu_.Unlock();
      return;
    }
    if (report.fatal) {
      EndAndUnlock(report.fatal->ToStatus(), "upstream_error");
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
        EndAndUnlock(grpc::Status::OK, "code_received");
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

  void End(const grpc::Status& status, const char* outcome) EXCLUDES(mu_) {
    mu_.Lock();
    EndAndUnlock(status, outcome);
  }

  void OnWriteDone(bool ok) override EXCLUDES(mu_) {
    mu_.Lock();
    writing_ = false;
    if (!ok) {  // the client is gone: nothing more can be written
      queue_.clear();
      if (!ending_) {
        ending_ = grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
        outcome_ = "cancelled";
      }
    }
    PumpAndUnlock();
  }

  void OnCancel() override EXCLUDES(mu_) {
    mu_.Lock();
    queue_.clear();
    EndAndUnlock(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"), "cancelled");
  }

  void OnDone() override {
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

 private:
  void OnDeadline() EXCLUDES(mu_) {
    mu_.Lock();
    if (p_.follow && codes_sent_ > 0) {
      EndAndUnlock(grpc::Status::OK, "code_received");
      return;
    }
    const bool expired = p_.deadline_reason == Reason::kNumberExpired;
    EndAndUnlock(GatewayError{.reason = p_.deadline_reason,
                              .message = expired ? "the number's reservation ended before a code "
                                                   "arrived"
                                                 : "no code arrived before the timeout",
                              .metadata = {{"number_id", p_.number.id}}}
                     .ToStatus(),
                 expired ? "expired" : "timeout");
  }

  // Ends the stream once what is queued is written. `outcome` labels
  // ismscode_verifications_total. Releases mu_.
  void EndAndUnlock(const grpc::Status& status, const char* outcome) RELEASE(mu_) {
    if (ending_) {
      mu_.Unlock();
      return;
    }
    ending_ = status;
    outcome_ = outcome;
    PumpAndUnlock();
  }

  // Starts the next write, or finishes once everything queued is written. Decides under
  // mu_ and acts after releasing it: gRPC may run a reaction (OnWriteDone) on the
  // calling thread, which takes mu_ again.
  void PumpAndUnlock() RELEASE(mu_) {
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

  VerificationService& service_;
  Params p_;
  Mutex mu_;
  std::deque<v1::AwaitCodeEvent> queue_ GUARDED_BY(mu_);
  v1::AwaitCodeEvent in_flight_ GUARDED_BY(mu_);
  bool writing_ GUARDED_BY(mu_) = false;
  bool finished_ GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> ending_ GUARDED_BY(mu_);
  const char* outcome_ GUARDED_BY(mu_) = "cancelled";
  size_t delivered_ GUARDED_BY(mu_) = 0;
  int codes_sent_ GUARDED_BY(mu_) = 0;
  std::optional<Scheduler::TimerId> deadline_timer_ GUARDED_BY(mu_);
};

// One AcquireNumber: finishes once, with the purchase's outcome or, when the caller
// cancels or its deadline passes first, with CANCELLED at once; the Acquirer then stops
// retrying (what is already on the wire is kept under the request id).
class AcquireReactor final : public grpc::ServerUnaryReactor {
 public:
  AcquireReactor(VerificationService& service, v1::AcquireNumberResponse* response,
                 VerificationService::Caller caller, AcquireRequest request)
      : service_(service),
        response_(response),
        caller_(std::move(caller)),
        request_(std::move(request)) {}

  // Starts the purchase; the reactor may finish before this returns.
  void Start() {
    const bool valid = !Acquirer::Validate(request_).has_value();
    MutexLock lock(mu_);
    ticket_ = service_.acquirer_.Acquire(
        caller_.key, caller_.key_owner, request_,
        [this, valid](AcquireOutcome out) { OnOutcome(std::move(out), valid); });
  }

  void OnCancel() override {
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

  void OnDone() override { delete this; }

 private:
  void OnOutcome(AcquireOutcome out, bool valid) {
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

  VerificationService& service_;
  v1::AcquireNumberResponse* const response_;
  const VerificationService::Caller caller_;
  const AcquireRequest request_;
  Mutex mu_;
  Acquirer::Ticket ticket_ GUARDED_BY(mu_) = 0;
};

VerificationService::VerificationService(Acquirer& acquirer, PollHub& hub, ListCache& lists,
                                         Scheduler& scheduler, GatewayMetrics& metrics,
                                         Options options)
    : acquirer_(acquirer),
      hub_(hub),
      lists_(lists),
      scheduler_(scheduler),
      metrics_(metrics),
      options_(std::move(options)) {}

std::optional<GatewayError> VerificationService::Authorize(
    const grpc::CallbackServerContext& context, Caller* caller) const {
  if (!options_.caller_tokens.empty()) {
    const auto header = Metadata(context, "authorization");
    constexpr std::string_view kBearer = "Bearer ";
    bool ok = false;
    if (header && header->starts_with(kBearer)) {
      const std::string_view token = header->substr(kBearer.size());
      for (const std::string& t : options_.caller_tokens) ok |= SameSecret(token, t);
    }
    if (!ok) {
      return GatewayError{.reason = Reason::kUnauthenticated,
                          .message = header ? "the bearer token is not one this gateway accepts"
                                            : "this gateway needs \"authorization: Bearer "
                                              "<token>\" metadata"};
    }
  }
  caller->key = options_.upstream_key;
  caller->key_owner = KeyOwner::kGateway;
  if (const auto key = Metadata(context, "x-ismscode-api-key")) {
    if (!options_.allow_caller_keys) {
      return GatewayError{.reason = Reason::kCallerKeyNotAllowed,
                          .message =
                              "this gateway does not accept per-call upstream keys "
                              "(x-ismscode-api-key); start it with --allow-caller-keys"};
    }
    if (key->empty() || key->size() > 256) {
      return GatewayError{.reason = Reason::kInvalidArgument,
                          .message = "x-ismscode-api-key must be 1 to 256 characters",
                          .field_violations = {{"x-ismscode-api-key", "1 to 256 characters"}}};
    }
    caller->key = std::string(*key);
    caller->key_owner = KeyOwner::kCaller;
  }
  return std::nullopt;
}

grpc::ServerUnaryReactor* VerificationService::ListCall(
    grpc::CallbackServerContext* context,
    std::function<void(const Caller& caller, Scheduler::Clock::time_point give_up,
                       FinishList finish)>
        fetch) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto denied = Authorize(*context, &caller)) {
    reactor->Finish(denied->ToStatus());
    return reactor;
  }
  if (!BeginUnary(reactor)) return reactor;
  const auto give_up =
      std::min(SteadyDeadline(*context), Scheduler::Clock::now() + options_.list_budget_wait);
  fetch(caller, give_up, [this, reactor](const GatewayError* error) {
    FinishUnary(reactor, error ? error->ToStatus() : grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* VerificationService::ListCountries(grpc::CallbackServerContext* context,
                                                             const v1::ListCountriesRequest*,
                                                             v1::ListCountriesResponse* response) {
  return ListCall(context, [this, response](const Caller& caller, auto give_up, FinishList finish) {
    lists_.GetCountries(
        caller.key, caller.key_owner, give_up,
        [response, finish](const ListCache::Countries* countries, const GatewayError* error) {
          if (countries) {
            for (const auto& c : *countries) {
              auto* out = response->add_countries();
              out->set_code(c.code);
              out->set_name(c.name);
              out->set_dial_prefix(c.prefix);
            }
          }
          finish(error);
        });
  });
}

grpc::ServerUnaryReactor* VerificationService::ListServices(grpc::CallbackServerContext* context,
                                                            const v1::ListServicesRequest*,
                                                            v1::ListServicesResponse* response) {
  return ListCall(context, [this, response](const Caller& caller, auto give_up, FinishList finish) {
    lists_.GetServices(
        caller.key, caller.key_owner, give_up,
        [response, finish](const ListCache::Services* services, const GatewayError* error) {
          if (services) {
            for (const auto& s : *services) response->add_services(s);
          }
          finish(error);
        });
  });
}

grpc::ServerUnaryReactor* VerificationService::AcquireNumber(
    grpc::CallbackServerContext* context, const v1::AcquireNumberRequest* request,
    v1::AcquireNumberResponse* response) {
  Caller caller;
  if (auto denied = Authorize(*context, &caller)) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(denied->ToStatus());
    return reactor;
  }
  auto* reactor = new AcquireReactor(
      *this, response, caller,
      AcquireRequest{.country = request->country(),
                     .service = request->service(),
                     .fallback_countries = {request->fallback_countries().begin(),
                                            request->fallback_countries().end()},
                     .request_id = request->request_id(),
                     .max_wait = FromProto(request->max_wait()),
                     .deadline = SteadyDeadline(*context)});
  if (BeginUnary(reactor)) reactor->Start();
  return reactor;
}

void VerificationService::Remember(const WatchedNumber& number, bool fresh) {
  {
    MutexLock lock(mutex_);
    auto [it, inserted] = numbers_.try_emplace(number.id, number);
    // A replay: known already, its purge is set. A fresh purchase of an id seen before
    // (the upstream re-issued it) inherits nothing: not the key, not the expiry.
    if (!inserted && !fresh) return;
    it->second = number;
  }
  const auto forget_at = Scheduler::Clock::now() +
                         std::chrono::duration_cast<Scheduler::Clock::duration>(
                             number.expires_at - std::chrono::system_clock::now()) +
                         kRememberExpired;
  scheduler_.At(forget_at, [this, id = number.id, acquired_at = number.acquired_at] {
    MutexLock lock(mutex_);
    auto it = numbers_.find(id);
    if (it != numbers_.end() && it->second.acquired_at == acquired_at) numbers_.erase(it);
  });
}

grpc::ServerWriteReactor<v1::AwaitCodeEvent>* VerificationService::AwaitCode(
    grpc::CallbackServerContext* context, const v1::AwaitCodeRequest* request) {
  // `why` reads after the field's name: "timeout must be positive".
  auto invalid = [](const std::string& field, const std::string& why) {
    return new FailedStream(GatewayError{
        .reason = Reason::kInvalidArgument,
        .message = "invalid AwaitCode request: " + field + " " + why,
        .field_violations = {
            {field, why}}}.ToStatus());
  };
  Caller caller;
  if (auto denied = Authorize(*context, &caller)) return new FailedStream(denied->ToStatus());
  WatchedNumber number;
  {
    MutexLock lock(mutex_);
    if (draining_) return new FailedStream(ShuttingDown());
    auto it = numbers_.find(request->number_id());
    // A number bought with one upstream key is invisible to every other key.
    if (it == numbers_.end() || it->second.key != caller.key) {
      return new FailedStream(
          GatewayError{.reason = Reason::kNumberNotFound,
                       .message = "no number with that id was acquired through this gateway",
                       .metadata = {{"number_id", request->number_id()}}}
              .ToStatus());
    }
    number = it->second;
  }
  const auto timeout =
      request->has_timeout() ? FromProto(request->timeout()) : options_.default_timeout;
  if (timeout.count() <= 0) return invalid("timeout", "must be positive");
  std::string error, field;
  auto extractor = CodeExtractor::Create(
      {.service = number.service,
       .pattern = request->code_pattern(),
       .min_length = request->min_code_length() ? request->min_code_length() : 4,
       .max_length = request->max_code_length() ? request->max_code_length() : 8,
       .sender_pattern = request->sender_pattern()},
      &error, &field);
  if (!extractor) return invalid(field, error);
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
    // Checked and registered in one critical section: Drain() sees every stream it
    // did not refuse.
    MutexLock lock(mutex_);
    if (draining_) return new FailedStream(ShuttingDown());
    streams_.emplace(reactor.get(), reactor);
  }
  reactor->Start();
  return reactor.get();
}

void VerificationService::Forget(AwaitReactor* reactor) {
  {
    MutexLock lock(mutex_);
    streams_.erase(reactor);
  }
  idle_.NotifyAll();
}

bool VerificationService::BeginUnary(grpc::ServerUnaryReactor* reactor) {
  {
    MutexLock lock(mutex_);
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
    MutexLock lock(mutex_);
    --unary_in_flight_;
  }
  idle_.NotifyAll();
}

bool VerificationService::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  MutexLock lock(mutex_);
  while (unary_in_flight_ != 0 || !streams_.empty()) {
    if (!idle_.WaitUntil(mutex_, deadline)) return unary_in_flight_ == 0 && streams_.empty();
  }
  return true;
}

void VerificationService::Drain() {
  std::vector<std::shared_ptr<AwaitReactor>> open;
  {
    MutexLock lock(mutex_);
    draining_ = true;
    for (const auto& [ptr, reactor] : streams_) open.push_back(reactor);
  }
  for (const auto& r : open) r->End(ShuttingDown(), "shutting_down");
}

}  // namespace ismscode::gateway
