#include "mock/process.h"

#include <pthread.h>

#include <chrono>
#include <iostream>

#include "mock/clock.h"
#include "mock/json_fields.h"

namespace ismscode::mock {

void LogLine(const char* level, const char* msg, const nlohmann::ordered_json& fields) {
  nlohmann::ordered_json line = {
      {"ts", FormatRfc3339(std::chrono::system_clock::now())}, {"level", level}, {"msg", msg}};
  line.update(fields);
  std::cerr << SafeDump(line) << std::endl;
}

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

const char* WaitForStopSignal(const sigset_t& signals) {
  int signal = 0;
  sigwait(&signals, &signal);
  return signal == SIGTERM ? "SIGTERM" : "SIGINT";
}

}  // namespace ismscode::mock
