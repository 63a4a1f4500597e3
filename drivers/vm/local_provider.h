#pragma once
// The `local` VM provider: a "VM" is a sandbox on this machine — its own network namespace
// (omni-NAME) joined by a veth pair to a bridge the provider creates, its own state directory,
// and an init process started inside it. Resources are admitted against the provider's
// capacity and, where a cgroup hierarchy (v2, or v1's cpu and memory) can take them, enforced
// with a cgroup per sandbox that its init joins before exec.
//
// A provider may run inside one of its own sandboxes (a Director in its sandbox creates the
// worker sandboxes beside it): every link it makes on the machine's side goes through the handle
// omh-ID, which a provider outside any sandbox makes for its own namespace. A provider in a
// sandbox ($OMNI_VM_NAME set) never makes it: it would name the sandbox's namespace instead.
//
// Admission counts the sandboxes of the spec's cluster and node: several nodes of a cluster may
// share one machine, each within its own capacity.
//
// Without root there are no namespaces: a sandbox is a plain process on loopback, and create()
// says so in its message. Every name is deterministic and prefixed, so destroy() removes exactly
// what create() made:
//   bridge  omb-ID             (ID: LocalOptions::id, up to 8 characters)
//   handle  /run/netns/omh-ID  (the machine's own network namespace, where the bridge lives)
//   netns   omni-CLUSTER-NODE-ROLE-SLOT
//   veth    omv-HASH (host side; HASH: 8 hex of the VM name), eth0 inside
//   cgroup  /sys/fs/cgroup/omni-local-ID/NAME (v1: under memory/ and cpu/)
//   state   STATE_DIR/NAME/{spec,address,pid,console.log,files/}
// The init's environment says where it is: OMNI_VM_NAME, OMNI_VM_ADDRESS, OMNI_VM_FILES (the
// files it was created with) and, for a containerd on the machine that runs its containers,
// OMNI_VM_NETNS (isolated) and OMNI_VM_CGROUP (GROUP/NAME below each hierarchy's root, when the
// sandbox has a cgroup).
#include <sys/types.h>

#include <map>
#include <memory>
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
  // Starts every sandbox marked autostart that does not run, of `cluster` and `node` (empty:
  // any): what a host calls once it is back from a power loss, as libvirtd does for its domains.
  // A Director starts its own node's only. Answers the names it started.
  Outcome<std::vector<std::string>> start_autostart(const std::string& cluster = {},
                                                    const std::string& node = {});

  std::vector<VmEvent> poll_events() override { return events_.poll(); }
  int event_fd() const override { return events_.fd(); }

  bool isolated() const { return isolated_; }  // false: plain processes on loopback
  CgroupVersion cgroup_version() const { return cgroups_.version(); }
  std::string bridge_name() const { return "omb-" + options_.id; }
  std::string host_handle() const { return "omh-" + options_.id; }
  static std::string veth_name(const std::string& vm_name);
  std::string console_path(const std::string& name) const;

 private:
  std::string dir_of(const std::string& name) const { return options_.state_dir + "/" + name; }
  std::string files_dir_of(const std::string& name) const { return dir_of(name) + "/files"; }
  Outcome<VmInfo> read_vm(const std::string& name);
  DriverResult admit(const VmSpec& spec);
  Outcome<std::string> address_for(const VmSpec& spec);
  DriverResult ensure_host_handle();
  DriverResult ensure_bridge();
  DriverResult on_host(std::vector<std::string> args);
  DriverResult make_network(const std::string& name, const std::string& address);
  void remove_network(const std::string& name);
  bool host_has_link(const std::string& link);
  void remove_host_links(const std::string& name);
  std::string cgroup_group() const { return "omni-local-" + options_.id; }
  std::string limit_resources(const std::string& name, const VmInfo& vm, SpawnOptions& spawn);
  void remove_cgroup(const std::string& name);
  void on_init_ended(const std::string& name, pid_t pid, int status);

  // Several providers share a state directory (the root's and every Director's on a machine):
  // what changes a sandbox holds this lock, so two of them never start one sandbox twice.
  // Recursive within the process (destroy stops first); taken before mutex_.
  class StateLock {
   public:
    explicit StateLock(const std::string& path);
    ~StateLock();
    void lock();
    void unlock();

   private:
    std::string path_;
    int fd_ = -1;
    std::recursive_mutex mutex_;
    int depth_ = 0;
  };

  LocalOptions options_;
  bool isolated_;
  std::unique_ptr<StateLock> state_lock_;
  Cgroups cgroups_;
  std::mutex mutex_;
  std::mutex stop_mutex_;  // waiters take it while mutex_ is held by a stop joining them
  std::set<std::string> stopping_;
  std::map<std::string, std::thread> waiters_;
  // Waiters outlive the provider (they are detached when it goes): one touches the provider only
  // while it holds this guard's mutex and finds the provider alive.
  struct Lifetime {
    std::mutex mutex;
    bool alive = true;
  };
  std::shared_ptr<Lifetime> lifetime_ = std::make_shared<Lifetime>();
  EventQueue<VmEvent> events_;
};

}  // namespace omni::drivers
