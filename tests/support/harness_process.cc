#include "tests/support/harness_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace ismscode::testing {

namespace {
constexpr int kStartTimeoutMs = 60'000;
}

HarnessProcess::HarnessProcess(const std::vector<std::string>& args, std::string* error) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    *error = "pipe failed";
    return;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<std::string> argv = {ISMSCODE_HARNESS_LAUNCHER};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const int rc = posix_spawn(&pid_, cargs[0], &actions, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  stdin_fd_ = in[1];
  if (rc != 0) {
    pid_ = -1;
    close(out[0]);
    *error = "cannot start " + argv[0];
    return;
  }
  // One line, within the timeout.
  std::string line;
  char c;
  while (line.find('\n') == std::string::npos) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, kStartTimeoutMs) <= 0 || read(out[0], &c, 1) != 1) break;
    line += c;
  }
  close(out[0]);
  addresses_ = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!addresses_.is_object() || !addresses_.contains("grpc")) {
    *error = "the launcher did not start (its stderr says why): " + line;
  }
}

bool HarnessProcess::Send(const std::string& line) {
  const std::string text = line + "\n";
  return stdin_fd_ >= 0 &&
         write(stdin_fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

HarnessProcess::~HarnessProcess() {
  if (stdin_fd_ >= 0) close(stdin_fd_);  // the launcher stops everything and exits
  if (pid_ > 0) {
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

}  // namespace ismscode::testing
