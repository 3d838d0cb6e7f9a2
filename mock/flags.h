#pragma once

#include <functional>
#include <optional>
#include <string>

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

using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// Parses flags (`--name value` or `--name=value`) after argv[0]. Returns nullopt with a
// one-line `error` naming the flag at fault. The admin token comes from
// ISMSCODE_MOCK_ADMIN_TOKEN, --admin-token-file, or (visible to `ps`) --admin-token.
std::optional<MockConfig> ParseMockFlags(int argc, const char* const* argv, const EnvLookup& env,
                                         std::string* error);
std::string MockUsage();

}  // namespace ismscode::mock
