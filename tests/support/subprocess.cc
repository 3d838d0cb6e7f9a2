#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

extern char** environ;

namespace ismscode::testing {

Subprocess::Subprocess(std::vector<std::string> argv, bool pipe_stdin) {
  int in[2] = {-1, -1}, out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
      (pipe_stdin && pipe2(in, O_CLOEXEC) != 0)) {
    throw std::runtime_error("pipe");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (pipe_stdin) posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  close(err[1]);
  if (pipe_stdin) close(in[0]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
}

Subprocess::~Subprocess() {
  if (!status_) {
    kill(pid_, SIGKILL);
    Wait();
  }
  CloseStdin();
  close(stdout_fd_);
  close(stderr_fd_);
}

bool Subprocess::WriteStdin(const std::string& text) {
  return stdin_fd_ >= 0 &&
         write(stdin_fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

void Subprocess::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

std::optional<std::string> Subprocess::ReadStderrLine(double timeout_seconds) {
  return ReadLine(stderr_fd_, stderr_buffer_, timeout_seconds);
}

std::optional<std::string> Subprocess::ReadStdoutLine(double timeout_seconds) {
  return ReadLine(stdout_fd_, stdout_buffer_, timeout_seconds);
}

std::optional<std::string> Subprocess::ReadLine(int fd, std::string& buffer,
                                                double timeout_seconds) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  for (;;) {
    if (const size_t nl = buffer.find('\n'); nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer.append(buf, static_cast<size_t>(n));
  }
}

std::string Subprocess::ReadAllStdout() {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(stdout_fd_, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  return out;
}

void Subprocess::Signal(int signal) {
  if (!status_) kill(pid_, signal);
}

int Subprocess::Wait() {
  if (status_) return *status_;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return *status_;
}

}  // namespace ismscode::testing
