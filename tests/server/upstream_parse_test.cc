#include "server/upstream_parse.h"

#include <gtest/gtest.h>

#include "common/time_format.h"

namespace ismscode::gateway {
namespace {

TEST(UpstreamParse, ReadsTheDocumentedShapes) {
  auto countries = ParseCountries(
      R"({"status":"success","countries":[{"code":"US","name":"United States","prefix":"+1"}]})");
  ASSERT_TRUE(countries.ok()) << countries.status();
  ASSERT_EQ(countries->size(), 1u);
  EXPECT_EQ((*countries)[0].prefix, "+1");

  auto number = ParseNumber(
      R"({"status":"success","number":{"id":"num_1","phone":"+12125550100","country":"US",)"
      R"("service":"whatsapp","expires_at":"2026-03-21T20:15:00Z"}})");
  ASSERT_TRUE(number.ok()) << number.status();
  EXPECT_EQ(FormatRfc3339(number->expires_at), "2026-03-21T20:15:00Z");

  auto sms = ParseSmsList(R"({"status":"success","sms":[{"from":"WhatsApp","text":"code 123456",)"
                          R"("received_at":"2026-03-21T20:01:00Z"}]})");
  ASSERT_TRUE(sms.ok()) << sms.status();
  EXPECT_EQ((*sms)[0].text, "code 123456");
}

TEST(UpstreamParse, OtherShapesAreInvalidAndNeverEchoed) {
  const std::string secret = "sk_live_do_not_echo";
  for (const std::string& body :
       {"not json " + secret, R"({"status":"error","message":")" + secret + "\"}",
        R"({"status":"success","sms":[{"from":")" + secret + R"(","received_at":"never"}]})",
        std::string(R"({"status":"success","number":[]})"), std::string(R"([1,2,3])"),
        std::string(R"({"status":"success","services":[1]})"), std::string("1e999")}) {
    for (const absl::Status& status :
         {ParseSmsList(body).status(), ParseNumber(body).status(), ParseServices(body).status()}) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << body;
      EXPECT_EQ(std::string(status.message()).find(secret), std::string::npos) << status;
    }
  }
}

TEST(UpstreamParse, ErrorCodesOnlyOfTheDocumentedShape) {
  EXPECT_EQ(ParseErrorCode(R"({"code":"no_numbers_available"})"), "no_numbers_available");
  EXPECT_EQ(ParseErrorCode(R"({"code":"Bearer sk_live_123"})"), "");
  EXPECT_EQ(ParseErrorCode(R"({"code":")" + std::string(41, 'a') + "\"}"), "");
  EXPECT_EQ(ParseErrorCode("<html>"), "");
}

TEST(UpstreamParse, RetryAfterInSecondsOrAsADate) {
  EXPECT_EQ(ParseRetryAfter("7", std::nullopt), std::chrono::seconds(7));
  EXPECT_EQ(ParseRetryAfter("99999999999", std::nullopt), std::chrono::hours(24));
  EXPECT_EQ(ParseRetryAfter("88884", std::nullopt), std::chrono::hours(24));  // fuzzer's find
  const auto date = ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:50:07 GMT", date), std::chrono::seconds(30));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:00 GMT", date), std::chrono::seconds(0));
  EXPECT_EQ(ParseRetryAfter("soon", date), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("", date), std::nullopt);
}

}  // namespace
}  // namespace ismscode::gateway
