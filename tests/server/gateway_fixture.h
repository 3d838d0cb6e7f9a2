#pragma once

// What the gateway suites share: an in-process gateway in front of the real mock (frozen
// clock), a channel to it, and readers for error details, streams and metrics.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "ismscode/harness/v1/verification.grpc.pb.h"
#include "server/gateway.h"
#include "tests/support/mock_fixture.h"

namespace ismscode::gateway {

// The google.rpc.Status a failed call carries in its trailer.
google::rpc::Status DetailsOf(const grpc::Status& s);
// The ErrorInfo reason ("" when there is none).
std::string ReasonOf(const grpc::Status& s);

// Lists services through server reflection, as grpcurl does, with a generic call (the
// reflection stubs are not installed by Debian's gRPC).
std::vector<std::string> ReflectedServices(const std::shared_ptr<grpc::Channel>& channel);

// Reads past the heartbeats; `event` is then the first other event (or the last read).
void SkipHeartbeats(grpc::ClientReader<harness::v1::AwaitCodeEvent>& stream,
                    harness::v1::AwaitCodeEvent& event);
// Reads the first event after the number's first poll: skips the heartbeat that a fresh
// loop sends while its first poll waits for the interval after the purchase (none comes
// when the stream opened later than that).
void ReadAfterFirstPoll(grpc::ClientReader<harness::v1::AwaitCodeEvent>& stream,
                        harness::v1::AwaitCodeEvent& event);

// One sample's value from Prometheus text: `series` is the name with its labels exactly
// as exposed, e.g. ismscode_awaits_in_flight or
// grpc_server_started_total{grpc_method="AcquireNumber",grpc_service="...",grpc_type="unary"}.
std::optional<double> Sample(const std::string& exposition, const std::string& series);
// GET /metrics from 127.0.0.1:`port` over real HTTP.
std::string Scrape(int port);

// An AwaitCode call and the context it lives in: reads like the reader it wraps.
struct AwaitStream {
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReader<harness::v1::AwaitCodeEvent>> reader;
  grpc::ClientReader<harness::v1::AwaitCodeEvent>* operator->() { return reader.get(); }
  grpc::ClientReader<harness::v1::AwaitCodeEvent>& operator*() { return *reader; }
};

class GatewayTest : public ::testing::Test {
 protected:
  GatewayTest();

  // The options every test starts with: the mock's key-alpha-0001 (rate limit off),
  // polls every 20 ms, metrics on port 0, no list prefetch.
  GatewayOptions DefaultOptions() const;
  // Replaces the running gateway (and the channel) with one started with `options`.
  void Restart(
      const GatewayOptions& options,
      std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials());

  harness::v1::PhoneNumber Acquire(const std::string& country = "US",
                                   const std::string& service = "google");
  // AwaitCode on `number_id` with the request's defaults, or with `request`.
  AwaitStream OpenAwait(const std::string& number_id);
  AwaitStream OpenAwait(const harness::v1::AwaitCodeRequest& request);
  // Waits (bounded) until the gateway's /metrics shows `series` at `value`.
  void AwaitMetric(const std::string& series, double value);
  // The code the mock put in the number's SMS number `index`.
  std::string ExpectedCode(const std::string& id, size_t index = 0);

  testing::MockFixture mock_;
  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<harness::v1::VerificationService::Stub> stub_;
};

}  // namespace ismscode::gateway
