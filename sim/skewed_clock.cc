#include "sim/skewed_clock.h"

#include <cmath>

#include "model/core/assert.h"

namespace omni::sim {

Time SkewedClock::local_at(Time sim_now) {
  const std::int64_t elapsed_ns = ns_of(sim_now) - sim_anchor_ns_;
  OMNI_ASSERT(elapsed_ns >= 0, "simulated time went backwards");
  std::int64_t local_ns = local_anchor_ns_ + elapsed_ns;
  if (rate_ != 1.0) {
    local_ns = local_anchor_ns_ +
               static_cast<std::int64_t>(std::llround(static_cast<double>(elapsed_ns) * rate_));
  }
  if (local_ns < last_local_ns_) local_ns = last_local_ns_;
  last_local_ns_ = local_ns;
  OMNI_ASSERT(local_ns >= local_anchor_ns_);
  return time_from_ns(local_ns);
}

Duration SkewedClock::sim_duration_for(Duration local) const {
  OMNI_ASSERT(rate_ > 0.0);
  if (local <= 0ns) return 0ns;
  if (rate_ == 1.0) return local;
  const double sim_ns = std::ceil(static_cast<double>(ns_of(local)) / rate_);
  OMNI_ASSERT(sim_ns >= 0.0 && sim_ns < 9.0e18, "timer too far in the future");
  return Duration{static_cast<std::int64_t>(sim_ns)};
}

void SkewedClock::set_rate(Time sim_now, double rate) {
  OMNI_ASSERT(rate >= kMinClockRate && rate <= kMaxClockRate, "clock rate outside [0.01, 100]");
  const Time local_now = local_at(sim_now);
  sim_anchor_ns_ = ns_of(sim_now);
  local_anchor_ns_ = ns_of(local_now);
  rate_ = rate;
  OMNI_ASSERT(local_at(sim_now) == local_now, "a rate change must not move the clock");
}

}  // namespace omni::sim
