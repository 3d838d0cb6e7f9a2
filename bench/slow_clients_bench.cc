// slow_clients_bench: a normal client's latency while thousands of slow clients hold
// connections to the mock (each trickling a request head a byte a second), against the
// same client on a quiet mock, in one run.
//
//   build/bench/slow_clients_bench [--slow N] [--seconds S] [--port P]
//
// Without --port it starts the mock in-process (default options); with --port it
// measures a mock already running on 127.0.0.1:P (another build, for comparison).
#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Latency {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  size_t requests = 0, errors = 0;
};

// One client, one request after another for `seconds`: keep-alive, or a new connection
// each time.
Latency Measure(int port, bool keep_alive, double seconds) {
  std::vector<double> ms;
  size_t errors = 0;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::unique_ptr<httplib::Client> client;
  while (Clock::now() < end) {
    if (!client || !keep_alive) {
      client = std::make_unique<httplib::Client>("127.0.0.1", port);
      client->set_keep_alive(keep_alive);
      client->set_connection_timeout(3, 0);
      client->set_read_timeout(3, 0);
      client->set_write_timeout(3, 0);
    }
    const auto t0 = Clock::now();
    auto r = client->Get("/api/v3/countries", {{"Authorization", "Bearer key-bench"}});
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r || r->status >= 500) {
      ++errors;
      client.reset();
    }
  }
  std::sort(ms.begin(), ms.end());
  Latency l;
  l.requests = ms.size();
  l.errors = errors;
  if (!ms.empty()) {
    l.p50_ms = ms[ms.size() / 2];
    l.p99_ms = ms[ms.size() * 99 / 100];
    l.max_ms = ms.back();
  }
  return l;
}

size_t Threads() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// Opens `count` connections and sends each one byte of a request head per second, on
// one thread, until stopped. Connections the server closes are counted, not reopened.
class SlowClients {
 public:
  SlowClients(int port, int count) {
    for (int i = 0; i < count; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
      if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (fd >= 0) close(fd);
        ++failed_;
        continue;
      }
      fds_.push_back(fd);
    }
    thread_ = std::thread([this] { Trickle(); });
  }
  ~SlowClients() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  size_t opened() const { return fds_.size(); }
  size_t failed() const { return failed_; }
  size_t dropped() const { return dropped_.load(); }

 private:
  void Trickle() {
    static const std::string head =
        "GET /api/v3/countries HTTP/1.1\r\nHost: slow\r\nX-Padding: "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (size_t byte = 0; !stop_; ++byte) {
      for (int& fd : fds_) {
        if (fd < 0) continue;
        const char c = head[byte % head.size()];
        if (send(fd, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) {
          close(fd);
          fd = -1;
          ++dropped_;
        }
      }
      for (int i = 0; i < 10 && !stop_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }

  std::vector<int> fds_;
  size_t failed_ = 0;
  std::atomic<size_t> dropped_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void Print(const char* label, const Latency& l) {
  std::printf("  %-46s p50 %7.2f ms  p99 %8.2f ms  max %8.1f ms  %6zu requests  %zu errors\n",
              label, l.p50_ms, l.p99_ms, l.max_ms, l.requests, l.errors);
}

}  // namespace

int main(int argc, char** argv) {
  int slow = 2000, port = 0;
  double seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--slow") slow = std::atoi(argv[i + 1]);
    if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    if (flag == "--port") port = std::atoi(argv[i + 1]);
  }
  // Both ends of every slow connection live in this process when the mock does.
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  std::unique_ptr<ismscode::mock::MockService> service;
  std::unique_ptr<ismscode::mock::MockHttpServer> mock;
  if (port == 0) {
    auto scenario = ismscode::mock::ParseScenario(R"({
      "name": "bench", "rate_limit": "off",
      "countries": [{"code": "US", "name": "United States", "prefix": "+1"}],
      "services": ["whatsapp"],
      "accounts": [{"key": "key-bench", "balance": 0}]})");
    if (!scenario.ok()) {
      std::fprintf(stderr, "%s\n", scenario.status().ToString().c_str());
      return 1;
    }
    service = std::make_unique<ismscode::mock::MockService>(*scenario,
                                                            ismscode::mock::MockService::Options{});
    auto started = ismscode::mock::MockHttpServer::Start(*service, {});
    if (!started.ok()) {
      std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
      return 1;
    }
    mock = *std::move(started);
    port = mock->port();
  }
  std::printf("slow_clients_bench: %d slow connections, %.1f s per case, %u cores, mock %s\n", slow,
              seconds, std::thread::hardware_concurrency(), mock ? "in-process" : "external");
  Print("quiet, keep-alive client", Measure(port, true, seconds));
  Print("quiet, new connection per request", Measure(port, false, seconds));
  {
    const size_t threads_before = Threads();
    SlowClients flood(port, slow);
    std::printf("  %zu slow connections open (%zu refused)\n", flood.opened(), flood.failed());
    Print("under the flood, keep-alive client", Measure(port, true, seconds));
    Print("under the flood, new connection per request", Measure(port, false, seconds));
    std::printf(
        "  slow connections dropped by the mock: %zu; mock open connections: %zu; "
        "threads +%zd\n",
        flood.dropped(), mock ? mock->open_connections() : 0,
        static_cast<ssize_t>(Threads()) - static_cast<ssize_t>(threads_before));
  }
  if (mock) mock->Stop();
  return 0;
}
