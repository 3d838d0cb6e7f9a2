#pragma once

#include <grpcpp/server_context.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/errors.h"

namespace ismscode::gateway {

// Whose upstream key a call uses: the gateway's, or the caller's own from metadata.
struct Caller {
  std::string key;
  KeyOwner key_owner = KeyOwner::kGateway;
};

// Who may call the gateway, and with which upstream key: the bearer token check
// ("authorization: Bearer <token>") and per-call keys ("x-ismscode-api-key").
// Immutable, thread-safe.
class CallerAccess {
 public:
  struct Options {
    std::string upstream_key;  // the gateway's own key (never logged)
    // Bearer tokens callers must present; empty: none needed.
    std::vector<std::string> caller_tokens;
    // Callers may send their own upstream key; it gets its own rate budget, and numbers
    // bought with it are visible only to that key.
    bool allow_caller_keys = false;
  };

  explicit CallerAccess(Options options) : options_(std::move(options)) {}

  // The caller's key, or why the call is refused (UNAUTHENTICATED, CALLER_KEY_NOT_ALLOWED,
  // INVALID_ARGUMENT). Errors never repeat a token or a key.
  std::optional<GatewayError> Authorize(const grpc::CallbackServerContext& context,
                                        Caller* caller) const;

 private:
  const Options options_;
};

}  // namespace ismscode::gateway
