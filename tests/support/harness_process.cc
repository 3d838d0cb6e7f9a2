#include "tests/support/harness_process.h"

#include <stdexcept>

namespace ismscode::testing {

namespace {
constexpr double kStartTimeoutSeconds = 60;
}

HarnessProcess::HarnessProcess(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> argv = {ISMSCODE_HARNESS_LAUNCHER};
  argv.insert(argv.end(), args.begin(), args.end());
  try {
    launcher_ = std::make_unique<Subprocess>(argv, /*pipe_stdin=*/true);
  } catch (const std::runtime_error& e) {
    *error = e.what();
    return;
  }
  const std::string line = launcher_->ReadStdoutLine(kStartTimeoutSeconds).value_or("");
  addresses_ = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!addresses_.is_object() || !addresses_.contains("grpc")) {
    *error = "the launcher did not start: " + launcher_->ReadStderrLine(1).value_or(line);
  }
}

bool HarnessProcess::Send(const std::string& line) {
  return launcher_ && launcher_->WriteStdin(line + "\n");
}

HarnessProcess::~HarnessProcess() {
  if (!launcher_) return;
  launcher_->CloseStdin();  // the launcher stops everything and exits
  launcher_->Wait();
}

}  // namespace ismscode::testing
