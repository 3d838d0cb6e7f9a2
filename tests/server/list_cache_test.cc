// Countries and services from the cache, on a scripted upstream and a manual clock.
#include "server/list_cache.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/manual_runtime.h"

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;

class ListCacheTest : public ::testing::Test {
 protected:
  // The countries' codes, or the error's reason.
  std::string Countries() {
    std::string out;
    cache_.GetCountries("k", KeyOwner::kGateway, clock_.now() + 2s,
                        [&](const ListCache::Countries* list, const GatewayError* error) {
                          if (error) out = ReasonName(error->reason);
                          if (list) {
                            for (const auto& c : *list) out += c.code + " ";
                          }
                        });
    return out;
  }

  fakes::ManualRuntime clock_;
  fakes::FakeUpstream upstream_;
  RateBudget budget_{{.limit = 60, .window = 60s}};
  BudgetGate gate_{budget_, clock_.runtime()};
  ListCache cache_{upstream_, gate_, clock_.runtime(), {.ttl = 600s}};
};

TEST_F(ListCacheTest, ListsCostAnUpstreamRequestOncePerTtl) {
  EXPECT_EQ(Countries(), "US GB ");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Countries(), "US GB ");
  EXPECT_EQ(upstream_.list_calls(), 1);
  clock_.Advance(600s);
  EXPECT_EQ(Countries(), "US GB ");
  EXPECT_EQ(upstream_.list_calls(), 2);
}

TEST_F(ListCacheTest, AFailedRefreshServesTheStaleListForPassingTrouble) {
  Countries();
  clock_.Advance(600s);
  upstream_.QueueListFailure({.reason = Reason::kUpstreamUnavailable, .message = "scripted"});
  EXPECT_EQ(Countries(), "US GB ");
  upstream_.QueueListFailure({.reason = Reason::kUnauthorized, .message = "scripted"});
  EXPECT_EQ(Countries(), "UNAUTHORIZED") << "a refused key gets the error";
}

TEST_F(ListCacheTest, NoListAndAFailureIsTheError) {
  upstream_.QueueListFailure({.reason = Reason::kUpstreamUnavailable, .message = "scripted"});
  EXPECT_EQ(Countries(), "UPSTREAM_UNAVAILABLE");
}

TEST_F(ListCacheTest, LabelsComeOnlyFromWhatTheUpstreamListed) {
  EXPECT_EQ(cache_.CountryLabel("US"), "other") << "nothing listed yet";
  Countries();
  EXPECT_EQ(cache_.CountryLabel("US"), "US");
  EXPECT_EQ(cache_.CountryLabel("ZZ"), "other");
  EXPECT_EQ(cache_.ServiceLabel("made-up-by-a-caller"), "other");
  cache_.Vouch("CA", "telegram");  // a purchase's answer
  EXPECT_EQ(cache_.CountryLabel("CA"), "CA");
  EXPECT_EQ(cache_.ServiceLabel("telegram"), "telegram");
}

}  // namespace
}  // namespace ismscode::gateway
