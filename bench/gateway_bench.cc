// gateway_bench: the gateway's three targets, each printed as numbers (BENCHMARKS.md).
//
//   build/bench/gateway_bench acquire [--seconds S] [--connections N] [--rounds R]
//                                     [--client sync|callback]
//     AcquireNumber through the gateway vs the same purchase sent straight to the mock,
//     same run, alternating: the throughput ratio with N connections (default 4) flat
//     out, and the added p50/p99 latency with one call at a time. Client, ismscode-mock
//     and ismscode-gateway run as separate processes; each one's CPU per call is printed.
//   build/bench/gateway_bench streams [--streams N]
//     N AwaitCode streams held open on one ismscode-gateway process: its resident
//     memory, thread count, and CPU while nothing is due.
//   build/bench/gateway_bench delay [--numbers N] [--poll-interval-ms MS]
//     From an SMS becoming visible upstream to its CodeReceived event at the client.
//   build/bench/gateway_bench churn [--streams N]
//     N AwaitCode streams opened and cancelled, 1,000 at a time, on 1,000 numbers: the
//     gateway's resident memory along the way (a cancelled stream must leave nothing).
//
// streams and delay run the mock in this process; everything shares the machine's cores.
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_common.h"
#include "bench/load_result.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "ismscode/harness/v1/verification.grpc.pb.h"
#include "mock/http_server.h"
#include "mock/scenario.h"
#include "mock/service.h"
#include "server/gateway.h"
#include "tests/support/subprocess.h"

namespace {

namespace v1 = ismscode::harness::v1;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kKey = ismscode::bench::kBenchKey;

struct Flags {
  double seconds = 3;
  int connections = 4, rounds = 3, streams = 10000, numbers = 40, poll_interval_ms = 1000;
  bool callback_client = false;  // acquire: gRPC's callback client instead of the sync stub
};

// That mock, in this process.
struct Mock {
  std::unique_ptr<ismscode::mock::MockService> service;
  std::unique_ptr<ismscode::mock::MockHttpServer> server;

  explicit Mock(bool real_time_clock = true) {
    auto scenario = ismscode::mock::ParseScenario(ismscode::bench::kUnlimitedScenario);
    if (!scenario.ok()) throw std::runtime_error(scenario.status().ToString());
    ismscode::mock::MockService::Options options;
    options.clock.frozen = !real_time_clock;
    service = std::make_unique<ismscode::mock::MockService>(*scenario, options);
    auto started = ismscode::mock::MockHttpServer::Start(*service, {});
    if (!started.ok()) throw std::runtime_error(std::string(started.status().message()));
    server = *std::move(started);
  }
  std::string api() const { return server->base_url() + "/api/v3"; }
};

// /proc/<pid>/status field in kB, or the Threads count.
long ProcStatus(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

// utime + stime of `pid`, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) {
      stime = std::stoull(f);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Context switches of every thread of `pid`, voluntary or not.
double SwitchesOf(pid_t pid) {
  double total = 0;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream in(task.path() / "status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
          line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        total += std::atof(line.c_str() + line.find(':') + 1);
      }
    }
  }
  return total;
}

// The processes of the acquire benchmark: this one runs only the clients.
struct Processes {
  pid_t mock = 0, gateway = 0;
};

// CPU and context switches used so far by each process. On 2 shared cores, CPU per call
// is steadier than calls per second, and switches count the thread hops of a call.
struct Usage {
  double client_us = 0, mock_us = 0, gateway_us = 0, switches = 0;
  double cpu_us() const { return client_us + mock_us + gateway_us; }
  static Usage Now(const Processes& p) {
    rusage self{};
    getrusage(RUSAGE_SELF, &self);
    const auto us = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
    return {.client_us = us(self.ru_utime) + us(self.ru_stime),
            .mock_us = CpuSeconds(p.mock) * 1e6,
            .gateway_us = CpuSeconds(p.gateway) * 1e6,
            .switches = static_cast<double>(self.ru_nvcsw + self.ru_nivcsw) + SwitchesOf(p.mock) +
                        SwitchesOf(p.gateway)};
  }
};

struct Latencies : ismscode::bench::LoadResult {
  Usage per_call;  // CPU (us) and switches per call, by process
};

Latencies Summarise(std::vector<std::vector<float>>& per_thread, double seconds, size_t errors,
                    const Processes& processes, const Usage& since) {
  Latencies r;
  static_cast<ismscode::bench::LoadResult&>(r) =
      ismscode::bench::Summarise(per_thread, seconds, errors);
  const Usage now = Usage::Now(processes);
  const double calls = std::max(r.rps * seconds, 1.0);
  r.per_call = {.client_us = (now.client_us - since.client_us) / calls,
                .mock_us = (now.mock_us - since.mock_us) / calls,
                .gateway_us = (now.gateway_us - since.gateway_us) / calls,
                .switches = (now.switches - since.switches) / calls};
  return r;
}

// `make_call(c)` gives connection c's call, which returns true on success; runs
// `connections` threads flat out for `seconds`.
template <class MakeCall>
Latencies Drive(const Processes& processes, int connections, double seconds, MakeCall make_call) {
  std::vector<std::function<bool()>> calls;
  for (int c = 0; c < connections; ++c) calls.push_back(make_call(c));
  std::vector<std::vector<float>> latencies(connections);
  std::atomic<size_t> errors{0};
  std::atomic<bool> stop{false};
  const Usage since = Usage::Now(processes);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      auto& mine = latencies[c];
      mine.reserve(1 << 20);
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = Clock::now();
        const bool ok = calls[c]();
        mine.push_back(std::chrono::duration<float, std::micro>(Clock::now() - t0).count());
        if (!ok) ++errors;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return Summarise(latencies, seconds, errors, processes, since);
}

// Like Drive, for gRPC's callback client: each of `connections` loops keeps one call in
// flight, starting the next from the previous one's callback (no thread per call).
// `start(c, done)` starts one call on loop c and calls done(ok) when it ends.
template <class Start>
Latencies DriveCallback(const Processes& processes, int connections, double seconds, Start start) {
  struct Loop {
    std::vector<float> latencies;
    Clock::time_point t0;
  };
  std::vector<Loop> loops(connections);
  std::atomic<size_t> errors{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::condition_variable idle;
  int running = connections;
  std::function<void(int)> next = [&](int c) {
    loops[c].t0 = Clock::now();
    start(c, [&, c](bool ok) {
      loops[c].latencies.push_back(
          std::chrono::duration<float, std::micro>(Clock::now() - loops[c].t0).count());
      if (!ok) ++errors;
      if (!stop.load(std::memory_order_relaxed)) return next(c);
      std::lock_guard lock(mutex);
      if (--running == 0) idle.notify_all();
    });
  };
  const Usage since = Usage::Now(processes);
  for (int c = 0; c < connections; ++c) {
    loops[c].latencies.reserve(1 << 20);
    next(c);
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  {
    std::unique_lock lock(mutex);
    idle.wait(lock, [&] { return running == 0; });
  }
  std::vector<std::vector<float>> per_loop;
  for (auto& l : loops) per_loop.push_back(std::move(l.latencies));
  return Summarise(per_loop, seconds, errors, processes, since);
}

// A channel of its own (not shared with other channels to the same address).
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target, int index) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("ismscode.bench.channel", index);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

void Print(const char* name, const Latencies& r) {
  const Usage& u = r.per_call;
  std::printf("  %-29s %6.0f req/s  p50 %6.0f us  p99 %6.0f us  errors %zu\n", name, r.rps,
              r.p50_us, r.p99_us, r.errors);
  std::printf(
      "  %-29s CPU per call: client %3.0f + gateway %3.0f + mock %3.0f = %3.0f us; %4.1f "
      "switches\n",
      "", u.client_us, u.gateway_us, u.mock_us, u.cpu_us(), u.switches);
}

// The first line of `child`'s stderr whose "msg" is `message`, as JSON; exits if none.
json AwaitLogLine(ismscode::testing::Subprocess& child, const std::string& message) {
  while (auto line = child.ReadStderrLine()) {
    json j = json::parse(*line, nullptr, false);
    if (j.is_object() && j.value("msg", "") == message) return j;
  }
  std::fprintf(stderr, "no '%s' line\n", message.c_str());
  std::exit(1);
}

// Client, mock and gateway each in its own process, as in production: the real
// ismscode-mock and ismscode-gateway binaries, so that each one's CPU per call shows.
int BenchAcquire(const Flags& f) {
  char scenario_path[] = "/tmp/gateway_bench_scenario_XXXXXX";
  const int fd = mkstemp(scenario_path);
  if (fd < 0 || write(fd, ismscode::bench::kUnlimitedScenario,
                      std::strlen(ismscode::bench::kUnlimitedScenario)) < 0)
    return 1;
  close(fd);
  ismscode::testing::Subprocess mock_process(
      {ISMSCODE_MOCK_BINARY, "--port", "0", "--scenario", scenario_path});
  const json mock_line = AwaitLogLine(mock_process, "ismscode-mock listening");
  unlink(scenario_path);
  const std::string api = mock_line["api"];
  const int mock_port = std::stoi(api.substr(api.rfind(':') + 1));

  setenv("ISMSCODE_API_KEY", kKey, 1);
  ismscode::testing::Subprocess gateway_process(
      {ISMSCODE_GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--upstream", api, "--metrics-listen",
       "127.0.0.1:0", "--no-call-logs", "--rate-limit", "1000000000"});
  const json gateway_line = AwaitLogLine(gateway_process, "ismscode-gateway listening");
  const std::string target = gateway_line["grpc"];
  const Processes processes{.mock = mock_process.pid(), .gateway = gateway_line["pid"]};

  const std::string body = R"({"country":"US","service":"whatsapp"})";
  auto direct = [&](int) -> std::function<bool()> {
    auto client = std::make_shared<httplib::Client>("127.0.0.1", mock_port);
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
    return [client, &body] {
      auto r =
          client->Post("/api/v3/numbers/request", {{"Authorization", "Bearer bench-key-000000"}},
                       body, "application/json");
      return r && r->status == 200;
    };
  };
  auto through_gateway = [&](int c) -> std::function<bool()> {
    auto stub = std::shared_ptr<v1::VerificationService::Stub>(
        v1::VerificationService::NewStub(OwnChannel(target, c)));
    return [stub] {
      grpc::ClientContext ctx;
      v1::AcquireNumberRequest req;
      req.set_country("US");
      req.set_service("whatsapp");
      v1::AcquireNumberResponse resp;
      return stub->AcquireNumber(&ctx, req, &resp).ok();
    };
  };
  auto health_check = [&](int c) -> std::function<bool()> {
    auto stub = std::shared_ptr<grpc::health::v1::Health::Stub>(
        grpc::health::v1::Health::NewStub(OwnChannel(target, 100 + c)));
    return [stub] {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
      return stub->Check(&ctx, req, &resp).ok();
    };
  };
  std::vector<std::unique_ptr<v1::VerificationService::Stub>> async_stubs;
  for (int c = 0; c < f.connections; ++c) {
    async_stubs.push_back(v1::VerificationService::NewStub(OwnChannel(target, 200 + c)));
  }
  auto acquire_callback = [&](int c, std::function<void(bool)> done) {
    struct Call {
      grpc::ClientContext ctx;
      v1::AcquireNumberRequest req;
      v1::AcquireNumberResponse resp;
    };
    auto call = std::make_shared<Call>();
    call->req.set_country("US");
    call->req.set_service("whatsapp");
    async_stubs[c]->async()->AcquireNumber(
        &call->ctx, &call->req, &call->resp,
        [call, done = std::move(done)](grpc::Status s) { done(s.ok()); });
  };
  std::printf(
      "gateway_bench acquire: %d connections, %s client, %.1f s per case, %d rounds, %u cores\n",
      f.connections, f.callback_client ? "callback" : "sync", f.seconds, f.rounds,
      std::thread::hardware_concurrency());
  struct Comparison {
    Latencies floor, direct, gateway;
  };
  // Alternating rounds of direct and gateway (best of each), then the gRPC floor.
  auto compare = [&](int connections) {
    Comparison r;
    for (int round = 0; round < f.rounds; ++round) {
      const Latencies d = Drive(processes, connections, f.seconds, direct);
      const Latencies g = f.callback_client
                              ? DriveCallback(processes, connections, f.seconds, acquire_callback)
                              : Drive(processes, connections, f.seconds, through_gateway);
      std::printf("  round %d: direct %.0f req/s, gateway %.0f req/s\n", round + 1, d.rps, g.rps);
      if (d.rps > r.direct.rps) r.direct = d;
      if (g.rps > r.gateway.rps) r.gateway = g;
    }
    r.floor = Drive(processes, connections, f.seconds, health_check);
    std::printf(" best of %d rounds:\n", f.rounds);
    Print("gRPC floor: Health/Check", r.floor);
    Print("direct  POST /numbers/request", r.direct);
    Print("gateway AcquireNumber", r.gateway);
    return r;
  };

  std::printf("throughput: %d connections, calls back to back (every core saturated)\n",
              f.connections);
  const Comparison busy = compare(f.connections);
  std::printf(" gateway / direct throughput: %.0f%% (target >= 50%%)\n",
              100 * busy.gateway.rps / busy.direct.rps);
  // On saturated cores throughput is 1 / CPU per call: even a gateway that cost nothing
  // but its gRPC hop (the floor) plus the purchase itself would reach only this.
  std::printf(" bound from CPU per call, direct / (gRPC floor + direct): %.0f%%\n",
              100 * busy.direct.per_call.cpu_us() /
                  (busy.floor.per_call.cpu_us() + busy.direct.per_call.cpu_us()));
  // Were gateway and mock on cores of their own, each one's rate would be 1 / its own CPU
  // per call.
  std::printf(
      " per core: the mock serves purchases at %.0f us each, the gateway AcquireNumber "
      "at %.0f us (%.0f%% of the mock's rate)\n",
      busy.direct.per_call.mock_us, busy.gateway.per_call.gateway_us,
      100 * busy.direct.per_call.mock_us / busy.gateway.per_call.gateway_us);

  std::printf("latency: 1 connection, one call at a time (no queueing)\n");
  const Comparison idle = compare(1);
  std::printf(" added latency: p50 %+.0f us (target < 500), p99 %+.0f us\n",
              idle.gateway.p50_us - idle.direct.p50_us, idle.gateway.p99_us - idle.direct.p99_us);
  gateway_process.Signal(SIGTERM);
  gateway_process.Wait();
  mock_process.Signal(SIGTERM);
  mock_process.Wait();
  return 0;
}

// One AwaitCode stream on the callback client API: no client thread per stream either.
class Watch final : public grpc::ClientReadReactor<v1::AwaitCodeEvent> {
 public:
  struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    int started = 0, done = 0, cancelled = 0, codes = 0;
    std::vector<Clock::time_point>* code_times = nullptr;
  };

  Watch(v1::VerificationService::Stub& stub, const std::string& id, int index, Shared& shared)
      : index_(index), shared_(shared) {
    request_.set_number_id(id);
    request_.mutable_timeout()->set_seconds(3600);
    stub.async()->AwaitCode(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const auto now = Clock::now();
    std::lock_guard lock(shared_.mutex);
    if (!started_) {
      started_ = true;
      ++shared_.started;
      shared_.changed.notify_all();
    }
    if (event_.has_code_received()) {
      ++shared_.codes;
      if (shared_.code_times) (*shared_.code_times)[index_] = now;
      shared_.changed.notify_all();
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    std::lock_guard lock(shared_.mutex);
    ++shared_.done;
    if (!started_) ++shared_.started;  // ended before its first event: do not wait on it
    if (status.error_code() == grpc::StatusCode::CANCELLED) ++shared_.cancelled;
    shared_.changed.notify_all();
  }

 private:
  const int index_;
  Shared& shared_;
  grpc::ClientContext context_;
  v1::AwaitCodeRequest request_;
  v1::AwaitCodeEvent event_;
  bool started_ = false;
};

std::vector<std::string> AcquireMany(const std::string& target, int n) {
  std::vector<std::string> ids(n);
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::VerificationService::NewStub(OwnChannel(target, 1000 + t));
      for (int i; (i = next++) < n;) {
        grpc::ClientContext ctx;
        v1::AcquireNumberRequest req;
        req.set_country("US");
        req.set_service("whatsapp");
        v1::AcquireNumberResponse resp;
        if (stub->AcquireNumber(&ctx, req, &resp).ok()) {
          ids[i] = resp.number().id();
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed) std::fprintf(stderr, "%d purchases failed\n", failed.load());
  return ids;
}

// ismscode-gateway as a child process in front of `mock`, where nothing is due while we
// measure: each number is polled when its first watcher comes, then not for ten minutes.
struct QuietGateway {
  ismscode::testing::Subprocess process;
  std::string target;
  pid_t pid = 0;

  explicit QuietGateway(const Mock& mock)
      : process((setenv("ISMSCODE_API_KEY", kKey, 1),
                 std::vector<std::string>{ISMSCODE_GATEWAY_BINARY, "--listen", "127.0.0.1:0",
                                          "--upstream", mock.api(), "--metrics-listen", "off",
                                          "--no-call-logs", "--rate-limit", "100000000",
                                          "--poll-interval-ms", "600000"})) {
    while (auto line = process.ReadStderrLine()) {
      const json j = json::parse(*line, nullptr, false);
      if (j.is_object() && j["msg"] == "ismscode-gateway listening") {
        target = j["grpc"];
        pid = j.value("pid", 0);
        break;
      }
    }
    if (!ok()) std::fprintf(stderr, "the gateway did not start\n");
  }
  bool ok() const { return !target.empty() && pid != 0; }
};

int BenchStreams(const Flags& f) {
  Mock mock;
  QuietGateway started(mock);
  if (!started.ok()) return 1;
  ismscode::testing::Subprocess& gw = started.process;
  const std::string target = started.target;
  const pid_t pid = started.pid;
  const long rss_start = ProcStatus(pid, "VmRSS");
  const long threads_start = ProcStatus(pid, "Threads");
  const auto t0 = Clock::now();
  const std::vector<std::string> ids = AcquireMany(target, f.streams);
  const double acquire_s = std::chrono::duration<double>(Clock::now() - t0).count();

  constexpr int kChannels = 16;
  std::vector<std::unique_ptr<v1::VerificationService::Stub>> stubs;
  for (int c = 0; c < kChannels; ++c) {
    stubs.push_back(v1::VerificationService::NewStub(OwnChannel(target, c)));
  }
  Watch::Shared shared;
  std::vector<std::unique_ptr<Watch>> watches;
  const auto t1 = Clock::now();
  for (int i = 0; i < f.streams; ++i) {
    watches.push_back(std::make_unique<Watch>(*stubs[i % kChannels], ids[i], i, shared));
  }
  {
    std::unique_lock lock(shared.mutex);
    shared.changed.wait(lock, [&] { return shared.started == f.streams; });
  }
  const double open_s = std::chrono::duration<double>(Clock::now() - t1).count();
  // Settle, then measure a quiet window.
  std::this_thread::sleep_for(1s);
  const double cpu_before = CpuSeconds(pid);
  const auto w0 = Clock::now();
  std::this_thread::sleep_for(10s);
  const double idle_cpu =
      (CpuSeconds(pid) - cpu_before) / std::chrono::duration<double>(Clock::now() - w0).count();
  const long rss = ProcStatus(pid, "VmRSS");
  const long hwm = ProcStatus(pid, "VmHWM");
  const long threads = ProcStatus(pid, "Threads");

  for (auto& w : watches) w->Cancel();
  {
    std::unique_lock lock(shared.mutex);
    shared.changed.wait(lock, [&] { return shared.done == f.streams; });
  }
  const auto s0 = Clock::now();
  gw.Signal(SIGTERM);
  const int exit_code = gw.Wait();
  const double stop_s = std::chrono::duration<double>(Clock::now() - s0).count();

  std::printf("gateway_bench streams: %d AwaitCode streams on one ismscode-gateway process\n",
              f.streams);
  std::printf("  purchases: %.1f s (%.0f/s); streams open and polled once: %.1f s\n", acquire_s,
              f.streams / acquire_s, open_s);
  std::printf("  gateway at start: RSS %.1f MB, %ld threads\n", rss_start / 1024.0, threads_start);
  std::printf(
      "  with %d streams open: RSS %.1f MB (peak %.1f MB; target < 300), %ld threads "
      "(target < 64)\n",
      f.streams, rss / 1024.0, hwm / 1024.0, threads);
  std::printf("  CPU while idle (10 s, no poll due): %.2f%% of one core\n", idle_cpu * 100);
  std::printf("  client cancelled all: %d of %d ended CANCELLED\n", shared.cancelled, f.streams);
  std::printf("  SIGTERM to exit: %.0f ms (exit code %d)\n", stop_s * 1000, exit_code);
  return 0;
}

int BenchChurn(const Flags& f) {
  Mock mock;
  QuietGateway started(mock);
  if (!started.ok()) return 1;
  // One number per stream of a batch: each stream then gets its first event at once (a
  // new poll loop polls immediately), which is how the client knows it is open.
  constexpr int kNumbers = 1000, kBatch = 1000, kChannels = 16;
  const std::vector<std::string> ids = AcquireMany(started.target, kNumbers);
  std::vector<std::unique_ptr<v1::VerificationService::Stub>> stubs;
  for (int c = 0; c < kChannels; ++c) {
    stubs.push_back(v1::VerificationService::NewStub(OwnChannel(started.target, c)));
  }
  std::printf(
      "gateway_bench churn: %d AwaitCode streams (timeout 3600 s), opened "
      "and cancelled %d at a time on %d numbers\n",
      f.streams, kBatch, kNumbers);
  std::printf("  %10s %10s\n", "streams", "RSS MB");
  std::printf("  %10d %10.1f\n", 0, ProcStatus(started.pid, "VmRSS") / 1024.0);
  const auto t0 = Clock::now();
  int cancelled = 0;
  for (int done = 0; done < f.streams;) {
    Watch::Shared shared;
    std::vector<std::unique_ptr<Watch>> batch;
    const int n = std::min(kBatch, f.streams - done);
    for (int i = 0; i < n; ++i) {
      batch.push_back(std::make_unique<Watch>(*stubs[i % kChannels], ids[i % kNumbers], i, shared));
    }
    {
      std::unique_lock lock(shared.mutex);
      if (!shared.changed.wait_for(lock, 30s, [&] { return shared.started == n; })) {
        std::printf("  stuck: %d of %d streams saw their first event after 30 s\n", shared.started,
                    n);
        return 1;
      }
    }
    for (auto& w : batch) w->Cancel();
    {
      std::unique_lock lock(shared.mutex);
      shared.changed.wait(lock, [&] { return shared.done == n; });
    }
    cancelled += shared.cancelled;
    done += n;
    if (done % (f.streams / 10 > 0 ? f.streams / 10 : 1) < kBatch || done == f.streams) {
      std::printf("  %10d %10.1f\n", done, ProcStatus(started.pid, "VmRSS") / 1024.0);
    }
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("  %d of %d ended CANCELLED; %.0f streams/s; peak RSS %.1f MB\n", cancelled,
              f.streams, f.streams / s, ProcStatus(started.pid, "VmHWM") / 1024.0);
  started.process.Signal(SIGTERM);
  started.process.Wait();
  return 0;
}

int BenchDelay(const Flags& f) {
  Mock mock;  // real-time clock: an injected SMS is visible at once
  auto started = ismscode::gateway::Gateway::Start(
      {.upstream = {.base_url = mock.api()},
       .upstream_key = kKey,
       .poll_interval = std::chrono::milliseconds(f.poll_interval_ms),
       .rate_limit = 1000000000});
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<ismscode::gateway::Gateway> gateway = *std::move(started);
  const std::string target = "127.0.0.1:" + std::to_string(gateway->port());
  const std::vector<std::string> ids = AcquireMany(target, f.numbers);
  auto stub = v1::VerificationService::NewStub(OwnChannel(target, 0));
  std::vector<Clock::time_point> visible(f.numbers), code_at(f.numbers);
  Watch::Shared shared;
  shared.code_times = &code_at;
  std::vector<std::unique_ptr<Watch>> watches;
  for (int i = 0; i < f.numbers; ++i) {
    watches.push_back(std::make_unique<Watch>(*stub, ids[i], i, shared));
  }
  {
    std::unique_lock lock(shared.mutex);
    shared.changed.wait(lock, [&] { return shared.started == f.numbers; });
  }
  // SMS arrive at random moments over two poll intervals, as real ones do.
  std::mt19937 random(7);
  std::vector<std::pair<double, int>> schedule;
  for (int i = 0; i < f.numbers; ++i) {
    schedule.emplace_back(
        std::uniform_real_distribution<double>(0, 2.0 * f.poll_interval_ms)(random), i);
  }
  std::sort(schedule.begin(), schedule.end());
  httplib::Client control("127.0.0.1", mock.server->port());
  control.set_tcp_nodelay(true);
  const auto start = Clock::now();
  for (const auto& [at_ms, i] : schedule) {
    std::this_thread::sleep_until(start + std::chrono::duration<double, std::milli>(at_ms));
    // Conservative: the clock starts before the SMS exists upstream.
    visible[i] = Clock::now();
    auto r = control.Post("/_mock/v1/numbers/" + ids[i] + "/sms",
                          R"({"text": "Your verification code is 482913"})", "application/json");
    if (!r || r->status != 201) std::fprintf(stderr, "inject failed\n");
  }
  {
    std::unique_lock lock(shared.mutex);
    shared.changed.wait(lock, [&] { return shared.codes == f.numbers; });
  }
  std::vector<double> delays;
  for (int i = 0; i < f.numbers; ++i) {
    delays.push_back(std::chrono::duration<double, std::milli>(code_at[i] - visible[i]).count());
  }
  std::sort(delays.begin(), delays.end());
  std::printf("gateway_bench delay: %d numbers, poll interval %d ms, SMS at random moments\n",
              f.numbers, f.poll_interval_ms);
  std::printf(
      "  SMS visible upstream -> CodeReceived at the client: min %.1f ms, p50 %.1f ms, "
      "p99 %.1f ms, max %.1f ms\n",
      delays.front(), delays[delays.size() / 2], delays[delays.size() * 99 / 100], delays.back());
  std::printf("  target: max <= poll interval + 50 ms = %d ms: %s\n", f.poll_interval_ms + 50,
              delays.back() <= f.poll_interval_ms + 50 ? "met" : "MISSED");
  for (auto& w : watches) w->Cancel();
  std::unique_lock lock(shared.mutex);
  shared.changed.wait(lock, [&] { return shared.done == f.numbers; });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  Flags f;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--seconds")
      f.seconds = std::atof(v);
    else if (flag == "--connections")
      f.connections = std::atoi(v);
    else if (flag == "--rounds")
      f.rounds = std::atoi(v);
    else if (flag == "--streams")
      f.streams = std::atoi(v);
    else if (flag == "--numbers")
      f.numbers = std::atoi(v);
    else if (flag == "--poll-interval-ms")
      f.poll_interval_ms = std::atoi(v);
    else if (flag == "--client")
      f.callback_client = std::string(v) == "callback";
  }
  if (mode == "acquire") return BenchAcquire(f);
  if (mode == "streams") return BenchStreams(f);
  if (mode == "delay") return BenchDelay(f);
  if (mode == "churn") return BenchChurn(f);
  std::fprintf(stderr,
               "usage: gateway_bench acquire|streams|delay|churn [flags] (see the source)\n");
  return 2;
}
