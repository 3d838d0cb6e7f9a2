// SharedRequestIds against a real redis-server: three replicas and one request id.
#include "server/shared_request_ids.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "tests/server/redis_test_client.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;
using State = SharedRequestIds::State;

class SharedRequestIdsTest : public ::testing::Test {
 protected:
  struct Replica {
    std::unique_ptr<RedisClient> redis;
    std::unique_ptr<SharedRequestIds> ids;
  };
  Replica NewReplica(const std::string& owner, std::chrono::milliseconds lease = 30s) {
    Replica r{.redis = ConnectTo(server_)};
    r.ids = std::make_unique<SharedRequestIds>(*r.redis, owner, lease, 1h);
    return r;
  }

  testing::RedisServer server_;
};

TEST_F(SharedRequestIdsTest, OneIdSentToThreeReplicasAtOnceIsClaimedOnce) {
  std::vector<Replica> replicas;
  for (const char* owner : {"r1", "r2", "r3"}) replicas.push_back(NewReplica(owner));
  std::vector<SharedRequestIds::Claim> claims(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      auto claim = replicas[i].ids->TryClaim("key", "signup-42", "attempt-1");
      ASSERT_TRUE(claim.ok()) << claim.status();
      claims[i] = *claim;
    });
  }
  for (auto& t : threads) t.join();
  int claimed = 0, running = 0;
  for (const auto& c : claims) {
    claimed += c.state == State::kClaimed;
    running += c.state == State::kRunning;
  }
  EXPECT_EQ(claimed, 1);
  EXPECT_EQ(running, 2);
}

TEST_F(SharedRequestIdsTest, TheOutcomeIsReplayedOnEveryReplica) {
  Replica a = NewReplica("a"), b = NewReplica("b");
  ASSERT_EQ(a.ids->TryClaim("key", "id", "attempt-a")->state, State::kClaimed);
  EXPECT_FALSE(*b.ids->Record("key", "id", "attempt-b", "{\"stolen\":1}")) << "not b's to record";
  ASSERT_TRUE(*a.ids->Record("key", "id", "attempt-a", "{\"number\":\"num_1\"}"));
  auto replay = b.ids->TryClaim("key", "id", "attempt-b");
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->state, State::kDone);
  EXPECT_EQ(replay->outcome, "{\"number\":\"num_1\"}");
  EXPECT_EQ(b.ids->TryClaim("other-key", "id", "attempt-b")->state, State::kClaimed)
      << "an id is its key's: another key's same id is another purchase";
}

TEST_F(SharedRequestIdsTest, OnlyTheBuyerRenewsItsLeaseAndTheIdIsKeptPastIt) {
  Replica a = NewReplica("a", 30s), b = NewReplica("b");
  ASSERT_EQ(a.ids->TryClaim("key", "id", "attempt-a")->state, State::kClaimed);
  EXPECT_TRUE(*a.ids->Renew("key", "id", "attempt-a"));
  EXPECT_FALSE(*b.ids->Renew("key", "id", "attempt-b")) << "not b's lease";
  auto keys = a.redis->Command({"KEYS", "ismscode:request:*"});
  ASSERT_EQ(keys->elements.size(), 1u);
  EXPECT_GT(a.redis->Command({"PTTL", keys->elements[0].text})->integer, (1h + 29s) / 1ms)
      << "kept the lease plus `keep` past the renewal";
}

TEST_F(SharedRequestIdsTest, AClaimIsItsAttemptsEvenOnItsOwnReplica) {
  Replica a = NewReplica("a");
  ASSERT_EQ(a.ids->TryClaim("key", "id", "first")->state, State::kClaimed);
  EXPECT_EQ(a.ids->TryClaim("key", "id", "first")->state, State::kClaimed)
      << "the same attempt again (its first call timed out after Redis ran it)";
  EXPECT_EQ(a.ids->TryClaim("key", "id", "second")->state, State::kRunning);
  ASSERT_TRUE(a.ids->Release("key", "id", "second").ok());
  EXPECT_FALSE(*a.ids->Renew("key", "id", "second"));
  EXPECT_FALSE(*a.ids->Record("key", "id", "second", "x"));
  EXPECT_EQ(a.ids->TryClaim("key", "id", "third")->state, State::kRunning)
      << "another caller on the same replica cannot end the first one's claim";
  EXPECT_TRUE(*a.ids->Renew("key", "id", "first"));
}

TEST_F(SharedRequestIdsTest, NothingSentLetsAnotherReplicaClaimAtOnce) {
  Replica a = NewReplica("a"), b = NewReplica("b");
  ASSERT_EQ(a.ids->TryClaim("key", "id", "attempt-a")->state, State::kClaimed);
  ASSERT_TRUE(b.ids->Release("key", "id", "attempt-b").ok());
  EXPECT_EQ(b.ids->TryClaim("key", "id", "attempt-b")->state, State::kRunning)
      << "only the owner releases";
  ASSERT_TRUE(a.ids->Release("key", "id", "attempt-a").ok());
  EXPECT_EQ(b.ids->TryClaim("key", "id", "attempt-b")->state, State::kClaimed);
}

TEST_F(SharedRequestIdsTest, ALeaseThatRunsOutLeavesTheOutcomeUnknownNeverBoughtAgain) {
  // A replica that dies mid-purchase renews nothing: its 50 ms lease runs out.
  Replica dead = NewReplica("dead", 50ms), b = NewReplica("b");
  ASSERT_EQ(dead.ids->TryClaim("key", "id", "attempt-dead")->state, State::kClaimed);
  // Until the lease runs out, the id is being bought; after it, its outcome is unknown.
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  State seen = State::kRunning;
  while (seen == State::kRunning && std::chrono::steady_clock::now() < give_up) {
    seen = b.ids->TryClaim("key", "id", "attempt-b")->state;
  }
  EXPECT_EQ(seen, State::kUnknown);
  EXPECT_EQ(b.ids->TryClaim("key", "id", "attempt-b")->state, State::kUnknown) << "for good";
  EXPECT_FALSE(*dead.ids->Renew("key", "id", "attempt-dead"));
  // Unless the buyer comes back with the number after all: then every replica replays it.
  ASSERT_TRUE(*dead.ids->Record("key", "id", "attempt-dead", "late number"));
  EXPECT_EQ(b.ids->TryClaim("key", "id", "attempt-b")->outcome, "late number");
}

TEST_F(SharedRequestIdsTest, AnOwnerThatSentNothingFreesItsIdEvenAfterItsLeaseRanOut) {
  // Redis was away longer than the lease: the fleet took the id for unknown meanwhile.
  Replica slow = NewReplica("slow", 50ms), b = NewReplica("b");
  ASSERT_EQ(slow.ids->TryClaim("key", "id", "attempt-slow")->state, State::kClaimed);
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  State seen = State::kRunning;
  while (seen == State::kRunning && std::chrono::steady_clock::now() < give_up) {
    seen = b.ids->TryClaim("key", "id", "attempt-b")->state;
  }
  ASSERT_EQ(seen, State::kUnknown);
  ASSERT_TRUE(b.ids->Release("key", "id", "attempt-b").ok());
  EXPECT_EQ(b.ids->TryClaim("key", "id", "attempt-b")->state, State::kUnknown)
      << "only the owner knows nothing was sent";
  ASSERT_TRUE(slow.ids->Release("key", "id", "attempt-slow").ok());
  EXPECT_EQ(b.ids->TryClaim("key", "id", "attempt-b")->state, State::kClaimed);
}

TEST_F(SharedRequestIdsTest, AnOutcomeIsRecordedEvenWhenRedisLostTheClaim) {
  Replica a = NewReplica("a"), b = NewReplica("b");
  ASSERT_EQ(a.ids->TryClaim("key", "id", "attempt-a")->state, State::kClaimed);
  ASSERT_TRUE(a.redis->Command({"FLUSHALL"}).ok());  // as a restart without persistence
  ASSERT_TRUE(*a.ids->Record("key", "id", "attempt-a", "the number"));
  EXPECT_EQ(b.ids->TryClaim("key", "id", "attempt-b")->outcome, "the number");
}

TEST_F(SharedRequestIdsTest, TheApiKeyIsNeverStoredAndRedisDownIsUnavailable) {
  Replica a = NewReplica("a");
  ASSERT_EQ(a.ids->TryClaim("sk-live-very-secret", "id", "attempt-a")->state, State::kClaimed);
  auto keys = a.redis->Command({"KEYS", "*"});
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->elements.size(), 1u);
  EXPECT_EQ(keys->elements[0].text.find("secret"), std::string::npos);
  EXPECT_EQ(keys->elements[0].text.rfind("ismscode:request:{", 0), 0u) << keys->elements[0].text;
  server_.Stop();
  auto down = a.ids->TryClaim("k", "id", "attempt-a");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ismscode::gateway
