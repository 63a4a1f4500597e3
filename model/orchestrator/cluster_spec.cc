#include "model/orchestrator/cluster_spec.h"

#include <set>

#include "model/config/parse.h"
#include "model/config/resource_limits.h"
#include "model/core/assert.h"

namespace omni::orchestrator {
namespace {

config::Resources from_proto(const v1::Resources& r) {
  return {r.cpu_millis(), r.memory_bytes()};
}

// Above zero and within config::kMaxCpuMillis and kMaxMemoryBytes, as a parsed config is: the
// plan's sums of a spec's amounts must not overflow.
bool sound_amounts(const v1::Resources& r) {
  return config::is_valid_amount(from_proto(r));
}

std::optional<std::string> node_problem(const v1::NodeSpec& node) {
  if (!config::is_valid_name(node.name()))
    return "node name \"" + node.name() + "\" is not a DNS label";
  const std::string of = " of node " + node.name();
  if (node.role() != "worker") return "the role" + of + " is \"" + node.role() + "\", not worker";
  if (!sound_amounts(node.resources()))
    return "the resources" + of + " are not positive or are above Omni's limits";
  if (!config::is_valid_hypervisor(node.hypervisor()))
    return "the hypervisor" + of + " is neither local nor a libvirt URI";
  if (node.worker_vms() < 1 || node.worker_vms() > config::kMaxWorkerVmsPerNode)
    return "worker_vms" + of + " is not 1 to " + std::to_string(config::kMaxWorkerVmsPerNode);
  return std::nullopt;
}

}  // namespace

std::string node_key(const std::string& node) {
  return std::string(kNodePrefix) + node;
}
std::string vm_key(const std::string& vm) {
  return std::string(kVmPrefix) + vm;
}
std::string member_key(std::uint32_t replica) {
  return std::string(kMemberPrefix) + std::to_string(replica);
}
bool is_cluster_owned(const std::string& key) {
  return key.starts_with(kNodePrefix) || key.starts_with(kVmPrefix) ||
         key.starts_with(kMemberPrefix);
}

v1::Resources to_proto(const config::Resources& r) {
  v1::Resources out;
  out.set_cpu_millis(r.cpu_millis);
  out.set_memory_bytes(r.memory_bytes);
  return out;
}

v1::ClusterSpec to_cluster_spec(const config::ClusterConfig& config) {
  v1::ClusterSpec spec;
  spec.set_name(config.name);
  spec.set_orchestrators(static_cast<std::uint32_t>(config.orchestrators));
  *spec.mutable_director_vm() = to_proto(config.director_vm);
  *spec.mutable_orchestrator() = to_proto(config.orchestrator);
  for (const auto& node : config.nodes) {
    auto* n = spec.add_nodes();
    n->set_name(node.name);
    n->set_role(node.role);
    *n->mutable_resources() = to_proto(node.resources);
    n->set_hypervisor(node.hypervisor);
    n->set_worker_vms(static_cast<std::uint32_t>(node.worker_vms));
  }
  OMNI_ASSERT(spec.nodes_size() == static_cast<int>(config.nodes.size()));
  OMNI_ASSERT(spec.orchestrators() >= 1, "a parsed config has at least one Orchestrator");
  return spec;
}

std::optional<std::string> cluster_spec_problem(const v1::ClusterSpec& spec) {
  if (!config::is_valid_name(spec.name()))
    return "the cluster name \"" + spec.name() + "\" is not a DNS label";
  if (spec.orchestrators() < 1 ||
      spec.orchestrators() > static_cast<std::uint32_t>(config::kMaxOrchestrators))
    return "orchestrators is not 1 to " + std::to_string(config::kMaxOrchestrators);
  if (!sound_amounts(spec.director_vm()) || !sound_amounts(spec.orchestrator()))
    return "the Director VM and the Orchestrator need positive resources within Omni's limits";
  if (spec.nodes().empty() || static_cast<std::size_t>(spec.nodes_size()) > kMaxSpecNodes)
    return "a cluster has 1 to " + std::to_string(kMaxSpecNodes) + " nodes";
  // What the config parser checks and root::make_plan asserts: a replica a node, an odd count.
  if (spec.orchestrators() % 2 == 0) return "orchestrators is even";
  if (spec.orchestrators() > static_cast<std::uint32_t>(spec.nodes_size()))
    return "orchestrators is more than the nodes";
  std::set<std::string> names;
  std::int64_t worker_vms = 0;
  for (const auto& node : spec.nodes()) {
    if (auto problem = node_problem(node)) return problem;
    if (!names.insert(node.name()).second) return "node " + node.name() + " appears twice";
    worker_vms += node.worker_vms();
  }
  // Each becomes a VM of the plan, an Agent and a key: a spec from the wire must not ask for
  // millions, as a config may not.
  if (worker_vms > config::kMaxWorkerVms)
    return "more than " + std::to_string(config::kMaxWorkerVms) + " worker VMs in all";
  return std::nullopt;
}

config::ClusterConfig to_cluster_config(const v1::ClusterSpec& spec) {
  OMNI_ASSERT(!cluster_spec_problem(spec), "only a validated spec is converted");
  config::ClusterConfig config;
  config.name = spec.name();
  config.orchestrators = static_cast<int>(spec.orchestrators());
  config.director_vm = from_proto(spec.director_vm());
  config.orchestrator = from_proto(spec.orchestrator());
  for (const auto& n : spec.nodes()) {
    config::NodeConfig node;
    node.name = n.name();
    node.role = n.role();
    node.resources = from_proto(n.resources());
    node.hypervisor = n.hypervisor();
    node.worker_vms = static_cast<int>(n.worker_vms());
    config.nodes.push_back(std::move(node));
  }
  OMNI_ASSERT(config.nodes.size() == static_cast<std::size_t>(spec.nodes_size()));
  return config;
}

}  // namespace omni::orchestrator
