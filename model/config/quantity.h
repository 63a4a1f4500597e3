#pragma once
// Resource quantities as people write them ("8", "500m", "32Gi", "1.5G") and as the model
// holds them (millicores, bytes). Parsing and formatting are inverse on every valid value.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace omni::config {

struct QuantityError {
  std::string message;  // what is wrong and what would be right
};

template <typename T>
using Parsed = std::variant<T, QuantityError>;

// Cores: "8", "0.5", "500m" (millicores). Must be > 0 and a whole number of millicores.
Parsed<std::int64_t> parse_cpu_millis(std::string_view text);
// Bytes: plain, or with a binary (Ki Mi Gi Ti Pi) or decimal (K M G T P) suffix; decimals
// allowed when the result is a whole number of bytes. Must be > 0.
Parsed<std::int64_t> parse_memory_bytes(std::string_view text);

// The shortest exact spelling: whole cores as "8", else millicores "500m".
std::string format_cpu_millis(std::int64_t cpu_millis);
// The largest binary unit that divides exactly: 34359738368 -> "32Gi"; else plain bytes.
std::string format_memory_bytes(std::int64_t memory_bytes);

}  // namespace omni::config
