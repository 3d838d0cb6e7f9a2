#pragma once

#include <grpcpp/support/status.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "common/metric_children.h"
#include "common/metrics_server.h"

namespace ismscode::gateway {

// "OK", "Canceled", "DeadlineExceeded", ...: status codes as go-grpc-prometheus (and so
// every gRPC dashboard) spells them in grpc_code.
std::string_view GrpcCodeName(grpc::StatusCode code);

// ismscode_verifications_total's outcomes: how an AwaitCode stream ended. One list,
// for the reactor that ends streams and for the series created at zero.
namespace verification_outcome {
inline constexpr const char* kCodeReceived = "code_received";
inline constexpr const char* kTimeout = "timeout";
inline constexpr const char* kExpired = "expired";
inline constexpr const char* kCancelled = "cancelled";
inline constexpr const char* kUpstreamError = "upstream_error";
inline constexpr const char* kShuttingDown = "shutting_down";
inline constexpr const char* kAll[] = {kCodeReceived, kTimeout,       kExpired,
                                       kCancelled,    kUpstreamError, kShuttingDown};
}  // namespace verification_outcome

// The gateway's Prometheus metrics. Every name and label lives here and in METRICS.md,
// nowhere else. Labels never carry keys, tokens, phone numbers or number ids.
//
// Standard gRPC server metrics, spelled as go-grpc-prometheus spells them (labels
// grpc_type, grpc_service, grpc_method):
//   grpc_server_started_total
//   grpc_server_handled_total{..., grpc_code}
//   grpc_server_msg_received_total, grpc_server_msg_sent_total
//   grpc_server_handling_seconds (histogram)
// The gateway's own:
//   ismscode_upstream_requests_total{endpoint, outcome}
//   ismscode_upstream_request_duration_seconds{endpoint} (histogram)
//   ismscode_numbers_acquired_total{country, service, outcome}
//   ismscode_verifications_total{service, outcome}
//   ismscode_time_to_code_seconds{service} (histogram; AcquireNumber answer -> code seen)
//   ismscode_awaits_in_flight (gauge)
//   ismscode_numbers_watched (gauge; poll loops running)
//   ismscode_throttled_total{source, purpose}
//   ismscode_code_detection_delay_seconds{service} (histogram; an SMS's received_at ->
//     the poll that found it, both in the upstream's clock)
//   ismscode_polls_total{service, result} (result "new_sms", "nothing", "error")
//   ismscode_sms_delay_estimate_seconds{service, quantile} (gauge; quantile "0.5", "0.95"
//     of the delay the poll scheduler has learned for the service's SMS)
// With --state (a fleet sharing its state through Redis) only:
//   ismscode_state_store_requests_total{result} (result "ok", "unavailable", "error")
//   ismscode_state_store_request_duration_seconds (histogram)
//   ismscode_state_store_up (gauge; 1 while the last health check reached it)
//
// Thread-safe.
class GatewayMetrics {
 public:
  GatewayMetrics();
  ~GatewayMetrics();

  // Serves GET /metrics on `bind` ("127.0.0.1:9464"; port 0 picks one) until
  // destruction. MetricsServer::Start's errors.
  absl::Status Serve(const std::string& bind);
  int port() const { return server_ ? server_->port() : 0; }  // 0 when not serving

  // Creates a method's gRPC series at zero (every grpc_code), as go-grpc-prometheus
  // does, so that rate() and dashboards see them before the first call.
  void InitializeMethod(std::string_view type, std::string_view method);
  // Creates a service's ismscode_verifications_total series at zero (every outcome),
  // so the first verification of each outcome counts in rate() and the success ratio.
  void InitializeService(std::string_view service);
  // gRPC calls. `method` is the full "/package.Service/Method".
  void CallStarted(std::string_view type, std::string_view method);
  void CallHandled(std::string_view type, std::string_view method, std::string_view code,
                   std::chrono::steady_clock::duration took);
  void MessageReceived(std::string_view type, std::string_view method);
  void MessageSent(std::string_view type, std::string_view method);

  // Upstream REST calls: endpoint as the mock names it ("numbers.request", ...), outcome
  // "ok" or the error table's reason ("NO_NUMBERS_AVAILABLE", ...).
  void UpstreamRequest(std::string_view endpoint, std::string_view outcome,
                       std::chrono::steady_clock::duration took);
  // One finished AcquireNumber: outcome "ok" or a reason.
  void NumberAcquired(std::string_view country, std::string_view service, std::string_view outcome);
  // One finished AwaitCode: outcome one of verification_outcome::kAll.
  void VerificationEnded(std::string_view service, std::string_view outcome);
  void TimeToCode(std::string_view service, std::chrono::steady_clock::duration took);
  void AwaitStarted() { awaits_in_flight_.Increment(); }
  void AwaitEnded() { awaits_in_flight_.Decrement(); }
  void WatchStarted() { numbers_watched_.Increment(); }
  void WatchEnded() { numbers_watched_.Decrement(); }
  // A request held back: source "rate_budget" (our own budget made it wait) or
  // "upstream_429" (the upstream refused it); purpose "acquire" or "poll" or "list".
  void Throttled(std::string_view source, std::string_view purpose);
  // A poll's outcome: "new_sms" (it found SMS the number had not shown before),
  // "nothing", "error"; and for each new SMS, how long it sat upstream before the poll.
  void Polled(std::string_view service, std::string_view result);
  void SmsDetected(std::string_view service, std::chrono::system_clock::duration delay);
  // The poll scheduler's current estimate of a service's SMS delay, from its origin.
  void SmsDelayEstimated(std::string_view service, double median_seconds, double p95_seconds);

  // --state: creates the state store's series (at zero; down until the first check).
  void InitializeStateStore();
  // One call to the state store: ok, unavailable (unreachable, or no answer in time) or
  // error (it answered with an error), and how long it took.
  void StateStoreRequest(std::string_view result, std::chrono::steady_clock::duration took);
  void StateStoreUp(bool up);

  // The text exposition format, as a scrape sees it (for tests and logs).
  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Counter>& msg_received_;
  prometheus::Family<prometheus::Counter>& msg_sent_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;
  prometheus::Family<prometheus::Counter>& upstream_requests_;
  prometheus::Family<prometheus::Histogram>& upstream_seconds_;
  prometheus::Family<prometheus::Counter>& acquired_;
  prometheus::Family<prometheus::Counter>& verifications_;
  prometheus::Family<prometheus::Histogram>& time_to_code_;
  prometheus::Family<prometheus::Counter>& throttled_;
  prometheus::Family<prometheus::Histogram>& detection_delay_;
  prometheus::Family<prometheus::Counter>& polls_;
  prometheus::Family<prometheus::Gauge>& delay_estimate_;
  prometheus::Family<prometheus::Counter>& state_requests_;
  prometheus::Family<prometheus::Histogram>& state_seconds_;
  prometheus::Family<prometheus::Gauge>& state_up_;
  prometheus::Gauge& awaits_in_flight_;
  prometheus::Gauge& numbers_watched_;
  MetricChildren children_;
  std::unique_ptr<MetricsServer> server_;  // null when not serving
};

}  // namespace ismscode::gateway
