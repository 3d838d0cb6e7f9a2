#include "mock/request_framer.h"

#include <gtest/gtest.h>

#include <string>

namespace ismscode::mock {
namespace {

using State = RequestFramer::State;

FramingLimits SmallLimits() {
  FramingLimits l;
  l.max_head_bytes = 1024;
  l.max_headers = 8;
  l.max_body_bytes = 100;
  return l;
}

TEST(RequestFramer, FramesAContentLengthRequestFedByteByByte) {
  RequestFramer f(SmallLimits());
  const std::string wire = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  for (size_t i = 0; i + 1 < wire.size(); ++i) {
    ASSERT_EQ(f.Feed(wire.substr(i, 1)), State::kNeedMore) << "at byte " << i;
  }
  ASSERT_EQ(f.Feed(wire.substr(wire.size() - 1)), State::kComplete);
  EXPECT_EQ(f.request(), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
}

TEST(RequestFramer, JoinsAChunkedBodyAndDropsTrailersAndExpect) {
  RequestFramer f(SmallLimits());
  EXPECT_EQ(f.Feed("PUT /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"),
            State::kNeedMore);
  EXPECT_TRUE(f.TakeContinue());
  EXPECT_FALSE(f.TakeContinue()) << "100 Continue is owed once";
  EXPECT_EQ(f.Feed("3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"),
            State::kComplete);
  EXPECT_EQ(f.request(), "PUT /b HTTP/1.1\r\nContent-Length: 13\r\n\r\nabc0123456789");
}

TEST(RequestFramer, KeepsPipelinedBytesForTheNextRequest) {
  RequestFramer f(SmallLimits());
  ASSERT_EQ(f.Feed("\r\nGET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\n\nGET /3"), State::kComplete);
  EXPECT_EQ(f.request(), "GET /1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(f.Reset(), State::kComplete);
  EXPECT_EQ(f.request(), "GET /2 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(f.Reset(), State::kNeedMore);
  EXPECT_TRUE(f.started());
}

TEST(RequestFramer, LeadingZerosAndExactlyTheTrailerLimitAreFine) {
  RequestFramer f(SmallLimits());  // max_headers 8
  ASSERT_EQ(f.Feed("POST / HTTP/1.1\r\nContent-Length: 0000000000000000000000002\r\n\r\nok"),
            State::kComplete);
  EXPECT_EQ(f.request(), "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
  RequestFramer chunked(SmallLimits());
  std::string trailers;
  for (int i = 0; i < 8; ++i) trailers += "T" + std::to_string(i) + ": x\r\n";
  EXPECT_EQ(chunked.Feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "00000000000000000002\r\nok\r\n0\r\n" +
                         trailers + "\r\n"),
            State::kComplete);
  EXPECT_EQ(chunked.request(), "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
}

TEST(RequestFramer, APartialLineFedByteByByteIsFramedOnce) {
  RequestFramer f(SmallLimits());
  const std::string wire = "GET /" + std::string(900, 'a') + " HTTP/1.1\r\n\r\n";
  for (char c : wire.substr(0, wire.size() - 1))
    ASSERT_EQ(f.Feed(std::string(1, c)), State::kNeedMore);
  EXPECT_EQ(f.Feed(wire.substr(wire.size() - 1)), State::kComplete);
}

struct Refusal {
  std::string wire;
  int status;
  std::string code;
};

class RequestFramerRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(RequestFramerRefuses, WithTheRightStatus) {
  RequestFramer f(SmallLimits());
  ASSERT_EQ(f.Feed(GetParam().wire), State::kFailed);
  EXPECT_EQ(f.failure().status, GetParam().status);
  EXPECT_EQ(f.failure().code, GetParam().code);
}

std::string ManyHeaders(int n) {
  std::string s = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  return s;  // no blank line: refused before the head ends
}

INSTANTIATE_TEST_SUITE_P(
    HostileFraming, RequestFramerRefuses,
    ::testing::Values(
        Refusal{"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad_request"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400, "bad_request"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413, "payload_too_large"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413,
                "payload_too_large"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400,
                "bad_request"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                "bad_request"},
        Refusal{"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented"},
        Refusal{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" +
                    std::string(64, 'a') + "\r\n40\r\n",
                413, "payload_too_large"},
        Refusal{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 413,
                "payload_too_large"},
        Refusal{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "bad_request"},
        Refusal{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab", 400, "bad_request"},
        Refusal{ManyHeaders(9), 431, "request_header_fields_too_large"},
        Refusal{"GET / HTTP/1.1\r\nX: " + std::string(2000, 'a'), 431,
                "request_header_fields_too_large"},
        Refusal{"GET /" + std::string(9000, 'a'), 414, "uri_too_long"},
        Refusal{"GET / HTTP/2.0\r\n\r\n", 400, "bad_request"},
        Refusal{"GET  HTTP/1.1\r\n\r\n", 400, "bad_request"},
        Refusal{"GET / HTTP/1.1\r\n folded\r\n\r\n", 400, "bad_request"},
        Refusal{"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400, "bad_request"},
        Refusal{"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", 400, "bad_request"}));

}  // namespace
}  // namespace ismscode::mock
