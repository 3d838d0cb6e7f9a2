// AcquireNumber's logic against the real mock (over real HTTP). Waiting is simulated:
// the test's timer advances a fake clock and the mock's clock together, then runs the
// task at once, so nothing waits in real time. Upstream calls run inline on the calling
// thread. The races are in acquirer_race_test.cc, on the fakes.
#include "server/acquirer.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "server/upstream_pool.h"
#include "tests/support/mock_fixture.h"

namespace ismscode::gateway {
namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono_literals;
constexpr const char* kKey = "key-alpha-0001";

class AcquirerTest : public ::testing::Test {
 protected:
  AcquirerTest() {
    auto pool =
        UpstreamPool::Create({.base_url = mock_.base_url() + "/api/v3", .read_timeout = 300ms}, 4);
    EXPECT_TRUE(pool.ok()) << pool.status();
    if (pool.ok()) pool_ = *std::move(pool);
    const Runtime runtime{.run =
                              [](Runtime::Task task) {
                                task();
                                return true;
                              },
                          .at =
                              [this](Runtime::Clock::time_point when, Runtime::Task task) {
                                const Runtime::TimerId id{when, 0};
                                Runtime::Clock::duration d{};
                                {
                                  std::lock_guard lock(time_mutex_);
                                  d = std::max(Runtime::Clock::duration{}, when - now_);
                                  now_ += d;
                                  slept_ += d;
                                }
                                mock_.AdvanceSeconds(std::chrono::duration<double>(d).count());
                                task();
                                return id;
                              },
                          .cancel = [](Runtime::TimerId) {},
                          .now =
                              [this] {
                                std::lock_guard lock(time_mutex_);
                                return now_;
                              }};
    gate_ = std::make_unique<BudgetGate>(budget_, runtime);
    acquirer_ = std::make_unique<Acquirer>(*pool_, *gate_, Acquirer::Options{.seed = 1}, runtime);
  }

  AcquireOutcome Acquire(AcquireRequest r, const std::string& key = kKey,
                         KeyOwner owner = KeyOwner::kCaller) {
    std::promise<AcquireOutcome> answer;
    auto future = answer.get_future();
    acquirer_->Acquire(key, owner, r,
                       [&answer](AcquireOutcome out) { answer.set_value(std::move(out)); });
    return future.get();
  }
  size_t Purchases() {
    size_t n = 0;
    const json journal = testing::Body(mock_.Control("GET", "journal?limit=1000"));
    for (const auto& e : journal["entries"]) {
      n += e["endpoint"] == "numbers.request";
    }
    return n;
  }

  testing::MockFixture mock_;
  RateBudget budget_{{.limit = 100, .window = 10s}};
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<BudgetGate> gate_;
  std::unique_ptr<Acquirer> acquirer_;
  std::mutex time_mutex_;
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::time_point{} + 1h;
  std::chrono::steady_clock::duration slept_{};
};

TEST_F(AcquirerTest, FirstTry) {
  auto out = Acquire({.country = "US", .service = "google"});
  ASSERT_TRUE(out.number) << out.error->message;
  EXPECT_EQ(out.number->country, "US");
  EXPECT_EQ(out.attempts, 1);
  EXPECT_FALSE(out.replayed);
}

TEST_F(AcquirerTest, StockOutMovesToTheFallbackCountries) {
  mock_.Control("PATCH", "offers/GB/whatsapp", {{"stock", 0}});
  auto out = Acquire({.country = "CA", .service = "whatsapp", .fallback_countries = {"GB", "US"}});
  ASSERT_TRUE(out.number) << out.error->message;
  EXPECT_EQ(out.number->country, "US");
  EXPECT_EQ(out.attempts, 3);
  EXPECT_EQ(slept_, 0s) << "no pause between countries";
}

TEST_F(AcquirerTest, StockOutEverywhereWithoutWaitIsResourceExhausted) {
  auto out = Acquire({.country = "CA", .service = "whatsapp"});
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->reason, Reason::kNoNumbersAvailable);
  EXPECT_EQ(out.error->metadata.at("country"), "CA");
  EXPECT_EQ(out.error->ToStatus().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(AcquirerTest, WaitsForARestockWithinMaxWait) {
  mock_.Control("PATCH", "offers/CA/whatsapp",
                {{"restock", {{"every_seconds", 20}, {"amount", 1}}}});
  auto out = Acquire({.country = "CA", .service = "whatsapp", .max_wait = 120s});
  ASSERT_TRUE(out.number) << out.error->message;
  EXPECT_GT(out.attempts, 1);
  EXPECT_GE(slept_, 20s);
  EXPECT_LE(slept_, 120s);
}

TEST_F(AcquirerTest, GivesUpWhenMaxWaitRunsOut) {
  auto out = Acquire({.country = "CA", .service = "whatsapp", .max_wait = 10s});
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->reason, Reason::kNoNumbersAvailable);
  EXPECT_LE(slept_, 10s);
  EXPECT_GT(out.attempts, 1);
}

TEST_F(AcquirerTest, RetriesTransientFailures) {
  mock_.Control("POST", "faults",
                {{"kind", "http_503"}, {"endpoint", "numbers.request"}, {"count", 2}});
  auto out = Acquire({.country = "US", .service = "google", .max_wait = 30s});
  ASSERT_TRUE(out.number) << out.error->message;
  EXPECT_EQ(out.attempts, 3);
}

TEST_F(AcquirerTest, RateLimitPausesTheKeyForRetryAfter) {
  mock_.Control("POST", "faults",
                {{"kind", "rate_limit_exceeded"}, {"retry_after_seconds", 4}, {"count", 1}});
  auto out = Acquire({.country = "US", .service = "google", .max_wait = 30s});
  ASSERT_TRUE(out.number) << out.error->message;
  EXPECT_EQ(out.attempts, 2);
  EXPECT_GE(slept_, 4s);
}

TEST_F(AcquirerTest, NeverRetriesWhatCannotSucceed) {
  mock_.Control("PATCH", "accounts/key-alpha-0001", {{"balance", 0}});
  auto broke = Acquire({.country = "US", .service = "google", .max_wait = 60s});
  EXPECT_EQ(broke.error->reason, Reason::kInsufficientBalance);
  EXPECT_EQ(broke.attempts, 1);
  auto bad = Acquire({.country = "XX", .service = "google", .max_wait = 60s});
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.attempts, 1) << "XX passes local checks; the upstream says invalid_country";
  EXPECT_EQ(bad.error->reason, Reason::kInvalidCountry);
  auto wrong_key = Acquire({.country = "US", .service = "google", .max_wait = 60s}, "nobody-key",
                           KeyOwner::kGateway);
  EXPECT_EQ(wrong_key.error->reason, Reason::kUnauthorized);
  EXPECT_EQ(wrong_key.error->ToStatus().error_code(), grpc::StatusCode::INTERNAL)
      << "the gateway's own key: misconfiguration";
  EXPECT_EQ(slept_, 0s);
}

TEST_F(AcquirerTest, AnUnansweredPurchaseIsReportedNotRetried) {
  mock_.Control(
      "POST", "faults",
      {{"kind", "hang"}, {"endpoint", "numbers.request"}, {"phase", "after"}, {"count", 1}});
  auto out =
      Acquire({.country = "US", .service = "google", .request_id = "signup-1", .max_wait = 60s});
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->reason, Reason::kUpstreamTimeout);
  EXPECT_EQ(out.attempts, 1);
  // The same id again does not buy blindly: the outcome stays unknown.
  auto again = Acquire({.country = "US", .service = "google", .request_id = "signup-1"});
  EXPECT_EQ(again.error->reason, Reason::kUpstreamTimeout);
  EXPECT_EQ(Purchases(), 1u);
}

TEST_F(AcquirerTest, SameRequestIdSameNumber) {
  auto first = Acquire({.country = "US", .service = "google", .request_id = "signup-42"});
  auto second = Acquire({.country = "US", .service = "google", .request_id = "signup-42"});
  ASSERT_TRUE(first.number && second.number);
  EXPECT_EQ(first.number->id, second.number->id);
  EXPECT_TRUE(second.replayed);
  EXPECT_EQ(second.attempts, 0);
  auto other = Acquire({.country = "US", .service = "google", .request_id = "signup-43"});
  EXPECT_NE(other.number->id, first.number->id);
  EXPECT_EQ(Purchases(), 2u);
}

TEST_F(AcquirerTest, ConcurrentDuplicatesWaitForTheFirst) {
  // The first purchase is slow, so the duplicates really arrive while it is in flight.
  mock_.Control(
      "POST", "faults",
      {{"kind", "slow"}, {"endpoint", "numbers.request"}, {"delay_seconds", 0.2}, {"count", 1}});
  std::vector<std::thread> threads;
  std::vector<AcquireOutcome> outcomes(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      outcomes[i] = Acquire({.country = "US", .service = "google", .request_id = "same"});
    });
  }
  for (auto& t : threads) t.join();
  int replayed = 0;
  for (const auto& o : outcomes) {
    ASSERT_TRUE(o.number);
    EXPECT_EQ(o.number->id, outcomes[0].number->id);
    replayed += o.replayed;
  }
  EXPECT_EQ(replayed, 7);
  EXPECT_EQ(Purchases(), 1u);
  EXPECT_DOUBLE_EQ(
      testing::Body(mock_.Control("GET", "accounts/key-alpha-0001"))["account"]["balance"]
          .get<double>(),
      9.5);
}

TEST_F(AcquirerTest, LocalValidationNamesTheFields) {
  auto out = Acquire({.country = "usa",
                      .service = "Google",
                      .fallback_countries = {"GB", "x"},
                      .request_id = std::string(129, 'r')});
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->reason, Reason::kInvalidArgument);
  EXPECT_EQ(out.attempts, 0);
  std::vector<std::string> fields;
  for (const auto& [f, d] : out.error->field_violations) fields.push_back(f);
  EXPECT_EQ(fields, (std::vector<std::string>{"country", "service", "fallback_countries[1]",
                                              "request_id"}));
  EXPECT_EQ(Purchases(), 0u);
}

}  // namespace
}  // namespace ismscode::gateway
