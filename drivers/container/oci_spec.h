#pragma once
// The OCI runtime spec (config.json) a container runs with, as JSON.
#include <string>
#include <vector>

#include "drivers/container/container_driver.h"

namespace omni::drivers {

struct ProcessSpec {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
};

// Where the container runs on the machine, which the runtime decides rather than the container.
struct OciPlacement {
  std::string cgroups_path;  // absolute in the cgroup hierarchy: /omni/NAME
  // With host_network: the network namespace to join, the VM's when the runtime runs outside
  // the VM (containerd on the machine of local sandboxes). Empty: the runtime's own.
  std::string network_namespace_path;
  // Under a VM's cgroup the container has no limits of its own: the VM's cover it, and cgroup
  // v2 lets no controller below a cgroup that holds processes (the VM's init).
  bool limits = true;
  // Every capability and device the machine allows, the machine's processes, and
  // OMNI_ENTER_MOUNT_NS=machine_mount_namespace_path, with which omni-node enters the machine's
  // mount namespace: the local provider's hypervisor is the machine itself, and what drives it
  // from a container needs all of it.
  bool host_access = false;
  std::string machine_mount_namespace_path;  // e.g. /proc/PID/ns/mnt of a process on the machine
};

std::string oci_runtime_spec_json(const ContainerSpec& spec, const ProcessSpec& process,
                                  const OciPlacement& placement);

}  // namespace omni::drivers
