#pragma once
// The most any one amount of cpu or memory may be, wherever it comes from (a config or apps
// file, a hand-over, an app in the store, a RunContainers): far above any machine, and low
// enough that every sum the plan, the scheduler and the Agents make of them (a node's VMs, a
// VM's containers, up to a thousand replicas) stays exact in 64 bits.
#include <cstdint>

#include "model/config/cluster_config.h"

namespace omni::config {

inline constexpr std::int64_t kMaxCpuMillis = 1'000'000'000'000;        // a billion cores
inline constexpr std::int64_t kMaxMemoryBytes = std::int64_t{1} << 50;  // 1Pi

// Both amounts above zero and at most the limits.
inline bool is_valid_amount(const Resources& r) {
  return r.cpu_millis > 0 && r.cpu_millis <= kMaxCpuMillis && r.memory_bytes > 0 &&
         r.memory_bytes <= kMaxMemoryBytes;
}

}  // namespace omni::config
