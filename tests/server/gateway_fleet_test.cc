// Three ismscode-gateway processes as one fleet (--state) in front of one mock, sharing
// one real redis-server: the rate budget, request ids, numbers and poll loops hold for the
// fleet as they hold for one gateway.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <barrier>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "ismscode/harness/v1/verification.grpc.pb.h"
#include "tests/server/gateway_fixture.h"
#include "tests/support/mock_fixture.h"
#include "tests/support/redis_server.h"
#include "tests/support/subprocess.h"

namespace ismscode::gateway {
namespace {

namespace v1 = ismscode::harness::v1;
using json = nlohmann::json;
using namespace std::chrono_literals;
using grpc::health::v1::HealthCheckResponse;

constexpr char kKey[] = "key-alpha-0001";
constexpr char kRedisPassword[] = "fleet-redis-secret-7f3a";

// One replica: the real binary, on ports the kernel picks, told its key and the Redis
// password through the environment (never argv).
class Replica {
 public:
  Replica(const std::string& upstream, const std::string& state,
          std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {ISMSCODE_GATEWAY_BINARY,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--metrics-listen",
                                     "127.0.0.1:0",
                                     "--upstream",
                                     upstream,
                                     "--state",
                                     state,
                                     "--no-call-logs"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<testing::Subprocess>(argv);
    while (auto line = process_->ReadStderrLine()) {
      log_ += *line + "\n";
      const json j = json::parse(*line, nullptr, false);
      if (j.is_object() && j["msg"] == "ismscode-gateway listening") {
        grpc_port_ = j["port"].get<int>();
        metrics_port_ = j["metrics_port"].get<int>();
        break;
      }
    }
    EXPECT_GT(grpc_port_, 0) << "the replica did not start:\n" << log_;
    // The rest of its log is read as it comes, so that a full pipe never blocks it.
    drain_ = std::thread([this] {
      while (auto line = process_->ReadStderrLine(3600)) {
        std::lock_guard lock(log_mutex_);
        log_ += *line + "\n";
      }
    });
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port_),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::VerificationService::NewStub(channel_);
  }

  ~Replica() {
    process_->Signal(SIGKILL);
    if (drain_.joinable()) drain_.join();
  }

  v1::VerificationService::Stub& stub() { return *stub_; }
  std::string Metrics() const { return Scrape(metrics_port_); }
  // SIGKILL, as a crash would.
  void Kill() {
    process_->Signal(SIGKILL);
    process_->Wait();
  }
  // SIGTERM; its exit code, once its whole log is read.
  int Stop() {
    process_->Signal(SIGTERM);
    if (drain_.joinable()) drain_.join();
    return process_->Wait();
  }
  // Everything it logged so far.
  std::string log() {
    std::lock_guard lock(log_mutex_);
    return log_;
  }

  HealthCheckResponse::ServingStatus Health() {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    HealthCheckResponse resp;
    if (!health->Check(&ctx, {}, &resp).ok()) return HealthCheckResponse::UNKNOWN;
    return resp.status();
  }
  // Waits (bounded) until health says `status`; true when it did.
  bool AwaitHealth(HealthCheckResponse::ServingStatus status) {
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < give_up) {
      if (Health() == status) return true;
      std::this_thread::sleep_for(50ms);  // bounded polling of a condition, not a wait for time
    }
    return false;
  }

 private:
  std::unique_ptr<testing::Subprocess> process_;
  std::mutex log_mutex_;
  std::string log_;
  std::thread drain_;
  int grpc_port_ = 0, metrics_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::VerificationService::Stub> stub_;
};

class GatewayFleetTest : public ::testing::Test {
 protected:
  GatewayFleetTest() : redis_(kRedisPassword), mock_(testing::TestScenario(), LiveClock()) {
    redis_.Start();
    setenv("ISMSCODE_API_KEY", kKey, 1);
    setenv("ISMSCODE_STATE_PASSWORD", kRedisPassword, 1);
    mock_.Control("PATCH", std::string("accounts/") + kKey, {{"balance", 100}});
  }

  static mock::MockService::Options LiveClock() {
    mock::MockService::Options live = testing::FrozenOptions();
    live.clock.frozen = false;
    return live;
  }

  // Every offer's SMS `seconds` after its purchase, in real time.
  void SmsAfter(double seconds) {
    for (const char* offer : {"offers/US/google", "offers/GB/google", "offers/US/whatsapp"}) {
      mock_.Control("PATCH", offer,
                    {{"sms", {{"delay", {{"kind", "fixed"}, {"seconds", seconds}}}}}});
    }
  }

  void StartFleet(int replicas, std::vector<std::string> extra = {}) {
    for (int i = 0; i < replicas; ++i) {
      fleet_.push_back(
          std::make_unique<Replica>(mock_.base_url() + "/api/v3", redis_.url(), extra));
    }
  }

  // What the mock answered, summed over its endpoints, for HTTP `status`.
  double MockAnswers(const std::string& endpoint, int status) {
    const std::string exposition = mock_.service().metrics().Serialize();
    const std::string series = "ismscode_mock_requests_total{endpoint=\"" + endpoint +
                               "\",status=\"" + std::to_string(status) + "\"}";
    return Sample(exposition, series).value_or(0);
  }
  double Mock429s() {
    double sum = 0;
    for (const char* e : {"numbers.request", "numbers.sms", "countries", "services"}) {
      sum += MockAnswers(e, 429);
    }
    return sum;
  }

  // Purchases that reached the mock, answered or not (its journal records each on arrival).
  int Purchases() {
    int n = 0;
    const nlohmann::ordered_json journal = testing::Body(mock_.Control("GET", "journal"));
    for (const auto& e : journal["entries"]) {
      n += e["endpoint"] == "numbers.request";
    }
    return n;
  }

  std::string ExpectedCode(const std::string& id) {
    return testing::Body(mock_.Control("GET", "numbers/" + id))["number"]["sms"][0]["code"];
  }

  static grpc::Status Acquire(Replica& r, v1::AcquireNumberResponse* resp,
                              const std::string& request_id = "", int max_wait_s = 0,
                              const std::string& country = "US") {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 90s);
    v1::AcquireNumberRequest req;
    req.set_country(country);
    req.set_service("google");
    req.set_request_id(request_id);
    req.mutable_max_wait()->set_seconds(max_wait_s);
    return r.stub().AcquireNumber(&ctx, req, resp);
  }

  // Reads the stream to its code (or its end); the events seen go to `events`.
  static grpc::Status AwaitCode(Replica& r, const std::string& id, std::vector<std::string>* codes,
                                int timeout_s = 60,
                                std::vector<v1::AwaitCodeEvent>* events = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s + 30));
    v1::AwaitCodeRequest req;
    req.set_number_id(id);
    req.mutable_timeout()->set_seconds(timeout_s);
    auto reader = r.stub().AwaitCode(&ctx, req);
    v1::AwaitCodeEvent event;
    while (reader->Read(&event)) {
      if (events) events->push_back(event);
      if (event.has_code_received()) codes->push_back(event.code_received().code());
    }
    return reader->Finish();
  }

  testing::RedisServer redis_;
  testing::MockFixture mock_;
  std::vector<std::unique_ptr<Replica>> fleet_;
};

TEST_F(GatewayFleetTest, FiftyWaitsOverThreeReplicasShareOneKeysLimitAndSeeEveryCode) {
  // The key's limit is the fleet's: 60 requests a minute, at the mock and in each
  // replica's --rate-limit. Three replicas on their own would each spend it; together
  // they must not exceed it once. The 50 purchases and the replicas' list calls take
  // most of the first minute, so most polls come in the second: about 100 s in all.
  mock_.Control("PATCH", std::string("accounts/") + kKey,
                {{"rate_limit", {{"requests", 60}, {"window_seconds", 60}}}});
  SmsAfter(1);
  StartFleet(3, {"--rate-limit", "60", "--rate-window", "60", "--poll-interval-ms", "500"});
  constexpr int kWaits = 50;
  std::vector<std::string> ids(kWaits), got(kWaits), expected(kWaits), failures(kWaits);
  std::vector<std::thread> signups;
  for (int i = 0; i < kWaits; ++i) {
    signups.emplace_back([&, i] {
      // Bought on one replica, awaited on the next: the fleet's registry finds it.
      v1::AcquireNumberResponse bought;
      const grpc::Status s = Acquire(*fleet_[i % 3], &bought, "", 60, i % 2 ? "US" : "GB");
      if (!s.ok()) {
        failures[i] = "AcquireNumber: " + ReasonOf(s) + " " + s.error_message();
        return;
      }
      ids[i] = bought.number().id();
      std::vector<std::string> codes;
      const grpc::Status w = AwaitCode(*fleet_[(i + 1) % 3], ids[i], &codes, /*timeout_s=*/240);
      if (!w.ok() || codes.size() != 1) {
        failures[i] = "AwaitCode: " + ReasonOf(w) + " " + w.error_message() + ", " +
                      std::to_string(codes.size()) + " codes";
        return;
      }
      got[i] = codes[0];
    });
  }
  for (auto& t : signups) t.join();
  for (int i = 0; i < kWaits; ++i) {
    ASSERT_EQ(failures[i], "") << "signup " << i;
    EXPECT_EQ(got[i], ExpectedCode(ids[i])) << "signup " << i;
  }
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), size_t{kWaits});
  EXPECT_EQ(MockAnswers("numbers.request", 200), kWaits) << "one purchase per signup";
  EXPECT_EQ(Mock429s(), 0) << "the fleet kept the key's limit";
}

TEST_F(GatewayFleetTest, OneRequestIdSentToEveryReplicaAtOnceBuysOnce) {
  SmsAfter(1000);
  StartFleet(3);
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    const std::string request_id = "signup-" + std::to_string(round);
    std::barrier start(3);
    std::vector<v1::AcquireNumberResponse> answers(3);
    std::vector<grpc::Status> statuses(3);
    std::vector<std::thread> callers;
    for (int r = 0; r < 3; ++r) {
      callers.emplace_back([&, r] {
        start.arrive_and_wait();
        statuses[r] = Acquire(*fleet_[r], &answers[r], request_id);
      });
    }
    for (auto& t : callers) t.join();
    int replayed = 0;
    for (int r = 0; r < 3; ++r) {
      ASSERT_TRUE(statuses[r].ok())
          << "replica " << r << ": " << ReasonOf(statuses[r]) << " " << statuses[r].error_message();
      EXPECT_EQ(answers[r].number().id(), answers[0].number().id()) << "replica " << r;
      EXPECT_EQ(answers[r].number().phone(), answers[0].number().phone());
      replayed += answers[r].replayed();
    }
    EXPECT_EQ(replayed, 2) << "one replica bought, the two others replayed its number";
  }
  EXPECT_EQ(MockAnswers("numbers.request", 200), kRounds) << "one purchase per request id";
  // Later, on any replica: the same number again, nothing bought.
  v1::AcquireNumberResponse again;
  ASSERT_TRUE(Acquire(*fleet_[2], &again, "signup-0").ok());
  EXPECT_TRUE(again.replayed());
  EXPECT_EQ(MockAnswers("numbers.request", 200), kRounds);
}

TEST_F(GatewayFleetTest, ANumberIsVisibleOnEveryReplicaToItsKeyOnly) {
  SmsAfter(1);
  StartFleet(2, {"--allow-caller-keys", "--poll-interval-ms", "200"});
  v1::AcquireNumberResponse bought;
  ASSERT_TRUE(Acquire(*fleet_[0], &bought).ok());
  // Another key asks the other replica for it: as unknown as an id never bought.
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-ismscode-api-key", "key-bravo-0002");
    v1::AwaitCodeRequest req;
    req.set_number_id(bought.number().id());
    auto reader = fleet_[1]->stub().AwaitCode(&ctx, req);
    v1::AwaitCodeEvent event;
    while (reader->Read(&event)) {
    }
    const grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(ReasonOf(s), "NUMBER_NOT_FOUND");
  }
  std::vector<std::string> codes;
  const grpc::Status s = AwaitCode(*fleet_[1], bought.number().id(), &codes);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(codes.size(), 1u);
  EXPECT_EQ(codes[0], ExpectedCode(bought.number().id()));
}

// An AwaitCode stream read on a thread of its own, whose events the test can look at
// while it runs.
class OpenStream {
 public:
  OpenStream(Replica& replica, const std::string& number_id, int timeout_s, bool follow) {
    v1::AwaitCodeRequest req;
    req.set_number_id(number_id);
    req.mutable_timeout()->set_seconds(timeout_s);
    req.set_follow(follow);
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s + 30));
    reader_ = replica.stub().AwaitCode(&context_, req);
    thread_ = std::thread([this] {
      v1::AwaitCodeEvent event;
      while (reader_->Read(&event)) {
        std::lock_guard lock(mutex_);
        ++events_;
        if (event.has_code_received()) codes_.push_back(event.code_received().code());
      }
      status_ = reader_->Finish();
    });
  }
  ~OpenStream() {
    context_.TryCancel();
    if (thread_.joinable()) thread_.join();
  }
  // Waits (bounded) until `ready` holds for the stream's events and codes.
  bool AwaitThat(const std::function<bool(int events, const std::vector<std::string>&)>& ready) {
    for (int i = 0; i < 3000; ++i) {
      {
        std::lock_guard lock(mutex_);
        if (ready(events_, codes_)) return true;
      }
      std::this_thread::sleep_for(10ms);  // bounded polling of a condition
    }
    return false;
  }
  grpc::Status Finish() {
    thread_.join();
    return status_;
  }
  std::vector<std::string> codes() {
    std::lock_guard lock(mutex_);
    return codes_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::AwaitCodeEvent>> reader_;
  std::thread thread_;
  std::mutex mutex_;
  int events_ = 0;
  std::vector<std::string> codes_;
  grpc::Status status_;
};

TEST_F(GatewayFleetTest, OneReplicaPollsANumberAndWhenItIsKilledAnotherDeliversEveryCodeOnce) {
  SmsAfter(1000);  // only the SMS this test sends
  StartFleet(3, {"--poll-interval-ms", "200"});
  v1::AcquireNumberResponse bought;
  ASSERT_TRUE(Acquire(*fleet_[0], &bought).ok());
  const std::string id = bought.number().id();
  // A watcher on every replica, each following the number's codes for 30 s.
  std::vector<std::unique_ptr<OpenStream>> streams;
  for (auto& replica : fleet_)
    streams.push_back(std::make_unique<OpenStream>(*replica, id, 30, true));
  for (auto& s : streams) ASSERT_TRUE(s->AwaitThat([](int events, auto&) { return events > 0; }));

  auto send = [&](const std::string& text) {
    mock_.Control("POST", "numbers/" + id + "/sms", {{"text", text}, {"from", "Acme"}});
  };
  send("Your Acme code is 111-222");
  for (auto& s : streams) {
    EXPECT_TRUE(s->AwaitThat([](int, auto& codes) { return !codes.empty(); }));
  }
  auto polls = [&](Replica& r) {
    return Sample(r.Metrics(),
                  "ismscode_upstream_requests_total{endpoint=\"numbers.sms\",outcome=\"ok\"}")
        .value_or(0);
  };
  std::vector<int> pollers;
  for (int r = 0; r < 3; ++r) {
    if (polls(*fleet_[r]) > 0) pollers.push_back(r);
  }
  ASSERT_EQ(pollers.size(), 1u) << "one replica polls the number for the fleet";
  const int killed = pollers[0];
  fleet_[killed]->Kill();

  send("Your Acme code is 333-444");
  std::vector<int> survivors;
  for (int r = 0; r < 3; ++r) {
    if (r == killed) continue;
    survivors.push_back(r);
    const grpc::Status s = streams[r]->Finish();
    EXPECT_TRUE(s.ok()) << "replica " << r << ": " << s.error_message();
    EXPECT_EQ(streams[r]->codes(), (std::vector<std::string>{"111222", "333444"}))
        << "replica " << r << ": every code, once, after its poller died";
  }
  int new_pollers = 0;
  for (int r : survivors) new_pollers += polls(*fleet_[r]) > 0;
  EXPECT_EQ(new_pollers, 1) << "one survivor took the number over";
}

TEST_F(GatewayFleetTest, AHungRedisHangsNoCallAndNoStream) {
  SmsAfter(1000);
  StartFleet(2, {"--poll-interval-ms", "200"});
  v1::AcquireNumberResponse bought;
  ASSERT_TRUE(Acquire(*fleet_[0], &bought).ok());
  const auto opened = std::chrono::steady_clock::now();
  OpenStream stream(*fleet_[1], bought.number().id(), /*timeout_s=*/8, /*follow=*/false);
  ASSERT_TRUE(stream.AwaitThat([](int events, auto&) { return events > 0; }));
  int events_before = 0;
  stream.AwaitThat([&](int events, auto&) {
    events_before = events;
    return true;
  });

  redis_.Pause();  // connections stay open; nothing is answered
  const auto asked = std::chrono::steady_clock::now();
  v1::AcquireNumberResponse refused;
  const grpc::Status s = Acquire(*fleet_[0], &refused, "while-hung", /*max_wait_s=*/30);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s) << "a timeout, not a hang";
  EXPECT_EQ(ReasonOf(s), "STATE_UNAVAILABLE") << s.error_message();
  // The stream keeps its heartbeats and ends at its own timeout, not later.
  const grpc::Status ended = stream.Finish();
  const auto lasted = std::chrono::steady_clock::now() - opened;
  EXPECT_EQ(ReasonOf(ended), "CODE_WAIT_TIMEOUT") << ended.error_message();
  EXPECT_LT(lasted, 11s);
  int events_after = 0;
  stream.AwaitThat([&](int events, auto&) {
    events_after = events;
    return true;
  });
  EXPECT_GE(events_after - events_before, 3) << "heartbeats went on while Redis hung";
  for (auto& replica : fleet_) {
    EXPECT_TRUE(replica->AwaitHealth(HealthCheckResponse::NOT_SERVING));
  }

  redis_.Resume();
  for (auto& replica : fleet_) {
    EXPECT_TRUE(replica->AwaitHealth(HealthCheckResponse::SERVING));
  }
  v1::AcquireNumberResponse later;
  EXPECT_TRUE(Acquire(*fleet_[1], &later, "while-hung").ok()) << "nothing was bought for it";
  EXPECT_FALSE(later.replayed());
  EXPECT_EQ(MockAnswers("numbers.request", 200), 2);
}

TEST_F(GatewayFleetTest, A429SeenByOneReplicaPausesTheKeyOnEveryReplica) {
  SmsAfter(1000);
  StartFleet(2);
  // The mock answers the next purchase on the key with 429 and Retry-After: 30.
  mock_.Control("POST", "faults",
                {{"kind", "rate_limit_exceeded"},
                 {"endpoint", "numbers.request"},
                 {"key", kKey},
                 {"count", 1},
                 {"retry_after_seconds", 30}});
  v1::AcquireNumberResponse bought;
  const grpc::Status first = Acquire(*fleet_[0], &bought);
  ASSERT_EQ(ReasonOf(first), "RATE_LIMIT_EXCEEDED") << first.error_message();
  // The other replica did not see it, yet holds the key back too: nothing goes upstream.
  const double purchases = MockAnswers("numbers.request", 200);
  const grpc::Status second = Acquire(*fleet_[1], &bought);
  EXPECT_EQ(ReasonOf(second), "RATE_LIMIT_EXCEEDED") << second.error_message();
  EXPECT_EQ(MockAnswers("numbers.request", 200), purchases) << "paused, not sent";
  EXPECT_EQ(MockAnswers("numbers.request", 429), 1) << "the upstream said 429 once";
}

TEST_F(GatewayFleetTest, AReplicaThatDiesMidPurchaseLeavesItsIdUnknownNeverBoughtAgain) {
  SmsAfter(1000);
  // Answers within 4 s: a purchase's lease is 2 x (3 + 2 x 4 + 5) = 32 s.
  StartFleet(2, {"--upstream-read-timeout-ms", "4000"});
  // The mock buys the number, then never answers.
  mock_.Control("POST", "faults",
                {{"kind", "hang"},
                 {"endpoint", "numbers.request"},
                 {"key", kKey},
                 {"count", 1},
                 {"phase", "after"},
                 {"hang_seconds", 60}});
  std::thread buyer([&] {
    v1::AcquireNumberResponse lost;
    Acquire(*fleet_[0], &lost, "dies-mid-purchase");  // its replica dies under it
  });
  // The purchase is at the mock (its journal records it on arrival): the buyer dies now,
  // before its 4 s read timeout could record anything.
  for (int i = 0; Purchases() < 1; ++i) {
    ASSERT_LT(i, 100000) << "the purchase never reached the mock";
  }
  fleet_[0]->Kill();
  buyer.join();

  // The other replica waits for the buyer's lease, then says what it knows: not whether
  // a number was bought, so it buys none.
  const auto asked = std::chrono::steady_clock::now();
  v1::AcquireNumberResponse unknown;
  const grpc::Status s = Acquire(*fleet_[1], &unknown, "dies-mid-purchase");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  EXPECT_EQ(ReasonOf(s), "UPSTREAM_TIMEOUT") << s.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 45s) << "within the lease, not for ever";
  const grpc::Status again = Acquire(*fleet_[1], &unknown, "dies-mid-purchase");
  EXPECT_EQ(ReasonOf(again), "UPSTREAM_TIMEOUT") << "for good";
  v1::AcquireNumberResponse other;
  EXPECT_TRUE(Acquire(*fleet_[1], &other, "another-id").ok());
  EXPECT_EQ(Purchases(), 2) << "the lost purchase and the other id's: never the same id twice";
}

TEST_F(GatewayFleetTest, WhileRedisIsDownPurchasesFailFastAndStreamsSayWhyThenAllResumes) {
  SmsAfter(4);
  // A 2 s window: after Redis comes back empty, each key waits one window.
  StartFleet(2, {"--poll-interval-ms", "200", "--rate-window", "2"});
  v1::AcquireNumberResponse bought;
  ASSERT_TRUE(Acquire(*fleet_[0], &bought).ok());
  ASSERT_TRUE(fleet_[0]->AwaitHealth(HealthCheckResponse::SERVING));

  // A stream opens on the other replica, then Redis dies under it.
  std::vector<std::string> codes;
  std::vector<v1::AwaitCodeEvent> events;
  grpc::Status streamed;
  std::atomic<bool> stream_open = false;
  std::thread watcher([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 90s);
    v1::AwaitCodeRequest req;
    req.set_number_id(bought.number().id());
    req.mutable_timeout()->set_seconds(60);
    auto reader = fleet_[1]->stub().AwaitCode(&ctx, req);
    v1::AwaitCodeEvent event;
    while (reader->Read(&event)) {
      stream_open = true;
      events.push_back(event);
      if (event.has_code_received()) codes.push_back(event.code_received().code());
    }
    streamed = reader->Finish();
  });
  for (int i = 0; !stream_open; ++i) {
    ASSERT_LT(i, 2000) << "the stream never opened";
    std::this_thread::sleep_for(10ms);  // bounded polling of a condition
  }
  redis_.Stop();

  for (auto& replica : fleet_) {
    EXPECT_TRUE(replica->AwaitHealth(HealthCheckResponse::NOT_SERVING));
  }
  const std::string down = fleet_[0]->Metrics();
  EXPECT_EQ(Sample(down, "ismscode_state_store_up"), 0);
  EXPECT_GT(Sample(down, "ismscode_state_store_requests_total{result=\"unavailable\"}").value_or(0),
            0);
  EXPECT_GT(Sample(down, "ismscode_state_store_requests_total{result=\"ok\"}").value_or(0), 0);
  const double purchases_before = MockAnswers("numbers.request", 200);
  const auto asked = std::chrono::steady_clock::now();
  v1::AcquireNumberResponse refused;
  const grpc::Status s = Acquire(*fleet_[0], &refused, "during-outage", /*max_wait_s=*/30);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s) << "fails fast, not after max_wait";
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(s), "STATE_UNAVAILABLE");
  EXPECT_EQ(s.error_message().find(kRedisPassword), std::string::npos);
  // Without a request id, the key's budget is what cannot be read: refused as fast.
  const auto asked_again = std::chrono::steady_clock::now();
  const grpc::Status no_id = Acquire(*fleet_[1], &refused, "", /*max_wait_s=*/30);
  EXPECT_LT(std::chrono::steady_clock::now() - asked_again, 5s);
  EXPECT_EQ(no_id.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(no_id), "STATE_UNAVAILABLE");
  EXPECT_EQ(MockAnswers("numbers.request", 200), purchases_before) << "nothing bought";

  redis_.Start();  // empty: a restart without persistence
  for (auto& replica : fleet_) {
    EXPECT_TRUE(replica->AwaitHealth(HealthCheckResponse::SERVING));
  }
  EXPECT_EQ(Sample(fleet_[0]->Metrics(), "ismscode_state_store_up"), 1);
  watcher.join();
  ASSERT_TRUE(streamed.ok()) << streamed.error_message();
  ASSERT_EQ(codes.size(), 1u) << "the open stream got its code once Redis was back";
  EXPECT_EQ(codes[0], ExpectedCode(bought.number().id()));
  bool said_why = false;
  for (const auto& e : events) {
    said_why |= e.has_waiting() &&
                e.waiting().last_upstream_error().find("STATE_UNAVAILABLE") != std::string::npos;
  }
  EXPECT_TRUE(said_why) << "a heartbeat during the outage said why the poll waited";

  // The request id that was refused buys now, once.
  v1::AcquireNumberResponse later;
  ASSERT_TRUE(Acquire(*fleet_[1], &later, "during-outage", /*max_wait_s=*/10).ok());
  EXPECT_FALSE(later.replayed());
  ASSERT_TRUE(Acquire(*fleet_[0], &later, "during-outage").ok());
  EXPECT_TRUE(later.replayed());
  EXPECT_EQ(MockAnswers("numbers.request", 200), purchases_before + 1);
  // Nothing the replicas logged carries the Redis password or the API key; the replicas
  // that had used the key saw that Redis lost its window, and waited one.
  int noticed = 0;
  for (auto& replica : fleet_) {
    EXPECT_EQ(replica->Stop(), 0);
    EXPECT_EQ(replica->log().find(kRedisPassword), std::string::npos);
    EXPECT_EQ(replica->log().find(kKey), std::string::npos);
    noticed += replica->log().find("the state store lost a key's rate window") != std::string::npos;
  }
  EXPECT_GE(noticed, 1);
}

}  // namespace
}  // namespace ismscode::gateway
