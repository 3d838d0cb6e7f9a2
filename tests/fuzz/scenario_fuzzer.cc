// Scenario files as a user may write them: any text into ParseScenario. A scenario that
// parses must survive a round trip through its JSON form.
#include <cstdint>
#include <string>

#include "mock/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto scenario = ismscode::mock::ParseScenario(text);
  if (!scenario.ok()) {
    if (scenario.status().message().empty()) __builtin_trap();  // a refusal always says why
    return 0;
  }
  const std::string again = ismscode::mock::ScenarioToJson(*scenario).dump();
  if (!ismscode::mock::ParseScenario(again).ok()) __builtin_trap();
  return 0;
}
