#include "model/root/plan.h"

#include <algorithm>

#include "model/config/quantity.h"
#include "model/core/assert.h"

namespace omni::root {
namespace {

using config::Resources;

Resources minus(Resources a, Resources b) {
  return {a.cpu_millis - b.cpu_millis, a.memory_bytes - b.memory_bytes};
}

bool fits(Resources need, Resources have) {
  return need.cpu_millis <= have.cpu_millis && need.memory_bytes <= have.memory_bytes;
}

std::string describe(Resources r) {
  return config::format_cpu_millis(std::max<std::int64_t>(r.cpu_millis, 1)) + " cpu, " +
         config::format_memory_bytes(std::max<std::int64_t>(r.memory_bytes, 1)) + " memory";
}

// Worker VMs split evenly what the Director VM leaves; a remainder stays unallocated.
Resources worker_vm_size(const config::NodeConfig& node, Resources director) {
  OMNI_ASSERT(node.worker_vms >= 1);
  const Resources rest = minus(node.resources, director);
  return {rest.cpu_millis / node.worker_vms, rest.memory_bytes / node.worker_vms};
}

std::vector<PhaseStep> describe_phases(const config::ClusterConfig& c, int workers) {
  const auto n = std::to_string(c.nodes.size());
  const auto r = std::to_string(c.orchestrators);
  const auto certs = std::to_string(c.nodes.size() + static_cast<std::size_t>(workers) +
                                    static_cast<std::size_t>(c.orchestrators));
  return {
      {Phase::preflight, "validate the config; check reachability and capacity of " + n + " nodes"},
      {Phase::pki, "create the cluster CA and " + certs + " component certificates"},
      {Phase::directors, "ensure a Director VM on each of " + n + " nodes; wait for their hellos"},
      {Phase::workers, "ensure " + std::to_string(workers) +
                           " worker VMs, each booting an Agent; wait for their hellos"},
      {Phase::orchestrators, "start " + r + " Orchestrator containers on distinct nodes"},
      {Phase::reg, "the Orchestrators elect a leader and commit the initial cluster state"},
      {Phase::takeover, "the leader takes control of " + n + " Directors with its term"},
      {Phase::verify,
       "confirm a healthy quorum, every Director controlled, a committed round trip"},
      {Phase::teardown, "remove what only the root used; the root exits"},
  };
}

}  // namespace

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::preflight:
      return "preflight";
    case Phase::pki:
      return "pki";
    case Phase::directors:
      return "directors";
    case Phase::workers:
      return "workers";
    case Phase::orchestrators:
      return "orchestrators";
    case Phase::reg:
      return "register";
    case Phase::takeover:
      return "takeover";
    case Phase::verify:
      return "verify";
    case Phase::teardown:
      return "teardown";
    case Phase::done:
      return "done";
  }
  OMNI_ASSERT(false, "unknown phase");
  return "";
}

int quorum_of(int voters) {
  OMNI_ASSERT(voters > 0);
  const int quorum = voters / 2 + 1;
  OMNI_ASSERT(quorum * 2 > voters);
  return quorum;
}

std::string director_vm_name(std::string_view cluster, std::string_view node) {
  return std::string(cluster) + "-" + std::string(node) + "-director";
}

std::string worker_vm_name(std::string_view cluster, std::string_view node, int index) {
  OMNI_ASSERT(index >= 1);
  return std::string(cluster) + "-" + std::string(node) + "-worker-" + std::to_string(index);
}

std::string replica_name(std::string_view cluster, int replica) {
  OMNI_ASSERT(replica >= 1);
  return std::string(cluster) + "-orchestrator-" + std::to_string(replica);
}

PlanResult make_plan(const config::ClusterConfig& c) {
  OMNI_ASSERT(!c.nodes.empty());
  OMNI_ASSERT(c.orchestrators % 2 == 1 && c.orchestrators <= static_cast<int>(c.nodes.size()));
  Plan plan;
  plan.cluster = c.name;
  plan.orchestrators = c.orchestrators;
  plan.quorum = quorum_of(c.orchestrators);
  std::vector<config::Diagnostic> errors;
  int workers = 0;
  for (const auto& node : c.nodes) {
    const Resources worker = worker_vm_size(node, c.director_vm);
    const Resources need_per_worker = c.orchestrator;
    if (!fits(c.director_vm, node.resources) || !fits(need_per_worker, worker)) {
      errors.push_back({node.where, "node \"" + node.name + "\" has " + describe(node.resources) +
                                        ", too little for a Director VM (" +
                                        describe(c.director_vm) + ") and " +
                                        std::to_string(node.worker_vms) +
                                        " worker VM(s) of at least " + describe(need_per_worker)});
      continue;
    }
    plan.vms.push_back(
        {director_vm_name(c.name, node.name), node.name, VmRole::director, 0, c.director_vm});
    for (int i = 1; i <= node.worker_vms; ++i)
      plan.vms.push_back(
          {worker_vm_name(c.name, node.name, i), node.name, VmRole::worker, i, worker});
    workers += node.worker_vms;
    const Resources used{c.director_vm.cpu_millis + worker.cpu_millis * node.worker_vms,
                         c.director_vm.memory_bytes + worker.memory_bytes * node.worker_vms};
    const Resources app{worker.cpu_millis * node.worker_vms, worker.memory_bytes * node.worker_vms};
    plan.capacity.push_back(
        {node.name, node.hypervisor, node.resources, minus(node.resources, used), app});
  }
  if (!errors.empty()) return errors;
  // Replicas go on distinct nodes: the first N nodes in config order, so a person can predict
  // and choose placement by ordering the file; each in the node's first worker VM.
  for (int r = 1; r <= c.orchestrators; ++r) {
    const auto& node = c.nodes[static_cast<std::size_t>(r - 1)];
    plan.replicas.push_back({r, replica_name(c.name, r), node.name,
                             worker_vm_name(c.name, node.name, 1), c.orchestrator});
    auto& cap = plan.capacity[static_cast<std::size_t>(r - 1)];
    cap.app_free = minus(cap.app_free, c.orchestrator);
    OMNI_ASSERT(cap.app_free.cpu_millis >= 0 && cap.app_free.memory_bytes >= 0);
  }
  plan.phases = describe_phases(c, workers);
  OMNI_ASSERT(static_cast<int>(plan.replicas.size()) == c.orchestrators);
  return plan;
}

}  // namespace omni::root
