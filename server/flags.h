#pragma once

#include <absl/status/statusor.h>

#include <string>

#include "common/cli.h"
#include "server/gateway.h"

namespace ismscode::gateway {

// Everything ismscode-gateway is told on its command line, in the files it names and
// in its environment.
struct GatewayConfig {
  GatewayOptions options;  // listen 127.0.0.1:50051, metrics 127.0.0.1:9464, call logs on
  std::string upstream;    // the REST API; empty: the bundled mock
  std::string mock_scenario = "default";
  bool help = false;  // --help: print GatewayUsage() and exit
};

// Parses flags (`--name value` or `--name=value`, CLI11) after argv[0] and reads what
// they point to: TLS files, the token file, and the upstream key from --api-key-file or
// ISMSCODE_API_KEY (required with --upstream; never a flag, so `ps` cannot show it).
// InvalidArgument naming the flag at fault; never a secret in the message.
absl::StatusOr<GatewayConfig> ParseGatewayFlags(int argc, const char* const* argv,
                                                const EnvLookup& env);

// --help, generated from the same definitions.
std::string GatewayUsage();

}  // namespace ismscode::gateway
