#include "server/caller_access.h"

namespace ismscode::gateway {

namespace {

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

}  // namespace

std::optional<GatewayError> CallerAccess::Authorize(const grpc::CallbackServerContext& context,
                                                    Caller* caller) const {
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

}  // namespace ismscode::gateway
