// Conversions between the contract's well-known types and std::chrono.
#include "server/proto_time.h"

#include <gtest/gtest.h>

namespace ismscode::gateway {
namespace {

TEST(ProtoTime, TimestampsRoundTrip) {
  const SystemTime t =
      SystemTime(std::chrono::seconds(1'800'000'000)) + std::chrono::microseconds(5);
  EXPECT_EQ(FromProto(ToProto(t)), t);
}

TEST(ProtoTime, ACallersFarTimestampIsClampedNotOverflowed) {
  // Year 9999 is a valid Timestamp but past what 64-bit nanoseconds hold (2262).
  google::protobuf::Timestamp far;
  far.set_seconds(253'402'300'799);
  EXPECT_GT(FromProto(far), SystemTime(std::chrono::seconds(8'000'000'000)));
  google::protobuf::Timestamp early;
  early.set_seconds(-62'135'596'800);  // year 1
  EXPECT_LT(FromProto(early), SystemTime(std::chrono::seconds(-8'000'000'000)));
}

}  // namespace
}  // namespace ismscode::gateway
