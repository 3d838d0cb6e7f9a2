// mock_bench: requests per second and p50/p99 latency of the mock's two hot endpoints,
// GET /numbers/:id/sms and POST /numbers/request, against a bare cpp-httplib handler
// that returns the same bytes (the library's ceiling on this machine), in one run.
//
//   build/bench/mock_bench [--seconds S] [--connections N] [--rounds R]
//
// Client and servers share the machine, as they do in CI; the ratio is what matters.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench/load_result.h"
#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"

namespace {

using Clock = std::chrono::steady_clock;

using Result = ismscode::bench::LoadResult;

struct Request {
  std::string method, path, body;
};

// Drives `connections` keep-alive clients flat out for `seconds`.
Result Load(int port, const Request& req, int connections, double seconds) {
  std::vector<std::vector<float>> latencies(connections);
  std::atomic<size_t> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      const httplib::Headers headers = {{"Authorization", "Bearer bench-key-000000"}};
      auto& mine = latencies[c];
      mine.reserve(1 << 20);
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        auto r = req.method == "GET" ? client.Get(req.path, headers)
                                     : client.Post(req.path, headers, req.body, "application/json");
        const auto t1 = Clock::now();
        if (!r || r->status != 200) ++errors;
        mine.push_back(std::chrono::duration<float, std::micro>(t1 - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return ismscode::bench::Summarise(latencies, seconds, errors);
}

std::unique_ptr<httplib::Server> StartBare(const std::string& sms_path, const std::string& sms_body,
                                           const std::string& request_body, int* port) {
  auto server = std::make_unique<httplib::Server>();
  server->set_tcp_nodelay(true);  // as the mock does: otherwise 40 ms per response
  server->set_keep_alive_max_count(100000);
  server->new_task_queue = [] { return new httplib::ThreadPool(64); };
  server->Get(sms_path, [sms_body](const httplib::Request&, httplib::Response& res) {
    res.set_content(sms_body, "application/json");
  });
  server->Post("/api/v3/numbers/request",
               [request_body](const httplib::Request&, httplib::Response& res) {
                 res.set_content(request_body, "application/json");
               });
  *port = server->bind_to_any_port("127.0.0.1");
  std::thread([s = server.get()] { s->listen_after_bind(); }).detach();
  while (!server->is_running()) std::this_thread::yield();
  return server;
}

void Print(const char* name, const Result& r) {
  std::printf("  %-34s %9.0f req/s   p50 %7.1f us   p99 %7.1f us   errors %zu\n", name, r.rps,
              r.p50_us, r.p99_us, r.errors);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  int connections = 4, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--seconds")
      seconds = std::atof(argv[i + 1]);
    else if (flag == "--connections")
      connections = std::atoi(argv[i + 1]);
    else if (flag == "--rounds")
      rounds = std::atoi(argv[i + 1]);
  }

  auto scenario = ismscode::mock::ParseScenario(R"({
    "name": "bench",
    "rate_limit": "off",
    "countries": [{"code": "US", "name": "United States", "prefix": "+1"}],
    "services": ["whatsapp"],
    "offer_defaults": {"price": 0, "stock": 1000000000,
                       "sms": {"delay": {"kind": "fixed", "seconds": 0}}},
    "accounts": [{"key": "bench-key-000000", "balance": 0}]
  })");
  if (!scenario.ok()) {
    std::fprintf(stderr, "%s\n", scenario.status().ToString().c_str());
    return 1;
  }
  ismscode::mock::MockService service(*scenario, {});
  auto started = ismscode::mock::MockHttpServer::Start(service, {});
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
    return 1;
  }
  auto mock = *std::move(started);

  // One real exchange of each kind gives the bytes the bare server will return.
  httplib::Client probe("127.0.0.1", mock->port());
  const httplib::Headers auth = {{"Authorization", "Bearer bench-key-000000"}};
  const std::string request_json = R"({"country":"US","service":"whatsapp"})";
  auto bought = probe.Post("/api/v3/numbers/request", auth, request_json, "application/json");
  if (!bought || bought->status != 200) {
    std::fprintf(stderr, "probe purchase failed\n");
    return 1;
  }
  const std::string id = bought->body.substr(bought->body.find("num_"), 16);
  const std::string sms_path = "/api/v3/numbers/" + id + "/sms";
  auto sms = probe.Get(sms_path, auth);
  int bare_port = 0;
  auto bare = StartBare(sms_path, sms->body, bought->body, &bare_port);

  const Request get_sms{"GET", sms_path, ""};
  const Request post_number{"POST", "/api/v3/numbers/request", request_json};
  std::printf("mock_bench: %d keep-alive connections, %.1f s per case, %d rounds, %u cores\n",
              connections, seconds, rounds, std::thread::hardware_concurrency());
  std::printf("  GET body %zu bytes, POST body %zu bytes\n", sms->body.size(), bought->body.size());
  Result best[4];
  for (int round = 0; round < rounds; ++round) {
    // Alternate so that neither side always runs on a warmer machine.
    const Result r[4] = {Load(bare_port, get_sms, connections, seconds),
                         Load(mock->port(), get_sms, connections, seconds),
                         Load(bare_port, post_number, connections, seconds),
                         Load(mock->port(), post_number, connections, seconds)};
    for (int k = 0; k < 4; ++k) {
      if (r[k].rps > best[k].rps) best[k] = r[k];
    }
  }
  std::printf("best of %d rounds:\n", rounds);
  Print("bare httplib  GET  /numbers/:id/sms", best[0]);
  Print("mock          GET  /numbers/:id/sms", best[1]);
  Print("bare httplib  POST /numbers/request", best[2]);
  Print("mock          POST /numbers/request", best[3]);
  std::printf("mock / bare throughput: GET %.0f%%, POST %.0f%% (target >= 70%%)\n",
              100 * best[1].rps / best[0].rps, 100 * best[3].rps / best[2].rps);
  bare->stop();
  mock->Stop();
  return 0;
}
