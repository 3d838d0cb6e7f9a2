// RedisClient against a real redis-server (tests/support/redis_server): commands,
// scripts, the password, the database, and a Redis that goes away and comes back.
#include "server/redis_client.h"

#include <gtest/gtest.h>

#include "tests/support/redis_server.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;
using Type = RedisReply::Type;

RedisClient::Options OptionsFor(const testing::RedisServer& server, std::string password = "",
                                int db = 0) {
  auto url = ParseStateUrl(server.url() + (db ? "?db=" + std::to_string(db) : ""));
  EXPECT_TRUE(url.ok()) << url.status();
  // No pause between connect attempts: the tests restart Redis and go on at once.
  return {.url = *url, .password = std::move(password), .retry_after = 0ms};
}

TEST(RedisClient, CommandsAndScripts) {
  testing::RedisServer server;
  RedisClient client(OptionsFor(server));
  auto set = client.Command({"SET", "k", std::string("a\0b", 3)});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->type, Type::kStatus);
  auto got = client.Command({"GET", "k"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->text, std::string("a\0b", 3)) << "binary-safe";
  auto missing = client.Command({"GET", "nothing"});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->type, Type::kNil);
  const std::string script = "return {redis.call('INCRBY', KEYS[1], ARGV[1]), ARGV[2]}";
  auto ran = client.Eval(script, {"n"}, {"5", "five"});
  ASSERT_TRUE(ran.ok()) << ran.status();
  ASSERT_EQ(ran->type, Type::kArray);
  ASSERT_EQ(ran->elements.size(), 2u);
  EXPECT_EQ(ran->elements[0].integer, 5);
  EXPECT_EQ(ran->elements[1].text, "five");
  auto wrong = client.Command({"INCR", "k"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(wrong.status().message().find("not an integer"), std::string_view::npos)
      << wrong.status();
  EXPECT_TRUE(client.Command({"PING"}).ok()) << "an error reply leaves the connection usable";
}

TEST(RedisClient, AScriptRedisLostIsLoadedAgain) {
  testing::RedisServer server;
  RedisClient client(OptionsFor(server));
  const std::string script = "return 7";
  ASSERT_TRUE(client.Eval(script, {}, {}).ok());
  ASSERT_TRUE(client.Command({"SCRIPT", "FLUSH"}).ok());
  auto again = client.Eval(script, {}, {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->integer, 7);
}

TEST(RedisClient, ThePasswordIsSentAndNeverShown) {
  testing::RedisServer server("s3cret-state-pw");
  RedisClient none(OptionsFor(server));
  auto refused = none.Command({"PING"});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("NOAUTH"), std::string_view::npos) << refused.status();
  RedisClient wrong(OptionsFor(server, "not-the-pw-4711"));
  auto bad = wrong.Command({"PING"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("not-the-pw-4711"), std::string_view::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("authenticating"), std::string_view::npos) << bad.status();
  RedisClient right(OptionsFor(server, "s3cret-state-pw"));
  auto pong = right.Command({"PING"});
  ASSERT_TRUE(pong.ok()) << pong.status();
  EXPECT_EQ(pong->text, "PONG");
}

TEST(RedisClient, UsesTheDatabaseOfTheUrl) {
  testing::RedisServer server;
  RedisClient db3(OptionsFor(server, "", 3));
  RedisClient db0(OptionsFor(server));
  ASSERT_TRUE(db3.Command({"SET", "where", "three"}).ok());
  EXPECT_EQ(db0.Command({"GET", "where"})->type, Type::kNil);
  EXPECT_EQ(db3.Command({"GET", "where"})->text, "three");
}

TEST(RedisClient, ARedisThatGoesAwayIsUnavailableAndUsedAgainOnceBack) {
  testing::RedisServer server;
  RedisClient client(OptionsFor(server));
  const std::string script = "return redis.call('INCR', KEYS[1])";
  ASSERT_EQ(client.Eval(script, {"n"}, {})->integer, 1);
  server.Stop();
  for (int i = 0; i < 2; ++i) {  // the broken connection, then a refused one
    auto down = client.Eval(script, {"n"}, {});
    ASSERT_FALSE(down.ok());
    EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
    EXPECT_NE(down.status().message().find("state store redis unix:"), std::string_view::npos)
        << down.status();
  }
  server.Start();  // an empty Redis: the script is loaded again, the counter starts over
  auto back = client.Eval(script, {"n"}, {});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->integer, 1);
}

TEST(RedisClient, AfterAFailedConnectCallsFailAtOnceUntilRetryAfter) {
  testing::RedisServer server;
  RedisClient::Options options = OptionsFor(server);
  options.retry_after = 1h;
  RedisClient client(options);
  server.Stop();
  auto down = client.Command({"PING"});
  ASSERT_FALSE(down.ok());
  server.Start();
  auto still = client.Command({"PING"});
  ASSERT_FALSE(still.ok()) << "no new attempt within retry_after";
  EXPECT_EQ(still.status(), down.status()) << "the same error, told again";
}

TEST(RedisClient, NothingListeningIsUnavailableAtOnce) {
  auto url = ParseStateUrl("redis://127.0.0.1:1");
  ASSERT_TRUE(url.ok());
  RedisClient client({.url = *url});
  auto down = client.Command({"PING"});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(down.status().message().find("redis 127.0.0.1:1 db 0: connect"), std::string_view::npos)
      << down.status();
}

}  // namespace
}  // namespace ismscode::gateway
