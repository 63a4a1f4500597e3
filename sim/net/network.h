#pragma once
// How one message fares on the simulated network: each copy gets a latency drawn uniformly
// from [latency_min, latency_max]; a message may be dropped, duplicated (the copy draws its
// own latency), or held back (reordered) by an extra hold so it lands after later messages.
#include <array>
#include <cstdint>

#include "model/core/rng.h"
#include "model/core/time.h"

namespace omni::sim {

struct NetworkConfig {
  Duration latency_min = 1ms;
  Duration latency_max = 5ms;
  double drop_probability = 0.0;
  double duplicate_probability = 0.0;
  double reorder_probability = 0.0;
  // A held-back message waits this much longer than its latency. Keep reorder_hold_min above
  // latency_max - latency_min so messages sent right after it overtake it.
  Duration reorder_hold_min = 5ms;
  Duration reorder_hold_max = 20ms;

  void validate() const;
};

struct DeliveryPlan {
  bool dropped = false;
  bool reordered = false;
  std::uint32_t copies = 0;  // 0 when dropped, 2 when duplicated
  std::array<Duration, 2> delays{};
};

// The random part of the network. Draws happen in a fixed order (drop, duplicate, reorder,
// latencies) so a seed replays.
DeliveryPlan plan_delivery(const NetworkConfig& config, Rng& rng);

}  // namespace omni::sim
