#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string_view>

#include "server/metrics.h"

namespace ismscode::gateway {

// Observes every call the server handles, the gateway's own service, health and
// reflection alike: the grpc_server_* metrics, and with `log_calls` one JSON line per
// finished call (method, code, duration, peer; never metadata, so never a token).
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewCallObserverFactory(
    GatewayMetrics& metrics, bool log_calls);

}  // namespace ismscode::gateway
