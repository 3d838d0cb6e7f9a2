#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "server/redis_client.h"
#include "tests/support/redis_server.h"

namespace ismscode::gateway {

// A replica's own connection to the test's Redis, with no pause between connect attempts
// (the tests stop and start Redis and go on at once).
inline std::unique_ptr<RedisClient> ConnectTo(const testing::RedisServer& server) {
  auto url = ParseStateUrl(server.url());
  EXPECT_TRUE(url.ok()) << url.status();
  return std::make_unique<RedisClient>(RedisClient::Options{
      .url = url.value_or(StateUrl{}), .retry_after = std::chrono::milliseconds(0)});
}

}  // namespace ismscode::gateway
