#include "model/config/quantity.h"

#include <gtest/gtest.h>

namespace omni::config {
namespace {

template <typename T>
bool failed(const Parsed<T>& p) {
  return std::holds_alternative<QuantityError>(p);
}

TEST(Quantity, CpuSpellings) {
  const std::vector<std::pair<std::string, std::int64_t>> good{
      {"8", 8000}, {"0.5", 500}, {"500m", 500}, {"1.25", 1250},
      {".5", 500}, {"1m", 1},    {"64", 64000}};
  for (const auto& [text, millis] : good) {
    SCOPED_TRACE(text);
    auto parsed = parse_cpu_millis(text);
    ASSERT_FALSE(failed(parsed)) << std::get<QuantityError>(parsed).message;
    EXPECT_EQ(std::get<std::int64_t>(parsed), millis);
  }
  for (const std::string bad :
       {"", "0", "-1", "0.0001", "1.5.2", "abc", "8 cores", "1e3", "m", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(failed(parse_cpu_millis(bad)));
  }
}

TEST(Quantity, MemorySpellings) {
  const std::vector<std::pair<std::string, std::int64_t>> good{
      {"32Gi", 32LL << 30}, {"512Mi", 512LL << 20}, {"4G", 4'000'000'000LL},    {"1024", 1024},
      {"1.5Gi", 3LL << 29}, {"1Ki", 1024},          {"2T", 2'000'000'000'000LL}};
  for (const auto& [text, bytes] : good) {
    SCOPED_TRACE(text);
    auto parsed = parse_memory_bytes(text);
    ASSERT_FALSE(failed(parsed)) << std::get<QuantityError>(parsed).message;
    EXPECT_EQ(std::get<std::int64_t>(parsed), bytes);
  }
  for (const std::string bad : {"", "0", "-1", "32Gb", "32GiB", "1.5.2Gi", "0.5", "Gi", "1.1Ki",
                                "99999999999999999999Ti", "9Pi9", "8388608Ti"}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(failed(parse_memory_bytes(bad)));
  }
}

TEST(Quantity, FormatsShortestExactSpelling) {
  EXPECT_EQ(format_cpu_millis(8000), "8");
  EXPECT_EQ(format_cpu_millis(1500), "1500m");
  EXPECT_EQ(format_memory_bytes(32LL << 30), "32Gi");
  EXPECT_EQ(format_memory_bytes(1536LL << 20), "1536Mi");
  EXPECT_EQ(format_memory_bytes(1000), "1000");
}

}  // namespace
}  // namespace omni::config
