// What a caller pays for, over real gRPC against the real mock: a purchase nobody waits
// for any more is never made, shutdown sends nothing new, and a replay is exact.
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <future>
#include <sstream>
#include <thread>

#include "tests/server/gateway_fixture.h"

namespace ismscode::gateway {
namespace {

namespace v1 = ismscode::harness::v1;
using namespace std::chrono_literals;

class GatewayMoneyTest : public GatewayTest {
 protected:
  int Purchases() {
    int n = 0;
    const auto journal = testing::Body(mock_.Control("GET", "journal?limit=1000"));
    for (const auto& e : journal["entries"]) n += e["endpoint"] == "numbers.request";
    return n;
  }
  // Waits (bounded) until the mock has seen `n` purchase requests.
  void AwaitPurchases(int n) {
    for (int i = 0; Purchases() < n; ++i) {
      ASSERT_LT(i, 1000) << "the mock never saw purchase " << n;
      std::this_thread::sleep_for(5ms);  // polling a condition, bounded
    }
  }
  // The sum of every series that starts with `prefix` (its labels so far).
  static double Sum(const std::string& exposition, const std::string& prefix) {
    double total = 0;
    std::istringstream lines(exposition);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(prefix, 0) == 0) total += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return total;
  }
  static v1::AcquireNumberRequest Request(const std::string& country, int max_wait_seconds = 0,
                                          const std::string& request_id = "") {
    v1::AcquireNumberRequest req;
    req.set_country(country);
    req.set_service("whatsapp");
    req.set_request_id(request_id);
    req.mutable_max_wait()->set_seconds(max_wait_seconds);
    return req;
  }
  static constexpr const char* kCancelledSeries =
      R"(ismscode_numbers_acquired_total{country="other",outcome="cancelled",service="other"})";
  static constexpr const char* kCanceledCalls =
      R"(grpc_server_handled_total{grpc_code="Canceled",grpc_method="AcquireNumber",grpc_service="ismscode.harness.v1.VerificationService",grpc_type="unary"})";
};

TEST_F(GatewayMoneyTest, CancelledAcquireNumberStopsBuying) {
  // Stock-out in CA, max_wait 30 s; the client cancels after the first attempt; stock
  // comes back.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 30s);
  v1::AcquireNumberResponse resp;
  std::promise<grpc::Status> done;
  const auto req = Request("CA", 30);
  stub_->async()->AcquireNumber(&ctx, &req, &resp, [&](grpc::Status s) { done.set_value(s); });
  AwaitPurchases(1);
  ctx.TryCancel();
  EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  AwaitMetric(kCancelledSeries, 1);
  AwaitMetric(kCanceledCalls, 1);
  // An attempt already on the wire when the cancel came is answered; after that the
  // gateway sends nothing more for this call.
  for (int i = 0;; ++i) {
    const double answered = Sum(Scrape(gateway_->metrics_port()),
                                "ismscode_upstream_requests_total{endpoint=\"numbers.request\"");
    if (answered == Purchases()) break;
    ASSERT_LT(i, 1000) << "a purchase never came back";
    std::this_thread::sleep_for(5ms);  // polling a condition, bounded
  }
  const int before = Purchases();
  mock_.Control("PATCH", "offers/CA/whatsapp", {{"stock", 5}});
  // A later call buys at once: the cancelled one is not competing for the stock.
  grpc::ClientContext later;
  later.set_deadline(std::chrono::system_clock::now() + 20s);
  ASSERT_TRUE(stub_->AcquireNumber(&later, Request("CA"), &resp).ok());
  EXPECT_EQ(Purchases(), before + 1) << "no purchase for the caller who left";
  EXPECT_EQ(testing::Body(mock_.Control("PATCH", "offers/CA/whatsapp",
                                        nlohmann::ordered_json::object()))["offer"]["stock"],
            4);
}

TEST_F(GatewayMoneyTest, ADeadlineThatPassesEndsAcquireNumberLikeACancel) {
  // The purchase is slow; the caller's deadline passes while it is on the wire.
  mock_.Control("POST", "faults",
                {{"kind", "slow"}, {"endpoint", "numbers.request"}, {"delay_seconds", 0.3}});
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 100ms);
    v1::AcquireNumberResponse resp;
    EXPECT_EQ(stub_->AcquireNumber(&ctx, Request("US", 30, "late-1"), &resp).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  AwaitMetric(
      R"(ismscode_numbers_acquired_total{country="other",outcome="cancelled",service="other"})", 1);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  v1::AcquireNumberResponse resp;
  const grpc::Status s = stub_->AcquireNumber(&ctx, Request("US", 0, "late-1"), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.replayed());
  EXPECT_EQ(Purchases(), 1);
}

TEST_F(GatewayMoneyTest, APurchaseOnTheWireWhenTheCallerLeavesIsKeptForItsRequestId) {
  mock_.Control("POST", "faults",
                {{"kind", "slow"}, {"endpoint", "numbers.request"}, {"delay_seconds", 0.3}});
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    v1::AcquireNumberResponse resp;
    std::promise<grpc::Status> done;
    const auto req = Request("US", 0, "signup-7");
    stub_->async()->AcquireNumber(&ctx, &req, &resp, [&](grpc::Status s) { done.set_value(s); });
    AwaitPurchases(1);
    ctx.TryCancel();
    EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The retry with the same id gets the number the first call paid for.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  v1::AcquireNumberResponse resp;
  ASSERT_TRUE(stub_->AcquireNumber(&ctx, Request("US", 0, "signup-7"), &resp).ok());
  EXPECT_EQ(Purchases(), 1);
  EXPECT_FALSE(resp.number().id().empty());
}

TEST_F(GatewayMoneyTest, AReplayReturnsExactlyTheFirstAnswer) {
  v1::AcquireNumberResponse first, replay;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    ASSERT_TRUE(stub_->AcquireNumber(&ctx, Request("US", 0, "same"), &first).ok());
  }
  std::this_thread::sleep_for(20ms);  // let the wall clock move: a recomputed expiry would show
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    ASSERT_TRUE(stub_->AcquireNumber(&ctx, Request("US", 0, "same"), &replay).ok());
  }
  EXPECT_TRUE(replay.replayed());
  EXPECT_EQ(replay.number().SerializeAsString(), first.number().SerializeAsString())
      << google::protobuf::util::TimeUtil::ToString(first.number().expires_at()) << " vs "
      << google::protobuf::util::TimeUtil::ToString(replay.number().expires_at());
}

TEST_F(GatewayMoneyTest, ShutdownSendsNothingNewAndEndsWithinItsGrace) {
  GatewayOptions o = DefaultOptions();
  o.rate_limit = 1;                                   // the second purchase waits for budget
  o.upstream.read_timeout = std::chrono::minutes(5);  // a stopped upstream: no answer
  Restart(o);
  mock_.Control("POST", "faults",
                {{"kind", "hang"}, {"endpoint", "numbers.request"}, {"phase", "after"}});
  // The queued purchase may wait two windows; the budget alone never refuses it.
  const auto on_wire_req = Request("US", 30), queued_req = Request("GB", 120);
  grpc::ClientContext on_wire_ctx, queued_ctx;
  v1::AcquireNumberResponse on_wire_resp, queued_resp;
  std::promise<grpc::Status> on_wire, queued;
  on_wire_ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  queued_ctx.set_deadline(std::chrono::system_clock::now() + 180s);
  stub_->async()->AcquireNumber(&on_wire_ctx, &on_wire_req, &on_wire_resp,
                                [&](grpc::Status s) { on_wire.set_value(s); });
  AwaitPurchases(1);
  stub_->async()->AcquireNumber(&queued_ctx, &queued_req, &queued_resp,
                                [&](grpc::Status s) { queued.set_value(s); });
  AwaitMetric(R"(ismscode_throttled_total{purpose="acquire",source="rate_budget"})", 1);

  gateway_->Shutdown(300ms);  // returns: the purchase on the wire was interrupted
  const grpc::Status q = queued.get_future().get();
  EXPECT_EQ(q.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(q), "SHUTTING_DOWN") << q.error_message();
  const grpc::Status w = on_wire.get_future().get();
  EXPECT_NE(ReasonOf(w), "") << "the caller on the wire got a classified answer, not a "
                                "cancelled call: "
                             << w.error_message();
  EXPECT_EQ(Purchases(), 1) << "the queued purchase was never sent";
}

}  // namespace
}  // namespace ismscode::gateway
