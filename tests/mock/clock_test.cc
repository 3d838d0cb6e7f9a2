#include "mock/clock.h"

#include <gtest/gtest.h>

namespace ismscode::mock {
namespace {

using namespace std::chrono_literals;

TEST(Clock, FrozenClockMovesOnlyWhenAdvanced) {
  Clock clock({.start_time = ParseRfc3339("2026-03-21T19:58:42Z"), .frozen = true});
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-03-21T19:58:42Z");
  EXPECT_EQ(clock.Now(), clock.Now());
  clock.Advance(90s);
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-03-21T20:00:12Z");
  clock.Advance(-10s);  // never backwards
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-03-21T20:00:12Z");
  clock.Reset();
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-03-21T19:58:42Z");
}

TEST(Clock, RunningClockFollowsTheWallClockPlusAdvances) {
  Clock clock({});
  const auto before = std::chrono::system_clock::now();
  clock.Advance(1h);
  const auto now = clock.Now();
  EXPECT_GE(now, before + 1h);
  EXPECT_LT(now, std::chrono::system_clock::now() + 1h + 1s);
}

TEST(Clock, TimeScaleShortensSimulatedDurations) {
  Clock clock({.time_scale = 0.01, .start_time = std::nullopt});
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(clock.Scaled(1200)), 12000ms);
  Clock normal({});
  EXPECT_EQ(normal.Scaled(1.5), std::chrono::duration_cast<Duration>(1500ms));
}

TEST(Clock, FormatsAndParsesTimestamps) {
  const auto t = ParseRfc3339("2026-03-21T20:15:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(FormatRfc3339(*t), "2026-03-21T20:15:00Z");
  EXPECT_EQ(FormatHttpDate(*t), "Sat, 21 Mar 2026 20:15:00 GMT");
  EXPECT_TRUE(ParseRfc3339("2026-03-21T20:15:00.250+00:00"));
  // The control API's exact times: milliseconds when there are any, parsed back.
  EXPECT_EQ(FormatRfc3339Millis(*t), "2026-03-21T20:15:00Z");
  EXPECT_EQ(FormatRfc3339Millis(*t + 250ms), "2026-03-21T20:15:00.250Z");
  EXPECT_EQ(FormatRfc3339Millis(*t + 1999ms), "2026-03-21T20:15:01.999Z");
  EXPECT_EQ(ParseRfc3339("2026-03-21T20:15:01.999Z"), *t + 1999ms);
  EXPECT_FALSE(ParseRfc3339("2026-03-21 20:15:00"));
  EXPECT_FALSE(ParseRfc3339("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2026-03-21T20:15:00+02:00"));
  EXPECT_FALSE(ParseRfc3339(""));
}

}  // namespace
}  // namespace ismscode::mock
