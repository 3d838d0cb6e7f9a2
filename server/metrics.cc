#include "server/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace ismscode::gateway {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// go-grpc-prometheus's default buckets, extended for streams that last minutes.
const Histogram::BucketBoundaries& HandlingBuckets() {
  static const Histogram::BucketBoundaries b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                2.5,   5,    10,    30,   60,  120,  300};
  return b;
}

const Histogram::BucketBoundaries& UpstreamBuckets() {
  static const Histogram::BucketBoundaries b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}

// SMS arrive seconds to minutes after the purchase.
const Histogram::BucketBoundaries& TimeToCodeBuckets() {
  static const Histogram::BucketBoundaries b = {0.5, 1,  2,  5,   10,  15,  20,  30,
                                                45,  60, 90, 120, 180, 300, 600, 1200};
  return b;
}

// A poll finds an SMS within its interval (5 s by default) unless polls are held back.
const Histogram::BucketBoundaries& DetectionDelayBuckets() {
  static const Histogram::BucketBoundaries b = {0.25, 0.5, 1,  2,  3,  5,   7.5,
                                                10,   15,  20, 30, 60, 120, 300};
  return b;
}

// "/pkg.Service/Method" -> {"pkg.Service", "Method"}.
std::pair<std::string_view, std::string_view> SplitMethod(std::string_view full) {
  if (!full.empty() && full.front() == '/') full.remove_prefix(1);
  const size_t slash = full.find('/');
  if (slash == std::string_view::npos) return {full, ""};
  return {full.substr(0, slash), full.substr(slash + 1)};
}

}  // namespace

std::string_view GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "Canceled";
    case grpc::StatusCode::UNKNOWN:
      return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FailedPrecondition";
    case grpc::StatusCode::ABORTED:
      return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "Unimplemented";
    case grpc::StatusCode::INTERNAL:
      return "Internal";
    case grpc::StatusCode::UNAVAILABLE:
      return "Unavailable";
    case grpc::StatusCode::DATA_LOSS:
      return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "Unauthenticated";
    default:
      return "Unknown";
  }
}

GatewayMetrics::GatewayMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      started_(BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("Total number of RPCs started on the server.")
                   .Register(*registry_)),
      handled_(BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("Total number of RPCs completed on the server, regardless of success or "
                         "failure.")
                   .Register(*registry_)),
      msg_received_(BuildCounter()
                        .Name("grpc_server_msg_received_total")
                        .Help("Total number of RPC stream messages received on the server.")
                        .Register(*registry_)),
      msg_sent_(BuildCounter()
                    .Name("grpc_server_msg_sent_total")
                    .Help("Total number of gRPC stream messages sent by the server.")
                    .Register(*registry_)),
      handling_seconds_(BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Histogram of response latency (seconds) of gRPC that had been "
                                  "application-level handled by the server.")
                            .Register(*registry_)),
      upstream_requests_(BuildCounter()
                             .Name("ismscode_upstream_requests_total")
                             .Help("Requests sent to the iSMScode REST API, by endpoint and "
                                   "outcome (ok or the error table's reason)")
                             .Register(*registry_)),
      upstream_seconds_(BuildHistogram()
                            .Name("ismscode_upstream_request_duration_seconds")
                            .Help("Latency of requests to the iSMScode REST API, by endpoint")
                            .Register(*registry_)),
      acquired_(BuildCounter()
                    .Name("ismscode_numbers_acquired_total")
                    .Help("Finished AcquireNumber calls by country, service and outcome")
                    .Register(*registry_)),
      verifications_(BuildCounter()
                         .Name("ismscode_verifications_total")
                         .Help("Finished AwaitCode streams by service and outcome")
                         .Register(*registry_)),
      time_to_code_(BuildHistogram()
                        .Name("ismscode_time_to_code_seconds")
                        .Help("Time from AcquireNumber's answer to the gateway seeing the code")
                        .Register(*registry_)),
      throttled_(BuildCounter()
                     .Name("ismscode_throttled_total")
                     .Help("Upstream requests held back: by the gateway's rate budget "
                           "(rate_budget) or refused by the upstream (upstream_429)")
                     .Register(*registry_)),
      detection_delay_(BuildHistogram()
                           .Name("ismscode_code_detection_delay_seconds")
                           .Help("How long an SMS was visible upstream before a poll found it "
                                 "(its received_at to the poll's Date header), by service")
                           .Register(*registry_)),
      polls_(BuildCounter()
                 .Name("ismscode_polls_total")
                 .Help("SMS polls by service and result (new_sms, nothing, error)")
                 .Register(*registry_)),
      delay_estimate_(BuildGauge()
                          .Name("ismscode_sms_delay_estimate_seconds")
                          .Help("The SMS delay (origin to visible upstream) the poll scheduler "
                                "has learned, by service and quantile")
                          .Register(*registry_)),
      state_requests_(BuildCounter()
                          .Name("ismscode_state_store_requests_total")
                          .Help("Calls to the fleet's shared state store (--state), by result "
                                "(ok, unavailable, error)")
                          .Register(*registry_)),
      state_seconds_(BuildHistogram()
                         .Name("ismscode_state_store_request_duration_seconds")
                         .Help("How long a call to the fleet's shared state store took")
                         .Register(*registry_)),
      state_up_(BuildGauge()
                    .Name("ismscode_state_store_up")
                    .Help("1 while the fleet's shared state store answers health checks")
                    .Register(*registry_)),
      awaits_in_flight_(BuildGauge()
                            .Name("ismscode_awaits_in_flight")
                            .Help("AwaitCode streams open now")
                            .Register(*registry_)
                            .Add({})),
      numbers_watched_(BuildGauge()
                           .Name("ismscode_numbers_watched")
                           .Help("Numbers with a running poll loop")
                           .Register(*registry_)
                           .Add({})) {
  // Bounded label sets start at zero, so the first throttled request or upstream 429
  // counts in rate() and increase() (a series born at 1 would not).
  for (std::string_view source : {"rate_budget", "upstream_429"}) {
    for (std::string_view purpose : {"acquire", "poll", "list"}) {
      children_.Get(throttled_, {{"source", source}, {"purpose", purpose}});
    }
  }
}

GatewayMetrics::~GatewayMetrics() = default;

absl::Status GatewayMetrics::Serve(const std::string& bind) {
  auto server = MetricsServer::Start(bind, [this] { return Serialize(); });
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  return absl::OkStatus();
}

void GatewayMetrics::InitializeMethod(std::string_view type, std::string_view method) {
  const auto [service, name] = SplitMethod(method);
  const MetricChildren::Labels labels = {
      {"grpc_type", type}, {"grpc_service", service}, {"grpc_method", name}};
  children_.Get(started_, labels);
  children_.Get(msg_received_, labels);
  children_.Get(msg_sent_, labels);
  children_.Get(handling_seconds_, labels, HandlingBuckets());
  for (int code = 0; code <= 16; ++code) {
    children_.Get(handled_, {{"grpc_type", type},
                             {"grpc_service", service},
                             {"grpc_method", name},
                             {"grpc_code", GrpcCodeName(static_cast<grpc::StatusCode>(code))}});
  }
}

void GatewayMetrics::InitializeService(std::string_view service) {
  for (std::string_view outcome : verification_outcome::kAll) {
    children_.Get(verifications_, {{"service", service}, {"outcome", outcome}});
  }
}

void GatewayMetrics::CallStarted(std::string_view type, std::string_view method) {
  const auto [service, name] = SplitMethod(method);
  children_.Get(started_, {{"grpc_type", type}, {"grpc_service", service}, {"grpc_method", name}})
      .Increment();
}

void GatewayMetrics::CallHandled(std::string_view type, std::string_view method,
                                 std::string_view code, std::chrono::steady_clock::duration took) {
  const auto [service, name] = SplitMethod(method);
  children_
      .Get(handled_, {{"grpc_type", type},
                      {"grpc_service", service},
                      {"grpc_method", name},
                      {"grpc_code", code}})
      .Increment();
  children_
      .Get(handling_seconds_,
           {{"grpc_type", type}, {"grpc_service", service}, {"grpc_method", name}},
           HandlingBuckets())
      .Observe(Seconds(took));
}

void GatewayMetrics::MessageReceived(std::string_view type, std::string_view method) {
  const auto [service, name] = SplitMethod(method);
  children_
      .Get(msg_received_, {{"grpc_type", type}, {"grpc_service", service}, {"grpc_method", name}})
      .Increment();
}

void GatewayMetrics::MessageSent(std::string_view type, std::string_view method) {
  const auto [service, name] = SplitMethod(method);
  children_.Get(msg_sent_, {{"grpc_type", type}, {"grpc_service", service}, {"grpc_method", name}})
      .Increment();
}

void GatewayMetrics::UpstreamRequest(std::string_view endpoint, std::string_view outcome,
                                     std::chrono::steady_clock::duration took) {
  children_.Get(upstream_requests_, {{"endpoint", endpoint}, {"outcome", outcome}}).Increment();
  children_.Get(upstream_seconds_, {{"endpoint", endpoint}}, UpstreamBuckets())
      .Observe(Seconds(took));
}

void GatewayMetrics::NumberAcquired(std::string_view country, std::string_view service,
                                    std::string_view outcome) {
  children_.Get(acquired_, {{"country", country}, {"service", service}, {"outcome", outcome}})
      .Increment();
}

void GatewayMetrics::VerificationEnded(std::string_view service, std::string_view outcome) {
  children_.Get(verifications_, {{"service", service}, {"outcome", outcome}}).Increment();
}

void GatewayMetrics::TimeToCode(std::string_view service,
                                std::chrono::steady_clock::duration took) {
  children_.Get(time_to_code_, {{"service", service}}, TimeToCodeBuckets()).Observe(Seconds(took));
}

void GatewayMetrics::Throttled(std::string_view source, std::string_view purpose) {
  children_.Get(throttled_, {{"source", source}, {"purpose", purpose}}).Increment();
}

void GatewayMetrics::Polled(std::string_view service, std::string_view result) {
  children_.Get(polls_, {{"service", service}, {"result", result}}).Increment();
}

void GatewayMetrics::SmsDetected(std::string_view service,
                                 std::chrono::system_clock::duration delay) {
  // The Date header has whole seconds: an SMS of the same second reads as up to 1 s early.
  const double seconds = std::max(0.0, std::chrono::duration<double>(delay).count());
  children_.Get(detection_delay_, {{"service", service}}, DetectionDelayBuckets()).Observe(seconds);
}

void GatewayMetrics::SmsDelayEstimated(std::string_view service, double median_seconds,
                                       double p95_seconds) {
  children_.Get(delay_estimate_, {{"service", service}, {"quantile", "0.5"}}).Set(median_seconds);
  children_.Get(delay_estimate_, {{"service", service}, {"quantile", "0.95"}}).Set(p95_seconds);
}

std::string GatewayMetrics::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

void GatewayMetrics::InitializeStateStore() {
  for (std::string_view result : {"ok", "unavailable", "error"}) {
    children_.Get(state_requests_, {{"result", result}});
  }
  children_.Get(state_seconds_, {}, UpstreamBuckets());
  children_.Get(state_up_, {}).Set(0);
}

void GatewayMetrics::StateStoreRequest(std::string_view result,
                                       std::chrono::steady_clock::duration took) {
  children_.Get(state_requests_, {{"result", result}}).Increment();
  children_.Get(state_seconds_, {}, UpstreamBuckets()).Observe(Seconds(took));
}

void GatewayMetrics::StateStoreUp(bool up) { children_.Get(state_up_, {}).Set(up ? 1 : 0); }

}  // namespace ismscode::gateway
