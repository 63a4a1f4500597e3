#include "drivers/vm/vm_driver.h"

#include <algorithm>
#include <charconv>

#include "model/root/plan.h"

namespace omni::drivers {
namespace {

bool is_name_char(char c, bool dash_ok) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         (dash_ok && c == '-');
}

// 63: what the cluster config allows for cluster and node names (model/config).
std::string validate_part(const char* what, const std::string& part, bool dash_ok) {
  if (part.empty()) return std::string(what) + " is empty";
  if (part.size() > 63) return std::string(what) + " '" + part + "' is longer than 63 characters";
  for (char c : part) {
    if (!is_name_char(c, dash_ok)) {
      return std::string(what) + " '" + part + "' may hold only a-z, 0-9, '_', '.'" +
             (dash_ok ? " and '-'" : " (no '-')");
    }
  }
  return {};
}

bool parse_int(const std::string& text, int& value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value >= 0;
}

// The identity the op's metadata names, or the reason it names no valid one.
std::string identity_from_metadata(const VmOp& op, VmIdentity& identity) {
  auto get = [&](const char* key) {
    auto it = op.metadata.find(key);
    return it == op.metadata.end() ? std::string() : it->second;
  };
  identity = {get("cluster"), get("node"), get("role"), 0};
  if (!parse_int(get("slot"), identity.slot)) {
    return "metadata slot '" + get("slot") + "' is not a number within 0..9999";
  }
  if (auto invalid = validate_identity(identity); !invalid.empty()) return "metadata: " + invalid;
  return {};
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() > suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The model names VMs CLUSTER-NODE-director and CLUSTER-NODE-worker-N (model/root/plan.h).
// Cluster and node names may hold '-', but with the op's node known the split is unique.
bool identity_from_model_name(const std::string& name, const std::string& node,
                              VmIdentity& identity) {
  if (node.empty()) return false;
  const std::string director_suffix = "-" + node + "-director";
  if (ends_with(name, director_suffix)) {
    identity = {name.substr(0, name.size() - director_suffix.size()), node, "director", 0};
    return validate_identity(identity).empty();
  }
  const std::string worker_infix = "-" + node + "-worker-";
  const auto at = name.rfind(worker_infix);
  if (at == std::string::npos || at == 0) return false;
  identity = {name.substr(0, at), node, "worker", 0};
  return parse_int(name.substr(at + worker_infix.size()), identity.slot) && identity.slot >= 1 &&
         validate_identity(identity).empty();
}

std::string metadata_value(const VmOp& op, const char* key) {
  const auto it = op.metadata.find(key);
  return it == op.metadata.end() ? std::string() : it->second;
}

// Metadata without a cluster may still say node and role (the model's creates do): they must
// agree with the identity the name gave.
std::string check_partial_metadata(const VmOp& op, const VmIdentity& identity) {
  for (const auto& [key, value] : {std::pair{"node", identity.node}, {"role", identity.role}}) {
    const std::string said = metadata_value(op, key);
    if (!said.empty() && said != value) {
      return "name '" + op.name + "' is a " + key + " '" + value + "' VM but the metadata says " +
             key + " '" + said + "'";
    }
  }
  return {};
}

// The identity named by a VmOp, or the reason it names none. Metadata names one when it holds a
// cluster; it must then name a valid one that agrees with the name when there is one, because
// acting on a VM other than the one named (a destroy!) is worse than refusing. Without a
// cluster in the metadata the name decides, read as the model's name for a VM of the op's
// node. Driver names (omni-...) are not accepted: a cluster may be called "omni-x", and the
// model's name is then the one meant.
std::string identity_of(const VmOp& op, VmIdentity& identity) {
  const std::string node = op.node.empty() ? metadata_value(op, "node") : op.node;
  const std::string shown_node = node.empty() ? "NODE" : node;
  VmIdentity from_name;
  const bool name_parses = identity_from_model_name(op.name, node, from_name);
  if (op.metadata.count("cluster") == 0) {
    if (!name_parses) {
      return "'" + op.name + "' is not CLUSTER-" + shown_node + "-director or CLUSTER-" +
             shown_node + "-worker-N, and the metadata names no cluster";
    }
    identity = from_name;
    return check_partial_metadata(op, identity);
  }
  VmIdentity from_metadata;
  if (auto reason = identity_from_metadata(op, from_metadata); !reason.empty()) return reason;
  if (!op.name.empty() && !(name_parses && from_name == from_metadata)) {
    return "name '" + op.name + "' and metadata (" + vm_name(from_metadata) +
           ") name different VMs";
  }
  identity = from_metadata;
  return {};
}

// What the model calls a driver's VM: its own names for Directors and workers, so that a
// Director compares what it lists with what it wants name for name.
std::string model_name_of(const VmInfo& vm) {
  const VmIdentity& id = vm.identity;
  if (id.role == "director" && id.slot == 0) return root::director_vm_name(id.cluster, id.node);
  if (id.role == "worker" && id.slot >= 1)
    return root::worker_vm_name(id.cluster, id.node, id.slot);
  return vm.name;
}

VmSpec spec_of(const VmOp& op, const VmIdentity& identity) {
  VmSpec spec;
  spec.identity = identity;
  spec.cpu_millis = op.cpu_millis;
  spec.memory_bytes = op.memory_bytes;
  for (const auto& [key, value] : op.metadata) {
    if (key != "cluster" && key != "node" && key != "role" && key != "slot") {
      spec.labels[key] = value;
    }
  }
  return spec;
}

std::string joined(const std::string& first, const std::string& second) {
  if (first.empty() || second.empty()) return first + second;
  return first + "; " + second;
}

// The model's create means "make it run": the simulator boots the VM it creates, and neither
// the Root nor the Director sends a start after a create that succeeded. A VM that exists
// already is started too and still answered already_exists (as the simulator does), so a
// create retried after a failed start heals.
DriverResult create_and_start(VmDriver& driver, const VmSpec& spec) {
  const std::string name = vm_name(spec.identity);
  DriverResult created = driver.create(spec);
  if (created.status != DriverStatus::ok && created.status != DriverStatus::already_exists) {
    return created;
  }
  auto existing = driver.inspect(name);
  if (!existing.ok()) {
    return error_result(
        existing.result.status,
        "VM " + name + " cannot be inspected after create: " + existing.result.message);
  }
  if (existing.value.state == VmState::running) return created;
  DriverResult started = driver.start(name);
  if (!is_ok(started)) {
    return error_result(started.status,
                        "VM " + name + " is defined but did not start: " + started.message);
  }
  created.message = joined(created.message, started.message);
  return created;
}

}  // namespace

const char* vm_state_name(VmState state) {
  switch (state) {
    case VmState::defined:
      return "defined";
    case VmState::running:
      return "running";
    case VmState::paused:
      return "paused";
    case VmState::stopped:
      return "stopped";
    case VmState::crashed:
      return "crashed";
    case VmState::unknown:
      return "unknown";
  }
  return "unknown";
}

const char* vm_event_kind_name(VmEventKind kind) {
  switch (kind) {
    case VmEventKind::started:
      return "started";
    case VmEventKind::stopped:
      return "stopped";
    case VmEventKind::crashed:
      return "crashed";
    case VmEventKind::destroyed:
      return "destroyed";
    case VmEventKind::connection_lost:
      return "connection_lost";
  }
  return "unknown";
}

std::string validate_identity(const VmIdentity& identity) {
  if (auto e = validate_part("cluster", identity.cluster, true); !e.empty()) return e;
  if (auto e = validate_part("node", identity.node, true); !e.empty()) return e;
  if (auto e = validate_part("role", identity.role, false); !e.empty()) return e;
  if (identity.slot < 0 || identity.slot > 9999) return "slot must be within 0..9999";
  return {};
}

std::string vm_name(const VmIdentity& identity) {
  return "omni-" + identity.cluster + "-" + identity.node + "-" + identity.role + "-" +
         std::to_string(identity.slot);
}

bool parse_vm_name(const std::string& name, VmIdentity& identity) {
  const std::string prefix = "omni-";
  if (name.rfind(prefix, 0) != 0) return false;
  std::string rest = name.substr(prefix.size());
  auto first = rest.find('-');
  auto last = rest.rfind('-');
  if (first == std::string::npos || last == first) return false;
  auto role_dash = rest.rfind('-', last - 1);
  if (role_dash == std::string::npos || role_dash <= first) return false;
  VmIdentity parsed;
  parsed.cluster = rest.substr(0, first);
  parsed.node = rest.substr(first + 1, role_dash - first - 1);
  parsed.role = rest.substr(role_dash + 1, last - role_dash - 1);
  if (!parse_int(rest.substr(last + 1), parsed.slot)) return false;
  if (!validate_identity(parsed).empty()) return false;
  identity = parsed;
  return true;
}

DriverResult execute_vm_op(VmDriver& driver, const VmOp& op) {
  if (op.kind == VmOpKind::list) {
    auto listed = driver.list();
    if (!listed.ok()) return listed.result;
    DriverResult result = ok_result();
    for (const auto& vm : listed.value) {
      result.names.push_back(model_name_of(vm));
      if (vm.state == VmState::running) result.running.push_back(model_name_of(vm));
    }
    std::sort(result.names.begin(), result.names.end());
    std::sort(result.running.begin(), result.running.end());
    return result;
  }
  VmIdentity identity;
  if (auto reason = identity_of(op, identity); !reason.empty()) {
    return error_result(DriverStatus::failed, "VM op names no Omni VM: " + reason);
  }
  std::string name = vm_name(identity);
  switch (op.kind) {
    case VmOpKind::create:
      return create_and_start(driver, spec_of(op, identity));
    case VmOpKind::start:
      return driver.start(name);
    case VmOpKind::stop:
      return driver.stop(name, false);
    case VmOpKind::destroy:
      return driver.destroy(name);
    case VmOpKind::list:
      break;
  }
  return error_result(DriverStatus::failed,
                      "unknown VM op kind " + std::to_string(static_cast<int>(op.kind)));
}

}  // namespace omni::drivers
