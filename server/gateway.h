#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/metrics.h"
#include "server/poll_hub.h"
#include "server/state_url.h"
#include "server/upstream_client.h"

namespace ismscode::gateway {

struct GatewayOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  UpstreamConfig upstream;             // where the REST API is
  std::string upstream_key;            // the gateway's key (from the environment or a file)
  // The least time between two polls of one number; with slack in the key's budget,
  // every waiting number is polled this often.
  std::chrono::milliseconds poll_interval{5000};
  PollPolicy poll_policy = PollPolicy::kLikely;   // see PollHub
  std::chrono::milliseconds poll_max_gap{60000};  // under contention, a number is due again after
  double poll_worth_seconds = 4;                  // see PollHub::Options::worth_seconds
  // The upstream's rate limit for one key: no interval of `rate_window` carries more
  // than `rate_limit` requests (purchases, polls and list calls together).
  int rate_limit = 60;
  std::chrono::milliseconds rate_window{60000};
  std::chrono::milliseconds list_cache_ttl{600000};  // countries and services
  // Fetch the lists for the gateway's key at start, so that metric labels can name
  // countries and services from the first call (two list requests of the budget).
  bool prefetch_lists = true;
  size_t workers = 8;  // threads (and upstream connections) for upstream calls
  std::chrono::milliseconds default_await_timeout{120000};

  // TLS on the gRPC port: PEM certificate chain and private key (both or neither).
  std::string tls_cert_chain, tls_private_key;
  // Bearer tokens callers must present; empty: no token needed.
  std::vector<std::string> caller_tokens;
  bool allow_caller_keys = false;  // accept a per-call upstream key in x-ismscode-api-key

  // --state: share the rate budget, request ids, numbers and poll loops with every
  // gateway on this Redis (a fleet). Unset: this gateway keeps its own (the default).
  std::optional<StateUrl> state;
  std::string state_password;  // empty: no AUTH
  std::string replica;         // this gateway's name in the fleet; empty: host, pid, random

  std::string metrics_listen;  // host:port for GET /metrics; empty: not served
  bool log_calls = false;      // one JSON line on stderr per finished call
};

// The whole gateway in-process: worker pool, scheduler, rate budget, upstream pool,
// acquirer, poll hub, the gRPC service with health checking and reflection. Tests start
// it on port 0; main.cc wraps it in flags and signals.
class Gateway {
 public:
  // Listens and serves. InvalidArgument for unusable options (TLS halves, upstream URL,
  // metrics address), Unavailable when an address cannot be listened on.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(const GatewayOptions& options);
  ~Gateway();  // Shutdown()

  int port() const;
  int metrics_port() const;  // 0 when metrics are not served
  const GatewayMetrics& metrics() const;
  // Health is SERVING from the start, and, with --state, NOT_SERVING while the state
  // store does not answer (checked every second).
  // Shutdown: health goes NOT_SERVING; open streams, and purchases not yet sent upstream, end
  // with UNAVAILABLE / SHUTTING_DOWN; a purchase already on the wire is awaited for at
  // most `grace` (its caller gets the number if it comes in time), then interrupted;
  // then the server stops. Returns within about `grace`. Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(3));

 private:
  struct Impl;
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ismscode::gateway
