// ismscode-mock: parses flags, loads the scenario, serves until SIGINT/SIGTERM.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/signals.h"
#include "mock/flags.h"
#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"

int main(int argc, char** argv) {
  using namespace ismscode;
  using namespace ismscode::mock;
  auto config = ParseMockFlags(argc, argv, ProcessEnvironment());
  if (!config.ok()) {
    std::cerr << "ismscode-mock: " << config.status().message() << "\n";
    return 2;
  }
  switch (config->action) {
    case MockConfig::Action::kHelp:
      std::cout << MockUsage();
      return 0;
    case MockConfig::Action::kListScenarios:
      for (const auto& name : PresetNames()) std::cout << name << "\n";
      return 0;
    case MockConfig::Action::kPrintScenario:
    case MockConfig::Action::kServe:
      break;
  }

  auto scenario = LoadScenario(config->scenario);
  if (!scenario.ok()) {
    std::cerr << "ismscode-mock: " << scenario.status().message() << "\n";
    return 2;
  }
  if (config->action == MockConfig::Action::kPrintScenario) {
    std::cout << ScenarioToJson(*scenario).dump(2) << "\n";
    return 0;
  }

  const sigset_t stop_signals = BlockStopSignals();

  MockService service(*scenario, config->service);
  auto started = MockHttpServer::Start(service, config->server);
  if (!started.ok()) {
    std::cerr << "ismscode-mock: " << started.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<MockHttpServer> server = *std::move(started);
  if (!config->port_file.empty()) {
    std::ofstream(config->port_file) << server->port() << "\n";
  }
  if (config->admin_token_on_argv) {
    LogLine("warn",
            "--admin-token is visible to every user of this machine; prefer "
            "--admin-token-file or ISMSCODE_MOCK_ADMIN_TOKEN");
  }
  LogLine("info", "ismscode-mock listening",
          {{"url", server->base_url()},
           {"api", server->base_url() + "/api/v3"},
           {"scenario", scenario->name},
           {"seed", config->service.seed},
           {"time_scale", config->service.clock.time_scale},
           {"frozen_clock", config->service.clock.frozen},
           {"control_api_guarded", !config->service.admin_token.empty()}});

  LogLine("info", "stopping", {{"signal", WaitForStopSignal(stop_signals)}});
  server->Stop();
  LogLine("info", "stopped");
  return 0;
}
