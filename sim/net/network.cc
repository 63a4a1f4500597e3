#include "sim/net/network.h"

#include "model/core/assert.h"

namespace omni::sim {
namespace {

bool is_probability(double p) {
  return p >= 0.0 && p <= 1.0;
}

}  // namespace

void NetworkConfig::validate() const {
  OMNI_ASSERT(latency_min >= 0ns && latency_min <= latency_max, "latency range is empty");
  OMNI_ASSERT(reorder_hold_min >= 0ns && reorder_hold_min <= reorder_hold_max,
              "reorder hold range is empty");
  OMNI_ASSERT(is_probability(drop_probability), "drop_probability outside [0, 1]");
  OMNI_ASSERT(is_probability(duplicate_probability), "duplicate_probability outside [0, 1]");
  OMNI_ASSERT(is_probability(reorder_probability), "reorder_probability outside [0, 1]");
}

DeliveryPlan plan_delivery(const NetworkConfig& config, Rng& rng) {
  DeliveryPlan plan;
  if (rng.chance(config.drop_probability)) {
    plan.dropped = true;
    return plan;
  }
  plan.copies = rng.chance(config.duplicate_probability) ? 2 : 1;
  plan.reordered = rng.chance(config.reorder_probability);
  for (std::uint32_t i = 0; i < plan.copies; ++i) {
    plan.delays[i] = rng.between(config.latency_min, config.latency_max);
  }
  if (plan.reordered) {
    plan.delays[0] += rng.between(config.reorder_hold_min, config.reorder_hold_max);
  }
  OMNI_ASSERT(plan.copies >= 1 && plan.copies <= 2);
  OMNI_ASSERT(plan.delays[0] >= config.latency_min);
  return plan;
}

}  // namespace omni::sim
