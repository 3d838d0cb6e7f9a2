// Who may call the gateway and how: caller tokens, per-call upstream keys with their own
// budget, TLS on the gRPC port, an HTTPS upstream; and the metrics a known workload
// leaves behind, scraped over real HTTP.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/server/gateway_fixture.h"
#include "tests/support/tls_cert.h"

namespace ismscode::gateway {
namespace {

namespace v1 = ismscode::harness::v1;
using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

grpc::Status ListCountries(v1::VerificationService::Stub& stub,
                           const std::vector<std::pair<std::string, std::string>>& metadata) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  for (const auto& [k, v] : metadata) ctx.AddMetadata(k, v);
  v1::ListCountriesResponse resp;
  return stub.ListCountries(&ctx, {}, &resp);
}

class GatewayAccessTest : public GatewayTest {
 protected:
  grpc::Status AcquireWith(const std::vector<std::pair<std::string, std::string>>& metadata,
                           v1::AcquireNumberResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    for (const auto& [k, v] : metadata) ctx.AddMetadata(k, v);
    v1::AcquireNumberRequest req;
    req.set_country("US");
    req.set_service("google");
    return stub_->AcquireNumber(&ctx, req, resp);
  }
  double Balance(const std::string& key) {
    return testing::Body(mock_.Control("GET", "accounts/" + key))["account"]["balance"];
  }
};

TEST_F(GatewayAccessTest, CallerTokensAreRequiredWhenConfigured) {
  GatewayOptions o = DefaultOptions();
  o.caller_tokens = {"tok-first-1111", "tok-second-2222"};
  Restart(o);
  grpc::Status s = ListCountries(*stub_, {});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ReasonOf(s), "UNAUTHENTICATED");
  s = ListCountries(*stub_, {{"authorization", "Bearer tok-first-1112"}});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message().find("tok-"), std::string::npos) << "no token in errors";
  s = ListCountries(*stub_, {{"authorization", "tok-first-1111"}});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "the Bearer scheme is needed";
  EXPECT_TRUE(ListCountries(*stub_, {{"authorization", "Bearer tok-second-2222"}}).ok());

  v1::AcquireNumberResponse resp;
  EXPECT_EQ(AcquireWith({}, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(AcquireWith({{"authorization", "Bearer tok-first-1111"}}, &resp).ok());
  auto stream = OpenAwait(resp.number().id());
  v1::AwaitCodeEvent event;
  EXPECT_FALSE(stream->Read(&event));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Health probes need no token.
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext hctx;
  hctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::health::v1::HealthCheckResponse hresp;
  EXPECT_TRUE(health->Check(&hctx, {}, &hresp).ok());
  // And no token reached the metrics.
  const std::string scrape = Scrape(gateway_->metrics_port());
  EXPECT_EQ(scrape.find("tok-"), std::string::npos);
  EXPECT_EQ(Sample(scrape,
                   "grpc_server_handled_total{grpc_code=\"Unauthenticated\",grpc_method="
                   "\"ListCountries\",grpc_service=\"ismscode.harness.v1.VerificationService\","
                   "grpc_type=\"unary\"}"),
            3);
}

TEST_F(GatewayAccessTest, CallerKeysAreRefusedUnlessAllowed) {
  v1::AcquireNumberResponse resp;
  const grpc::Status s = AcquireWith({{"x-ismscode-api-key", "key-bravo-0002"}}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ReasonOf(s), "CALLER_KEY_NOT_ALLOWED");
  EXPECT_EQ(s.error_message().find("bravo"), std::string::npos);
  EXPECT_DOUBLE_EQ(Balance("key-bravo-0002"), 10.0) << "nothing bought";
}

TEST_F(GatewayAccessTest, CallerKeysBuyAndPollOnTheirOwnAccount) {
  GatewayOptions o = DefaultOptions();
  o.allow_caller_keys = true;
  Restart(o);
  mock_.Control("PATCH", "accounts/key-bravo-0002", {{"rate_limit", "off"}});
  const std::vector<std::pair<std::string, std::string>> bravo = {
      {"x-ismscode-api-key", "key-bravo-0002"}};
  const double before = Balance("key-bravo-0002");
  v1::AcquireNumberResponse theirs, refused;
  ASSERT_TRUE(AcquireWith(bravo, &theirs).ok());
  EXPECT_LT(Balance("key-bravo-0002"), before) << "bought on the caller's account";

  // The caller's number is invisible to other keys...
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::AwaitCodeRequest req;
    req.set_number_id(theirs.number().id());
    auto stream = stub_->AwaitCode(&ctx, req);
    v1::AwaitCodeEvent event;
    EXPECT_FALSE(stream->Read(&event));
    EXPECT_EQ(ReasonOf(stream->Finish()), "NUMBER_NOT_FOUND");
  }
  // ...and its own key polls it.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  ctx.AddMetadata("x-ismscode-api-key", "key-bravo-0002");
  v1::AwaitCodeRequest req;
  req.set_number_id(theirs.number().id());
  auto stream = stub_->AwaitCode(&ctx, req);
  v1::AwaitCodeEvent event;
  ASSERT_TRUE(stream->Read(&event));
  mock_.AdvanceSeconds(10);
  SkipHeartbeats(*stream, event);
  EXPECT_EQ(event.code_received().code(), ExpectedCode(theirs.number().id()));
  EXPECT_TRUE(stream->Finish().ok());

  // A caller key the upstream refuses is the caller's problem: UNAUTHENTICATED.
  const grpc::Status s = AcquireWith({{"x-ismscode-api-key", "key-nobody-9999"}}, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ReasonOf(s), "UNAUTHORIZED");
  EXPECT_EQ(s.error_message().find("nobody"), std::string::npos) << "no key in errors";
  const std::string scrape = Scrape(gateway_->metrics_port());
  EXPECT_EQ(scrape.find("key-"), std::string::npos) << "no key in metrics";
}

TEST_F(GatewayAccessTest, CallerKeysHaveTheirOwnRateBudget) {
  GatewayOptions o = DefaultOptions();
  o.allow_caller_keys = true;
  o.rate_limit = 1;  // one request a minute, per key
  Restart(o);
  mock_.Control("PATCH", "accounts/key-bravo-0002", {{"rate_limit", "off"}});
  v1::AcquireNumberResponse ours, again, theirs;
  ASSERT_TRUE(AcquireWith({}, &ours).ok());
  const grpc::Status spent = AcquireWith({}, &again);
  EXPECT_EQ(ReasonOf(spent), "RATE_LIMIT_EXCEEDED") << "the gateway's key has spent its budget";
  EXPECT_TRUE(AcquireWith({{"x-ismscode-api-key", "key-bravo-0002"}}, &theirs).ok())
      << "the caller's key has its own";
}

TEST_F(GatewayAccessTest, TlsOnTheGrpcPort) {
  testing::SelfSignedCert cert;
  GatewayOptions o = DefaultOptions();
  o.tls_cert_chain = ReadFile(cert.cert_file());
  o.tls_private_key = ReadFile(cert.key_file());
  grpc::SslCredentialsOptions trust;
  trust.pem_root_certs = o.tls_cert_chain;
  Restart(o, grpc::SslCredentials(trust));
  const v1::PhoneNumber number = Acquire();
  EXPECT_FALSE(number.id().empty());
  // A plaintext client cannot talk to it.
  auto plain = v1::VerificationService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(gateway_->port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::ListCountriesResponse resp;
  EXPECT_FALSE(plain->ListCountries(&ctx, {}, &resp).ok());
}

TEST_F(GatewayAccessTest, TlsNeedsBothHalves) {
  GatewayOptions o = DefaultOptions();
  o.tls_cert_chain = "-----BEGIN CERTIFICATE-----";
  auto started = Gateway::Start(o);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(started.status().message().find("private key"), std::string::npos) << started.status();
}

TEST_F(GatewayAccessTest, HttpsUpstream) {
  testing::SelfSignedCert cert;
  testing::MockFixture https_mock(
      testing::TestScenario(), testing::FrozenOptions(),
      {.tls_cert_file = cert.cert_file(), .tls_key_file = cert.key_file()});
  https_mock.Control("PATCH", "accounts/key-alpha-0001", {{"rate_limit", "off"}});
  GatewayOptions o = DefaultOptions();
  o.upstream.base_url = "https://localhost:" + std::to_string(https_mock.port()) + "/api/v3";
  o.upstream.ca_file = cert.cert_file();
  Restart(o);
  const v1::PhoneNumber number = Acquire();
  ASSERT_FALSE(number.id().empty());
  auto stream = OpenAwait(number.id());
  v1::AwaitCodeEvent event;
  ASSERT_TRUE(stream->Read(&event));
  https_mock.AdvanceSeconds(10);
  SkipHeartbeats(*stream, event);
  ASSERT_TRUE(event.has_code_received());
  EXPECT_TRUE(stream->Finish().ok());

  // Without the CA, the system store does not trust the test certificate.
  o.upstream.ca_file.clear();
  Restart(o);
  grpc::ClientContext c2;
  v1::AcquireNumberRequest r;
  r.set_country("US");
  r.set_service("google");
  v1::AcquireNumberResponse resp;
  EXPECT_EQ(ReasonOf(stub_->AcquireNumber(&c2, r, &resp)), "UPSTREAM_UNAVAILABLE");
}

TEST_F(GatewayAccessTest, MetricsAfterAKnownWorkload) {
  // Labels name only what the upstream listed: the gateway fetches its lists at start.
  GatewayOptions o = DefaultOptions();
  o.prefetch_lists = true;
  Restart(o);
  for (int i = 0; i < 500; ++i) {
    const std::string m = Scrape(gateway_->metrics_port());
    if (Sample(m, R"(ismscode_upstream_requests_total{endpoint="countries",outcome="ok"})") &&
        Sample(m, R"(ismscode_upstream_requests_total{endpoint="services",outcome="ok"})")) {
      break;
    }
    ASSERT_LT(i, 499) << "the gateway never fetched its lists";
    std::this_thread::sleep_for(10ms);  // polling a condition, bounded
  }
  // Two purchases, one invalid request, one stock-out; one code, one timeout.
  const v1::PhoneNumber first = Acquire();
  const v1::PhoneNumber second = Acquire();
  v1::AcquireNumberResponse resp;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::AcquireNumberRequest req;
    req.set_country("usa");
    req.set_service("google");
    EXPECT_FALSE(stub_->AcquireNumber(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::AcquireNumberRequest req;
    req.set_country("CA");
    req.set_service("whatsapp");
    EXPECT_FALSE(stub_->AcquireNumber(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::AwaitCodeRequest req;
    req.set_number_id(first.id());
    auto stream = stub_->AwaitCode(&ctx, req);
    v1::AwaitCodeEvent event;
    ASSERT_TRUE(stream->Read(&event));
    mock_.AdvanceSeconds(10);
    SkipHeartbeats(*stream, event);
    ASSERT_TRUE(event.has_code_received());
    ASSERT_TRUE(stream->Finish().ok());
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::AwaitCodeRequest req;
    req.set_number_id(second.id());
    req.set_code_pattern("NEVER-(\\d+)");
    req.mutable_timeout()->set_nanos(100'000'000);
    auto stream = stub_->AwaitCode(&ctx, req);
    v1::AwaitCodeEvent event;
    while (stream->Read(&event)) {
    }
    ASSERT_EQ(ReasonOf(stream->Finish()), "CODE_WAIT_TIMEOUT");
  }
  // A method nobody serves must not become a label.
  {
    grpc::GenericStub generic(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Slice empty("");
    grpc::ByteBuffer in(&empty, 1), out;
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    generic.UnaryCall(&ctx, "/evil.Service/Explode" + std::string(200, 'x'), {}, &in, &out,
                      [&](grpc::Status s) {
                        std::lock_guard lock(m);
                        status = s;
                        done = true;
                        cv.notify_one();
                      });
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return done; });
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }

  const std::string m = Scrape(gateway_->metrics_port());
  const std::string svc = "grpc_service=\"ismscode.harness.v1.VerificationService\"";
  auto grpc_series = [&](const std::string& name, const std::string& method,
                         const std::string& type, const std::string& code = "") {
    return name + "{" + (code.empty() ? "" : "grpc_code=\"" + code + "\",") + "grpc_method=\"" +
           method + "\"," + svc + ",grpc_type=\"" + type + "\"}";
  };
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_started_total", "AcquireNumber", "unary")), 4);
  // Series of methods and codes not seen yet exist at zero, for dashboards.
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_started_total", "ListServices", "unary")), 0);
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_handled_total", "AwaitCode", "server_stream",
                                  "Unavailable")),
            0);
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_handled_total", "AcquireNumber", "unary", "OK")), 2);
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_handled_total", "AcquireNumber", "unary",
                                  "InvalidArgument")),
            1);
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_handled_total", "AcquireNumber", "unary",
                                  "ResourceExhausted")),
            1);
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_handling_seconds_count", "AcquireNumber", "unary")),
            4);
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_started_total", "AwaitCode", "server_stream")), 2);
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_handled_total", "AwaitCode", "server_stream", "OK")),
            1);
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_handled_total", "AwaitCode", "server_stream",
                                  "DeadlineExceeded")),
            1);
  EXPECT_GE(Sample(m, grpc_series("grpc_server_msg_sent_total", "AwaitCode", "server_stream"))
                .value_or(0),
            3);
  EXPECT_EQ(Sample(m, grpc_series("grpc_server_msg_received_total", "AcquireNumber", "unary")), 4);

  EXPECT_EQ(
      Sample(m, R"(ismscode_numbers_acquired_total{country="US",outcome="ok",service="google"})"),
      2);
  EXPECT_EQ(
      Sample(
          m,
          R"(ismscode_numbers_acquired_total{country="other",outcome="INVALID_ARGUMENT",service="other"})"),
      1);
  EXPECT_EQ(
      Sample(
          m,
          R"(ismscode_numbers_acquired_total{country="CA",outcome="NO_NUMBERS_AVAILABLE",service="whatsapp"})"),
      1);
  EXPECT_EQ(Sample(m, R"(ismscode_verifications_total{outcome="code_received",service="google"})"),
            1);
  EXPECT_EQ(Sample(m, R"(ismscode_verifications_total{outcome="timeout",service="google"})"), 1);
  // Series that start at zero, so a first event counts in rate(): every outcome of a
  // service the upstream listed, every throttling source and purpose.
  EXPECT_EQ(Sample(m, R"(ismscode_verifications_total{outcome="expired",service="google"})"), 0);
  EXPECT_EQ(
      Sample(m, R"(ismscode_verifications_total{outcome="shutting_down",service="whatsapp"})"), 0);
  EXPECT_EQ(Sample(m, R"(ismscode_throttled_total{purpose="list",source="upstream_429"})"), 0);
  EXPECT_EQ(Sample(m, R"(ismscode_time_to_code_seconds_count{service="google"})"), 1);
  EXPECT_EQ(Sample(m, "ismscode_awaits_in_flight"), 0);
  EXPECT_EQ(
      Sample(m, R"(ismscode_upstream_requests_total{endpoint="numbers.request",outcome="ok"})"), 2);
  EXPECT_EQ(
      Sample(
          m,
          R"(ismscode_upstream_requests_total{endpoint="numbers.request",outcome="NO_NUMBERS_AVAILABLE"})"),
      1);
  EXPECT_GE(Sample(m, R"(ismscode_upstream_requests_total{endpoint="numbers.sms",outcome="ok"})")
                .value_or(0),
            2);
  EXPECT_EQ(
      Sample(m, R"(ismscode_upstream_request_duration_seconds_count{endpoint="numbers.request"})"),
      3);

  // No secret, no phone number, no id, no caller-chosen method name.
  EXPECT_EQ(m.find("key-alpha"), std::string::npos);
  EXPECT_EQ(m.find(first.id()), std::string::npos);
  EXPECT_EQ(m.find(first.phone().substr(1)), std::string::npos);
  EXPECT_EQ(m.find("evil"), std::string::npos);
}

TEST_F(GatewayAccessTest, ANumberIdTheUpstreamReissuesInheritsNothing) {
  // The upstream restarts (the mock's reset replays its seed) and sells the same id to
  // another key: the new owner may watch it, the old one may not.
  GatewayOptions o = DefaultOptions();
  o.allow_caller_keys = true;
  Restart(o);
  v1::AcquireNumberResponse ours, theirs;
  ASSERT_TRUE(AcquireWith({}, &ours).ok());
  mock_.Control("POST", "reset");
  mock_.Control("PATCH", "accounts/key-bravo-0002", {{"rate_limit", "off"}});
  ASSERT_TRUE(AcquireWith({{"x-ismscode-api-key", "key-bravo-0002"}}, &theirs).ok());
  ASSERT_EQ(theirs.number().id(), ours.number().id()) << "the same id, re-issued";
  EXPECT_FALSE(theirs.replayed());
  auto first_event = [&](const std::vector<std::pair<std::string, std::string>>& metadata) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    for (const auto& [k, v] : metadata) ctx.AddMetadata(k, v);
    v1::AwaitCodeRequest req;
    req.set_number_id(theirs.number().id());
    req.mutable_timeout()->set_nanos(100'000'000);
    auto stream = stub_->AwaitCode(&ctx, req);
    v1::AwaitCodeEvent event;
    while (stream->Read(&event)) {
    }
    return ReasonOf(stream->Finish());
  };
  EXPECT_EQ(first_event({{"x-ismscode-api-key", "key-bravo-0002"}}), "CODE_WAIT_TIMEOUT")
      << "the new owner watches it";
  EXPECT_EQ(first_event({}), "NUMBER_NOT_FOUND") << "the old owner's key no longer sees it";
}

}  // namespace
}  // namespace ismscode::gateway
