#include "sim/cluster/infrastructure.h"

#include <algorithm>

#include "model/config/quantity.h"
#include "model/core/assert.h"

namespace omni::sim {
namespace {

constexpr std::string_view kAgentPrefix = "agent:";
constexpr std::string_view kDirectorPrefix = "director:";

std::string after_prefix(const Address& a, std::string_view prefix) {
  return a.rfind(prefix, 0) == 0 ? a.substr(prefix.size()) : "";
}

DriverResult result(DriverStatus status, std::string message = "") {
  DriverResult r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

config::Resources used_by(const SimNode& node) {
  config::Resources used;
  for (const auto& [name, vm] : node.vms) {
    used.cpu_millis += vm.resources.cpu_millis;
    used.memory_bytes += vm.resources.memory_bytes;
  }
  return used;
}

config::Resources used_by(const SimVm& vm) {
  config::Resources used;
  for (const auto& [name, c] : vm.containers) {
    used.cpu_millis += c.resources.cpu_millis;
    used.memory_bytes += c.resources.memory_bytes;
  }
  return used;
}

// Whether `op`'s container fits the VM beside the others, `replaced` (what a container being
// given a new spec holds now) left out.
bool fits(const SimVm& vm, const ContainerOp& op, const config::Resources& replaced) {
  const config::Resources used = used_by(vm);
  return used.memory_bytes - replaced.memory_bytes + op.memory_bytes <= vm.resources.memory_bytes &&
         used.cpu_millis - replaced.cpu_millis + op.cpu_millis <= vm.resources.cpu_millis;
}

std::string memory_text(std::int64_t bytes) {
  return bytes > 0 ? config::format_memory_bytes(bytes) : "0";
}

}  // namespace

Infrastructure::Infrastructure(Simulation& sim, const Scenario& scenario,
                               ComponentFactories factories)
    : sim_(sim), scenario_(scenario), factories_(std::move(factories)) {
  for (const auto& node : scenario_.cluster.nodes) {
    const auto real = scenario_.hypervisor_capacity.find(node.name);
    nodes_[node.name].capacity =
        real != scenario_.hypervisor_capacity.end() ? real->second : node.resources;
  }
  for (auto& [name, node] : nodes_) node_refs_.emplace(name, NodeRef{&node, std::nullopt});
  OMNI_ASSERT(!nodes_.empty() && node_refs_.size() == nodes_.size());
  OMNI_ASSERT(factories_.director && factories_.agent && factories_.container);
}

Infrastructure::NodeRef* Infrastructure::find_node(const std::string& name) {
  const auto it = node_refs_.find(name);
  return it == node_refs_.end() ? nullptr : &it->second;
}

// Interned when first reached for, as the lookup by name did: ids are in the trace.
AddressId Infrastructure::hypervisor_of(NodeRef& ref, const std::string& name) {
  if (!ref.hypervisor) ref.hypervisor = sim_.address_id("hypervisor:" + name);
  return *ref.hypervisor;
}

std::string Infrastructure::location_of(const Address& address) const {
  if (const std::string node = after_prefix(address, kDirectorPrefix); !node.empty()) return node;
  if (address.rfind("hypervisor:", 0) == 0) return address.substr(11);
  if (const auto it = process_vm_.find(address); it != process_vm_.end()) {
    const auto vm = vm_node_.find(it->second);
    if (vm != vm_node_.end()) return vm->second;
  }
  if (const std::string vm = after_prefix(address, kAgentPrefix); !vm.empty()) {
    const auto it = vm_node_.find(vm);
    if (it != vm_node_.end()) return it->second;
  }
  return kRootHost;
}

void Infrastructure::call(const Address& caller, const DriverTicket& ticket, const DriverOp& op,
                          DriverHost& host) {
  if (const auto* vm = std::get_if<VmOp>(&op)) vm_call(caller, ticket, *vm, host);
  if (const auto* c = std::get_if<ContainerOp>(&op)) container_call(caller, ticket, *c, host);
}

// VMs ----------------------------------------------------------------------------------------

void Infrastructure::vm_call(const Address& caller, const DriverTicket& ticket, const VmOp& op,
                             DriverHost& host) {
  NodeRef* const ref = find_node(op.node);
  const bool a_director = caller.rfind(kDirectorPrefix, 0) == 0;
  if (ref == nullptr ||
      (a_director && std::string_view(caller).substr(kDirectorPrefix.size()) != op.node)) {
    host.complete(ticket, answer_delay(),
                  result(DriverStatus::not_found, "no such node: " + op.node));
    return;
  }
  SimNode* const node = ref->node;
  OMNI_ASSERT(node != nullptr && ticket.process < sim_.addresses().size());
  // The root reaches a hypervisor over the network: a partition or a dead node stops it.
  if (!node->powered || sim_.link_blocked(ticket.process, hypervisor_of(*ref, op.node))) {
    host.complete(ticket, answer_delay(),
                  result(DriverStatus::unavailable, "cannot reach the hypervisor of " + op.node));
    return;
  }
  DriverResult r;
  switch (op.kind) {
    case VmOpKind::list:
      for (const auto& [name, vm] : node->vms) {
        r.names.push_back(name);
        if (vm.running || vm.booting) r.running.push_back(name);  // as libvirt: booting is running
      }
      break;
    case VmOpKind::create:
      r = create_vm(op);
      break;
    case VmOpKind::start: {
      const auto it = node->vms.find(op.name);
      if (it == node->vms.end())
        r = result(DriverStatus::not_found, "no VM " + op.name);
      else if (!it->second.running)
        boot_vm(op.name, draw(scenario_.timing.vm_boot));
      break;
    }
    case VmOpKind::stop:
      stop_vm(op.name);
      break;
    case VmOpKind::destroy:
      stop_vm(op.name);
      if (const auto it = node->vms.find(op.name); it != node->vms.end()) {
        forget_vm(op.name, &it->second);
        node->vms.erase(it);
      }
      dirty_.insert(op.node);
      break;
  }
  host.complete(ticket, answer_delay(), std::move(r));
}

DriverResult Infrastructure::create_vm(const VmOp& op) {
  SimNode& node = nodes_.at(op.node);
  if (const auto it = node.vms.find(op.name); it != node.vms.end()) {
    if (!it->second.running) boot_vm(op.name, draw(scenario_.timing.vm_boot));
    return result(DriverStatus::already_exists, "VM " + op.name + " exists");
  }
  const config::Resources used = used_by(node);
  const std::int64_t free_memory = node.capacity.memory_bytes - used.memory_bytes;
  const std::int64_t free_cpu = node.capacity.cpu_millis - used.cpu_millis;
  if ((op.memory_bytes > free_memory || op.cpu_millis > free_cpu) && !accept_overcommit_)
    return result(DriverStatus::no_capacity,
                  "not enough memory on " + op.node + " for VM " + op.name + ": need " +
                      memory_text(op.memory_bytes) + ", " + memory_text(free_memory) + " free");
  const auto role = op.metadata.find("role");
  node.vms[op.name] = SimVm{op.node,
                            role == op.metadata.end() ? "worker" : role->second,
                            {op.cpu_millis, op.memory_bytes},
                            false,
                            false,
                            0,
                            {}};
  vm_node_[op.name] = op.node;
  vm_index_[op.name] = &node.vms.at(op.name);
  dirty_.insert(op.node);
  boot_vm(op.name, draw(scenario_.timing.vm_boot));
  OMNI_ASSERT(accept_overcommit_ || used_by(node).memory_bytes <= node.capacity.memory_bytes,
              "the hypervisor never over-commits");
  return {};
}

void Infrastructure::boot_vm(const std::string& name, Duration after) {
  SimVm* vm = vm_named(name);
  if (vm == nullptr) return;
  if (vm->booting || vm->running) return;  // starting a VM that is starting changes nothing
  vm->booting = true;
  const std::uint64_t generation = ++vm->generation;
  sim_.after(after, [this, name, generation](Simulation&) {
    SimVm* const booted = vm_named(name);
    if (booted == nullptr || booted->generation != generation || booted->running ||
        !nodes_.at(booted->node).powered)
      return;
    booted->running = true;
    booted->booting = false;
    const std::string node = booted->node;
    dirty_.insert(node);
    if (booted->role == "director") {
      start_process("director:" + node, factories_.director(node, name), 0ns);
    } else {
      const Address agent = std::string(kAgentPrefix) + name;
      process_vm_[agent] = name;
      start_process(agent, factories_.agent(node, name, booted->resources), 0ns);
    }
  });
}

void Infrastructure::stop_vm(const std::string& name) {
  SimVm* const found = vm_named(name);
  if (found == nullptr) return;
  SimVm& vm = *found;
  ++vm.generation;
  vm.booting = false;
  dirty_.insert(vm.node);
  if (!vm.running) return;
  vm.running = false;
  if (vm.role == "director")
    stop_process("director:" + vm.node);
  else
    stop_process(std::string(kAgentPrefix) + name);
  for (auto& [cname, c] : vm.containers) {
    c.running = false;
    ++c.generation;
    if (!c.process.empty()) stop_process(c.process);
  }
  vm.containers.clear();  // a VM's containers do not survive it
}

void Infrastructure::power_off(const std::string& node_name) {
  SimNode& node = nodes_.at(node_name);
  for (auto& [name, vm] : node.vms) stop_vm(name);
  node.powered = false;
  dirty_.insert(node_name);
}

// Power comes back: the hypervisor autostarts the Director VM (as libvirt's autostart would);
// the Director starts its worker VMs from its checkpoint.
void Infrastructure::power_on(const std::string& node_name) {
  SimNode& node = nodes_.at(node_name);
  if (node.powered) return;
  node.powered = true;
  for (const auto& [name, vm] : node.vms)
    if (vm.role == "director") boot_vm(name, draw(scenario_.timing.vm_boot));
}

// Containers -----------------------------------------------------------------------------------

void Infrastructure::container_call(const Address& caller, const DriverTicket& ticket,
                                    const ContainerOp& op, DriverHost& host) {
  const std::string vm_name = after_prefix(caller, kAgentPrefix);
  SimVm* const found = vm_name.empty() ? nullptr : vm_named(vm_name);
  if (found == nullptr) {
    host.complete(ticket, answer_delay(),
                  result(DriverStatus::unavailable, "no container runtime here"));
    return;
  }
  SimVm& vm = *found;
  DriverResult r;
  switch (op.kind) {
    case ContainerOpKind::list:
      for (const auto& [name, c] : vm.containers) {
        r.names.push_back(name);
        if (c.running) r.running.push_back(name);
      }
      break;
    case ContainerOpKind::create:
      r = create_container(vm_name, op);
      break;
    case ContainerOpKind::start:
      start_container(vm_name, op.name, draw(scenario_.timing.container_start));
      break;
    case ContainerOpKind::import_image:
      break;
    case ContainerOpKind::stop:
    case ContainerOpKind::kill:
    case ContainerOpKind::remove:
      if (const auto it = vm.containers.find(op.name); it != vm.containers.end()) {
        if (!it->second.process.empty()) stop_process(it->second.process);
        if (op.kind == ContainerOpKind::remove)
          vm.containers.erase(it);
        else
          it->second.running = false;
      }
      dirty_.insert(vm.node);
      break;
  }
  host.complete(ticket, answer_delay(), std::move(r));
}

// Answered once the container runs, like `ctr run -d`: the container-start delay is the answer's.
DriverResult Infrastructure::create_container(const std::string& vm_name, const ContainerOp& op) {
  SimVm* const found = vm_named(vm_name);
  OMNI_ASSERT(found != nullptr, "a container is created in a VM that exists");
  SimVm& vm = *found;
  if (const auto it = vm.containers.find(op.name); it != vm.containers.end()) {
    SimContainer& c = it->second;
    if (c.running) return result(DriverStatus::already_exists, "container " + op.name + " exists");
    // An exited container starts again with the op's spec, not the one it had.
    if (!fits(vm, op, c.resources) && !accept_overcommit_)
      return result(DriverStatus::no_capacity, "not enough room in " + vm_name + " for " + op.name);
    c.resources = {op.cpu_millis, op.memory_bytes};
    c.image = op.image;
    c.args = op.args;
    start_container(vm_name, op.name, draw(scenario_.timing.container_start));
    return result(DriverStatus::already_exists, "container " + op.name + " exists (restarted)");
  }
  if (!fits(vm, op, {}) && !accept_overcommit_)
    return result(DriverStatus::no_capacity, "not enough room in " + vm_name + " for " + op.name);
  vm.containers[op.name] =
      SimContainer{{op.cpu_millis, op.memory_bytes}, op.image, op.args, false, 0, ""};
  start_container(vm_name, op.name, draw(scenario_.timing.container_start));
  OMNI_ASSERT(accept_overcommit_ || used_by(vm).memory_bytes <= vm.resources.memory_bytes,
              "a VM is never over-committed");
  return {};
}

void Infrastructure::start_container(const std::string& vm_name, const std::string& name,
                                     Duration after) {
  SimVm* const found = vm_named(vm_name);
  OMNI_ASSERT(found != nullptr, "a container starts in a VM that exists");
  SimVm& vm = *found;
  const auto it = vm.containers.find(name);
  if (it == vm.containers.end() || it->second.running) return;
  const std::uint64_t generation = ++it->second.generation;
  const std::uint64_t vm_generation = vm.generation;
  sim_.after(after, [this, vm_name, name, generation, vm_generation](Simulation&) {
    SimVm* const v = vm_named(vm_name);
    if (v == nullptr || !v->running || v->generation != vm_generation) return;
    const auto c = v->containers.find(name);
    if (c == v->containers.end() || c->second.generation != generation) return;
    c->second.running = true;
    dirty_.insert(v->node);
    auto [address, factory] = factories_.container(c->second);
    if (address.empty()) return;  // an image we cannot run: it "runs" and does nothing
    c->second.process = address;
    process_vm_[address] = vm_name;
    const auto held = held_down_until_.find(address);
    const Duration hold = held == held_down_until_.end() || held->second <= sim_.now()
                              ? Duration{0}
                              : held->second - sim_.now();
    start_process(address, std::move(factory), hold);
  });
}

void Infrastructure::stop_container_of(const Address& process, std::optional<Duration> hold_for) {
  if (hold_for) held_down_until_[process] = sim_.now() + *hold_for;
  const auto vm_it = process_vm_.find(process);
  if (vm_it == process_vm_.end()) return;
  SimVm* const vm = vm_named(vm_it->second);
  if (vm == nullptr) return;
  for (auto& [name, c] : vm->containers)
    if (c.process == process) {
      c.running = false;
      ++c.generation;
    }
  const std::string node = vm->node;
  stop_process(process);
  dirty_.insert(node);
}

void Infrastructure::on_process_exit(const Address& process) {
  if (sim_.is_up(process)) return;  // restarted meanwhile: nothing stopped for good
  const std::string vm_name = vm_of(process);
  SimVm* const found = vm_name.empty() ? nullptr : vm_named(vm_name);
  if (found == nullptr) return;  // the root: nothing supervises it
  SimVm& vm = *found;
  if (!vm.running) return;
  for (auto& [name, c] : vm.containers)
    if (c.process == process && c.running) {
      c.running = false;
      ++c.generation;
      dirty_.insert(vm.node);
      return;
    }
  const bool is_vm_init = process == std::string(kDirectorPrefix) + vm.node ||
                          process == std::string(kAgentPrefix) + vm_name;
  if (is_vm_init) stop_vm(vm_name);
}

std::string Infrastructure::vm_of(const Address& process) const {
  if (const auto it = process_vm_.find(process); it != process_vm_.end()) return it->second;
  const std::string node = after_prefix(process, kDirectorPrefix);
  const auto n = nodes_.find(node);
  if (node.empty() || n == nodes_.end()) return "";
  for (const auto& [name, vm] : n->second.vms)
    if (vm.role == "director") return name;
  return "";
}

// Processes --------------------------------------------------------------------------------------

void Infrastructure::start_process(const Address& address, ComponentFactory factory,
                                   Duration after) {
  // A peer may have named this process before it ran anywhere (a replica sends to the others
  // as soon as it starts): from now on the network sees it where it runs.
  sim_.relocate(address);
  if (registered_.count(address) == 0) {
    registered_[address] = "";
    sim_.add_process(address, std::move(factory), after);
    return;
  }
  sim_.restart(address, after);  // the same factory: a process's configuration is its address's
}

void Infrastructure::stop_process(const Address& address) {
  if (!registered_.count(address) || !sim_.is_up(address)) return;
  sim_.crash(address);
  if (forget_orchestrator_disks_ && address.rfind("orchestrator:", 0) == 0)
    sim_.testing_forget_disk(address);
}

Duration Infrastructure::draw(const DurationRange& range) {
  return sim_.fault_rng().between(range.min, range.max);
}

const SimVm* Infrastructure::find_vm(const std::string& vm) const {
  const auto it = vm_index_.find(vm);
  return it == vm_index_.end() ? nullptr : it->second;
}

SimVm* Infrastructure::vm_named(const std::string& name) {
  const auto it = vm_index_.find(name);
  return it == vm_index_.end() ? nullptr : it->second;
}

// A VM destroyed on a node: the index forgets it unless it already names the same VM elsewhere.
void Infrastructure::forget_vm(const std::string& name, const SimVm* vm) {
  const auto it = vm_index_.find(name);
  if (it != vm_index_.end() && it->second == vm) vm_index_.erase(it);
  OMNI_ASSERT(vm_index_.count(name) == 0 || vm_index_.at(name) != vm);
}

std::set<std::string> Infrastructure::take_dirty_nodes() {
  return std::exchange(dirty_, {});
}

}  // namespace omni::sim
