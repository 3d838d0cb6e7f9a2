#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace ismscode::testing {

// A child process with its stdout and stderr on pipes, for tests that run the real
// binaries. Readiness is read from the child's own output, never waited for in time.
class Subprocess {
 public:
  // With `pipe_stdin`, the child's stdin is a pipe this object writes; otherwise the
  // child inherits this process's.
  explicit Subprocess(std::vector<std::string> argv, bool pipe_stdin = false);
  ~Subprocess();  // kills the child if still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // The next line of stderr (without the newline), or nullopt at EOF or after
  // timeout_seconds without a complete line.
  std::optional<std::string> ReadStderrLine(double timeout_seconds = 30);
  // The same for stdout.
  std::optional<std::string> ReadStdoutLine(double timeout_seconds = 30);
  // With pipe_stdin: writes to the child's stdin (false once it is gone), or closes it.
  bool WriteStdin(const std::string& text);
  void CloseStdin();
  // Everything left on stdout until EOF.
  std::string ReadAllStdout();
  void Signal(int signal);
  // Waits for exit; the exit code, or 128 + signal number.
  int Wait();
  pid_t pid() const { return pid_; }

 private:
  // The next line from `fd`, buffered in `buffer`.
  std::optional<std::string> ReadLine(int fd, std::string& buffer, double timeout_seconds);

  pid_t pid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
  std::string stdout_buffer_, stderr_buffer_;
  std::optional<int> status_;
};

}  // namespace ismscode::testing
