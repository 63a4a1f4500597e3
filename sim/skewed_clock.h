#pragma once
// A process's local clock. It runs at `rate` times simulated time (1.0: exact) and never goes
// back, not even when the rate changes: a rate change re-anchors the clock where it stands.
#include <cstdint>

#include "model/core/time.h"

namespace omni::sim {

// The rates a clock may run at: a hundred times slow or fast at most.
inline constexpr double kMinClockRate = 0.01;
inline constexpr double kMaxClockRate = 100.0;

class SkewedClock {
 public:
  // The local time at simulated time `sim_now`; monotonic across calls.
  Time local_at(Time sim_now);
  // Simulated time that must pass for the local clock to advance by `local` (rounded up).
  Duration sim_duration_for(Duration local) const;
  void set_rate(Time sim_now, double rate);
  double rate() const { return rate_; }

 private:
  std::int64_t sim_anchor_ns_ = 0;
  std::int64_t local_anchor_ns_ = 0;
  std::int64_t last_local_ns_ = 0;
  double rate_ = 1.0;
};

}  // namespace omni::sim
