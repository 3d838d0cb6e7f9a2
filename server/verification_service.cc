#include "server/verification_service.h"

#include <deque>

#include "common/log.h"
#include "common/mutex.h"
#include "server/acquire_reactor.h"
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

void VerificationService::Remember(const WatchedNumber& number, bool fresh) {
  numbers_.Remember(number, fresh);
  if (options_.shared_numbers) RememberInFleet(number, fresh, /*first_try=*/true);
}

void VerificationService::RememberInFleet(const WatchedNumber& number, bool fresh, bool first_try) {
  absl::Status kept = options_.shared_numbers->Remember(number, fresh);
  if (kept.ok()) return;
  // The number is still the caller's (it was bought), and AwaitCode on this replica
  // finds it; the other replicas find it once this succeeds: tried again every second
  // while the number lasts.
  if (first_try) {
    LogLine("warning", "a number bought is not yet shared with the fleet; retrying",
            {{"number_id", number.id}, {"error", std::string(kept.message())}});
  }
  const Runtime& r = options_.runtime;
  if (!r.at || number.expires_at <= std::chrono::system_clock::now()) return;
  r.at(r.now() + std::chrono::seconds(1), [this, number, fresh] {
    options_.runtime.run([this, number, fresh] { RememberInFleet(number, fresh, false); });
  });
}

std::variant<std::optional<WatchedNumber>, GatewayError> VerificationService::Find(
    const std::string& id, const std::string& key) {
  if (auto here = numbers_.Find(id, key); here || !options_.shared_numbers) return here;
  auto shared = options_.shared_numbers->Find(id, key);
  if (!shared.ok()) {
    GatewayError error = StateUnavailableError();
    error.message += ": cannot look the number up in the fleet's registry";
    return error;
  }
  return *shared;
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
  auto lookup = Find(request->number_id(), caller.key);
  if (auto* error = std::get_if<GatewayError>(&lookup)) return new FailedStream(error->ToStatus());
  const std::optional<WatchedNumber>& found = std::get<std::optional<WatchedNumber>>(lookup);
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
  std::optional<Scheduler::Clock::time_point> sms_sent_at;
  if (request->has_sms_sent_at()) {
    // In whole seconds first: a caller's year 1 or 9999 must not overflow the clocks.
    const int64_t ahead_s =
        request->sms_sent_at().seconds() - std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count();
    // Clocks differ a little; a minute ahead of ours is a mistake, not skew.
    if (ahead_s > 60) return invalid("sms_sent_at", "is more than a minute in the future");
    // The hub takes anything before the purchase as the purchase: a day back is as good.
    sms_sent_at = steady_now - std::chrono::hours(24);
    if (ahead_s > -86400) {
      *sms_sent_at =
          steady_now + std::chrono::duration_cast<Scheduler::Clock::duration>(
                           FromProto(request->sms_sent_at()) - std::chrono::system_clock::now());
    }
  }
  const auto until_expiry = number.expires_at - std::chrono::system_clock::now();
  const bool expiry_first = until_expiry < timeout;
  AwaitReactor::Params params{
      .number = number,
      .extractor = std::move(*extractor),
      .received_after = request->has_received_after()
                            ? std::optional<SystemTime>(FromProto(request->received_after()))
                            : std::nullopt,
      .sms_sent_at = sms_sent_at,
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
  for (const auto& r : open) r->End(ShuttingDown(), verification_outcome::kShuttingDown);
}

}  // namespace ismscode::gateway
