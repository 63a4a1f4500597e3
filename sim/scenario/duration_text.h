#pragma once
// Durations as scenarios write them ("90s", "1m30s", "500ms", "1.5s", "2h") and ranges "A..B".
// Pure; formatting is what omni-sim prints ("1m23.456s").
#include <string>
#include <string_view>
#include <variant>

#include "model/core/time.h"
#include "sim/scenario/scenario.h"

namespace omni::sim {

struct DurationError {
  std::string message;  // what is wrong and what would be right
};

// One or more NUMBER UNIT parts, units ms s m h, each used once and largest first; "0" alone is
// zero. At most 1000 hours.
std::variant<Duration, DurationError> parse_duration(std::string_view text);
// "A..B" with A <= B; a single duration D means D..D.
std::variant<DurationRange, DurationError> parse_duration_range(std::string_view text);

// Simulated time for a person: "1h2m3.456s", "1m23.456s", "4.000s", "0.012s".
std::string format_duration(Duration duration);

}  // namespace omni::sim
