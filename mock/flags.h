#pragma once

#include <absl/status/statusor.h>

#include <string>

#include "common/cli.h"
#include "mock/http_server.h"
#include "mock/service.h"

namespace ismscode::mock {

// Everything ismscode-mock is told on its command line and in its environment.
struct MockConfig {
  std::string scenario = "default";  // a preset name or a scenario file
  MockService::Options service;
  ServerOptions server;
  std::string port_file;  // written with the bound port once listening
  bool admin_token_on_argv = false;
  enum class Action { kServe, kHelp, kListScenarios, kPrintScenario } action = Action::kServe;
};

inline constexpr int kDefaultPort = 7700;

// Parses flags (`--name value` or `--name=value`, CLI11) after argv[0]. InvalidArgument
// with a one-line message naming the flag at fault. The admin token comes from
// --admin-token-file, --admin-token (visible to `ps`) or ISMSCODE_MOCK_ADMIN_TOKEN.
absl::StatusOr<MockConfig> ParseMockFlags(int argc, const char* const* argv, const EnvLookup& env);
// --help, generated from the same definitions.
std::string MockUsage();

}  // namespace ismscode::mock
