#include "progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace ismscode::ismsctl {

namespace {

using std::chrono::seconds;

// Whole seconds, rounded: a poll 0.9 s away is "in 1s", not "in 0s".
seconds Secs(std::chrono::nanoseconds d) { return std::chrono::round<seconds>(d); }

// "4s", "2m05s", "1h02m".
std::string Span(seconds s) {
  long long n = s.count() < 0 ? 0 : s.count();
  char buf[32];
  if (n < 60) {
    snprintf(buf, sizeof buf, "%llds", n);
  } else if (n < 3600) {
    snprintf(buf, sizeof buf, "%lldm%02llds", n / 60, n % 60);
  } else {
    snprintf(buf, sizeof buf, "%lldh%02lldm", n / 3600, (n % 3600) / 60);
  }
  return buf;
}

// `line` cut to the terminal's width less one column (counting UTF-8 characters), so a
// redraw never wraps onto a new row.
std::string FitToTerminal(const std::string& line) {
  winsize size{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) != 0 || size.ws_col < 2) return line;
  const size_t width = size.ws_col - 1;
  size_t columns = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const bool starts_character = (static_cast<unsigned char>(line[i]) & 0xC0) != 0x80;
    if (starts_character && ++columns > width) return line.substr(0, i);
  }
  return line;
}

}  // namespace

std::string Printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n' || c == '\t') {
      out += ' ';
    } else if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Progress::Progress(Mode mode, std::string phone) : mode_(mode), phone_(std::move(phone)) {
  if (mode_ == Mode::kTerminal) ticker_ = std::thread([this] { Tick(); });
}

Progress::~Progress() { Finish(); }

std::string Progress::Line(const std::string& phone, seconds elapsed,
                           const std::optional<harness::Heartbeat>& last,
                           std::chrono::system_clock::time_point now, int frame) {
  static const char* kSpinner[] = {"|", "/", "-", "\\"};
  std::string line = std::string(kSpinner[frame % 4]) + " waiting for a code to " + phone + " · " +
                     Span(elapsed) + " elapsed";
  if (!last) return line + " · first poll…";
  line += " · " + std::to_string(last->polls) + (last->polls == 1 ? " poll" : " polls");
  line += " · next poll in " + Span(Secs(last->next_poll_at - now));
  line += " · expires in " + Span(Secs(last->expires_at - now));
  if (last->waiting_for_budget) line += " · waiting for the rate budget";
  if (!last->last_upstream_error.empty()) {
    line += " · upstream: " + Printable(last->last_upstream_error);
  }
  return line;
}

void Progress::OnHeartbeat(const harness::Heartbeat& heartbeat) {
  if (mode_ == Mode::kOff) return;
  std::unique_lock lock(mutex_);
  last_ = heartbeat;
  if (mode_ == Mode::kLines) {
    const auto now = std::chrono::system_clock::now();
    std::string line = "waiting: " + Span(Secs(std::chrono::steady_clock::now() - start_)) +
                       " elapsed, " + std::to_string(heartbeat.polls) + " polls, next poll in " +
                       Span(Secs(heartbeat.next_poll_at - now)) + ", expires in " +
                       Span(Secs(heartbeat.expires_at - now));
    if (heartbeat.waiting_for_budget) line += ", waiting for the rate budget";
    if (!heartbeat.last_upstream_error.empty()) {
      line += ", last upstream error: " + Printable(heartbeat.last_upstream_error);
    }
    fprintf(stderr, "%s\n", line.c_str());
    return;
  }
  wake_.notify_one();
}

void Progress::Tick() {
  int frame = 0;
  std::unique_lock lock(mutex_);
  while (!done_) {
    const std::string line = Line(phone_, Secs(std::chrono::steady_clock::now() - start_), last_,
                                  std::chrono::system_clock::now(), frame++);
    // \r and "erase to end of line": the line is redrawn in place, so it must not wrap.
    fprintf(stderr, "\r\033[K%s", FitToTerminal(line).c_str());
    fflush(stderr);
    wake_.wait_for(lock, std::chrono::milliseconds(250));
  }
}

void Progress::Finish() {
  {
    std::lock_guard lock(mutex_);
    if (done_) return;
    done_ = true;
  }
  wake_.notify_one();
  if (ticker_.joinable()) {
    ticker_.join();
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
  }
}

}  // namespace ismscode::ismsctl
