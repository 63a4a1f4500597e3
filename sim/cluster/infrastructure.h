#pragma once
// Simulated infrastructure: a hypervisor per node (capacity, VM boot time, power) and a
// container runtime per worker VM. Components live where the design puts them: the Director
// in its VM on its node, an Agent in each worker VM, Orchestrators in containers, the root on
// "root-host". A VM that stops takes its Agent and containers with it; a node that loses power
// takes everything on it.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "model/config/cluster_config.h"
#include "sim/driver.h"
#include "sim/scenario/scenario.h"
#include "sim/simulation.h"

namespace omni::sim {

inline const std::string kRootHost = "root-host";

struct SimContainer {
  config::Resources resources;
  std::string image;
  std::vector<std::string> args;
  bool running = false;
  std::uint64_t generation = 0;  // bumps at every (re)start so stale start events are ignored
  Address process;               // the component it runs, if any
};

struct SimVm {
  std::string node;
  std::string role;  // director | worker
  config::Resources resources;
  bool running = false;
  bool booting = false;
  std::uint64_t generation = 0;  // bumps at every boot and stop
  std::map<std::string, SimContainer> containers;
};

struct SimNode {
  config::Resources capacity;
  bool powered = true;
  std::map<std::string, SimVm> vms;
};

// Builds the component a started VM or container runs (the run wires in its configuration).
struct ComponentFactories {
  std::function<ComponentFactory(const std::string& node, const std::string& vm)> director;
  std::function<ComponentFactory(const std::string& node, const std::string& vm,
                                 const config::Resources& vm_resources)>
      agent;
  // nullptr address when the image or args are not a component we know.
  std::function<std::pair<Address, ComponentFactory>(const SimContainer& container)> container;
};

class Infrastructure final : public DriverHandler {
 public:
  Infrastructure(Simulation& sim, const Scenario& scenario, ComponentFactories factories);

  void call(const Address& caller, const DriverTicket& ticket, const DriverOp& op,
            DriverHost& host) override;

  // Where an address runs: a node name, or root-host.
  std::string location_of(const Address& address) const;

  // Faults.
  void stop_vm(const std::string& vm);
  void boot_vm(const std::string& vm, Duration after);
  void power_off(const std::string& node);
  void power_on(const std::string& node);
  // Stops the container running `process`. Its Agent restarts it as it would after any crash;
  // with `hold_for`, the process itself comes back no earlier than that (a scenario's
  // `restart_after` on an Orchestrator).
  void stop_container_of(const Address& process, std::optional<Duration> hold_for = {});
  // A process stopped by itself (fail-stop on a disk error): a container's main process takes
  // its container down, which its Agent sees; a VM's Director or Agent is the guest's init,
  // whose death takes the VM down, which its Director (or, for a Director VM, the leader) sees.
  void on_process_exit(const Address& process);

  const std::map<std::string, SimNode>& nodes() const { return nodes_; }
  const SimVm* find_vm(const std::string& vm) const;
  // Nodes whose VMs or containers changed since the last call (for incremental checkers).
  std::set<std::string> take_dirty_nodes();
  bool has_dirty_nodes() const { return !dirty_.empty(); }
  // TEST ONLY: the hypervisors and container runtimes create what they are asked even past
  // capacity, so the over-commit checker judges the model's own decisions.
  void testing_accept_overcommit() { accept_overcommit_ = true; }
  // TEST ONLY: an Orchestrator whose process stops loses its whole disk, synced or not.
  void testing_forget_orchestrator_disks() { forget_orchestrator_disks_ = true; }

 private:
  void vm_call(const Address& caller, const DriverTicket& ticket, const VmOp& op, DriverHost& host);
  void container_call(const Address& caller, const DriverTicket& ticket, const ContainerOp& op,
                      DriverHost& host);
  DriverResult create_vm(const VmOp& op);
  DriverResult create_container(const std::string& vm, const ContainerOp& op);
  void start_container(const std::string& vm, const std::string& name, Duration after);
  void start_process(const Address& address, ComponentFactory factory, Duration after);
  void stop_process(const Address& address);
  std::string vm_of(const Address& process) const;
  Duration draw(const DurationRange& range);
  static Duration answer_delay() { return 10ms; }

  // A node found by name, and its hypervisor's address id once something has reached for it:
  // VM calls are a fifth of a 10,000-node run, and each one searched the ordered map by name
  // and built and hashed the hypervisor's address.
  struct NodeRef {
    SimNode* node = nullptr;  // into nodes_, whose entries live as long as this
    std::optional<AddressId> hypervisor;
  };
  NodeRef* find_node(const std::string& name);
  // The VM of that name where vm_node_ says it is, or null (find_vm's answer, for writing).
  SimVm* vm_named(const std::string& name);
  void forget_vm(const std::string& name, const SimVm* vm);
  AddressId hypervisor_of(NodeRef& ref, const std::string& name);

  Simulation& sim_;
  const Scenario& scenario_;
  ComponentFactories factories_;
  std::map<std::string, SimNode> nodes_;  // never gains or loses a node after construction
  std::unordered_map<std::string, NodeRef> node_refs_;  // lookup only, never iterated
  std::map<std::string, std::string> vm_node_;          // vm -> node
  // vm -> the VM on vm_node_'s node, kept where VMs are created and destroyed: two ordered
  // searches by name (a 10,000-node run has 20,000 VMs) were a tenth of the run.
  std::unordered_map<std::string, SimVm*> vm_index_;  // lookup only, never iterated
  std::map<Address, std::string> process_vm_;         // agent / container process -> vm
  std::map<Address, std::string> registered_;         // processes ever added -> vm
  std::map<Address, Time> held_down_until_;           // container processes a fault keeps down
  std::set<std::string> dirty_;
  bool accept_overcommit_ = false;
  bool forget_orchestrator_disks_ = false;
};

}  // namespace omni::sim
