#pragma once
// The model↔driver bridges: how a host answers a component's DriverCall with a real driver.
// The model speaks VmOp/ContainerOp and its own VM names (model/core/ops.h, model/root/plan.h);
// the drivers speak VmSpec/ContainerSpec and driver names, and know nothing of the model.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "drivers/container/container_driver.h"
#include "drivers/vm/vm_driver.h"
#include "model/core/ops.h"

namespace omni::node {

// What a host's VM calls may reach, and how the VMs it creates boot. A Director's bridge is
// scoped to its cluster and node: two Directors on one shared provider (or one libvirt host)
// never list, stop or destroy each other's VMs. The root's has no node: it reaches every node's.
// Boot data is the host's business (paths on its machine), so it lives here, per VM role,
// rather than in the model's ops.
struct VmBridgeConfig {
  std::string cluster;                          // required
  std::string node;                             // empty: any node of the cluster
  std::map<std::string, drivers::VmBoot> boot;  // by role ("director", "worker")
  bool autostart = true;                        // VMs come back after the host reboots
  // FILES_DIR/VM/ (the model's VM name) holds what that VM receives when it is created: its key
  // and certificates (node/cluster_pki.h writes them). Empty: VMs receive nothing.
  std::string files_dir;
  // The address each VM is created with (model name -> IPv4), so that every peer's address
  // follows from the plan; a VM not named gets the provider's choice.
  std::map<std::string, std::string> addresses;
};

// Every regular file under FILES_DIR/VM/ (paths relative to it, sorted), with its mode: what the
// VM receives when it is created. None, and `error` set, when one cannot be read whole (each is
// at most drivers::kMaxTextFileBytes): a VM is never given an empty key in place of its own.
std::vector<drivers::VmFile> vm_files(const std::string& files_dir, const std::string& vm,
                                      std::string& error);

// The reason `config` cannot scope a bridge, or empty.
std::string vm_bridge_problem(const VmBridgeConfig& config);

// Runs one VmOp. `create` defines and boots (the model never sends a start after a create);
// `list` answers the scope's VMs by their model names, sorted, and which of them run. An op
// naming a VM outside the scope fails and touches nothing.
DriverResult execute_vm_op(drivers::VmDriver& driver, const VmOp& op, const VmBridgeConfig& config);

// The scope's VMs that have an address, by model name, sorted: where their Agents listen.
std::vector<std::pair<std::string, std::string>> vm_addresses(drivers::VmDriver& driver,
                                                              const VmBridgeConfig& config);

// Where a host finds the images its containers may need (Omni's own, for Orchestrators).
struct ContainerBridgeConfig {
  std::map<std::string, std::string> image_tars;  // image name -> OCI layout tar
  std::vector<std::string> env;                   // KEY=VALUE given to every container
};

// Runs one ContainerOp. import_image: op.image names the image, op.args[0] is the OCI layout
// tar. `create` creates and starts, importing the image first when it is missing and the config
// (or else the op's archive, an absolute path) says where its tar is; a container of that name that
// does not run is replaced by one of the op's spec (answered already_exists, as the simulator
// does).
DriverResult execute_container_op(drivers::ContainerDriver& driver, const ContainerOp& op,
                                  const ContainerBridgeConfig& config = {});

// The model's status for a driver's, and its name.
DriverStatus model_status(drivers::DriverStatus status);
const char* model_status_name(DriverStatus status);

}  // namespace omni::node
