#pragma once
// The cluster config of docs/config.md as plain values (cpu in millicores, memory in bytes).
#include <cstdint>
#include <string>
#include <vector>

namespace omni::config {

// Where a value came from, for messages; 1-based like editors. Not part of a value's identity.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

struct Resources {
  std::int64_t cpu_millis = 0;
  std::int64_t memory_bytes = 0;
  bool operator==(const Resources&) const = default;
};

struct NodeConfig {
  std::string name;
  std::string role = "worker";
  Resources resources;
  std::string hypervisor = "local";  // "local" or a libvirt URI
  int worker_vms = 1;                // worker VMs sharing what the Director VM leaves
  SourceLocation where;              // the node's entry in the file

  bool operator==(const NodeConfig& other) const {
    return name == other.name && role == other.role && resources == other.resources &&
           hypervisor == other.hypervisor && worker_vms == other.worker_vms;
  }
};

inline constexpr int kDefaultOrchestrators = 3;
inline constexpr int kMaxOrchestrators = 7;
inline constexpr int kMaxWorkerVmsPerNode = 64;
inline constexpr std::size_t kMaxNodeNameLength = 63;

struct ClusterConfig {
  std::string name = "omni";
  int orchestrators = kDefaultOrchestrators;
  Resources director_vm{1000, 1LL << 30};   // the Director VM on every node
  Resources orchestrator{1000, 2LL << 30};  // one Orchestrator container
  std::vector<NodeConfig> nodes;

  bool operator==(const ClusterConfig&) const = default;
};

// The default replica count for a number of nodes: 3, or the largest odd count that fits on
// distinct nodes (1 for one or two nodes).
int default_orchestrators(std::size_t node_count);

}  // namespace omni::config
