#pragma once
// What a component asks of the infrastructure. The simulator answers these with simulated
// hypervisors and container runtimes; node/ answers them with drivers/ (libvirt, containerd).
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace omni {

enum class VmOpKind { create, start, stop, destroy, list };

// `create` defines and boots (the Root and Directors never send a start after it); `list`
// answers every VM of the node and which of them run. Names are the plan's (model/root/plan.h).
struct VmOp {
  VmOpKind kind = VmOpKind::list;
  std::string node;  // whose hypervisor; the root reaches every node's, a Director only its own
  std::string name;  // deterministic: cluster, node, role, index
  std::int64_t cpu_millis = 0;
  std::int64_t memory_bytes = 0;
  std::map<std::string, std::string> metadata;  // ordered, so it serializes the same way
  // stop: power off at once, as a pulled plug; a hung guest ignores a request to shut down.
  bool force{};
};

enum class ContainerOpKind { import_image, create, start, stop, kill, remove, list };

// `create` creates and starts (like `ctr run`); a container of that name that does not run is
// given the op's image, args and resources and started again. `list` answers every container
// and which of them run, so an Agent can remove one it no longer wants even after it exited.
struct ContainerOp {
  ContainerOpKind kind = ContainerOpKind::list;
  std::string name;
  std::string image;
  std::vector<std::string> args;
  std::int64_t cpu_millis = 0;
  std::int64_t memory_bytes = 0;
  std::string archive{};  // create: an OCI archive to import `image` from when it is missing
};

enum class DriverStatus { ok, not_found, already_exists, no_capacity, unavailable, failed };

// For VM `list`: the VMs that exist, sorted; `running` says which of them run.
struct DriverResult {
  DriverStatus status = DriverStatus::ok;
  std::string message;               // for a person: what failed and why
  std::vector<std::string> names;    // list results, sorted
  std::vector<std::string> running;  // list results: the subset of names that run, sorted
};

using DriverOp = std::variant<VmOp, ContainerOp>;

}  // namespace omni
