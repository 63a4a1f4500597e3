#pragma once
// Fencing tokens (era, term): era 0 is the root with its init epoch, era 1 the Orchestrators
// with their Raft term. Pure helpers shared by the Director and the checkers.
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/proto/envelope.pb.h"

namespace omni {

inline constexpr std::uint32_t kRootEra = 0;
inline constexpr std::uint32_t kClusterEra = 1;
// Who may hold each era: the root (by its address) and the Orchestrator replicas, whose
// addresses start with this.
inline constexpr std::string_view kOrchestratorPrefix = "orchestrator:";
inline bool is_orchestrator_address(std::string_view address) {
  return address.size() > kOrchestratorPrefix.size() && address.starts_with(kOrchestratorPrefix);
}

struct FenceValue {
  std::uint32_t era = 0;
  std::uint64_t term = 0;
  auto operator<=>(const FenceValue&) const = default;
};

inline FenceValue fence_of(const v1::Fence& f) {
  return {f.era(), f.term()};
}
inline v1::Fence to_proto(FenceValue f) {
  v1::Fence out;
  out.set_era(f.era);
  out.set_term(f.term);
  return out;
}
std::string to_string(FenceValue f);

}  // namespace omni
