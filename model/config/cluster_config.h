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

// An application the cluster runs and heals: `replicas` containers of `image`, placed on
// worker VMs within their free capacity.
struct AppConfig {
  std::string name;
  std::string image;
  std::string archive;  // an OCI archive to import when the image is missing (optional)
  std::vector<std::string> args;
  int replicas = 1;
  Resources resources{100, 128LL << 20};
  bool spread = true;  // `spread: nodes`: replicas go to different nodes first; `none`: pack
  SourceLocation where;

  bool operator==(const AppConfig& other) const {
    return name == other.name && image == other.image && archive == other.archive &&
           args == other.args && replicas == other.replicas && resources == other.resources &&
           spread == other.spread;
  }
};

inline constexpr int kMaxAppReplicas = 1000;
inline constexpr std::size_t kMaxApps = 1000;
inline constexpr std::size_t kMaxAppArgs = 64;
inline constexpr int kDefaultOrchestrators = 3;
inline constexpr int kMaxOrchestrators = 7;
inline constexpr int kMaxWorkerVmsPerNode = 64;
// A cluster's size as a config may state it: 100,000 nodes is the largest simulated, and
// the worker VMs of all nodes together bound the plan (each becomes a VM, an Agent and keys).
inline constexpr std::size_t kMaxNodes = 100'000;
inline constexpr std::int64_t kMaxWorkerVms = 200'000;
inline constexpr std::size_t kMaxNodeNameLength = 63;
// A libvirt URI is a host and a few parameters; every node's is kept in the cluster's state.
inline constexpr std::size_t kMaxHypervisorUriLength = 256;

struct ClusterConfig {
  std::string name = "omni";
  int orchestrators = kDefaultOrchestrators;
  Resources director_vm{1000, 1LL << 30};   // the Director VM on every node
  Resources orchestrator{1000, 2LL << 30};  // one Orchestrator container
  std::vector<NodeConfig> nodes;
  std::vector<AppConfig> apps;

  bool operator==(const ClusterConfig&) const = default;
};

// The default replica count for a number of nodes: 3, or the largest odd count that fits on
// distinct nodes (1 for one or two nodes).
int default_orchestrators(std::size_t node_count);

}  // namespace omni::config
