#pragma once
// Names shared by the Raft core, its log and its host.
#include <cstdint>
#include <string>

#include "model/core/step.h"

namespace omni::raft {

using NodeId = Address;  // a replica is addressed by its component address
using Index = std::uint64_t;
using Term = std::uint64_t;

enum class Role { follower, pre_candidate, candidate, leader };

const char* role_name(Role role);

}  // namespace omni::raft
