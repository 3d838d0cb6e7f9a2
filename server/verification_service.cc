#include "server/verification_service.h"

#include <deque>

#include "common/mutex.h"
#include "server/await_reactor.h"
#include "server/code_extractor.h"
#include "server/proto_time.h"

namespace ismscode::gateway {

namespace v1 = ismscode::harness::v1;

namespace {

grpc::Status ShuttingDown() { return ShuttingDownError().ToStatus(); }

Scheduler::Clock::time_point SteadyDeadline(const grpc::CallbackServerContext& context) {
  if (context.deadline() == std::chrono::system_clock::time_point::max()) {
    return Scheduler::Clock::time_point::max();
  }
  return Scheduler::Clock::now() + (context.deadline() - std::chrono::system_clock::now());
}

// A stream that ends before it starts (bad request, unknown number, draining).
class FailedStream final : public grpc::ServerWriteReactor<v1::AwaitCodeEvent> {
 public:
  explicit FailedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

// One AcquireNumber: finishes once, with the purchase's outcome or, when the caller
// cancels or its deadline passes first, with CANCELLED at once; the Acquirer then stops
// retrying (what is already on the wire is kept under the request id).
class AcquireReactor final : public grpc::ServerUnaryReactor {
 public:
  AcquireReactor(VerificationService& service, v1::AcquireNumberResponse* response, Caller caller,
                 AcquireRequest request)
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
    service_.numbers_.Remember(WatchedNumber{.id = number.id,
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
  const Caller caller_;
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
      options_(std::move(options)),
      access_(CallerAccess::Options{.upstream_key = options_.upstream_key,
                                    .caller_tokens = options_.caller_tokens,
                                    .allow_caller_keys = options_.allow_caller_keys}),
      // AwaitCode on a number this long after its reservation ended says NUMBER_EXPIRED
      // rather than NUMBER_NOT_FOUND.
      numbers_(scheduler, std::chrono::minutes(10)) {}

grpc::ServerUnaryReactor* VerificationService::ListCall(
    grpc::CallbackServerContext* context,
    std::function<void(const Caller& caller, Scheduler::Clock::time_point give_up,
                       FinishList finish)>
        fetch) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto denied = access_.Authorize(*context, &caller)) {
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
  if (auto denied = access_.Authorize(*context, &caller)) {
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
  if (auto denied = access_.Authorize(*context, &caller))
    return new FailedStream(denied->ToStatus());
  {
    MutexLock lock(mutex_);
    if (draining_) return new FailedStream(ShuttingDown());
  }
  // A number bought with one upstream key is invisible to every other key.
  const std::optional<WatchedNumber> found = numbers_.Find(request->number_id(), caller.key);
  if (!found) {
    return new FailedStream(
        GatewayError{.reason = Reason::kNumberNotFound,
                     .message = "no number with that id was acquired through this gateway",
                     .metadata = {{"number_id", request->number_id()}}}
            .ToStatus());
  }
  const WatchedNumber& number = *found;
  const auto timeout =
      request->has_timeout() ? FromProto(request->timeout()) : options_.default_timeout;
  if (timeout.count() <= 0) return invalid("timeout", "must be positive");
  auto extractor = CodeExtractor::Create(
      {.service = number.service,
       .pattern = request->code_pattern(),
       .min_length = request->min_code_length() ? request->min_code_length() : 4,
       .max_length = request->max_code_length() ? request->max_code_length() : 8,
       .sender_pattern = request->sender_pattern()});
  if (!extractor.ok()) {
    return invalid(CodeExtractor::InvalidField(extractor.status()),
                   std::string(extractor.status().message()));
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
