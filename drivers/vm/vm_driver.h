#pragma once
// The VM side of the drivers: one small interface that the libvirt driver and the `local`
// sandbox provider implement, and that node/ drives from its event loop.
//
// Calls are synchronous and return errors as values (DriverResult). Anything that happens on
// its own afterwards (a VM stopped, crashed, the connection was lost) arrives as a VmEvent in a
// queue the host polls; event_fd() becomes readable when events wait, so a Boost.Asio loop can
// watch it. A host that must not block runs the calls on a worker thread; drivers are
// thread-safe.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "drivers/util/outcome.h"

namespace omni::drivers {

// Who a VM belongs to. Its name and its metadata are derived from this, so a driver that
// restarts finds its VMs again instead of creating them twice.
struct VmIdentity {
  std::string cluster;
  std::string node;
  std::string role;
  int slot = 0;
  bool operator==(const VmIdentity&) const = default;
};

// A file a VM finds when it boots: its key and certificates, its node config.
struct VmFile {
  std::string path;  // relative, '/'-separated, no ".." ("pki/ca.crt")
  std::string content;
  unsigned mode = 0600;
};

// The reason `file` cannot be given to a VM, or empty.
std::string validate_vm_file(const VmFile& file);

// How to boot a VM. The local provider runs `init_args` inside the sandbox; libvirt boots
// `kernel_path` + `initrd_path` (direct kernel boot) and/or `disk_path`.
struct VmBoot {
  std::vector<std::string> init_args;
  std::string kernel_path;
  std::string initrd_path;
  std::string kernel_cmdline;
  std::string disk_path;
  std::string serial_log_path;  // libvirt: serial console to this file when set
  // The VM's own files. The local provider writes them under the sandbox's state directory
  // (0700; OMNI_VM_FILES names it to the init); libvirt appends them, under /etc/omni/, to a
  // copy of the initramfs made for this VM (direct kernel boot only).
  std::vector<VmFile> files;
};

struct VmSpec {
  VmIdentity identity;
  std::int64_t cpu_millis = 1000;
  std::int64_t memory_bytes = 256ll << 20;
  VmBoot boot;
  // Booted again by the hypervisor when its host comes back from a power loss (libvirt's
  // autostart; the local provider records it and boots such sandboxes in start_autostart()).
  bool autostart = false;
  std::map<std::string, std::string> labels;  // extra metadata, kept with the VM
  // The IPv4 address the VM must have, so a cluster's addresses follow from its plan; empty:
  // the provider's choice. The local provider gives it to the sandbox; libvirt keeps it in the
  // domain's metadata, and the guest takes it from its kernel command line (a boot profile's
  // {address}, node/driver_bridge.h).
  std::string address;
};

enum class VmState { defined, running, paused, stopped, crashed, unknown };
const char* vm_state_name(VmState state);

struct VmInfo {
  std::string name;
  VmIdentity identity;
  VmState state = VmState::unknown;
  std::int64_t cpu_millis = 0;
  std::int64_t memory_bytes = 0;
  std::string address;  // the IPv4 address the VM was created with; empty when unknown
  bool autostart = false;
  std::map<std::string, std::string> labels;
};

enum class VmEventKind { started, stopped, crashed, destroyed, connection_lost };
const char* vm_event_kind_name(VmEventKind kind);

struct VmEvent {
  VmEventKind kind = VmEventKind::stopped;
  std::string name;  // empty for connection_lost
  std::string detail;
};

// What a host offers, for admission.
struct HostCapacity {
  std::int64_t cpu_millis = 0;
  std::int64_t memory_bytes = 0;
};

class VmDriver {
 public:
  virtual ~VmDriver() = default;

  // Defines the VM without starting it. already_exists if the name is taken, no_capacity if
  // it cannot fit the host, unavailable if the host cannot be reached.
  virtual DriverResult create(const VmSpec& spec) = 0;
  virtual DriverResult start(const std::string& name) = 0;
  // Graceful when `force` is false (ACPI shutdown / SIGTERM), immediate otherwise.
  virtual DriverResult stop(const std::string& name, bool force) = 0;
  // Stops if needed and removes every trace of the VM. not_found if there is none.
  virtual DriverResult destroy(const std::string& name) = 0;
  // Omni's VMs only (those carrying Omni metadata), sorted by name.
  virtual Outcome<std::vector<VmInfo>> list() = 0;
  virtual Outcome<VmInfo> inspect(const std::string& name) = 0;
  virtual Outcome<HostCapacity> capacity() = 0;

  virtual std::vector<VmEvent> poll_events() = 0;
  virtual int event_fd() const = 0;
};

// The driver's name of a VM, unique on a host: omni-CLUSTER-NODE-ROLE-SLOT. Parts hold
// [a-z0-9_.] and, in cluster and node (as the cluster config allows), '-'.
std::string vm_name(const VmIdentity& identity);
// False when `name` is not an Omni VM name. A name splits at its first '-' after "omni-", so a
// cluster name with '-' does not come back whole: the identity a driver reports comes from the
// VM's metadata, and this only recognises names (and reads those of '-'-free clusters).
bool parse_vm_name(const std::string& name, VmIdentity& identity);
// The reason an identity cannot name a VM, or empty when it can.
std::string validate_identity(const VmIdentity& identity);

}  // namespace omni::drivers
