// The gateway over real gRPC against the real mock over real HTTP. The mock's clock is
// frozen: an SMS becomes visible only when the test advances it, so no test waits for a
// simulated delay; the gateway polls every 20 ms of real time.
#include <gtest/gtest.h>

#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/server/gateway_fixture.h"

namespace ismscode::gateway {
namespace {

namespace v1 = ismscode::harness::v1;
using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

TEST_F(GatewayTest, ListsCountriesAndServices) {
  grpc::ClientContext c1, c2;
  v1::ListCountriesResponse countries;
  ASSERT_TRUE(stub_->ListCountries(&c1, {}, &countries).ok());
  ASSERT_EQ(countries.countries_size(), 3);
  EXPECT_EQ(countries.countries(1).code(), "GB");
  EXPECT_EQ(countries.countries(1).dial_prefix(), "+44");
  v1::ListServicesResponse services;
  ASSERT_TRUE(stub_->ListServices(&c2, {}, &services).ok());
  EXPECT_EQ(services.services(0), "whatsapp");
}

TEST_F(GatewayTest, AcquireThenAwaitTheCode) {
  const v1::PhoneNumber number = Acquire();
  EXPECT_EQ(number.country(), "US");
  auto stream = OpenAwait(number.id());
  v1::AwaitCodeEvent event;
  // Heartbeats first: the SMS is due 10 s of mock time after purchase.
  ReadAfterFirstPoll(*stream, event);
  ASSERT_TRUE(event.has_waiting());
  EXPECT_GE(event.waiting().polls(), 1);
  EXPECT_EQ(event.waiting().last_upstream_error(), "");
  mock_.AdvanceSeconds(10);
  SkipHeartbeats(*stream, event);
  ASSERT_TRUE(event.has_code_received());
  EXPECT_EQ(event.code_received().code(), ExpectedCode(number.id()));
  EXPECT_FALSE(stream->Read(&event)) << "the stream ends after the first code";
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GatewayTest, ExpiryIsCorrectedForTheUpstreamsClock) {
  // The mock's clock is frozen at 2026-01-01T00:00:00Z whatever today is; its Date
  // header says so. A 20-minute reservation must expire 20 minutes from our now.
  const auto before = std::chrono::system_clock::now();
  const v1::PhoneNumber number = Acquire();
  const auto after = std::chrono::system_clock::now();
  const auto expires =
      std::chrono::system_clock::time_point(std::chrono::seconds(number.expires_at().seconds()));
  EXPECT_GE(expires, before + 1200s - 1s);
  EXPECT_LE(expires, after + 1200s + 1s);
}

TEST_F(GatewayTest, ErrorsCarryTheirReason) {
  grpc::ClientContext c1;
  v1::AcquireNumberRequest bad;
  bad.set_country("usa");
  bad.set_service("google");
  v1::AcquireNumberResponse resp;
  grpc::Status s = stub_->AcquireNumber(&c1, bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ReasonOf(s), "INVALID_ARGUMENT");

  grpc::ClientContext c2;
  v1::AcquireNumberRequest out_of_stock;
  out_of_stock.set_country("CA");
  out_of_stock.set_service("whatsapp");
  s = stub_->AcquireNumber(&c2, out_of_stock, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ReasonOf(s), "NO_NUMBERS_AVAILABLE");

  auto stream = OpenAwait("num_nope");
  v1::AwaitCodeEvent event;
  EXPECT_FALSE(stream->Read(&event));
  s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(s), "NUMBER_NOT_FOUND");
}

TEST_F(GatewayTest, UpstreamTroubleShowsInHeartbeatsAndPollingCarriesOn) {
  const v1::PhoneNumber number = Acquire();
  mock_.Control("POST", "faults",
                {{"kind", "http_503"}, {"endpoint", "numbers.sms"}, {"count", 1}});
  mock_.Control("POST", "faults", {{"kind", "reset"}, {"endpoint", "numbers.sms"}, {"count", 1}});
  mock_.Control("POST", "faults",
                {{"kind", "malformed_json"}, {"endpoint", "numbers.sms"}, {"count", 1}});
  auto stream = OpenAwait(number.id());
  v1::AwaitCodeEvent event;
  std::vector<std::string> errors;
  ReadAfterFirstPoll(*stream, event);
  for (int i = 0; i < 4 && event.has_waiting(); ++i) {
    errors.push_back(event.waiting().last_upstream_error());
    if (i < 3) ASSERT_TRUE(stream->Read(&event));
  }
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].rfind("UPSTREAM_UNAVAILABLE", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind("UPSTREAM_UNAVAILABLE", 0), 0u) << errors[1];
  EXPECT_EQ(errors[2].rfind("UPSTREAM_BAD_RESPONSE", 0), 0u) << errors[2];
  EXPECT_EQ(errors[3], "");
  mock_.AdvanceSeconds(10);
  SkipHeartbeats(*stream, event);
  EXPECT_EQ(event.code_received().code(), ExpectedCode(number.id()));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GatewayTest, TimeoutEndsTheStream) {
  const v1::PhoneNumber number = Acquire();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::AwaitCodeRequest req;
  req.set_number_id(number.id());
  req.mutable_timeout()->set_nanos(200'000'000);
  auto stream = stub_->AwaitCode(&ctx, req);
  v1::AwaitCodeEvent event;
  while (stream->Read(&event)) EXPECT_TRUE(event.has_waiting());
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(ReasonOf(s), "CODE_WAIT_TIMEOUT");
}

TEST_F(GatewayTest, FollowAndReceivedAfter) {
  mock_.Control("PATCH", "offers/US/amazon",
                {{"sms",
                  {{"delay", {{"kind", "fixed"}, {"seconds", 5}}},
                   {"resends", 1},
                   {"resend_interval_seconds", 30}}}});
  const v1::PhoneNumber number = Acquire("US", "amazon");
  mock_.AdvanceSeconds(40);  // both SMS visible: at +5 s and +35 s
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::AwaitCodeRequest req;
  req.set_number_id(number.id());
  req.set_follow(true);
  req.mutable_timeout()->set_nanos(300'000'000);
  // Ignore the first SMS, as a resend flow would.
  const auto created = testing::Body(mock_.Control("GET", "numbers/" + number.id()))["number"];
  req.mutable_received_after()->set_seconds(
      std::chrono::system_clock::to_time_t(*ParseRfc3339(created["sms"][0]["due_at"])));
  auto stream = stub_->AwaitCode(&ctx, req);
  std::vector<std::string> codes;
  v1::AwaitCodeEvent event;
  while (stream->Read(&event)) {
    if (event.has_code_received()) codes.push_back(event.code_received().code());
  }
  EXPECT_TRUE(stream->Finish().ok()) << "follow ends with OK at the timeout";
  EXPECT_EQ(codes, std::vector<std::string>{ExpectedCode(number.id(), 1)});
}

TEST_F(GatewayTest, ClientCancelEndsTheStreamAndTheServerCarriesOn) {
  const v1::PhoneNumber number = Acquire();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::AwaitCodeRequest req;
  req.set_number_id(number.id());
  auto stream = stub_->AwaitCode(&ctx, req);
  v1::AwaitCodeEvent event;
  ASSERT_TRUE(stream->Read(&event));
  ctx.TryCancel();
  while (stream->Read(&event)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // Another caller can still wait on the same number and get its code.
  grpc::ClientContext again;
  again.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto second = stub_->AwaitCode(&again, req);
  ASSERT_TRUE(second->Read(&event));
  mock_.AdvanceSeconds(10);
  SkipHeartbeats(*second, event);
  EXPECT_TRUE(event.has_code_received());
  EXPECT_TRUE(second->Finish().ok());
}

TEST_F(GatewayTest, ManyWatchersShareOnePollLoop) {
  const v1::PhoneNumber number = Acquire();
  constexpr int kWatchers = 20;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::AwaitCodeEvent>>> streams;
  v1::AwaitCodeRequest req;
  req.set_number_id(number.id());
  for (int i = 0; i < kWatchers; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    streams.push_back(stub_->AwaitCode(contexts.back().get(), req));
    v1::AwaitCodeEvent first;
    ASSERT_TRUE(streams.back()->Read(&first));  // each one is registered and polling
  }
  const int64_t polls_before = testing::Body(mock_.Control("GET", "journal"))["last_seq"];
  mock_.AdvanceSeconds(10);
  for (auto& s : streams) {
    v1::AwaitCodeEvent event;
    SkipHeartbeats(*s, event);
    EXPECT_EQ(event.code_received().code(), ExpectedCode(number.id()));
    EXPECT_TRUE(s->Finish().ok());
  }
  const int64_t polls_after = testing::Body(mock_.Control("GET", "journal"))["last_seq"];
  // One loop at 20 ms, not twenty: far fewer upstream requests than watchers x polls.
  EXPECT_LT(polls_after - polls_before, 50);
}

TEST_F(GatewayTest, ShutdownEndsOpenStreams) {
  const v1::PhoneNumber number = Acquire();
  auto stream = OpenAwait(number.id());
  v1::AwaitCodeEvent event;
  ASSERT_TRUE(stream->Read(&event));
  std::thread stopper([&] { gateway_->Shutdown(); });
  while (stream->Read(&event)) {
  }
  const grpc::Status s = stream->Finish();
  stopper.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(s), "SHUTTING_DOWN");
}

TEST_F(GatewayTest, ALostSmsIsWaitedOutUntilTheResend) {
  mock_.Control("PATCH", "offers/US/google",
                {{"sms",
                  {{"delay", {{"kind", "fixed"}, {"seconds", 10}}},
                   {"loss_probability", 1},
                   {"resends", 1},
                   {"resend_interval_seconds", 30}}}});
  const v1::PhoneNumber number = Acquire();
  auto stream = OpenAwait(number.id());
  v1::AwaitCodeEvent event;
  ASSERT_TRUE(stream->Read(&event));
  // The first SMS was due at +10 s and never comes: polls after +20 s still find nothing.
  mock_.AdvanceSeconds(20);
  const int polls_at_20s = event.waiting().polls();
  while (stream->Read(&event) && event.has_waiting() &&
         event.waiting().polls() < polls_at_20s + 3) {
  }
  ASSERT_TRUE(event.has_waiting()) << "no code from a lost SMS";
  // The resend at +40 s carries the code.
  mock_.AdvanceSeconds(20);
  SkipHeartbeats(*stream, event);
  ASSERT_TRUE(event.has_code_received());
  EXPECT_EQ(event.code_received().code(), ExpectedCode(number.id(), 1));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GatewayTest, HealthIsNotServingWhileDrainingAndCallsInFlightFinish) {
  // A purchase that takes 0.3 s upstream keeps the gateway draining that long.
  mock_.Control("POST", "faults",
                {{"kind", "slow"}, {"endpoint", "numbers.request"}, {"delay_seconds", 0.3}});
  v1::AcquireNumberResponse bought;
  grpc::Status bought_status;
  std::thread buyer([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::AcquireNumberRequest req;
    req.set_country("US");
    req.set_service("google");
    bought_status = stub_->AcquireNumber(&ctx, req, &bought);
  });
  // Wait until the purchase is at the mock (the journal records it on arrival).
  for (int i = 0; testing::Body(mock_.Control("GET", "journal"))["entries"].empty(); ++i) {
    ASSERT_LT(i, 100000) << "the purchase never reached the mock";
  }
  std::thread stopper([&] { gateway_->Shutdown(); });
  auto health = grpc::health::v1::Health::NewStub(channel_);
  bool saw_not_serving = false;
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::health::v1::HealthCheckResponse resp;
    if (!health->Check(&ctx, {}, &resp).ok()) break;  // the server has stopped
    if (resp.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING) {
      saw_not_serving = true;
      break;
    }
  }
  buyer.join();
  stopper.join();
  EXPECT_TRUE(saw_not_serving);
  EXPECT_TRUE(bought_status.ok()) << "a call in flight finishes: " << bought_status.error_message();
}

TEST_F(GatewayTest, HealthAndReflectionAnswer) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(&ctx, {}, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  // Reflection lists the service (grpcurl and friends rely on it).
  const std::vector<std::string> services = ReflectedServices(channel_);
  EXPECT_NE(std::find(services.begin(), services.end(), "ismscode.harness.v1.VerificationService"),
            services.end());
  EXPECT_NE(std::find(services.begin(), services.end(), "grpc.health.v1.Health"), services.end());
}

TEST_F(GatewayTest, ListCallsAreServedFromTheCache) {
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext a, b;
    a.set_deadline(std::chrono::system_clock::now() + 10s);
    b.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::ListCountriesResponse countries;
    v1::ListServicesResponse services;
    ASSERT_TRUE(stub_->ListCountries(&a, {}, &countries).ok());
    ASSERT_TRUE(stub_->ListServices(&b, {}, &services).ok());
    EXPECT_EQ(countries.countries_size(), 3);
  }
  const auto journal = testing::Body(mock_.Control("GET", "journal"));
  EXPECT_EQ(journal["entries"].size(), 2u) << "one upstream request per list";
}

TEST_F(GatewayTest, HeartbeatsSayWhenAPollWaitsForBudget) {
  GatewayOptions o = DefaultOptions();
  o.rate_limit = 2;  // the purchase takes one; polls leave the other to purchases
  Restart(o);
  const v1::PhoneNumber number = Acquire();
  AwaitStream stream = OpenAwait(number.id());
  v1::AwaitCodeEvent event;
  ASSERT_TRUE(stream->Read(&event));
  ASSERT_TRUE(event.has_waiting());
  EXPECT_TRUE(event.waiting().waiting_for_budget());
  EXPECT_EQ(event.waiting().polls(), 0);
  EXPECT_EQ(event.waiting().last_upstream_error(), "");
  stream.context->TryCancel();
  while (stream->Read(&event)) {
  }
  stream->Finish();
}

TEST_F(GatewayTest, StrangersSmsGiveNoCodeAndTheSenderFilterPicksTheRightOne) {
  // A recycled number: a bank's code, a promotion, then the one the test waits for.
  const v1::PhoneNumber number = Acquire("US", "whatsapp");
  const std::string sms = "numbers/" + number.id() + "/sms";
  mock_.Control("POST", sms, {{"from", "MyBank"}, {"text", "Your code is 4417. Never share it."}});
  mock_.Control(
      "POST", sms,
      {{"from", "+12025550100"}, {"text", "Reply YES to 72345 to get 20% off your next order!"}});
  mock_.Control("POST", sms, {{"from", "WhatsApp"}, {"text", "Your WhatsApp code: 583-920"}});
  auto codes = [&](const std::string& sender_pattern) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::AwaitCodeRequest req;
    req.set_number_id(number.id());
    req.set_follow(true);
    req.set_sender_pattern(sender_pattern);
    req.mutable_timeout()->set_nanos(200'000'000);
    auto stream = stub_->AwaitCode(&ctx, req);
    std::vector<std::string> out;
    v1::AwaitCodeEvent event;
    while (stream->Read(&event)) {
      if (event.has_code_received()) out.push_back(event.code_received().code());
    }
    EXPECT_TRUE(stream->Finish().ok());
    return out;
  };
  EXPECT_EQ(codes(""), (std::vector<std::string>{"4417", "583920"})) << "the promotion gives none";
  EXPECT_EQ(codes("whatsapp"), (std::vector<std::string>{"583920"}));
  EXPECT_EQ(codes("^mybank$"), (std::vector<std::string>{"4417"}));
}

TEST_F(GatewayTest, ABadSenderPatternIsNamed) {
  v1::AwaitCodeRequest req;
  req.set_number_id(Acquire().id());
  req.set_sender_pattern("(What");
  AwaitStream stream = OpenAwait(req);
  v1::AwaitCodeEvent event;
  EXPECT_FALSE(stream->Read(&event));
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      s.error_message().rfind("invalid AwaitCode request: sender_pattern must be a valid RE2", 0),
      0u)
      << s.error_message();
}

TEST_F(GatewayTest, SmsSentAtIsCheckedAndNoCallersTimeOverflowsTheClocks) {
  const v1::PhoneNumber number = Acquire();
  mock_.Control("POST", "numbers/" + number.id() + "/sms",
                {{"from", "Acme"}, {"text", "Your Acme code is 4321"}});
  auto await_with = [&](int64_t seconds) {
    v1::AwaitCodeRequest req;
    req.set_number_id(number.id());
    req.mutable_timeout()->set_seconds(5);
    req.mutable_sms_sent_at()->set_seconds(seconds);
    AwaitStream stream = OpenAwait(req);
    v1::AwaitCodeEvent event;
    std::string code;
    while (stream->Read(&event)) {
      if (event.has_code_received()) code = event.code_received().code();
    }
    const grpc::Status s = stream->Finish();
    return std::pair{s, code};
  };
  // Year 1 and year 1734 are long before the purchase: taken as the purchase.
  for (int64_t seconds : {int64_t{-62'135'596'800}, int64_t{-7'500'000'000}, int64_t{0}}) {
    auto [status, code] = await_with(seconds);
    EXPECT_TRUE(status.ok()) << seconds << ": " << status.error_message();
    EXPECT_EQ(code, "4321") << seconds;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (int64_t seconds : {now + 3600, int64_t{253'402'300'799}}) {
    auto [status, code] = await_with(seconds);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << seconds;
    EXPECT_EQ(status.error_message(),
              "invalid AwaitCode request: sms_sent_at is more than a minute in the future");
  }
}

TEST_F(GatewayTest, ALateWatcherGetsACodeAlreadySeenWithoutWaitingForThePoll) {
  GatewayOptions o = DefaultOptions();
  o.poll_interval = std::chrono::minutes(10);  // no second poll during this test
  o.poll_policy = PollPolicy::kEven;           // whose first poll is at once
  Restart(o);
  const v1::PhoneNumber number = Acquire("US", "whatsapp");
  mock_.Control("POST", "numbers/" + number.id() + "/sms",
                {{"from", "WhatsApp"}, {"text", "Your WhatsApp code: 583-920"}});
  v1::AwaitCodeEvent event;
  {
    AwaitStream first = OpenAwait(number.id());
    SkipHeartbeats(*first, event);
    ASSERT_TRUE(event.has_code_received());
    EXPECT_TRUE(first->Finish().ok());
  }
  // A second test process watching the same number (its loop still runs for a watcher
  // that follows): the code comes from what the loop already saw.
  grpc::ClientContext follow_ctx;
  follow_ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::AwaitCodeRequest follow;
  follow.set_number_id(number.id());
  follow.set_follow(true);
  follow.mutable_timeout()->set_seconds(5);
  auto follower = stub_->AwaitCode(&follow_ctx, follow);
  ASSERT_TRUE(follower->Read(&event));  // the follower's own first poll
  AwaitStream late = OpenAwait(number.id());
  SkipHeartbeats(*late, event);
  ASSERT_TRUE(event.has_code_received()) << "at once, not in ten minutes";
  EXPECT_EQ(event.code_received().code(), "583920");
  EXPECT_TRUE(late->Finish().ok());
  follow_ctx.TryCancel();
  while (follower->Read(&event)) {
  }
  follower->Finish();
}

}  // namespace
}  // namespace ismscode::gateway
