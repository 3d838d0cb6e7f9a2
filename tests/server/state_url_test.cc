// --state: the forms a user may write, and what is refused with what message.
#include "server/state_url.h"

#include <gtest/gtest.h>

namespace ismscode::gateway {
namespace {

TEST(StateUrl, TcpWithItsDefaults) {
  auto url = ParseStateUrl("redis://redis.internal");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "redis.internal");
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(url->db, 0);
  EXPECT_EQ(Describe(*url), "redis redis.internal:6379 db 0");
  url = ParseStateUrl("redis://10.0.0.7:6380/2");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 2);
  url = ParseStateUrl("redis://[::1]:7000");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(Describe(*url), "redis [::1]:7000 db 0");
}

TEST(StateUrl, UnixSocket) {
  auto url = ParseStateUrl("unix:///run/redis/redis.sock?db=3");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->unix_path, "/run/redis/redis.sock");
  EXPECT_TRUE(url->host.empty());
  EXPECT_EQ(url->db, 3);
  EXPECT_EQ(Describe(*url), "redis unix:/run/redis/redis.sock db 3");
}

TEST(StateUrl, MistakesSayWhatIsWrongAndTheForms) {
  for (const char* bad :
       {"", "redis:/host", "http://host", "redis://", "redis://:6379", "redis://host:0",
        "redis://host:65536", "redis://host:port", "redis://host/x", "redis://host/-1",
        "redis://[::1", "unix://relative.sock", "unix:///s.sock?database=1", "rediss://host",
        "redis://host?db=1", "redis://ho st", "redis://host#x", "redis://h%40x"}) {
    auto url = ParseStateUrl(bad);
    ASSERT_FALSE(url.ok()) << bad;
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(url.status().message().find("--state: "), std::string_view::npos) << bad;
    EXPECT_NE(url.status().message().find("redis://HOST[:PORT][/DB]"), std::string_view::npos)
        << bad;
  }
}

TEST(StateUrl, APasswordInTheUrlIsRefusedAndNotRepeated) {
  for (const char* secret : {"redis://:hunter2@host:6379", "redis://admin:hunter2@host",
                             "redis://host?password=hunter2", "redis://host:6379?auth=hunter2"}) {
    auto url = ParseStateUrl(secret);
    ASSERT_FALSE(url.ok());
    EXPECT_EQ(url.status().message().find("hunter2"), std::string_view::npos)
        << url.status().message();
    EXPECT_NE(url.status().message().find("--state-password-file"), std::string_view::npos);
    EXPECT_EQ(url.status().message().find("password="), std::string_view::npos);
  }
}

}  // namespace
}  // namespace ismscode::gateway
