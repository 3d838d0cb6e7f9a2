// signup_bench: detection delay for many signups sharing one upstream key, in real time,
// under the old even poll policy and the scheduler, in the same run.
//
//   build/bench/signup_bench [--workload shared|sequential|slow] [--policies even,likely]
//                            [--passes N] [--signups N] [--spacing-ms MS] [--rate-limit N]
//                            [--poll-interval-ms MS] [--seed S]
//                            [--slow-median S] [--slow-sigma X] [--worth-seconds S]
//                            [--max-gap-ms MS]
//                            [--verbose]
//
// The mock runs in this process on the wall clock, and so does the gateway (its
// defaults: 60 requests per 60 s per key, polls at most every 5 s per number). Each
// policy gets a fresh mock (same seed: the same SMS delays) and a fresh gateway, which
// then runs the workload `passes` times (a later pass sees what the first taught it).
//   shared      N signups (default 30) start `spacing` apart (default 2 s); the default
//               scenario (SMS lognormal, median 10 s, sigma 0.4). The budget saturates.
//   sequential  the same signups one at a time: the budget never saturates.
//   slow        as shared, but every SMS is slow (lognormal, median --slow-median 40 s,
//               sigma --slow-sigma 0.4).
// Each signup buys a number and waits for its code. Printed per pass: codes received; the
// detection delay (the SMS visible upstream, to the millisecond as the mock knows it -> the
// test has its code: p50, p95, max, as the test sees it; and the mean of the gateway's own
// ismscode_code_detection_delay_seconds, which has only the SMS's whole-second received_at);
// polls and their yield (share that found a new SMS); purchases; and the 429s the mock sent.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_common.h"
#include "common/time_format.h"
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

using ismscode::bench::Sum;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

struct Outcome {
  bool ok = false;
  std::string error;
  double visible_to_code_s = 0;  // SMS visible upstream -> code here (see ExactVisibility)
  double start_to_code_s = 0;    // signup start -> code here
  // For --verbose: seconds after the number was bought.
  double sms_after_s = 0;          // its SMS became visible
  std::vector<double> polls_at_s;  // each poll the heartbeats reported, then the code's
  // For ExactVisibility.
  std::string number_id, sms_text;
  std::chrono::system_clock::time_point bought, code_at;
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
  const auto bought = std::chrono::system_clock::now();
  auto since_bought = [&](std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t - bought).count();
  };
  v1::AwaitCodeEvent event;
  int polls_seen = 0;
  while (stream->Read(&event)) {
    const auto now = std::chrono::system_clock::now();
    if (event.has_waiting()) {
      if (event.waiting().polls() > polls_seen) out.polls_at_s.push_back(since_bought(now));
      polls_seen = event.waiting().polls();
    }
    if (!event.has_code_received()) continue;
    out.polls_at_s.push_back(since_bought(now));
    const auto& at = event.code_received().sms().received_at();
    const auto visible = std::chrono::system_clock::time_point(
        std::chrono::seconds(at.seconds()) + std::chrono::nanoseconds(at.nanos()));
    out.ok = true;
    out.number_id = aresp.number().id();
    out.sms_text = event.code_received().sms().text();
    out.bought = bought;
    out.code_at = now;
    out.sms_after_s = since_bought(visible);
    out.visible_to_code_s = std::chrono::duration<double>(now - visible).count();
    out.start_to_code_s = std::chrono::duration<double>(now - start).count();
  }
  const grpc::Status s = stream->Finish();
  if (!out.ok) out.error = "await: " + s.error_message();
  return out;
}

// The SMS's received_at has whole seconds (as the provider's), so a delay measured from
// it is up to 1 s high. The mock knows the exact moment the SMS became visible (its due
// time, in milliseconds on the control API): the delays are measured from that.
void ExactVisibility(ismscode::mock::MockService& mock, Outcome& o) {
  const std::string path = "/_mock/v1/numbers/" + o.number_id;
  const ismscode::mock::HttpResponse r = mock.Handle({.method = "GET", .path = path});
  const auto body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (r.status != 200 || !body.contains("number") || !body["number"].contains("sms")) return;
  for (const auto& sms : body["number"]["sms"]) {
    if (sms.value("text", "") != o.sms_text) continue;
    const auto due = ismscode::ParseRfc3339(sms.value("due_at", ""));
    if (!due || *due > o.code_at) continue;
    o.visible_to_code_s = std::chrono::duration<double>(o.code_at - *due).count();
    o.sms_after_s = std::chrono::duration<double>(*due - o.bought).count();
    return;
  }
}

struct Stats {
  int codes = 0, signups = 0;
  double seconds = 0;
  std::vector<double> detection;  // as the test sees it
  double gateway_detection_sum = 0, gateway_detection_count = 0;
  double polls = 0, new_sms_polls = 0, purchases = 0, mock_429 = 0;
  std::vector<std::string> failures;
};

// Counters that a pass's stats are the difference of.
struct Counters {
  double detection_sum, detection_count, polls, new_sms_polls, purchases, mock_429;
};

Counters Read(const ismscode::gateway::Gateway& gateway, ismscode::mock::MockService& mock) {
  const std::string g = "\n" + gateway.metrics().Serialize();
  const std::string m = "\n" + mock.metrics().Serialize();
  Counters c{};
  c.detection_sum = Sum(g, "ismscode_code_detection_delay_seconds_sum");
  c.detection_count = Sum(g, "ismscode_code_detection_delay_seconds_count");
  c.polls = Sum(g, "ismscode_upstream_requests_total{endpoint=\"numbers.sms\"");
  c.new_sms_polls = Sum(g, "ismscode_polls_total{result=\"new_sms\"");
  c.purchases = Sum(g, "ismscode_upstream_requests_total{endpoint=\"numbers.request\"");
  for (const char* endpoint : {"numbers.sms", "numbers.request", "countries", "services"}) {
    c.mock_429 += Sum(m, std::string("ismscode_mock_requests_total{endpoint=\"") + endpoint +
                             "\",status=\"429\"");
  }
  return c;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t from = 0;
  while (from <= s.size()) {
    const size_t comma = s.find(',', from);
    out.push_back(s.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  return out;
}

Stats RunPass(v1::VerificationService::Stub& stub, ismscode::mock::MockService& mock,
              const Flags& f, const std::string& workload, int pass, bool verbose) {
  Stats stats;
  stats.signups = f.signups;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Outcome> outcomes(f.signups);
  const int first = pass * 1000;  // request ids differ between passes
  if (workload == "sequential") {
    for (int i = 0; i < f.signups; ++i) outcomes[i] = Signup(stub, first + i);
  } else {
    std::vector<std::thread> threads;
    for (int i = 0; i < f.signups; ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(f.spacing_ms) * i);
      threads.emplace_back([&, i] { outcomes[i] = Signup(stub, first + i); });
    }
    for (auto& t : threads) t.join();
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (Outcome& o : outcomes) {
    if (o.ok) ExactVisibility(mock, o);
  }
  if (verbose) {
    std::vector<int> order(f.signups);
    for (int i = 0; i < f.signups; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      return outcomes[a].visible_to_code_s < outcomes[b].visible_to_code_s;
    });
    for (int i : order) {
      const Outcome& o = outcomes[i];
      std::string polls;
      for (double at : o.polls_at_s) polls += " " + std::to_string(at).substr(0, 5);
      std::printf("    signup %2d: SMS at %5.1f s, detected after %5.1f s; polls at%s\n", i,
                  o.sms_after_s, o.visible_to_code_s, polls.c_str());
    }
  }
  for (const Outcome& o : outcomes) {
    if (!o.ok) {
      stats.failures.push_back(o.error);
      continue;
    }
    ++stats.codes;
    stats.detection.push_back(o.visible_to_code_s);
  }
  return stats;
}

void Print(const std::string& policy, int pass, const Stats& s) {
  std::printf(
      "  %-6s pass %d: codes %d/%d in %.0f s | detection p50 %.1f  p95 %.1f  max %.1f s "
      "(gateway mean %.1f s) | polls %.0f, yield %.0f%% | purchases %.0f | 429s %.0f\n",
      policy.c_str(), pass + 1, s.codes, s.signups, s.seconds, Percentile(s.detection, 0.5),
      Percentile(s.detection, 0.95), Percentile(s.detection, 1),
      s.gateway_detection_count ? s.gateway_detection_sum / s.gateway_detection_count : 0.0,
      s.polls, s.polls ? 100 * s.new_sms_polls / s.polls : 0.0, s.purchases, s.mock_429);
  for (const std::string& failure : s.failures) std::printf("    failed: %s\n", failure.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  std::string workload = "shared", policies = "even,likely";
  int passes = 1;
  bool verbose = false;
  double slow_median = 40, slow_sigma = 0.4, worth_seconds = 4;
  int max_gap_ms = 60000;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--verbose") verbose = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--verbose") {
      --i;
      continue;
    }
    const char* v = argv[i + 1];
    if (flag == "--signups") f.signups = std::atoi(v);
    if (flag == "--spacing-ms") f.spacing_ms = std::atoi(v);
    if (flag == "--rate-limit") f.rate_limit = std::atoi(v);
    if (flag == "--poll-interval-ms") f.poll_interval_ms = std::atoi(v);
    if (flag == "--seed") f.seed = std::strtoull(v, nullptr, 10);
    if (flag == "--workload") workload = v;
    if (flag == "--policies") policies = v;
    if (flag == "--passes") passes = std::max(1, std::atoi(v));
    if (flag == "--slow-median") slow_median = std::atof(v);
    if (flag == "--slow-sigma") slow_sigma = std::atof(v);
    if (flag == "--worth-seconds") worth_seconds = std::atof(v);
    if (flag == "--max-gap-ms") max_gap_ms = std::atoi(v);
  }
  if (workload != "shared" && workload != "sequential" && workload != "slow") {
    std::fprintf(stderr, "--workload: shared, sequential or slow\n");
    return 2;
  }
  auto scenario = ismscode::mock::LoadScenario("default");
  if (!scenario.ok()) {
    std::fprintf(stderr, "%s\n", scenario.status().ToString().c_str());
    return 1;
  }
  if (workload == "slow") {
    for (auto& offer : scenario->offers) {
      offer.sms.delay = {.kind = ismscode::mock::DelaySpec::Kind::kLogNormal,
                         .max_seconds = 600,
                         .median_seconds = slow_median,
                         .sigma = slow_sigma};
    }
  }
  const ismscode::mock::DelaySpec& delay = scenario->offers.front().sms.delay;
  std::printf(
      "signup_bench: workload %s, %d signups%s on one key; gateway budget %d per 60 s, "
      "polls at most every %d ms per number; SMS lognormal, median %.0f s, sigma %.2f; "
      "seed %llu\n",
      workload.c_str(), f.signups,
      workload == "sequential" ? " one at a time"
                               : (" " + std::to_string(f.spacing_ms) + " ms apart").c_str(),
      f.rate_limit, f.poll_interval_ms, delay.median_seconds, delay.sigma,
      static_cast<unsigned long long>(f.seed));
  std::printf(
      "  (detection: from the moment the mock made the SMS visible, to the millisecond, to the "
      "test holding its code)\n");
  int failed = 0;
  for (const std::string& policy : Split(policies)) {
    if (policy != "even" && policy != "likely") {
      std::fprintf(stderr, "--policies: even, likely\n");
      return 2;
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
         .poll_policy = policy == "even" ? ismscode::gateway::PollPolicy::kEven
                                         : ismscode::gateway::PollPolicy::kLikely,
         .poll_max_gap = std::chrono::milliseconds(max_gap_ms),
         .poll_worth_seconds = worth_seconds,
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
    for (int pass = 0; pass < passes; ++pass) {
      const Counters before = Read(*gateway, mock);
      Stats stats = RunPass(*stub, mock, f, workload, pass, verbose);
      const Counters after = Read(*gateway, mock);
      stats.gateway_detection_sum = after.detection_sum - before.detection_sum;
      stats.gateway_detection_count = after.detection_count - before.detection_count;
      stats.polls = after.polls - before.polls;
      stats.new_sms_polls = after.new_sms_polls - before.new_sms_polls;
      stats.purchases = after.purchases - before.purchases;
      stats.mock_429 = after.mock_429 - before.mock_429;
      Print(policy, pass, stats);
      failed += static_cast<int>(stats.failures.size());
    }
    const std::string g = "\n" + gateway->metrics().Serialize();
    for (const char* service : {"telegram", "whatsapp"}) {
      const std::string at = std::string("{quantile=\"0.5\",service=\"") + service + "\"";
      const double median = Sum(g, "ismscode_sms_delay_estimate_seconds" + at);
      if (median > 0) {
        std::printf("    learned %s delay: median %.1f s, p95 %.1f s\n", service, median,
                    Sum(g, std::string("ismscode_sms_delay_estimate_seconds{quantile=\"0.95\","
                                       "service=\"") +
                               service + "\""));
      }
    }
    gateway->Shutdown();
    mock_server->Stop();
  }
  return failed ? 1 : 0;
}
