#pragma once

// Progress of a wait on stderr. On a terminal: one line redrawn in place every quarter
// second (elapsed, polls, next poll, time to expiry, last upstream error). Otherwise: a
// plain line per heartbeat, for logs.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ismscode/harness/client.h"

namespace ismscode::ismsctl {

// Text from outside (an SMS, an upstream error) without control characters, so that it
// cannot move the cursor or rewrite the terminal: newlines and tabs become spaces.
std::string Printable(const std::string& text);

class Progress {
 public:
  enum class Mode { kTerminal, kLines, kOff };

  // `phone` names the number in the display.
  Progress(Mode mode, std::string phone);
  ~Progress();  // Finish()
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void OnHeartbeat(const harness::Heartbeat& heartbeat);
  // Stops redrawing and clears the terminal line. Idempotent.
  void Finish();

  // The terminal line for these facts (exposed for tests).
  static std::string Line(const std::string& phone, std::chrono::seconds elapsed,
                          const std::optional<harness::Heartbeat>& last,
                          std::chrono::system_clock::time_point now, int frame);

 private:
  void Tick();

  const Mode mode_;
  const std::string phone_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<harness::Heartbeat> last_;
  bool done_ = false;
  std::thread ticker_;
};

}  // namespace ismscode::ismsctl
