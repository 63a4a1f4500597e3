// Durations and ranges as scenarios write them, and as omni-sim prints them.
#include <gtest/gtest.h>

#include "sim/scenario/duration_text.h"

namespace omni::sim {
namespace {

TEST(ScenarioDuration, ValidSpellings) {
  const std::vector<std::pair<std::string, Duration>> cases{
      {"0", 0s},
      {"500ms", 500ms},
      {"90s", 90s},
      {"1m30s", 90s},
      {"15m", 15min},
      {"2h", 2h},
      {"1h2m3s4ms", 1h + 2min + 3s + 4ms},
      {"1.5s", 1500ms},
      {"0.25m", 15s},
      {"1000h", 1000h},
      {"0.000000001s", 1ns},
      {"1.0000000000s", 1s},  // zeros past a nanosecond are still exact
  };
  for (const auto& [text, expected] : cases) {
    SCOPED_TRACE(text);
    const auto parsed = parse_duration(text);
    ASSERT_TRUE(std::holds_alternative<Duration>(parsed))
        << std::get<DurationError>(parsed).message;
    EXPECT_EQ(std::get<Duration>(parsed), expected);
  }
}

TEST(ScenarioDuration, InvalidSpellings) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "empty"},
      {"90", "needs a unit"},
      {"15x", "unknown unit"},
      {"s", "start with a number"},
      {"30s1m", "largest to smallest"},
      {"1s1s", "largest to smallest"},
      {"1.s", "followed by digits"},
      {"1001h", "longer than 1000h"},
      {"99999999999999999999h", "longer than 1000h"},
      {"0.0000000001s", "finer than a nanosecond"},  // said "longer than 1000h"
      {"1.5000000001s", "finer than a nanosecond"},
      {"-5s", "start with a number"},
  };
  for (const auto& [text, part] : cases) {
    SCOPED_TRACE(text);
    const auto parsed = parse_duration(text);
    ASSERT_TRUE(std::holds_alternative<DurationError>(parsed));
    EXPECT_NE(std::get<DurationError>(parsed).message.find(part), std::string::npos)
        << std::get<DurationError>(parsed).message;
  }
}

TEST(ScenarioDuration, Ranges) {
  const auto range = parse_duration_range("1ms..5ms");
  ASSERT_TRUE(std::holds_alternative<DurationRange>(range));
  EXPECT_EQ(std::get<DurationRange>(range).min, 1ms);
  EXPECT_EQ(std::get<DurationRange>(range).max, 5ms);
  const auto single = parse_duration_range("10s");
  EXPECT_EQ(std::get<DurationRange>(single).min, 10s);
  EXPECT_EQ(std::get<DurationRange>(single).max, 10s);
  EXPECT_TRUE(std::holds_alternative<DurationError>(parse_duration_range("5ms..1ms")));
  EXPECT_TRUE(std::holds_alternative<DurationError>(parse_duration_range("..1ms")));
  EXPECT_TRUE(std::holds_alternative<DurationError>(parse_duration_range("1ms..")));
  EXPECT_TRUE(std::holds_alternative<DurationError>(parse_duration_range("1ms..2ms..3ms")));
}

TEST(ScenarioDuration, Formatting) {
  EXPECT_EQ(format_duration(83456ms), "1m23.456s");
  EXPECT_EQ(format_duration(4s), "4.000s");
  EXPECT_EQ(format_duration(12ms), "0.012s");
  EXPECT_EQ(format_duration(1h + 2min + 3s + 456ms), "1h2m3.456s");
  EXPECT_EQ(format_duration(Duration{999}), "0.000s");
}

}  // namespace
}  // namespace omni::sim
