#pragma once
// `omni init` and `omni reset` for real, on this machine: the cluster's VMs are the `local`
// provider's sandboxes, or libvirt domains when the nodes' hypervisor is a libvirt URI on this
// machine (node/local_site.h says where everything lives); the root runs in this process on the
// real host until it has handed the cluster over and removed itself.
#include <ostream>
#include <string>

#include "model/config/cluster_config.h"
#include "model/root/plan.h"

namespace omni::cli {

struct LocalInitOptions {
  std::string config_file;  // the user's cluster config
  std::string site_dir;     // empty: /var/lib/omni/CLUSTER
  std::string omni_node;    // empty: found beside this program
  std::string image_tar;    // empty: found beside this program
  std::string home;         // where ~/.omni is; empty: $HOME
  // How the Agents run containers: containerd (the machine's when one answers, else Omni's own),
  // process, or auto: containerd when it is installed. A resumed init keeps the first's choice.
  std::string container_runtime = "auto";
  // Nodes whose hypervisor is a libvirt URI: what their VMs boot. Empty: the newest
  // /boot/vmlinuz-*, and omni-initramfs.cpio.gz found beside this program.
  std::string kernel;
  std::string initramfs;
  bool json = false;  // progress as one JSON object per line
};

// 0: the cluster runs and manages itself (or already did); 1: a phase failed, said with its
// reason; 2: this machine or the config cannot take a local cluster.
int init_local(const LocalInitOptions& options, const std::string& config_text,
               const config::ClusterConfig& config, const root::Plan& plan, std::ostream& out,
               std::ostream& err);

struct LocalResetOptions {
  std::string cluster;
  std::string site_dir;  // empty: /var/lib/omni/CLUSTER
  std::string home;      // empty: $HOME
};

// Removes everything the cluster made on this machine; a cluster that is not there is fine.
int reset_local(const LocalResetOptions& options, std::ostream& out, std::ostream& err);

std::string default_site_dir(const std::string& cluster);

}  // namespace omni::cli
