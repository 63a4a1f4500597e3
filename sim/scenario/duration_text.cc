#include "sim/scenario/duration_text.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>

#include "model/core/assert.h"

namespace omni::sim {
namespace {

constexpr std::int64_t kMaxDurationNs = 1000LL * 3600 * 1'000'000'000;
constexpr std::size_t kMaxDurationText = 64;

struct Unit {
  std::string_view name;
  std::int64_t ns;
};
// Largest first: the order parts must appear in.
constexpr std::array<Unit, 4> kUnits{{{"h", 3600'000'000'000LL},
                                      {"m", 60'000'000'000LL},
                                      {"s", 1'000'000'000LL},
                                      {"ms", 1'000'000LL}}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

DurationError bad(std::string_view text, std::string_view why) {
  return DurationError{"invalid duration \"" + std::string(text) + "\": " + std::string(why) +
                       "; write it like 500ms, 90s, 1m30s or 2h"};
}

// The unit at text[i..]; "ms" before "m" so "5ms" is not "5m" followed by "s".
std::optional<std::size_t> unit_at(std::string_view text, std::size_t i) {
  if (text.substr(i, 2) == "ms") return 3;
  if (i >= text.size()) return std::nullopt;
  if (text[i] == 'h') return 0;
  if (text[i] == 'm') return 1;
  if (text[i] == 's') return 2;
  return std::nullopt;
}

enum class Scaled { ok, too_long, too_fine };

// A decimal NUMBER (digits, optional .digits) scaled by unit_ns into `ns`, exactly. Zeros past a
// nanosecond are exact too ("1.0000000000s").
Scaled scaled(std::string_view whole, std::string_view fraction, std::int64_t unit_ns,
              std::int64_t& ns) {
  if (whole.size() > 12) return Scaled::too_long;
  std::int64_t value = 0;
  for (char c : whole) value = value * 10 + (c - '0');
  if (value > kMaxDurationNs / unit_ns) return Scaled::too_long;
  ns = value * unit_ns;
  std::int64_t scale = unit_ns;
  for (char c : fraction) {
    if (scale % 10 != 0) {
      if (c != '0') return Scaled::too_fine;
      continue;
    }
    scale /= 10;
    ns += (c - '0') * scale;
  }
  OMNI_ASSERT(ns >= 0 && scale >= 1);
  return Scaled::ok;
}

}  // namespace

std::variant<Duration, DurationError> parse_duration(std::string_view text) {
  if (text.empty()) return bad(text, "it is empty");
  if (text.size() > kMaxDurationText) return bad(text.substr(0, 20), "it is too long");
  if (text == "0") return Duration{0};
  std::int64_t total_ns = 0;
  std::size_t next_unit = 0;  // units must come largest first, each once
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t whole_start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    const std::string_view whole = text.substr(whole_start, i - whole_start);
    std::string_view fraction;
    if (i < text.size() && text[i] == '.') {
      const std::size_t fraction_start = ++i;
      while (i < text.size() && is_digit(text[i])) ++i;
      fraction = text.substr(fraction_start, i - fraction_start);
      if (fraction.empty()) return bad(text, "a '.' must be followed by digits");
    }
    if (whole.empty()) return bad(text, "each part must start with a number");
    const auto unit = unit_at(text, i);
    if (!unit) {
      return bad(text, i >= text.size() ? "a number needs a unit (ms, s, m or h)"
                                        : "unknown unit; use ms, s, m or h");
    }
    if (*unit < next_unit) return bad(text, "units must go from largest to smallest, once each");
    next_unit = *unit + 1;
    i += kUnits[*unit].name.size();
    std::int64_t part_ns = 0;
    const Scaled part = scaled(whole, fraction, kUnits[*unit].ns, part_ns);
    if (part == Scaled::too_fine) return bad(text, "it is finer than a nanosecond");
    if (part == Scaled::too_long || total_ns + part_ns > kMaxDurationNs)
      return bad(text, "it is longer than 1000h");
    total_ns += part_ns;
  }
  OMNI_ASSERT(total_ns >= 0 && total_ns <= kMaxDurationNs);
  return Duration{total_ns};
}

std::variant<DurationRange, DurationError> parse_duration_range(std::string_view text) {
  const auto dots = text.find("..");
  if (dots == std::string_view::npos) {
    auto single = parse_duration(text);
    if (auto* e = std::get_if<DurationError>(&single)) return *e;
    const Duration d = std::get<Duration>(single);
    return DurationRange{d, d};
  }
  auto low = parse_duration(text.substr(0, dots));
  if (auto* e = std::get_if<DurationError>(&low)) return *e;
  auto high = parse_duration(text.substr(dots + 2));
  if (auto* e = std::get_if<DurationError>(&high)) return *e;
  const DurationRange range{std::get<Duration>(low), std::get<Duration>(high)};
  if (range.min > range.max) {
    return DurationError{"invalid range \"" + std::string(text) +
                         "\": the low end is above the high end; write it as LOW..HIGH, like "
                         "1ms..5ms"};
  }
  return range;
}

std::string format_duration(Duration duration) {
  const std::int64_t total_ms = ns_of(duration) / 1'000'000;
  const bool negative = total_ms < 0;
  const std::int64_t ms = negative ? -total_ms : total_ms;
  const std::int64_t hours = ms / 3'600'000;
  const std::int64_t minutes = ms / 60'000 % 60;
  const std::int64_t seconds = ms / 1000 % 60;
  const std::int64_t millis = ms % 1000;
  char text[64];
  if (hours > 0) {
    std::snprintf(text, sizeof text, "%s%lldh%lldm%lld.%03llds", negative ? "-" : "",
                  static_cast<long long>(hours), static_cast<long long>(minutes),
                  static_cast<long long>(seconds), static_cast<long long>(millis));
  } else if (minutes > 0) {
    std::snprintf(text, sizeof text, "%s%lldm%lld.%03llds", negative ? "-" : "",
                  static_cast<long long>(minutes), static_cast<long long>(seconds),
                  static_cast<long long>(millis));
  } else {
    std::snprintf(text, sizeof text, "%s%lld.%03llds", negative ? "-" : "",
                  static_cast<long long>(seconds), static_cast<long long>(millis));
  }
  return text;
}

}  // namespace omni::sim
