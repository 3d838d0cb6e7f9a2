// What the fleet's shared state (--state, Redis) costs: per AcquireNumber and per poll.
//
//   build/bench/fleet_bench [--calls N] [--numbers N] [--seconds S] [--rounds R]
//
// Runs the mock in this process (never runs out, never limits), a redis-server of its
// own on a unix socket (Debian's package, as the tests start it) and gateways in this
// process: one on its own state, one with --state. Prints, for each:
//   - AcquireNumber one call at a time, without and with a request id: p50 and p99
//     latency, and the Redis calls and Redis time per call;
//   - polls: N numbers watched with no SMS, polled every 20 ms on a key without a limit,
//     for S seconds: polls per second, Redis calls and Redis time per poll.
// Alternating rounds, best of R. Figures in BENCHMARKS.md ("fleet_bench").
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/bench_common.h"
#include "ismscode/harness/v1/verification.grpc.pb.h"
#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"
#include "server/gateway.h"
#include "server/state_url.h"
#include "tests/support/redis_server.h"

namespace {

namespace v1 = ismscode::harness::v1;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Flags {
  int calls = 2000, numbers = 50, rounds = 3;
  double seconds = 5;
};

struct Redis {
  double calls = 0, seconds = 0;
  static Redis Of(const ismscode::gateway::Gateway& g) {
    const std::string m = "\n" + g.metrics().Serialize();
    return {ismscode::bench::Sum(m, "ismscode_state_store_requests_total"),
            ismscode::bench::Sum(m, "ismscode_state_store_request_duration_seconds_sum")};
  }
};

struct AcquireResult {
  double p50_us = 0, p99_us = 0, redis_calls = 0, redis_us = 0;
};

AcquireResult Acquire(ismscode::gateway::Gateway& gateway, int calls, bool with_id, int round) {
  auto stub = v1::VerificationService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(gateway.port()), grpc::InsecureChannelCredentials()));
  std::vector<double> us;
  const Redis before = Redis::Of(gateway);
  for (int i = 0; i < calls; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::AcquireNumberRequest req;
    req.set_country("US");
    req.set_service("whatsapp");
    if (with_id) req.set_request_id("r" + std::to_string(round) + "-" + std::to_string(i));
    v1::AcquireNumberResponse resp;
    const auto t0 = Clock::now();
    const grpc::Status s = stub->AcquireNumber(&ctx, req, &resp);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (!s.ok()) {
      std::fprintf(stderr, "AcquireNumber: %s\n", s.error_message().c_str());
      std::exit(1);
    }
  }
  const Redis after = Redis::Of(gateway);
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100], (after.calls - before.calls) / calls,
          (after.seconds - before.seconds) * 1e6 / calls};
}

struct PollResult {
  double polls_per_second = 0, redis_calls = 0, redis_us = 0;
};

PollResult Poll(ismscode::gateway::Gateway& gateway, int numbers, double seconds) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(gateway.port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::VerificationService::NewStub(channel);
  std::vector<std::string> ids;
  for (int i = 0; i < numbers; ++i) {
    grpc::ClientContext ctx;
    v1::AcquireNumberRequest req;
    req.set_country("US");
    req.set_service("whatsapp");
    v1::AcquireNumberResponse resp;
    if (!stub->AcquireNumber(&ctx, req, &resp).ok()) std::exit(1);
    ids.push_back(resp.number().id());
  }
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::thread> readers;
  for (const std::string& id : ids) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.emplace_back([&, ctx = contexts.back().get(), id] {
      v1::AwaitCodeRequest req;
      req.set_number_id(id);
      req.mutable_timeout()->set_seconds(600);
      auto reader = stub->AwaitCode(ctx, req);
      v1::AwaitCodeEvent event;
      while (reader->Read(&event)) {
      }
      reader->Finish();
    });
  }
  // Measured after a second: every loop is running by then.
  std::this_thread::sleep_for(1s);  // a benchmark's warm-up, not a readiness wait
  auto polls = [&] {
    return ismscode::bench::Sum("\n" + gateway.metrics().Serialize(), "ismscode_polls_total");
  };
  const double polls_before = polls();
  const Redis before = Redis::Of(gateway);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double polled = polls() - polls_before;
  const Redis after = Redis::Of(gateway);
  for (auto& c : contexts) c->TryCancel();
  for (auto& t : readers) t.join();
  return {polled / seconds, (after.calls - before.calls) / std::max(1.0, polled),
          (after.seconds - before.seconds) * 1e6 / std::max(1.0, polled)};
}

std::unique_ptr<ismscode::gateway::Gateway> StartGateway(const std::string& api,
                                                         const std::string& state_url) {
  ismscode::gateway::GatewayOptions o{.upstream = {.base_url = api},
                                      .upstream_key = ismscode::bench::kBenchKey,
                                      .poll_interval = 20ms,
                                      .rate_limit = 1000000000,
                                      .prefetch_lists = false,
                                      .metrics_listen = ""};
  if (!state_url.empty()) o.state = *ismscode::gateway::ParseStateUrl(state_url);
  auto started = ismscode::gateway::Gateway::Start(o);
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(started);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--calls") f.calls = std::atoi(argv[i + 1]);
    if (flag == "--numbers") f.numbers = std::atoi(argv[i + 1]);
    if (flag == "--seconds") f.seconds = std::atof(argv[i + 1]);
    if (flag == "--rounds") f.rounds = std::atoi(argv[i + 1]);
  }
  auto scenario = ismscode::mock::ParseScenario(ismscode::bench::kUnlimitedScenario);
  if (!scenario.ok()) return 1;
  ismscode::mock::MockService mock(*scenario, {});
  auto server = ismscode::mock::MockHttpServer::Start(mock, {});
  if (!server.ok()) return 1;
  const std::string api = (*server)->base_url() + "/api/v3";
  ismscode::testing::RedisServer redis;  // started by its constructor, on a unix socket

  std::printf(
      "fleet_bench: %d calls one at a time; %d numbers polled every 20 ms for %.0f s; "
      "best of %d rounds; %u cores\n",
      f.calls, f.numbers, f.seconds, f.rounds, std::thread::hardware_concurrency());
  const char* names[] = {"own state", "--state (Redis)"};
  AcquireResult plain[2], with_id[2];
  PollResult polls[2];
  for (int round = 0; round < f.rounds; ++round) {
    for (int fleet = 0; fleet < 2; ++fleet) {
      auto gateway = StartGateway(api, fleet ? redis.url() : "");
      const AcquireResult a = Acquire(*gateway, f.calls, false, round);
      const AcquireResult b = Acquire(*gateway, f.calls, true, round);
      const PollResult p = Poll(*gateway, f.numbers, f.seconds);
      auto best = [&](AcquireResult& kept, const AcquireResult& now) {
        if (round == 0 || now.p50_us < kept.p50_us) kept = now;
      };
      best(plain[fleet], a);
      best(with_id[fleet], b);
      if (round == 0 || p.polls_per_second > polls[fleet].polls_per_second) polls[fleet] = p;
      gateway->Shutdown();
    }
  }
  std::printf("\n%-16s | %-38s | %-38s | %s\n", "", "AcquireNumber, no request id",
              "AcquireNumber, with a request id", "polls");
  std::printf("%-16s | %8s %8s %9s %9s | %8s %8s %9s %9s | %7s %9s %9s\n", "gateway", "p50 us",
              "p99 us", "redis/op", "redis us", "p50 us", "p99 us", "redis/op", "redis us",
              "polls/s", "redis/op", "redis us");
  for (int fleet = 0; fleet < 2; ++fleet) {
    std::printf("%-16s | %8.0f %8.0f %9.2f %9.0f | %8.0f %8.0f %9.2f %9.0f | %7.0f %9.2f %9.0f\n",
                names[fleet], plain[fleet].p50_us, plain[fleet].p99_us, plain[fleet].redis_calls,
                plain[fleet].redis_us, with_id[fleet].p50_us, with_id[fleet].p99_us,
                with_id[fleet].redis_calls, with_id[fleet].redis_us, polls[fleet].polls_per_second,
                polls[fleet].redis_calls, polls[fleet].redis_us);
  }
  std::printf("\nadded by Redis, p50: AcquireNumber +%.0f us, with a request id +%.0f us\n",
              plain[1].p50_us - plain[0].p50_us, with_id[1].p50_us - with_id[0].p50_us);
  (*server)->Stop();
  return 0;
}
