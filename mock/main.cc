// ismscode-mock: parses flags, loads the scenario, serves until SIGINT/SIGTERM.
#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "mock/flags.h"
#include "mock/http_server.h"
#include "mock/json_fields.h"
#include "mock/scenario.h"
#include "mock/service.h"

namespace {

// One JSON object per line on stderr.
void Log(const char* level, const char* msg,
         const nlohmann::ordered_json& fields = nlohmann::ordered_json::object()) {
  nlohmann::ordered_json line = {
      {"ts", ismscode::mock::FormatRfc3339(std::chrono::system_clock::now())},
      {"level", level},
      {"msg", msg}};
  line.update(fields);
  std::cerr << ismscode::mock::SafeDump(line) << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ismscode::mock;
  std::string error;
  auto config = ParseMockFlags(
      argc, argv,
      [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        return v ? std::optional<std::string>(v) : std::nullopt;
      },
      &error);
  if (!config) {
    std::cerr << "ismscode-mock: " << error << "\n";
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

  auto scenario = LoadScenario(config->scenario, &error);
  if (!scenario) {
    std::cerr << "ismscode-mock: " << error << "\n";
    return 2;
  }
  if (config->action == MockConfig::Action::kPrintScenario) {
    std::cout << ScenarioToJson(*scenario).dump(2) << "\n";
    return 0;
  }

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  MockService service(*scenario, config->service);
  auto server = MockHttpServer::Start(service, config->server, &error);
  if (!server) {
    std::cerr << "ismscode-mock: " << error << "\n";
    return 1;
  }
  if (!config->port_file.empty()) {
    std::ofstream(config->port_file) << server->port() << "\n";
  }
  if (config->admin_token_on_argv) {
    Log("warn",
        "--admin-token is visible to every user of this machine; prefer "
        "--admin-token-file or ISMSCODE_MOCK_ADMIN_TOKEN");
  }
  Log("info", "ismscode-mock listening",
      {{"url", server->base_url()},
       {"api", server->base_url() + "/api/v3"},
       {"scenario", scenario->name},
       {"seed", config->service.seed},
       {"time_scale", config->service.clock.time_scale},
       {"frozen_clock", config->service.clock.frozen},
       {"control_api_guarded", !config->service.admin_token.empty()}});

  int signal = 0;
  sigwait(&stop_signals, &signal);
  Log("info", "stopping", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  server->Stop();
  Log("info", "stopped");
  return 0;
}
