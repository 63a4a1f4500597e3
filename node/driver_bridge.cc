#include "node/driver_bridge.h"

#include <signal.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "drivers/util/text_file.h"
#include "model/core/assert.h"
#include "model/root/plan.h"

namespace omni::node {
namespace {

using drivers::ContainerDriver;
using drivers::ContainerSpec;
using drivers::ContainerState;
using drivers::error_result;
using drivers::is_ok;
using drivers::ok_result;
using drivers::validate_container_name;
using drivers::validate_identity;
using drivers::vm_name;
using drivers::VmDriver;
using drivers::VmIdentity;
using drivers::VmInfo;
using drivers::VmSpec;
using drivers::VmState;
using Status = drivers::DriverStatus;
using Result = drivers::DriverResult;

bool parse_int(const std::string& text, int& value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value >= 0;
}

DriverResult to_model(const Result& result) {
  DriverResult out;
  out.status = model_status(result.status);
  out.message = result.message;
  return out;
}

DriverResult model_failure(std::string message) {
  DriverResult out;
  out.status = DriverStatus::failed;
  out.message = std::move(message);
  return out;
}

// VMs ---------------------------------------------------------------------------------------

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
std::string model_name_of(const VmIdentity& id) {
  if (id.role == "director" && id.slot == 0) return root::director_vm_name(id.cluster, id.node);
  if (id.role == "worker" && id.slot >= 1)
    return root::worker_vm_name(id.cluster, id.node, id.slot);
  return vm_name(id);
}

std::string model_name_of(const VmInfo& vm) {
  return model_name_of(vm.identity);
}

// A role's boot data names the VM it boots ({vm}, {node}, {cluster}, {address}): one profile
// serves every worker, each finding its own files (and, under libvirt, its own address).
std::string with_names(std::string text, const VmIdentity& identity, const std::string& address) {
  const std::pair<const char*, std::string> names[] = {{"{vm}", model_name_of(identity)},
                                                       {"{node}", identity.node},
                                                       {"{cluster}", identity.cluster},
                                                       {"{address}", address}};
  for (const auto& [pattern, value] : names)
    for (auto at = text.find(pattern); at != std::string::npos;
         at = text.find(pattern, at + value.size()))
      text.replace(at, std::string_view(pattern).size(), value);
  return text;
}

// Every regular file under FILES_DIR/VM/, with its mode: what the VM receives.
}  // namespace

std::vector<drivers::VmFile> vm_files(const std::string& files_dir, const std::string& vm,
                                      std::string& error) {
  namespace fs = std::filesystem;
  std::vector<drivers::VmFile> files;
  const fs::path root = fs::path(files_dir) / vm;
  std::error_code walked;
  if (files_dir.empty() || !fs::is_directory(root, walked)) return files;
  for (auto it = fs::recursive_directory_iterator(root, walked);
       !walked && it != fs::recursive_directory_iterator(); it.increment(walked)) {
    std::error_code kind;
    if (!it->is_regular_file(kind)) continue;
    // A key shipped empty would fail far from here, in the VM, as a TLS error.
    drivers::TextFile file = drivers::read_regular_file(it->path().string());
    if (!file.error.empty()) {
      error = "cannot give VM " + vm + " its file " + it->path().string() + ": " + file.error;
      return {};
    }
    std::error_code stat;
    const auto mode = static_cast<unsigned>(fs::status(it->path(), stat).permissions()) & 0777u;
    files.push_back({fs::relative(it->path(), root, stat).string(), std::move(file.text), mode});
  }
  if (walked) {
    error = "cannot list the files of VM " + vm + " in " + root.string() + ": " + walked.message();
    return {};
  }
  std::sort(files.begin(), files.end(),
            [](const drivers::VmFile& a, const drivers::VmFile& b) { return a.path < b.path; });
  return files;
}

namespace {

drivers::VmBoot boot_of(drivers::VmBoot boot, const VmIdentity& identity,
                        const std::string& address) {
  for (auto& arg : boot.init_args) arg = with_names(arg, identity, address);
  for (std::string* text : {&boot.kernel_path, &boot.initrd_path, &boot.kernel_cmdline,
                            &boot.disk_path, &boot.serial_log_path})
    *text = with_names(*text, identity, address);
  return boot;
}

VmSpec spec_of(const VmOp& op, const VmIdentity& identity, const VmBridgeConfig& config,
               std::vector<drivers::VmFile> files) {
  VmSpec spec;
  spec.identity = identity;
  if (const auto at = config.addresses.find(model_name_of(identity)); at != config.addresses.end())
    spec.address = at->second;
  if (const auto boot = config.boot.find(identity.role); boot != config.boot.end())
    spec.boot = boot_of(boot->second, identity, spec.address);
  spec.boot.files = std::move(files);
  spec.autostart = config.autostart;
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
Result create_and_start(VmDriver& driver, const VmSpec& spec) {
  const std::string name = vm_name(spec.identity);
  Result created = driver.create(spec);
  if (created.status != Status::ok && created.status != Status::already_exists) {
    return created;
  }
  auto existing = driver.inspect(name);
  if (!existing.ok()) {
    return error_result(
        existing.result.status,
        "VM " + name + " cannot be inspected after create: " + existing.result.message);
  }
  if (existing.value.state == VmState::running) return created;
  Result started = driver.start(name);
  if (!is_ok(started)) {
    return error_result(started.status,
                        "VM " + name + " is defined but did not start: " + started.message);
  }
  created.message = joined(created.message, started.message);
  return created;
}

// Containers --------------------------------------------------------------------------------

ContainerSpec spec_of(const ContainerOp& op, const ContainerBridgeConfig& config) {
  ContainerSpec spec;
  spec.name = op.name;
  spec.image = op.image;
  spec.args = op.args;
  spec.env = config.env;
  spec.cpu_millis = op.cpu_millis;
  spec.memory_bytes = op.memory_bytes;
  return spec;
}

Result start_created(ContainerDriver& driver, const std::string& name, Result answer) {
  Result started = driver.start(name);
  if (!is_ok(started)) {
    return error_result(started.status,
                        "container " + name + " is created but did not start: " + started.message);
  }
  return answer;
}

// The model's create creates and starts, like `ctr run` (model/core/ops.h): the Agent counts a
// container as running once its create succeeds. A container of that name that does not run
// is replaced by one of the op's spec (its args may have changed since) and started, and the
// answer is already_exists, as the simulator's.
Result create_and_start(ContainerDriver& driver, const ContainerOp& op,
                        const ContainerBridgeConfig& config) {
  Result created = driver.create(spec_of(op, config));
  if (created.status == Status::ok) return start_created(driver, op.name, created);
  if (created.status != Status::already_exists) return created;
  auto existing = driver.inspect(op.name);
  if (!existing.ok()) {
    return error_result(
        existing.result.status,
        "container " + op.name + " cannot be inspected after create: " + existing.result.message);
  }
  if (existing.value.state == ContainerState::running) return created;
  if (Result removed = driver.remove(op.name); !is_ok(removed)) {
    return error_result(removed.status,
                        "exited container " + op.name + " cannot be replaced: " + removed.message);
  }
  Result replaced = driver.create(spec_of(op, config));
  if (!is_ok(replaced)) return replaced;
  return start_created(
      driver, op.name,
      error_result(Status::already_exists, "container " + op.name + " existed, exited: replaced"));
}

// Every container and which of them run (model/core/ops.h), sorted as the model expects.
DriverResult list_containers(ContainerDriver& driver) {
  auto listed = driver.list();
  if (!listed.ok()) return to_model(listed.result);
  DriverResult result;
  for (const auto& container : listed.value) {
    result.names.push_back(container.name);
    if (container.state == ContainerState::running) result.running.push_back(container.name);
  }
  std::sort(result.names.begin(), result.names.end());
  std::sort(result.running.begin(), result.running.end());
  return result;
}

// An image the host knows where to find is imported the first time a create needs it, so a
// fresh VM runs Omni's own image, and an app its archive, without anyone importing it by hand.
Result import_if_missing(ContainerDriver& driver, const ContainerOp& op,
                         const ContainerBridgeConfig& config) {
  // The host's own list first (Omni's image), then the op's archive (an app's).
  const auto known = config.image_tars.find(op.image);
  const bool from_the_wire = known == config.image_tars.end();
  const std::string archive = from_the_wire ? op.archive : known->second;
  if (archive.empty()) return ok_result();
  // A relative path from the wire would be read from wherever this process happens to run; the
  // host's own list comes from its config, whose paths are its own business.
  if (from_the_wire && !std::filesystem::path(archive).is_absolute())
    return error_result(Status::failed, "image " + op.image + " names the archive '" + archive +
                                            "', which is not an absolute path");
  const auto images = driver.list_images();
  if (!images.ok()) return images.result;
  const auto& names = images.value;
  if (std::find(names.begin(), names.end(), op.image) != names.end()) return ok_result();
  Result imported = driver.import_image(op.image, archive);
  if (!is_ok(imported))
    return error_result(imported.status, "image " + op.image + " is missing and its import from " +
                                             archive + " failed: " + imported.message);
  return imported;
}

Result import_image(ContainerDriver& driver, const ContainerOp& op) {
  if (op.args.empty()) {
    return error_result(Status::failed,
                        "import_image of " + op.image + " names no OCI tar (args[0])");
  }
  return driver.import_image(op.image, op.args[0]);
}

// A VM of another cluster, or (for a Director) of another node, is none of this host's business.
std::string out_of_scope(const VmIdentity& identity, const VmBridgeConfig& config) {
  if (identity.cluster != config.cluster)
    return "VM " + vm_name(identity) + " belongs to cluster '" + identity.cluster +
           "', not to this host's cluster '" + config.cluster + "'";
  if (!config.node.empty() && identity.node != config.node)
    return "VM " + vm_name(identity) + " is on node '" + identity.node + "', not on this host's '" +
           config.node + "'";
  return {};
}

bool in_scope(const VmInfo& vm, const VmOp& op, const VmBridgeConfig& config) {
  return out_of_scope(vm.identity, config).empty() &&
         (op.node.empty() || vm.identity.node == op.node);
}

DriverResult list_vms(VmDriver& driver, const VmOp& op, const VmBridgeConfig& config) {
  auto listed = driver.list();
  if (!listed.ok()) return to_model(listed.result);
  DriverResult result;
  for (const auto& vm : listed.value) {
    if (!in_scope(vm, op, config)) continue;
    result.names.push_back(model_name_of(vm));
    if (vm.state == VmState::running) result.running.push_back(model_name_of(vm));
  }
  std::sort(result.names.begin(), result.names.end());
  std::sort(result.running.begin(), result.running.end());
  OMNI_ASSERT(result.running.size() <= result.names.size());
  return result;
}

}  // namespace

DriverStatus model_status(drivers::DriverStatus status) {
  switch (status) {
    case Status::ok:
      return DriverStatus::ok;
    case Status::not_found:
      return DriverStatus::not_found;
    case Status::already_exists:
      return DriverStatus::already_exists;
    case Status::no_capacity:
      return DriverStatus::no_capacity;
    case Status::unavailable:
      return DriverStatus::unavailable;
    case Status::failed:
      break;
  }
  return DriverStatus::failed;
}

const char* model_status_name(DriverStatus status) {
  for (const Status named : {Status::ok, Status::not_found, Status::already_exists,
                             Status::no_capacity, Status::unavailable})
    if (model_status(named) == status) return drivers::status_name(named);
  return drivers::status_name(Status::failed);
}

std::string vm_bridge_problem(const VmBridgeConfig& config) {
  VmIdentity probe{config.cluster, config.node.empty() ? "node" : config.node, "worker", 1};
  if (auto invalid = validate_identity(probe); !invalid.empty()) return invalid;
  for (const auto& [role, boot] : config.boot)
    if (role != "director" && role != "worker")
      return "boot is given for role '" + role + "'; roles are director and worker";
  return {};
}

std::vector<std::pair<std::string, std::string>> vm_addresses(VmDriver& driver,
                                                              const VmBridgeConfig& config) {
  std::vector<std::pair<std::string, std::string>> out;
  auto listed = driver.list();
  if (!listed.ok()) return out;
  for (const auto& vm : listed.value)
    if (out_of_scope(vm.identity, config).empty() && !vm.address.empty())
      out.emplace_back(model_name_of(vm), vm.address);
  std::sort(out.begin(), out.end());
  return out;
}

DriverResult execute_vm_op(VmDriver& driver, const VmOp& op, const VmBridgeConfig& config) {
  OMNI_ASSERT(vm_bridge_problem(config).empty(), "a bridge is made from a checked config");
  if (op.kind == VmOpKind::list) return list_vms(driver, op, config);
  VmIdentity identity;
  if (auto reason = identity_of(op, identity); !reason.empty())
    return model_failure("VM op names no Omni VM: " + reason);
  if (auto reason = out_of_scope(identity, config); !reason.empty()) return model_failure(reason);
  const std::string name = vm_name(identity);
  switch (op.kind) {
    case VmOpKind::create: {
      std::string unreadable;
      auto files = vm_files(config.files_dir, model_name_of(identity), unreadable);
      if (!unreadable.empty()) return model_failure(unreadable);
      return to_model(create_and_start(driver, spec_of(op, identity, config, std::move(files))));
    }
    case VmOpKind::start:
      return to_model(driver.start(name));
    case VmOpKind::stop:
      return to_model(driver.stop(name, op.force));
    case VmOpKind::destroy:
      return to_model(driver.destroy(name));
    case VmOpKind::list:
      break;
  }
  return model_failure("unknown VM op kind " + std::to_string(static_cast<int>(op.kind)));
}

DriverResult execute_container_op(ContainerDriver& driver, const ContainerOp& op,
                                  const ContainerBridgeConfig& config) {
  if (op.kind == ContainerOpKind::list) return list_containers(driver);
  if (op.kind == ContainerOpKind::import_image) return to_model(import_image(driver, op));
  // Refused here for every op that names a container, so a bad name reads the same whatever
  // the driver (a lookup would say not_found, containerd's API something else again).
  if (auto invalid = validate_container_name(op.name); !invalid.empty())
    return model_failure(invalid);
  switch (op.kind) {
    case ContainerOpKind::create:
      if (Result imported = import_if_missing(driver, op, config); !is_ok(imported))
        return to_model(imported);
      return to_model(create_and_start(driver, op, config));
    case ContainerOpKind::start:
      return to_model(driver.start(op.name));
    case ContainerOpKind::stop:
      return to_model(driver.kill(op.name, SIGTERM));
    case ContainerOpKind::kill:
      return to_model(driver.kill(op.name, SIGKILL));
    case ContainerOpKind::remove:
      return to_model(driver.remove(op.name));
    case ContainerOpKind::import_image:
    case ContainerOpKind::list:
      break;
  }
  return model_failure("unknown container op kind " + std::to_string(static_cast<int>(op.kind)));
}

}  // namespace omni::node
