// Every row of DESIGN.md's error table, over real gRPC, with its google.rpc.Status
// details read back as any client would; and upstream faults ending in the right status.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <future>

#include "tests/server/gateway_fixture.h"

namespace ismscode::gateway {
namespace {

namespace v1 = ismscode::harness::v1;
using namespace std::chrono_literals;

class GatewayErrorsTest : public GatewayTest {
 protected:
  grpc::Status AcquireStatus(const std::string& country, const std::string& service,
                             std::chrono::milliseconds max_wait = 0ms,
                             const std::string& caller_key = "") {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    if (!caller_key.empty()) ctx.AddMetadata("x-ismscode-api-key", caller_key);
    v1::AcquireNumberRequest req;
    req.set_country(country);
    req.set_service(service);
    req.mutable_max_wait()->set_seconds(max_wait.count() / 1000);
    req.mutable_max_wait()->set_nanos(static_cast<int32_t>(max_wait.count() % 1000 * 1'000'000));
    v1::AcquireNumberResponse resp;
    return stub_->AcquireNumber(&ctx, req, &resp);
  }
  void Fault(nlohmann::ordered_json spec) { mock_.Control("POST", "faults", spec); }

  // What the status's details hold, in one string per kind.
  struct Details {
    std::string reason;
    std::map<std::string, std::string> metadata;
    std::optional<int64_t> retry_ms;
    std::vector<std::string> fields;
  };
  static Details Read(const grpc::Status& s) {
    Details d;
    const google::rpc::Status status = DetailsOf(s);
    EXPECT_EQ(status.code(), static_cast<int>(s.error_code()));
    EXPECT_EQ(status.message(), s.error_message());
    for (const auto& any : status.details()) {
      google::rpc::ErrorInfo info;
      google::rpc::RetryInfo retry;
      google::rpc::BadRequest bad;
      if (any.UnpackTo(&info)) {
        EXPECT_EQ(info.domain(), "ismscode.harness");
        d.reason = info.reason();
        d.metadata = {info.metadata().begin(), info.metadata().end()};
      } else if (any.UnpackTo(&retry)) {
        d.retry_ms = retry.retry_delay().seconds() * 1000 + retry.retry_delay().nanos() / 1000000;
      } else if (any.UnpackTo(&bad)) {
        for (const auto& v : bad.field_violations()) d.fields.push_back(v.field());
      }
    }
    return d;
  }
};

TEST_F(GatewayErrorsTest, InvalidCountryAndServiceNameTheField) {
  grpc::Status s = AcquireStatus("XX", "google");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  Details d = Read(s);
  EXPECT_EQ(d.reason, "INVALID_COUNTRY");
  EXPECT_EQ(d.fields, std::vector<std::string>{"country"});
  s = AcquireStatus("US", "no-such-service");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  d = Read(s);
  EXPECT_EQ(d.reason, "INVALID_SERVICE");
  EXPECT_EQ(d.fields, std::vector<std::string>{"service"});
}

TEST_F(GatewayErrorsTest, LocalValidationListsEveryBadField) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::AcquireNumberRequest req;
  req.set_country("usa");
  req.set_service("Google");
  req.add_fallback_countries("gb");
  v1::AcquireNumberResponse resp;
  const grpc::Status s = stub_->AcquireNumber(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const Details d = Read(s);
  EXPECT_EQ(d.reason, "INVALID_ARGUMENT");
  EXPECT_EQ(d.fields, (std::vector<std::string>{"country", "service", "fallback_countries[0]"}));
}

TEST_F(GatewayErrorsTest, UnauthorizedIsTheGatewaysMisconfiguration) {
  GatewayOptions o = DefaultOptions();
  o.upstream_key = "not-a-key-the-mock-knows";
  Restart(o);
  const grpc::Status s = AcquireStatus("US", "google", 5s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL) << "the gateway's own key is wrong";
  EXPECT_EQ(Read(s).reason, "UNAUTHORIZED");
  EXPECT_EQ(s.error_message().find("not-a-key"), std::string::npos) << "no key in errors";
  EXPECT_EQ(s.error_details().find("not-a-key"), std::string::npos);
}

TEST_F(GatewayErrorsTest, InsufficientBalanceIsNotRetried) {
  mock_.Control("PATCH", "accounts/key-alpha-0001", {{"balance", 0}});
  const grpc::Status s = AcquireStatus("US", "google", 30s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Read(s).reason, "INSUFFICIENT_BALANCE");
  const auto journal = testing::Body(mock_.Control("GET", "journal"));
  EXPECT_EQ(journal["entries"].size(), 1u) << "one purchase attempt, no retries";
}

TEST_F(GatewayErrorsTest, StockOutNamesCountryAndService) {
  const grpc::Status s = AcquireStatus("CA", "whatsapp");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const Details d = Read(s);
  EXPECT_EQ(d.reason, "NO_NUMBERS_AVAILABLE");
  EXPECT_EQ(d.metadata.at("country"), "CA");
  EXPECT_EQ(d.metadata.at("service"), "whatsapp");
}

TEST_F(GatewayErrorsTest, RateLimitCarriesRetryInfo) {
  Fault({{"kind", "rate_limit_exceeded"}, {"retry_after_seconds", 7}, {"count", 1}});
  const grpc::Status s = AcquireStatus("US", "google");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const Details d = Read(s);
  EXPECT_EQ(d.reason, "RATE_LIMIT_EXCEEDED");
  ASSERT_TRUE(d.retry_ms);
  EXPECT_EQ(*d.retry_ms, 7000);
}

TEST_F(GatewayErrorsTest, UpstreamFaultsOnPurchase) {
  struct Case {
    const char* fault;
    grpc::StatusCode code;
    const char* reason;
  };
  const Case cases[] = {
      {"http_500", grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE"},
      {"http_503", grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE"},
      {"malformed_json", grpc::StatusCode::INTERNAL, "UPSTREAM_BAD_RESPONSE"},
      // The connection dropped after the purchase went out: it may have bought a number.
      {"reset", grpc::StatusCode::DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fault);
    Fault({{"kind", c.fault}, {"endpoint", "numbers.request"}, {"count", 1}});
    const grpc::Status s = AcquireStatus("US", "google");
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_EQ(Read(s).reason, c.reason);
  }
  // A purchase that was sent and never answered: the outcome is unknown, not retried.
  Fault({{"kind", "hang"}, {"endpoint", "numbers.request"}, {"phase", "after"}, {"count", 1}});
  const grpc::Status s = AcquireStatus("US", "google", 30s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(Read(s).reason, "UPSTREAM_TIMEOUT");
  // And the gateway is fine afterwards.
  EXPECT_TRUE(AcquireStatus("US", "google").ok());
}

TEST_F(GatewayErrorsTest, UpstreamFaultsOnReads) {
  for (const char* fault : {"reset", "http_500", "hang"}) {
    SCOPED_TRACE(fault);
    Fault({{"kind", fault}, {"endpoint", "countries"}, {"count", 1}});
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ListCountriesResponse resp;
    const grpc::Status s = stub_->ListCountries(&ctx, {}, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(Read(s).reason, "UPSTREAM_UNAVAILABLE");
  }
  Fault({{"kind", "malformed_json"}, {"endpoint", "services"}, {"count", 1}});
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ListServicesResponse resp;
  const grpc::Status s = stub_->ListServices(&ctx, {}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(Read(s).reason, "UPSTREAM_BAD_RESPONSE");
}

TEST_F(GatewayErrorsTest, TransientFaultsAreRetriedWithinMaxWait) {
  Fault({{"kind", "http_503"}, {"endpoint", "numbers.request"}, {"count", 2}});
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::AcquireNumberRequest req;
  req.set_country("US");
  req.set_service("google");
  req.mutable_max_wait()->set_seconds(30);
  v1::AcquireNumberResponse resp;
  ASSERT_TRUE(stub_->AcquireNumber(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.attempts(), 3);
}

TEST_F(GatewayErrorsTest, FallbackCountriesOverGrpc) {
  mock_.Control("PATCH", "offers/GB/whatsapp", {{"stock", 0}});
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::AcquireNumberRequest req;
  req.set_country("CA");
  req.set_service("whatsapp");
  req.add_fallback_countries("GB");
  req.add_fallback_countries("US");
  v1::AcquireNumberResponse resp;
  ASSERT_TRUE(stub_->AcquireNumber(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.number().country(), "US");
  EXPECT_EQ(resp.attempts(), 3);
}

TEST_F(GatewayErrorsTest, IdempotentAcquireUnderConcurrentDuplicates) {
  Fault({{"kind", "slow"}, {"endpoint", "numbers.request"}, {"delay_seconds", 0.2}, {"count", 1}});
  constexpr int kCallers = 8;
  std::vector<v1::AcquireNumberResponse> answers(kCallers);
  std::vector<grpc::Status> statuses(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      v1::AcquireNumberRequest req;
      req.set_country("US");
      req.set_service("google");
      req.set_request_id("signup-test-17");
      statuses[i] = stub_->AcquireNumber(&ctx, req, &answers[i]);
    });
  }
  for (auto& t : callers) t.join();
  int replayed = 0;
  for (int i = 0; i < kCallers; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(answers[i].number().id(), answers[0].number().id());
    replayed += answers[i].replayed();
  }
  EXPECT_EQ(replayed, kCallers - 1);
  size_t purchases = 0;
  const auto journal = testing::Body(mock_.Control("GET", "journal"));
  for (const auto& e : journal["entries"]) purchases += e["endpoint"] == "numbers.request";
  EXPECT_EQ(purchases, 1u);
}

TEST_F(GatewayErrorsTest, NumberExpiredEndsTheStream) {
  // Reservations of 1 second (the mock's clock stays frozen; the gateway judges expiry
  // in its own clock from the upstream's Date, so it ends 1 real second from now).
  auto scenario = testing::Body(mock_.Control("GET", "scenario"));
  scenario["reservation_seconds"] = 1;
  mock_.Control("PUT", "scenario", scenario);
  mock_.Control("PATCH", "accounts/key-alpha-0001", {{"rate_limit", "off"}});
  const v1::PhoneNumber number = Acquire();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::AwaitCodeRequest req;
  req.set_number_id(number.id());
  req.mutable_timeout()->set_seconds(60);
  auto stream = stub_->AwaitCode(&ctx, req);
  v1::AwaitCodeEvent event;
  while (stream->Read(&event)) EXPECT_TRUE(event.has_waiting());
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  const Details d = Read(s);
  EXPECT_EQ(d.reason, "NUMBER_EXPIRED");
  EXPECT_EQ(d.metadata.at("number_id"), number.id());
}

TEST_F(GatewayErrorsTest, AnUpstreamThatForgetsTheNumberEndsTheStream) {
  const v1::PhoneNumber number = Acquire();
  Fault({{"kind", "number_not_found"}, {"endpoint", "numbers.sms"}, {"count", 1}});
  auto stream = OpenAwait(number.id());
  v1::AwaitCodeEvent event;
  while (stream->Read(&event)) {
  }
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Read(s).reason, "NUMBER_NOT_FOUND");
}

TEST_F(GatewayErrorsTest, ANeverAnsweringPollShowsInHeartbeatsAndTheStreamStillEnds) {
  const v1::PhoneNumber number = Acquire();
  Fault({{"kind", "hang"}, {"endpoint", "numbers.sms"}, {"count", 1}});
  auto stream = OpenAwait(number.id());
  v1::AwaitCodeEvent event;
  ReadAfterFirstPoll(*stream, event);
  ASSERT_TRUE(event.has_waiting());
  EXPECT_EQ(event.waiting().last_upstream_error().rfind("UPSTREAM_UNAVAILABLE", 0), 0u)
      << event.waiting().last_upstream_error();
  mock_.AdvanceSeconds(10);
  SkipHeartbeats(*stream, event);
  EXPECT_EQ(event.code_received().code(), ExpectedCode(number.id()));
  EXPECT_TRUE(stream->Finish().ok());
}

// ---------------------------------------------------------------------------
// The error contract: what a status says is short, readable and never another error.

bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

size_t Count(const std::string& text, const std::string& word) {
  size_t n = 0;
  for (size_t p = text.find(word); p != std::string::npos; p = text.find(word, p + 1)) ++n;
  return n;
}

TEST_F(GatewayErrorsTest, AHugeBadPatternGivesAShortInvalidArgument) {
  v1::AwaitCodeRequest req;
  req.set_number_id(Acquire().id());
  req.set_code_pattern("(" + std::string(3000, 'a'));
  AwaitStream stream = OpenAwait(req);
  v1::AwaitCodeEvent event;
  EXPECT_FALSE(stream->Read(&event));
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(Read(s).reason, "INVALID_ARGUMENT");
  EXPECT_EQ(Read(s).fields, (std::vector<std::string>{"code_pattern"}));
  EXPECT_LT(s.error_message().size(), 600u);
  EXPECT_EQ(Count(s.error_message(), "code_pattern"), 1u) << s.error_message();
}

TEST_F(GatewayErrorsTest, MessagesNameTheFieldOnceAndReadAsASentence) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::AcquireNumberRequest req;
  req.set_country("US");
  req.set_service("google");
  req.mutable_max_wait()->set_seconds(-1);
  v1::AcquireNumberResponse resp;
  const grpc::Status s = stub_->AcquireNumber(&ctx, req, &resp);
  EXPECT_EQ(s.error_message(), "invalid AcquireNumber request: max_wait must not be negative");
  for (const char* field : {"min_code_length", "timeout"}) {
    SCOPED_TRACE(field);
    const v1::PhoneNumber number = Acquire();
    grpc::ClientContext actx;
    actx.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::AwaitCodeRequest areq;
    areq.set_number_id(number.id());
    if (std::string(field) == "timeout") areq.mutable_timeout()->set_seconds(-5);
    if (std::string(field) == "min_code_length") areq.set_min_code_length(70);
    auto stream = stub_->AwaitCode(&actx, areq);
    v1::AwaitCodeEvent event;
    EXPECT_FALSE(stream->Read(&event));
    const std::string message = stream->Finish().error_message();
    EXPECT_EQ(Count(message, field), 1u) << message;
    EXPECT_EQ(Count(message, "must be must"), 0u) << message;
  }
}

TEST_F(GatewayErrorsTest, AHugeTimeoutMeansAsLongAsAllowed) {
  v1::AwaitCodeRequest req;
  req.set_number_id(Acquire().id());
  req.mutable_timeout()->set_seconds(10'000'000'000);  // valid: under 315,576,000,000 s
  AwaitStream stream = OpenAwait(req);
  v1::AwaitCodeEvent event;
  ASSERT_TRUE(stream->Read(&event)) << "not an immediate timeout";
  EXPECT_TRUE(event.has_waiting());
  stream.context->TryCancel();
  while (stream->Read(&event)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(GatewayErrorsTest, EchoedIdsAreCutOnACharacterBoundary) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::AwaitCodeRequest req;
  std::string id;
  for (int i = 0; i < 100; ++i) id += "\u00e9";  // two bytes each
  req.set_number_id("x" + id);                   // odd: a cut at an even byte count splits one
  auto stream = stub_->AwaitCode(&ctx, req);
  v1::AwaitCodeEvent event;
  EXPECT_FALSE(stream->Read(&event));
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  const Details d = Read(s);
  EXPECT_EQ(d.reason, "NUMBER_NOT_FOUND");
  ASSERT_TRUE(d.metadata.count("number_id"));
  EXPECT_TRUE(ValidUtf8(d.metadata.at("number_id")));
  EXPECT_LT(d.metadata.at("number_id").size(), id.size());
}

TEST_F(GatewayErrorsTest, TheUpstreamsOwnWordsNeverReachTheCaller) {
  // The upstream's message may echo what it was sent (a key, say): only its status and
  // error code are repeated.
  mock_.Control("PATCH", "accounts/key-alpha-0001", {{"balance", 0}});
  const grpc::Status s = AcquireStatus("US", "google");
  EXPECT_EQ(Read(s).reason, "INSUFFICIENT_BALANCE");
  EXPECT_EQ(s.error_message(), "upstream answered 402 insufficient_balance");
}

TEST_F(GatewayErrorsTest, InvalidUtf8InAStringFieldIsAnInvalidArgument) {
  // A proto3 string must be UTF-8; a client that sends other bytes gets a clear
  // INVALID_ARGUMENT, not an unexplained failure.
  for (const char* method : {"AcquireNumber", "AwaitCode"}) {
    SCOPED_TRACE(method);
    grpc::GenericStub generic(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    // Field 1 (country, number_id) = FF FE.
    const std::string bytes = "\x0a\x02\xff\xfe";
    grpc::Slice slice(bytes);
    grpc::ByteBuffer in(&slice, 1), out;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, std::string("/ismscode.harness.v1.VerificationService/") + method, {},
                      &in, &out, [&](grpc::Status s) { done.set_value(s); });
    const grpc::Status s = done.get_future().get();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_EQ(Read(s).reason, "INVALID_ARGUMENT");
    EXPECT_NE(s.error_message().find("UTF-8"), std::string::npos) << s.error_message();
  }
}

}  // namespace
}  // namespace ismscode::gateway
