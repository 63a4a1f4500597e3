#include "model/config/quantity.h"

#include <array>
#include <limits>

#include "model/core/assert.h"

namespace omni::config {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

struct Unit {
  std::string_view suffix;
  std::int64_t factor;
};

constexpr std::array<Unit, 10> kMemoryUnits{{
    {"Ki", 1LL << 10},
    {"Mi", 1LL << 20},
    {"Gi", 1LL << 30},
    {"Ti", 1LL << 40},
    {"Pi", 1LL << 50},
    {"K", 1'000LL},
    {"M", 1'000'000LL},
    {"G", 1'000'000'000LL},
    {"T", 1'000'000'000'000LL},
    {"P", 1'000'000'000'000'000LL},
}};

// A decimal number split into its digits: "12.50" -> whole "12", fraction "50".
struct Decimal {
  std::string_view whole;
  std::string_view fraction;
};

bool all_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Accepts "12", "12.5", ".5", "12."; rejects signs, exponents, a second dot, empty input.
bool split_decimal(std::string_view text, Decimal& out) {
  const auto dot = text.find('.');
  out.whole = text.substr(0, dot);
  out.fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (out.whole.empty() && out.fraction.empty()) return false;
  return all_digits(out.whole) && all_digits(out.fraction);
}

// value = decimal * factor, exactly; nullopt-like false on overflow or a fractional result.
enum class Scale { ok, overflow, inexact };

Scale scale_decimal(const Decimal& d, std::int64_t factor, std::int64_t& out) {
  OMNI_ASSERT(factor > 0);
  unsigned __int128 numerator = 0;
  unsigned __int128 denominator = 1;
  const unsigned __int128 limit =
      static_cast<unsigned __int128>(kMax) * 1'000'000'000'000'000'000ULL;
  for (char c : d.whole) {
    numerator = numerator * 10 + static_cast<unsigned>(c - '0');
    if (numerator > limit) return Scale::overflow;
  }
  for (char c : d.fraction) {
    if (denominator > limit / 10) return Scale::inexact;
    numerator = numerator * 10 + static_cast<unsigned>(c - '0');
    denominator *= 10;
    if (numerator > limit) return Scale::overflow;
  }
  const auto wide_factor = static_cast<unsigned __int128>(factor);
  if (numerator > limit / wide_factor) return Scale::overflow;
  const unsigned __int128 scaled = numerator * wide_factor;
  if (scaled % denominator != 0) return Scale::inexact;
  const unsigned __int128 value = scaled / denominator;
  if (value > static_cast<unsigned __int128>(kMax)) return Scale::overflow;
  out = static_cast<std::int64_t>(value);
  OMNI_ASSERT(out >= 0);
  return Scale::ok;
}

// Built by appends: GCC 12 at -O3 reports a false -Wrestrict on `"\"" + std::string(...)`.
std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.append(1, '"').append(text).append(1, '"');
  return out;
}

}  // namespace

Parsed<std::int64_t> parse_cpu_millis(std::string_view text) {
  const std::string hint = "; write cores like 8 or 0.5, or millicores like 500m";
  std::string_view number = text;
  std::int64_t factor = 1000;
  if (!number.empty() && number.back() == 'm') {
    number.remove_suffix(1);
    factor = 1;
  }
  Decimal d;
  if (!text.empty() && text.front() == '-')
    return QuantityError{"cpu must be greater than 0, got " + quoted(text)};
  if (!split_decimal(number, d))
    return QuantityError{"invalid cpu quantity " + quoted(text) + hint};
  std::int64_t millis = 0;
  switch (scale_decimal(d, factor, millis)) {
    case Scale::overflow:
      return QuantityError{"cpu quantity " + quoted(text) + " is too large"};
    case Scale::inexact:
      return QuantityError{"cpu quantity " + quoted(text) +
                           " is finer than a millicore; round it to 3 decimals"};
    case Scale::ok:
      break;
  }
  if (millis == 0) return QuantityError{"cpu must be greater than 0, got " + quoted(text)};
  OMNI_ASSERT(millis > 0);
  return millis;
}

Parsed<std::int64_t> parse_memory_bytes(std::string_view text) {
  const std::string hint = "; write it like 32Gi, 512Mi, 4G or a plain number of bytes";
  if (!text.empty() && text.front() == '-')
    return QuantityError{"memory must be greater than 0, got " + quoted(text)};
  std::string_view number = text;
  std::int64_t factor = 1;
  for (const Unit& unit : kMemoryUnits) {
    if (number.size() > unit.suffix.size() && number.ends_with(unit.suffix)) {
      number.remove_suffix(unit.suffix.size());
      factor = unit.factor;
      break;
    }
  }
  Decimal d;
  if (!split_decimal(number, d)) {
    std::string message = "invalid memory quantity " + quoted(text);
    if (text.ends_with("b") || text.ends_with("B") || text.ends_with("iB"))
      message += " (units are Ki Mi Gi Ti or K M G T, without a trailing B)";
    return QuantityError{message + hint};
  }
  std::int64_t bytes = 0;
  switch (scale_decimal(d, factor, bytes)) {
    case Scale::overflow:
      return QuantityError{"memory quantity " + quoted(text) + " is too large"};
    case Scale::inexact:
      return QuantityError{"memory quantity " + quoted(text) + " is not a whole number of bytes"};
    case Scale::ok:
      break;
  }
  if (bytes == 0) return QuantityError{"memory must be greater than 0, got " + quoted(text)};
  OMNI_ASSERT(bytes > 0);
  return bytes;
}

std::string format_cpu_millis(std::int64_t cpu_millis) {
  OMNI_ASSERT(cpu_millis > 0);
  if (cpu_millis % 1000 == 0) return std::to_string(cpu_millis / 1000);
  return std::to_string(cpu_millis) + "m";
}

std::string format_memory_bytes(std::int64_t memory_bytes) {
  OMNI_ASSERT(memory_bytes > 0);
  for (auto it = kMemoryUnits.rbegin(); it != kMemoryUnits.rend(); ++it) {
    if (it->suffix.size() == 2 && memory_bytes % it->factor == 0)
      return std::to_string(memory_bytes / it->factor) + std::string(it->suffix);
  }
  return std::to_string(memory_bytes);
}

}  // namespace omni::config
