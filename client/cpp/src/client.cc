#include "ismscode/harness/client.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "ismscode/harness/v1/verification.grpc.pb.h"

namespace ismscode::harness {
namespace {

namespace pb = ::ismscode::harness::v1;
using google::protobuf::util::TimeUtil;

constexpr const char* kDefaultAddress = "127.0.0.1:50051";
constexpr const char* kErrorDomain = "ismscode.harness";
// Past the gateway's own timeout, so that its CODE_WAIT_TIMEOUT arrives first.
constexpr std::chrono::seconds kStreamDeadlineMargin{15};
constexpr std::chrono::seconds kDefaultAwaitTimeout{120};
constexpr std::chrono::seconds kAcquireDeadlineMargin{30};
// Longer waits are taken as a year: the clock arithmetic cannot overflow.
constexpr std::chrono::milliseconds kLongestWait = std::chrono::hours(24 * 365);

struct ReasonEntry {
  Reason reason;
  const char* name;
};
constexpr ReasonEntry kReasons[] = {
    {Reason::kUnknown, "UNKNOWN"},
    {Reason::kInvalidArgument, "INVALID_ARGUMENT"},
    {Reason::kInvalidCountry, "INVALID_COUNTRY"},
    {Reason::kInvalidService, "INVALID_SERVICE"},
    {Reason::kUnauthorized, "UNAUTHORIZED"},
    {Reason::kInsufficientBalance, "INSUFFICIENT_BALANCE"},
    {Reason::kNoNumbersAvailable, "NO_NUMBERS_AVAILABLE"},
    {Reason::kRateLimitExceeded, "RATE_LIMIT_EXCEEDED"},
    {Reason::kUpstreamUnavailable, "UPSTREAM_UNAVAILABLE"},
    {Reason::kUpstreamTimeout, "UPSTREAM_TIMEOUT"},
    {Reason::kUpstreamBadResponse, "UPSTREAM_BAD_RESPONSE"},
    {Reason::kNumberNotFound, "NUMBER_NOT_FOUND"},
    {Reason::kCodeWaitTimeout, "CODE_WAIT_TIMEOUT"},
    {Reason::kNumberExpired, "NUMBER_EXPIRED"},
    {Reason::kShuttingDown, "SHUTTING_DOWN"},
    {Reason::kUnauthenticated, "UNAUTHENTICATED"},
    {Reason::kCallerKeyNotAllowed, "CALLER_KEY_NOT_ALLOWED"},
    {Reason::kGatewayUnavailable, "GATEWAY_UNAVAILABLE"},
    {Reason::kCancelled, "CANCELLED"},
    {Reason::kDeadlineExceeded, "DEADLINE_EXCEEDED"},
    {Reason::kStateUnavailable, "STATE_UNAVAILABLE"},
};

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Timestamp FromProto(const google::protobuf::Timestamp& t) {
  return Timestamp(std::chrono::duration_cast<Timestamp::duration>(
      std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos())));
}

void ToProto(Timestamp t, google::protobuf::Timestamp* out) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  *out = TimeUtil::NanosecondsToTimestamp(ns);
}

void ToProto(std::chrono::milliseconds d, google::protobuf::Duration* out) {
  *out = TimeUtil::MillisecondsToDuration(d.count());
}

Heartbeat FromProto(const pb::Waiting& w) {
  Heartbeat h;
  h.polls = w.polls();
  h.next_poll_at = FromProto(w.next_poll_at());
  h.expires_at = FromProto(w.expires_at());
  h.last_upstream_error = w.last_upstream_error();
  h.waiting_for_budget = w.waiting_for_budget();
  return h;
}

Code FromProto(const pb::CodeReceived& c) {
  return Code{c.code(), c.raw_match(),
              Sms{c.sms().from(), c.sms().text(), FromProto(c.sms().received_at())}};
}

std::string FormatTime(Timestamp t) {
  google::protobuf::Timestamp p;
  ToProto(t, &p);
  return TimeUtil::ToString(p);
}

// The typed error of a failed call, from the status and its google.rpc.Status details.
Error ErrorFrom(const grpc::Status& status, const std::string& address) {
  Error e;
  e.grpc_code = static_cast<int>(status.error_code());
  e.grpc_code_name = CodeName(status.error_code());
  e.message = status.error_message();
  google::rpc::Status details;
  bool has_info = false;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      google::rpc::ErrorInfo info;
      google::rpc::RetryInfo retry;
      google::rpc::BadRequest bad;
      if (any.UnpackTo(&info) && info.domain() == kErrorDomain) {
        has_info = true;
        e.reason_name = info.reason();
        e.reason = ReasonFromName(info.reason());
        for (const auto& [k, v] : info.metadata()) e.metadata[k] = v;
      } else if (any.UnpackTo(&retry)) {
        e.retry_delay =
            std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(retry.retry_delay()));
      } else if (any.UnpackTo(&bad)) {
        for (const auto& v : bad.field_violations()) {
          e.bad_fields.push_back({v.field(), v.description()});
        }
      }
    }
  }
  if (!has_info) {
    switch (status.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
        e.reason = Reason::kGatewayUnavailable;
        e.message = "cannot reach the gateway at " + address + " (" + status.error_message() +
                    "): start it (scripts/run) or set ISMSCODE_HARNESS_ADDR";
        break;
      case grpc::StatusCode::CANCELLED:
        e.reason = Reason::kCancelled;
        break;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        e.reason = Reason::kDeadlineExceeded;
        break;
      default:
        e.reason = Reason::kUnknown;
    }
    e.reason_name = ReasonName(e.reason);
  }
  return e;
}

Error LocalError(Reason reason, int grpc_code, std::string message) {
  Error e;
  e.reason = reason;
  e.reason_name = ReasonName(reason);
  e.grpc_code = grpc_code;
  e.grpc_code_name = CodeName(static_cast<grpc::StatusCode>(grpc_code));
  e.message = std::move(message);
  return e;
}

}  // namespace

const char* ReasonName(Reason reason) {
  for (const auto& r : kReasons) {
    if (r.reason == reason) return r.name;
  }
  return "UNKNOWN";
}

Reason ReasonFromName(const std::string& name) {
  for (const auto& r : kReasons) {
    if (name == r.name) return r.reason;
  }
  return Reason::kUnknown;
}

std::string Error::ToString() const {
  std::ostringstream out;
  out << reason_name << " (" << grpc_code_name << "): " << message;
  for (const auto& [k, v] : metadata) out << " [" << k << "=" << v << "]";
  for (const auto& f : bad_fields) out << " [field " << f.field << ": " << f.description << "]";
  if (retry_delay) out << " [retry after " << retry_delay->count() << " ms]";
  if (last_heartbeat) {
    out << " [last heartbeat: " << last_heartbeat->polls << " polls, next poll "
        << FormatTime(last_heartbeat->next_poll_at) << ", expires "
        << FormatTime(last_heartbeat->expires_at);
    if (!last_heartbeat->last_upstream_error.empty()) {
      out << ", last upstream error: " << last_heartbeat->last_upstream_error;
    }
    if (last_heartbeat->waiting_for_budget) out << ", waiting for the rate budget";
    out << "]";
  }
  return out.str();
}

std::string NewRequestId() {
  static std::mutex mutex;
  static std::mt19937_64 random{std::random_device{}()};
  std::lock_guard lock(mutex);
  char buf[40];
  snprintf(buf, sizeof buf, "req-%016llx%016llx", static_cast<unsigned long long>(random()),
           static_cast<unsigned long long>(random()));
  return buf;
}

struct Cancellation::State {
  std::mutex mutex;
  bool cancelled = false;
  std::set<grpc::ClientContext*> contexts;  // the calls in progress
};

Cancellation::Cancellation() : state_(std::make_shared<State>()) {}

void Cancellation::Cancel() const {
  std::lock_guard lock(state_->mutex);
  state_->cancelled = true;
  for (grpc::ClientContext* context : state_->contexts) context->TryCancel();
}

bool Cancellation::cancelled() const {
  std::lock_guard lock(state_->mutex);
  return state_->cancelled;
}

struct Client::Impl {
  ClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::VerificationService::Stub> stub;

  void Prepare(grpc::ClientContext& context, std::chrono::milliseconds deadline) const {
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    if (!options.token.empty()) context.AddMetadata("authorization", "Bearer " + options.token);
    if (!options.caller_key.empty()) context.AddMetadata("x-ismscode-api-key", options.caller_key);
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

const std::string& Client::address() const { return impl_->options.address; }

Result<Client> Client::Connect(ClientOptions options) {
  if (options.use_environment) {
    if (options.address.empty()) options.address = Env("ISMSCODE_HARNESS_ADDR");
    if (options.token.empty()) options.token = Env("ISMSCODE_HARNESS_TOKEN");
    if (options.tls_ca_file.empty()) options.tls_ca_file = Env("ISMSCODE_HARNESS_CA");
    if (options.caller_key.empty()) options.caller_key = Env("ISMSCODE_HARNESS_CALLER_KEY");
  }
  if (options.address.empty()) options.address = kDefaultAddress;
  // gRPC refuses other metadata bytes, and its error would quote the secret: the error
  // here names the field, never the value.
  for (const auto& [value, field] :
       {std::pair<const std::string*, const char*>{&options.token, "token"},
        {&options.caller_key, "caller_key"}}) {
    if (std::any_of(value->begin(), value->end(), [](char c) { return c < 0x20 || c > 0x7e; })) {
      Error e = LocalError(Reason::kInvalidArgument, 3,
                           std::string(field) + " must be printable ASCII (no line breaks)");
      e.bad_fields.push_back({field, "must be printable ASCII"});
      return e;
    }
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!options.tls_ca_file.empty()) {
    std::ifstream in(options.tls_ca_file, std::ios::binary);
    std::ostringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().empty()) {
      return LocalError(Reason::kInvalidArgument, 3,
                        "cannot read the TLS CA file " + options.tls_ca_file);
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    credentials = grpc::SslCredentials(ssl);
  } else if (options.tls) {
    credentials = grpc::SslCredentials({});
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  auto impl = std::make_unique<Impl>();
  impl->channel = grpc::CreateChannel(options.address, credentials);
  impl->stub = pb::VerificationService::NewStub(impl->channel);
  impl->options = std::move(options);
  if (impl->options.connect_timeout.count() > 0 &&
      !impl->channel->WaitForConnected(std::chrono::system_clock::now() +
                                       impl->options.connect_timeout)) {
    return LocalError(Reason::kGatewayUnavailable, 14,
                      "cannot reach the gateway at " + impl->options.address + " within " +
                          std::to_string(impl->options.connect_timeout.count()) +
                          " ms: start it (scripts/run) or set ISMSCODE_HARNESS_ADDR");
  }
  return Client(std::move(impl));
}

Result<std::vector<Country>> Client::ListCountries() const {
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.list_timeout);
  pb::ListCountriesResponse response;
  grpc::Status status = impl_->stub->ListCountries(&context, {}, &response);
  if (!status.ok()) return ErrorFrom(status, address());
  std::vector<Country> countries;
  for (const auto& c : response.countries()) {
    countries.push_back({c.code(), c.name(), c.dial_prefix()});
  }
  return countries;
}

Result<std::vector<std::string>> Client::ListServices() const {
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.list_timeout);
  pb::ListServicesResponse response;
  grpc::Status status = impl_->stub->ListServices(&context, {}, &response);
  if (!status.ok()) return ErrorFrom(status, address());
  return std::vector<std::string>(response.services().begin(), response.services().end());
}

Result<Number> Client::Acquire(const AcquireRequest& request) const {
  if (request.max_wait.count() < 0 || request.deadline.count() < 0) {
    Error e = LocalError(Reason::kInvalidArgument, 3, "max_wait and deadline cannot be negative");
    e.bad_fields.push_back(
        {request.max_wait.count() < 0 ? "max_wait" : "deadline", "must not be negative"});
    return e;
  }
  pb::AcquireNumberRequest r;
  r.set_country(request.country);
  r.set_service(request.service);
  for (const auto& c : request.fallback_countries) r.add_fallback_countries(c);
  const std::string request_id = request.request_id.empty() ? NewRequestId() : request.request_id;
  r.set_request_id(request_id);
  const std::chrono::milliseconds max_wait = std::min(request.max_wait, kLongestWait);
  if (max_wait.count() > 0) ToProto(max_wait, r.mutable_max_wait());

  grpc::ClientContext context;
  impl_->Prepare(context, request.deadline.count() > 0
                              ? std::min(request.deadline, kLongestWait)
                              : max_wait + std::chrono::milliseconds(kAcquireDeadlineMargin));
  pb::AcquireNumberResponse response;
  grpc::Status status = impl_->stub->AcquireNumber(&context, r, &response);
  if (!status.ok()) {
    Error e = ErrorFrom(status, address());
    e.request_id = request_id;
    return e;
  }
  const pb::PhoneNumber& n = response.number();
  return Number{n.id(),
                n.phone(),
                n.country(),
                n.service(),
                FromProto(n.expires_at()),
                response.attempts(),
                response.replayed(),
                request_id};
}

Result<Code> Client::AwaitCode(const std::string& number_id, const AwaitOptions& options) const {
  auto codes = Await(number_id, options, /*follow=*/false, {});
  if (!codes.ok()) return codes.error();
  return codes->front();
}

Result<std::vector<Code>> Client::AwaitCodes(
    const std::string& number_id, const AwaitOptions& options,
    const std::function<void(const Code&)>& on_code) const {
  return Await(number_id, options, /*follow=*/true, on_code);
}

Result<std::vector<Code>> Client::Await(const std::string& number_id, const AwaitOptions& options,
                                        bool follow,
                                        const std::function<void(const Code&)>& on_code) const {
  if (options.timeout.count() < 0) {
    Error e = LocalError(Reason::kInvalidArgument, 3, "the timeout cannot be negative");
    e.bad_fields.push_back({"timeout", "must not be negative"});
    return e;
  }
  pb::AwaitCodeRequest r;
  r.set_number_id(number_id);
  const std::chrono::milliseconds timeout = options.timeout.count() > 0
                                                ? std::min(options.timeout, kLongestWait)
                                                : std::chrono::milliseconds(kDefaultAwaitTimeout);
  if (options.timeout.count() > 0) ToProto(timeout, r.mutable_timeout());
  r.set_code_pattern(options.code_pattern);
  r.set_sender_pattern(options.sender_pattern);
  r.set_min_code_length(options.min_code_length);
  r.set_max_code_length(options.max_code_length);
  if (options.received_after) ToProto(*options.received_after, r.mutable_received_after());
  if (options.sms_sent_at) ToProto(*options.sms_sent_at, r.mutable_sms_sent_at());
  r.set_follow(follow);

  grpc::ClientContext context;
  impl_->Prepare(context, timeout + kStreamDeadlineMargin);

  // Register with the cancellation before the call, so that a Cancel() from now on
  // reaches it; one that came earlier ends the call here.
  std::shared_ptr<Cancellation::State> cancel =
      options.cancellation ? options.cancellation->state_ : nullptr;
  if (cancel) {
    std::lock_guard lock(cancel->mutex);
    if (cancel->cancelled) {
      return LocalError(Reason::kCancelled, 1, "the wait was cancelled before it started");
    }
    cancel->contexts.insert(&context);
  }
  // Declared after `context`, so destroyed before it: no Cancel() reaches a dead call.
  struct Unregister {
    std::shared_ptr<Cancellation::State> state;
    grpc::ClientContext* context;
    ~Unregister() {
      if (!state) return;
      std::lock_guard lock(state->mutex);
      state->contexts.erase(context);
    }
  } unregister{cancel, &context};

  std::vector<Code> codes;
  std::optional<Heartbeat> last;
  auto reader = impl_->stub->AwaitCode(&context, r);
  pb::AwaitCodeEvent event;
  while (reader->Read(&event)) {
    if (event.has_waiting()) {
      last = FromProto(event.waiting());
      if (options.on_heartbeat) options.on_heartbeat(*last);
    } else if (event.has_code_received()) {
      codes.push_back(FromProto(event.code_received()));
      if (on_code) on_code(codes.back());
    }
  }
  grpc::Status status = reader->Finish();
  auto cancel_requested = [&] {
    std::lock_guard lock(cancel->mutex);
    return cancel->cancelled;
  };
  if (!status.ok()) {
    Error e = ErrorFrom(status, address());
    if (cancel && status.error_code() == grpc::StatusCode::CANCELLED && cancel_requested()) {
      e.reason = Reason::kCancelled;
      e.reason_name = ReasonName(e.reason);
      e.message = "the wait was cancelled";
    }
    e.last_heartbeat = last;
    return e;
  }
  if (!follow && codes.empty()) {
    Error e = LocalError(Reason::kUnknown, 2, "the stream ended without a code");
    e.last_heartbeat = last;
    return e;
  }
  return codes;
}

}  // namespace ismscode::harness
