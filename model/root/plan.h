#pragma once
// The bootstrap plan: what `omni init` will create, where, and with what left over. Computed
// from the config alone (pure), shown by `omni init --dry-run` and followed by the Root.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/config/cluster_config.h"
#include "model/config/parse.h"

namespace omni::root {

enum class Phase {
  preflight,
  pki,
  directors,
  workers,
  orchestrators,
  reg,  // "register" is a C++ keyword
  takeover,
  verify,
  teardown,
  done,
};

inline constexpr std::array<Phase, 10> kPhases{
    Phase::preflight, Phase::pki,      Phase::directors, Phase::workers,  Phase::orchestrators,
    Phase::reg,       Phase::takeover, Phase::verify,    Phase::teardown, Phase::done};

std::string_view phase_name(Phase phase);

enum class VmRole { director, worker };

struct PlannedVm {
  std::string name;  // deterministic: CLUSTER-NODE-ROLE[-INDEX]
  std::string node;
  VmRole role = VmRole::worker;
  int index = 0;  // 0 for the Director VM, 1.. for worker VMs
  config::Resources resources;
};

struct PlannedReplica {
  int replica = 0;   // 1..N
  std::string name;  // CLUSTER-orchestrator-N
  std::string node;
  std::string vm;
  config::Resources resources;
};

struct NodeCapacity {
  std::string node;
  std::string hypervisor;
  config::Resources total;
  config::Resources unallocated;  // on the node, outside every VM
  config::Resources app_free;     // inside the node's worker VMs, after Orchestrators
};

struct PhaseStep {
  Phase phase;
  std::string summary;  // one sentence a person reads before anything is created
};

struct Plan {
  std::string cluster;
  int orchestrators = 0;
  int quorum = 0;
  std::vector<PhaseStep> phases;
  std::vector<PlannedVm> vms;            // ordered by node, then index
  std::vector<PlannedReplica> replicas;  // ordered by replica number
  std::vector<NodeCapacity> capacity;    // ordered as the nodes in the config
};

using PlanResult = std::variant<Plan, std::vector<config::Diagnostic>>;

// Fails, with the node's location in the config, when a node cannot hold its Director VM and
// worker VMs, or too few nodes can hold an Orchestrator replica.
PlanResult make_plan(const config::ClusterConfig& config);

int quorum_of(int voters);
std::string director_vm_name(std::string_view cluster, std::string_view node);
std::string worker_vm_name(std::string_view cluster, std::string_view node, int index);
std::string replica_name(std::string_view cluster, int replica);

}  // namespace omni::root
