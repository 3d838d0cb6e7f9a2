#include "server/errors.h"

#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace ismscode::gateway {
namespace {

google::rpc::Status Details(const grpc::Status& s) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(s.error_details()));
  return details;
}

TEST(Errors, EveryRowOfTheTable) {
  const std::pair<Reason, grpc::StatusCode> rows[] = {
      {Reason::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {Reason::kInvalidCountry, grpc::StatusCode::INVALID_ARGUMENT},
      {Reason::kInvalidService, grpc::StatusCode::INVALID_ARGUMENT},
      {Reason::kInsufficientBalance, grpc::StatusCode::FAILED_PRECONDITION},
      {Reason::kNoNumbersAvailable, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {Reason::kRateLimitExceeded, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {Reason::kUpstreamUnavailable, grpc::StatusCode::UNAVAILABLE},
      {Reason::kUpstreamTimeout, grpc::StatusCode::DEADLINE_EXCEEDED},
      {Reason::kUpstreamBadResponse, grpc::StatusCode::INTERNAL},
      {Reason::kNumberNotFound, grpc::StatusCode::NOT_FOUND},
      {Reason::kCodeWaitTimeout, grpc::StatusCode::DEADLINE_EXCEEDED},
      {Reason::kNumberExpired, grpc::StatusCode::DEADLINE_EXCEEDED},
      {Reason::kShuttingDown, grpc::StatusCode::UNAVAILABLE},
      {Reason::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
      {Reason::kCallerKeyNotAllowed, grpc::StatusCode::PERMISSION_DENIED},
      {Reason::kStateUnavailable, grpc::StatusCode::UNAVAILABLE},
  };
  std::set<std::string_view> names;
  for (const auto& [reason, code] : rows) {
    EXPECT_EQ(CodeFor(reason, KeyOwner::kCaller), code) << ReasonName(reason);
    names.insert(ReasonName(reason));
    EXPECT_EQ(ReasonNamed(ReasonName(reason)), reason) << "the name reads back";
  }
  EXPECT_EQ(ReasonNamed("NO_SUCH_REASON"), std::nullopt);
  EXPECT_EQ(names.size(), std::size(rows)) << "every reason has its own name";
  EXPECT_EQ(CodeFor(Reason::kUnauthorized, KeyOwner::kCaller), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CodeFor(Reason::kUnauthorized, KeyOwner::kGateway), grpc::StatusCode::INTERNAL);
}

TEST(Errors, UpstreamAnswersAreClassified) {
  EXPECT_EQ(ReasonForUpstream(400, "invalid_country"), Reason::kInvalidCountry);
  EXPECT_EQ(ReasonForUpstream(400, "invalid_service"), Reason::kInvalidService);
  EXPECT_EQ(ReasonForUpstream(400, "invalid_json"), Reason::kUpstreamBadResponse);
  EXPECT_EQ(ReasonForUpstream(401, "unauthorized"), Reason::kUnauthorized);
  EXPECT_EQ(ReasonForUpstream(402, "insufficient_balance"), Reason::kInsufficientBalance);
  EXPECT_EQ(ReasonForUpstream(404, "no_numbers_available"), Reason::kNoNumbersAvailable);
  EXPECT_EQ(ReasonForUpstream(404, "number_not_found"), Reason::kNumberNotFound);
  EXPECT_EQ(ReasonForUpstream(404, ""), Reason::kUpstreamBadResponse);
  EXPECT_EQ(ReasonForUpstream(429, "rate_limit_exceeded"), Reason::kRateLimitExceeded);
  EXPECT_EQ(ReasonForUpstream(500, ""), Reason::kUpstreamUnavailable);
  EXPECT_EQ(ReasonForUpstream(503, "service_unavailable"), Reason::kUpstreamUnavailable);
}

TEST(Errors, DetailsTravelAsGoogleRpcStatus) {
  const GatewayError e{.reason = Reason::kRateLimitExceeded,
                       .message = "upstream rate limit; retry in 2.5 s",
                       .metadata = {{"country", "US"}, {"service", "whatsapp"}},
                       .retry_after = std::chrono::milliseconds(2500),
                       .field_violations = {{"country", "unknown country 'XX'"}}};
  const grpc::Status s = e.ToStatus();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "upstream rate limit; retry in 2.5 s");
  const google::rpc::Status details = Details(s);
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  ASSERT_EQ(details.details_size(), 3);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(details.details(0).type_url(), "type.googleapis.com/google.rpc.ErrorInfo");
  EXPECT_EQ(info.reason(), "RATE_LIMIT_EXCEEDED");
  EXPECT_EQ(info.domain(), "ismscode.harness");
  EXPECT_EQ(info.metadata().at("country"), "US");
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(details.details(1).UnpackTo(&retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 2);
  EXPECT_EQ(retry.retry_delay().nanos(), 500'000'000);
  google::rpc::BadRequest bad;
  ASSERT_TRUE(details.details(2).UnpackTo(&bad));
  EXPECT_EQ(bad.field_violations(0).field(), "country");
}

TEST(Errors, OnlyErrorInfoWhenNothingElseApplies) {
  const grpc::Status s =
      GatewayError{.reason = Reason::kNumberNotFound, .message = "no such number"}.ToStatus();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Details(s).details_size(), 1);
}

}  // namespace
}  // namespace ismscode::gateway
