#pragma once
// A seeded PRNG with its own distribution code. The standard library's distributions differ
// between implementations, so none of them may reach a result that must replay.
#include <cstdint>

#include "model/core/time.h"

namespace omni {

// xoshiro256** seeded through splitmix64 (Blackman & Vigna); tiny, fast, and the same
// sequence on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);

  std::uint64_t next_u64();
  // Uniform in [0, bound), bound > 0, without modulo bias (Lemire's method).
  std::uint64_t below(std::uint64_t bound);
  // Uniform in [lo, hi], inclusive.
  std::int64_t between(std::int64_t lo, std::int64_t hi);
  Duration between(Duration lo, Duration hi);
  // Uniform in [0, 1) with 53 random bits.
  double unit();
  // True with probability p (p <= 0: never, p >= 1: always).
  bool chance(double p);
  // A new independent generator, so one consumer's draws never shift another's.
  Rng fork();

 private:
  std::uint64_t state_[4];
};

}  // namespace omni
