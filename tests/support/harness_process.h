#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace ismscode::testing {

// The conformance launcher (tests/conformance/harness) as a child process: a mock and
// gateways on free ports. Its stdin stays open while this object lives; closing it (the
// destructor, or this process dying) stops them all.
class HarnessProcess {
 public:
  // Starts the launcher with `args` and reads its JSON line; `error` says why not.
  HarnessProcess(const std::vector<std::string>& args, std::string* error);
  ~HarnessProcess();

  // The launcher's line: grpc, token, grpc_no_caller_keys, mock, metrics, gateway_key, ...
  const nlohmann::json& addresses() const { return addresses_; }
  // Sends one command line to the launcher ("stop drain"). False when it is gone.
  bool Send(const std::string& line);

 private:
  std::unique_ptr<Subprocess> launcher_;
  nlohmann::json addresses_;
};

}  // namespace ismscode::testing
