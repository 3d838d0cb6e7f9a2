// SharedPollLoops against a real redis-server: one replica polls a number, another takes
// it over when the first stops renewing, and every replica reads what was found.
#include "server/shared_poll_loops.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "server/redis_subscriber.h"
#include "tests/server/redis_test_client.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;

class SharedPollLoopsTest : public ::testing::Test {
 protected:
  struct Replica {
    std::unique_ptr<RedisClient> redis;
    std::unique_ptr<SharedPollLoops> loops;
  };
  Replica NewReplica(const std::string& owner, std::chrono::milliseconds lease = 30s) {
    Replica r{.redis = ConnectTo(server_)};
    r.loops = std::make_unique<SharedPollLoops>(*r.redis, owner, lease);
    return r;
  }
  static UpstreamSms Sms(const std::string& text, int second) {
    return {.from = "WhatsApp",
            .text = text,
            .received_at = SystemTime(std::chrono::seconds(1'790'000'000 + second))};
  }

  testing::RedisServer server_;
};

TEST_F(SharedPollLoopsTest, OneReplicaPollsANumberUntilItResigns) {
  Replica a = NewReplica("a"), b = NewReplica("b");
  EXPECT_TRUE(*a.loops->Lead("num_1"));
  EXPECT_FALSE(*b.loops->Lead("num_1"));
  EXPECT_TRUE(*a.loops->Lead("num_1")) << "renewed";
  EXPECT_TRUE(*b.loops->Lead("num_2")) << "each number its own";
  ASSERT_TRUE(b.loops->Resign("num_1").ok());
  EXPECT_FALSE(*b.loops->Lead("num_1")) << "only the leader resigns";
  ASSERT_TRUE(a.loops->Resign("num_1").ok());
  EXPECT_TRUE(*b.loops->Lead("num_1"));
}

TEST_F(SharedPollLoopsTest, ANumberWhosePollerDiedIsTakenOverWithinALease) {
  Replica dead = NewReplica("dead", 50ms), b = NewReplica("b");
  const auto started = std::chrono::steady_clock::now();  // the lease begins after this
  ASSERT_TRUE(*dead.loops->Lead("num_1"));
  bool took_over = false;
  while (!took_over && std::chrono::steady_clock::now() - started < 10s) {
    took_over = *b.loops->Lead("num_1");
  }
  EXPECT_TRUE(took_over);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 40ms) << "not before the lease ran out";
  EXPECT_FALSE(*dead.loops->Lead("num_1")) << "a replica that comes back does not poll it too";
}

TEST_F(SharedPollLoopsTest, EveryReplicaReadsWhatTheLeaderFoundAndListsOnlyGrow) {
  Replica a = NewReplica("a"), b = NewReplica("b");
  EXPECT_TRUE(b.loops->Read("num_1")->empty());
  EXPECT_TRUE(*a.loops->Publish("num_1", {Sms("Your code: 583920", 1)}, 20min));
  EXPECT_FALSE(*a.loops->Publish("num_1", {Sms("Your code: 583920", 1)}, 20min)) << "nothing new";
  EXPECT_TRUE(
      *b.loops->Publish("num_1", {Sms("Your code: 583920", 1), Sms("again: 583920", 31)}, 20min));
  EXPECT_FALSE(*a.loops->Publish("num_1", {}, 20min)) << "a late, shorter list takes nothing away";
  auto sms = a.loops->Read("num_1");
  ASSERT_TRUE(sms.ok()) << sms.status();
  ASSERT_EQ(sms->size(), 2u);
  EXPECT_EQ((*sms)[0].text, "Your code: 583920");
  EXPECT_EQ((*sms)[1].from, "WhatsApp");
  EXPECT_EQ((*sms)[1].received_at, SystemTime(std::chrono::seconds(1'790'000'031)));
  const long long ttl = a.redis->Command({"PTTL", "ismscode:poll:{num_1}:sms"})->integer;
  EXPECT_GT(ttl, (20min - 5s) / 1ms);
}

TEST_F(SharedPollLoopsTest, DamagedStateIsAnErrorNotACrash) {
  Replica a = NewReplica("a");
  for (const char* damaged :
       {"[{\"text\":1", "[{\"from\":1,\"text\":\"x\",\"received_at\":1}]", "{}", "[7]"}) {
    ASSERT_TRUE(a.redis->Command({"HSET", "ismscode:poll:{num_1}:sms", "list", damaged}).ok());
    auto sms = a.loops->Read("num_1");
    ASSERT_FALSE(sms.ok()) << damaged;
    EXPECT_EQ(sms.status().code(), absl::StatusCode::kInternal) << damaged;
  }
  server_.Stop();
  EXPECT_EQ(a.loops->Lead("num_1").status().code(), absl::StatusCode::kUnavailable);
}

// The fan-out: every replica's listener hears the id of a number with new SMS, once per
// new list, and again after Redis comes back (a resync, then new messages).
TEST_F(SharedPollLoopsTest, NewSmsAreAnnouncedToEveryListenerAcrossARedisRestart) {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> heard;
  int connects = 0;
  auto url = ParseStateUrl(server_.url());
  ASSERT_TRUE(url.ok());
  RedisSubscriber listener({.connection = {.url = *url},
                            .channel = std::string(SharedPollLoops::kChannel),
                            .on_message =
                                [&](const std::string& id) {
                                  std::lock_guard lock(mutex);
                                  heard.push_back(id);
                                  changed.notify_all();
                                },
                            .on_connect =
                                [&] {
                                  std::lock_guard lock(mutex);
                                  ++connects;
                                  changed.notify_all();
                                }});
  auto await = [&](auto ready) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, ready);
  };
  ASSERT_TRUE(await([&] { return connects == 1; }));
  Replica a = NewReplica("a");
  ASSERT_TRUE(*a.loops->Publish("num_1", {Sms("Your code: 583920", 1)}, 20min));
  ASSERT_FALSE(*a.loops->Publish("num_1", {Sms("Your code: 583920", 1)}, 20min));
  ASSERT_TRUE(*a.loops->Publish("num_2", {Sms("Your code: 112233", 2)}, 20min));
  ASSERT_TRUE(await([&] { return heard.size() == 2; }));
  EXPECT_EQ(heard, (std::vector<std::string>{"num_1", "num_2"})) << "nothing new, no message";

  server_.Stop();
  server_.Start();
  ASSERT_TRUE(await([&] { return connects == 2; })) << "subscribed again by itself";
  // The publisher's own connection died with the server: its next call fails, the one
  // after connects again.
  absl::StatusOr<bool> published = a.loops->Publish("num_3", {Sms("Your code: 445566", 3)}, 20min);
  if (!published.ok()) published = a.loops->Publish("num_3", {Sms("Your code: 445566", 3)}, 20min);
  ASSERT_TRUE(published.ok()) << published.status();
  ASSERT_TRUE(*published);
  ASSERT_TRUE(await([&] { return heard.size() == 3; }));
  EXPECT_EQ(heard.back(), "num_3");
  listener.Stop();
  EXPECT_FALSE(listener.subscribed());
}

}  // namespace
}  // namespace ismscode::gateway
