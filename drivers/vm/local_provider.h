#pragma once
// The `local` VM provider: a "VM" is a sandbox on this machine — its own network namespace
// (omni-NAME) joined by a veth pair to a bridge the provider creates, its own state directory,
// and an init process started inside it. Resources are admitted against the provider's
// capacity and, where a cgroup hierarchy (v2, or v1's cpu and memory) can take them, enforced
// with a cgroup per sandbox that its init joins before exec.
//
// Without root there are no namespaces: a sandbox is a plain process on loopback, and create()
// says so in its message. Every name is deterministic and prefixed, so destroy() removes exactly
// what create() made:
//   bridge  omb-ID             (ID: LocalOptions::id, up to 8 characters)
//   netns   omni-CLUSTER-NODE-ROLE-SLOT
//   veth    omv-HASH (host side; HASH: 8 hex of the VM name), eth0 inside
//   cgroup  /sys/fs/cgroup/omni-local-ID/NAME (v1: under memory/ and cpu/)
//   state   STATE_DIR/NAME/{spec,address,pid,console.log,files/}
#include <sys/types.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "drivers/util/cgroup.h"
#include "drivers/util/event_queue.h"
#include "drivers/util/subprocess.h"
#include "drivers/vm/vm_driver.h"

namespace omni::drivers {

struct LocalOptions {
  std::string id = "0";  // distinguishes providers on one machine; [a-z0-9], up to 8
  std::string state_dir = "/var/lib/omni/local";
  std::string subnet_prefix = "10.213.0";  // sandboxes get .2 .. .254, the bridge .1
  HostCapacity capacity;                   // zero: this machine's CPUs and memory
  std::vector<std::string> default_init_args = {"sleep", "infinity"};
  std::string cgroup_root = "/sys/fs/cgroup";
};

class LocalProvider final : public VmDriver {
 public:
  explicit LocalProvider(LocalOptions options);
  ~LocalProvider() override;
  LocalProvider(const LocalProvider&) = delete;
  LocalProvider& operator=(const LocalProvider&) = delete;

  DriverResult create(const VmSpec& spec) override;
  DriverResult start(const std::string& name) override;
  DriverResult stop(const std::string& name, bool force) override;
  DriverResult destroy(const std::string& name) override;
  Outcome<std::vector<VmInfo>> list() override;
  Outcome<VmInfo> inspect(const std::string& name) override;
  Outcome<HostCapacity> capacity() override;
  // Makes the bridge (isolated only) before any sandbox needs it, so a host can listen on
  // SUBNET.1 for what its sandboxes send. Idempotent.
  DriverResult prepare_network();
  // Starts every sandbox marked autostart that does not run: what a host calls once it is back
  // from a power loss, as libvirtd does for its domains. Answers the names it started.
  Outcome<std::vector<std::string>> start_autostart();

  std::vector<VmEvent> poll_events() override { return events_.poll(); }
  int event_fd() const override { return events_.fd(); }

  bool isolated() const { return isolated_; }  // false: plain processes on loopback
  CgroupVersion cgroup_version() const { return cgroups_.version(); }
  std::string bridge_name() const { return "omb-" + options_.id; }
  static std::string veth_name(const std::string& vm_name);
  std::string console_path(const std::string& name) const;

 private:
  std::string dir_of(const std::string& name) const { return options_.state_dir + "/" + name; }
  std::string files_dir_of(const std::string& name) const { return dir_of(name) + "/files"; }
  Outcome<VmInfo> read_vm(const std::string& name);
  DriverResult admit(const VmSpec& spec);
  std::string allocate_address();
  DriverResult ensure_bridge();
  DriverResult make_network(const std::string& name, const std::string& address);
  void remove_network(const std::string& name);
  std::string cgroup_group() const { return "omni-local-" + options_.id; }
  std::string limit_resources(const std::string& name, const VmInfo& vm, SpawnOptions& spawn);
  void remove_cgroup(const std::string& name);
  void wait_for(const std::string& name, pid_t pid);

  LocalOptions options_;
  bool isolated_;
  Cgroups cgroups_;
  std::mutex mutex_;
  std::mutex stop_mutex_;  // waiters take it while mutex_ is held by a stop joining them
  std::set<std::string> stopping_;
  std::map<std::string, std::thread> waiters_;
  EventQueue<VmEvent> events_;
};

}  // namespace omni::drivers
