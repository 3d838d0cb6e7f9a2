// SharedNumberRegistry against a real redis-server: a number one replica bought is found
// on another, for its own key only, without the key ever being stored.
#include "server/shared_number_registry.h"

#include <gtest/gtest.h>

#include <memory>

#include "tests/server/redis_test_client.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;

class SharedNumberRegistryTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisClient> Connect() { return ConnectTo(server_); }
  static WatchedNumber Number(const std::string& id, const std::string& key) {
    return {.id = id,
            .key = key,
            .service = "whatsapp",
            .key_owner = KeyOwner::kCaller,
            .expires_at = std::chrono::system_clock::now() + 20min,
            .acquired_at = std::chrono::steady_clock::now() - 3s};
  }

  testing::RedisServer server_;
};

TEST_F(SharedNumberRegistryTest, AnotherReplicaFindsTheNumberForItsKeyOnly) {
  auto seller_redis = Connect(), other_redis = Connect();
  SharedNumberRegistry seller(*seller_redis, 10min), other(*other_redis, 10min);
  const WatchedNumber bought = Number("num_1", "sk-caller-secret");
  ASSERT_TRUE(seller.Remember(bought, /*fresh=*/true).ok());
  auto found = other.Find("num_1", "sk-caller-secret");
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  const WatchedNumber& n = **found;
  EXPECT_EQ(n.key, "sk-caller-secret");
  EXPECT_EQ(n.service, "whatsapp");
  EXPECT_EQ(n.key_owner, KeyOwner::kCaller);
  EXPECT_NEAR(std::chrono::duration<double>(n.expires_at - bought.expires_at).count(), 0, 0.001);
  EXPECT_NEAR(std::chrono::duration<double>(n.acquired_at - bought.acquired_at).count(), 0, 0.1)
      << "the purchase time, back in this replica's steady clock";
  EXPECT_FALSE(other.Find("num_1", "another-key")->has_value()) << "another key's number";
  EXPECT_FALSE(other.Find("num_2", "sk-caller-secret")->has_value());
  auto keys = other_redis->Command({"KEYS", "*"});
  ASSERT_EQ(keys->elements.size(), 1u);
  auto all = other_redis->Command({"HGETALL", keys->elements[0].text});
  for (const RedisReply& field : all->elements) {
    EXPECT_EQ(field.text.find("secret"), std::string::npos) << field.text;
  }
}

TEST_F(SharedNumberRegistryTest, AReplayKeepsTheEntryAFreshPurchaseReplacesIt) {
  auto redis = Connect();
  SharedNumberRegistry registry(*redis, 10min);
  ASSERT_TRUE(registry.Remember(Number("num_1", "key-a"), true).ok());
  ASSERT_TRUE(registry.Remember(Number("num_1", "key-b"), /*fresh=*/false).ok());
  EXPECT_TRUE(registry.Find("num_1", "key-a")->has_value()) << "a replay changes nothing";
  ASSERT_TRUE(registry.Remember(Number("num_1", "key-b"), /*fresh=*/true).ok());
  EXPECT_FALSE(registry.Find("num_1", "key-a")->has_value()) << "a re-issued id is new";
  EXPECT_TRUE(registry.Find("num_1", "key-b")->has_value());
}

TEST_F(SharedNumberRegistryTest, ANumberIsForgottenItsKeepAfterItsReservation) {
  auto redis = Connect();
  SharedNumberRegistry registry(*redis, 10min);
  ASSERT_TRUE(registry.Remember(Number("num_1", "k"), true).ok());
  const long long ttl = redis->Command({"PTTL", "ismscode:number:num_1"})->integer;
  EXPECT_GT(ttl, (30min - 5s) / 1ms);
  EXPECT_LE(ttl, (30min) / 1ms);
  server_.Stop();
  auto down = registry.Find("num_1", "k");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ismscode::gateway
