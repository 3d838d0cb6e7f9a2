#include "server/call_observer.h"

#include <grpcpp/server_context.h>

#include <chrono>
#include <string>

#include "common/log.h"
#include "common/signals.h"
#include "server/errors.h"

namespace ismscode::gateway {

namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

std::string_view TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

// Method names come from the client: anything outside the services the gateway serves
// is one label value, so a caller cannot grow the metrics without bound.
std::string KnownMethod(const char* method) {
  const std::string_view m = method ? method : "";
  for (std::string_view prefix :
       {"/ismscode.harness.v1.", "/grpc.health.v1.", "/grpc.reflection.v1alpha."}) {
    if (m.starts_with(prefix) && m.size() < 128) return std::string(m);
  }
  return "/unknown/unknown";
}

class CallObserver final : public grpc::experimental::Interceptor {
 public:
  CallObserver(ServerRpcInfo* info, GatewayMetrics& metrics, bool log_calls)
      : info_(info),
        metrics_(metrics),
        log_calls_(log_calls),
        type_(TypeName(info->type())),
        method_(KnownMethod(info->method())) {}

  ~CallObserver() override {
    // A call torn down without a status (the server stopped under it) still counts.
    if (!handled_) Handled(grpc::StatusCode::CANCELLED, "");
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      metrics_.CallStarted(type_, method_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      metrics_.MessageReceived(type_, method_);
      // gRPC could not parse the request (a proto3 string that is not UTF-8): the
      // status it would send says nothing useful, so the error table's is sent instead.
      unreadable_ = methods->GetRecvMessage() == nullptr;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      metrics_.MessageSent(type_, method_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      if (unreadable_ && !methods->GetSendStatus().ok()) {
        methods->ModifySendStatus(
            GatewayError{.reason = Reason::kInvalidArgument,
                         .message = "the request is not a valid message: a string field holds "
                                    "bytes that are not UTF-8"}
                .ToStatus());
      }
      const grpc::Status status = methods->GetSendStatus();
      Handled(status.error_code(), status.error_message());
    }
    methods->Proceed();
  }

 private:
  void Handled(grpc::StatusCode code, const std::string& message) {
    handled_ = true;
    const auto took = std::chrono::steady_clock::now() - start_;
    metrics_.CallHandled(type_, method_, GrpcCodeName(code), took);
    if (!log_calls_) return;
    nlohmann::ordered_json fields = {
        {"method", method_},
        {"grpc_code", GrpcCodeName(code)},
        {"duration_ms", std::chrono::duration<double, std::milli>(took).count()}};
    if (auto* ctx = info_->server_context()) fields["peer"] = ctx->peer();
    // Status messages are written by the gateway and never carry a secret.
    if (code != grpc::StatusCode::OK) fields["error"] = message;
    ismscode::LogLine(code == grpc::StatusCode::OK ? "info" : "warn", "call", fields);
  }

  ServerRpcInfo* info_;
  GatewayMetrics& metrics_;
  const bool log_calls_;
  const std::string_view type_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool handled_ = false;
  bool unreadable_ = false;
};

class CallObserverFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  CallObserverFactory(GatewayMetrics& metrics, bool log_calls)
      : metrics_(metrics), log_calls_(log_calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new CallObserver(info, metrics_, log_calls_);
  }

 private:
  GatewayMetrics& metrics_;
  const bool log_calls_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewCallObserverFactory(
    GatewayMetrics& metrics, bool log_calls) {
  return std::make_unique<CallObserverFactory>(metrics, log_calls);
}

}  // namespace ismscode::gateway
