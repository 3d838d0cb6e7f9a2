// signup_bench: time to code for many signups sharing one upstream key, in real time.
//
//   build/bench/signup_bench [--signups N] [--spacing-ms MS] [--rate-limit N]
//                            [--poll-interval-ms MS] [--seed S]
//
// The default mock scenario (SMS delays lognormal, median 10 s, at most 60 s; a limit of
// 60 requests per 60 s per key) runs in this process on the wall clock, and so does the
// gateway (its defaults: 60 requests per 60 s, polls every 5 s). N signups (default 30)
// start `spacing` apart (default 2 s, so 60 s in all); each buys a number and waits for
// its code. Printed: from each SMS becoming visible upstream to the test receiving its
// code (p50, p95, max), the upstream requests spent by purpose, and the 429s the
// upstream answered. The next scheduling work is judged by these numbers.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ismscode/harness/v1/verification.grpc.pb.h"
#include "mock/clock.h"
#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"
#include "server/gateway.h"

namespace {

namespace v1 = ismscode::harness::v1;
using namespace std::chrono_literals;

struct Flags {
  int signups = 30, spacing_ms = 2000, rate_limit = 60, poll_interval_ms = 5000;
  uint64_t seed = 2026;
};

// One sample's value in Prometheus text, summed over every series whose name and labels
// start with `prefix` (0 when none).
double Sum(const std::string& exposition, const std::string& prefix) {
  double total = 0;
  size_t pos = 0;
  while ((pos = exposition.find("\n" + prefix, pos)) != std::string::npos) {
    const size_t line_end = exposition.find('\n', pos + 1);
    const std::string line = exposition.substr(pos + 1, line_end - pos - 1);
    total += std::atof(line.c_str() + line.rfind(' ') + 1);
    pos = line_end;
  }
  return total;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

struct Outcome {
  bool ok = false;
  std::string error;
  double visible_to_code_s = 0;  // SMS received_at (upstream, whole seconds) -> code here
  double start_to_code_s = 0;    // signup start -> code here
};

Outcome Signup(v1::VerificationService::Stub& stub, int i) {
  Outcome out;
  const auto start = std::chrono::system_clock::now();
  grpc::ClientContext actx;
  actx.set_deadline(start + 5min);
  v1::AcquireNumberRequest areq;
  areq.set_country(i % 3 == 0 ? "GB" : "US");
  areq.set_service(i % 2 ? "whatsapp" : "telegram");
  areq.mutable_max_wait()->set_seconds(120);
  areq.set_request_id("signup-" + std::to_string(i));
  v1::AcquireNumberResponse aresp;
  if (const grpc::Status s = stub.AcquireNumber(&actx, areq, &aresp); !s.ok()) {
    out.error = "acquire: " + s.error_message();
    return out;
  }
  grpc::ClientContext wctx;
  wctx.set_deadline(std::chrono::system_clock::now() + 5min);
  v1::AwaitCodeRequest wreq;
  wreq.set_number_id(aresp.number().id());
  wreq.mutable_timeout()->set_seconds(240);
  auto stream = stub.AwaitCode(&wctx, wreq);
  v1::AwaitCodeEvent event;
  while (stream->Read(&event)) {
    if (!event.has_code_received()) continue;
    const auto now = std::chrono::system_clock::now();
    const auto& at = event.code_received().sms().received_at();
    const auto visible = std::chrono::system_clock::time_point(
        std::chrono::seconds(at.seconds()) + std::chrono::nanoseconds(at.nanos()));
    out.ok = true;
    out.visible_to_code_s = std::chrono::duration<double>(now - visible).count();
    out.start_to_code_s = std::chrono::duration<double>(now - start).count();
  }
  const grpc::Status s = stream->Finish();
  if (!out.ok) out.error = "await: " + s.error_message();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--signups") f.signups = std::atoi(v);
    if (flag == "--spacing-ms") f.spacing_ms = std::atoi(v);
    if (flag == "--rate-limit") f.rate_limit = std::atoi(v);
    if (flag == "--poll-interval-ms") f.poll_interval_ms = std::atoi(v);
    if (flag == "--seed") f.seed = std::strtoull(v, nullptr, 10);
  }
  auto scenario = ismscode::mock::LoadScenario("default");
  if (!scenario.ok()) {
    std::fprintf(stderr, "%s\n", scenario.status().ToString().c_str());
    return 1;
  }
  ismscode::mock::MockService::Options mock_options;
  mock_options.seed = f.seed;
  mock_options.journal_capacity = 10000;
  ismscode::mock::MockService mock(*scenario, mock_options);
  auto started = ismscode::mock::MockHttpServer::Start(mock, {});
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
    return 1;
  }
  auto mock_server = *std::move(started);
  auto gateway_started = ismscode::gateway::Gateway::Start(
      {.upstream = {.base_url = mock_server->base_url() + "/api/v3"},
       .upstream_key = "demo-key",
       .poll_interval = std::chrono::milliseconds(f.poll_interval_ms),
       .rate_limit = f.rate_limit,
       .metrics_listen = "127.0.0.1:0"});
  if (!gateway_started.ok()) {
    std::fprintf(stderr, "%s\n", gateway_started.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<ismscode::gateway::Gateway> gateway = *std::move(gateway_started);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(gateway->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::VerificationService::NewStub(channel);

  std::printf(
      "signup_bench: %d signups %d ms apart on one key; gateway budget %d per 60 s, "
      "polls every %d ms; default scenario (SMS lognormal, median 10 s), seed %llu\n",
      f.signups, f.spacing_ms, f.rate_limit, f.poll_interval_ms,
      static_cast<unsigned long long>(f.seed));
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Outcome> outcomes(f.signups);
  std::vector<std::thread> threads;
  for (int i = 0; i < f.signups; ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(f.spacing_ms) * i);
    threads.emplace_back([&, i] { outcomes[i] = Signup(*stub, i); });
  }
  for (auto& t : threads) t.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<double> delay, total;
  int failed = 0;
  for (const Outcome& o : outcomes) {
    if (!o.ok) {
      ++failed;
      std::printf("  failed: %s\n", o.error.c_str());
      continue;
    }
    delay.push_back(o.visible_to_code_s);
    total.push_back(o.start_to_code_s);
  }
  const std::string g = gateway->metrics().Serialize();
  const std::string m = "\n" + mock.metrics().Serialize();
  const std::string gm = "\n" + g;
  std::printf("  codes: %zu of %d in %.0f s\n", delay.size(), f.signups, took);
  std::printf("  SMS visible upstream -> code at the test: p50 %.1f s, p95 %.1f s, max %.1f s\n",
              Percentile(delay, 0.5), Percentile(delay, 0.95), Percentile(delay, 1));
  std::printf("    (received_at has whole-second resolution: each figure may be up to 1 s high)\n");
  std::printf("  signup start -> code: p50 %.1f s, p95 %.1f s, max %.1f s\n",
              Percentile(total, 0.5), Percentile(total, 0.95), Percentile(total, 1));
  double mock_429 = 0, seen_429 = 0;
  for (const char* endpoint : {"numbers.sms", "numbers.request", "countries", "services"}) {
    mock_429 += Sum(m, std::string("ismscode_mock_requests_total{endpoint=\"") + endpoint +
                           "\",status=\"429\"");
  }
  for (const char* purpose : {"acquire", "poll", "list"}) {
    seen_429 += Sum(gm, std::string("ismscode_throttled_total{purpose=\"") + purpose +
                            "\",source=\"upstream_429\"");
  }
  std::printf(
      "  upstream requests: %.0f polls, %.0f purchases, %.0f list calls; upstream 429s: %.0f "
      "(mock) / %.0f (gateway saw)\n",
      Sum(gm, "ismscode_upstream_requests_total{endpoint=\"numbers.sms\""),
      Sum(gm, "ismscode_upstream_requests_total{endpoint=\"numbers.request\""),
      Sum(gm, "ismscode_upstream_requests_total{endpoint=\"countries\"") +
          Sum(gm, "ismscode_upstream_requests_total{endpoint=\"services\""),
      mock_429, seen_429);
  std::printf("  polls held back by the budget: %.0f; failed signups: %d\n",
              Sum(gm, "ismscode_throttled_total{purpose=\"poll\",source=\"rate_budget\""), failed);
  gateway->Shutdown();
  mock_server->Stop();
  return failed ? 1 : 0;
}
