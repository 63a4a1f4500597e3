#pragma once
// Where a cluster on the `local` provider lives on this machine, and how its processes find each
// other: `omni init` writes the site before the root starts, and every process of the cluster
// reads its own part of it. Addresses follow from the plan (no discovery service): the bridge
// is SUBNET.1, where the root and the admin listen; the plan's VMs get SUBNET.10 and up, in
// plan order; each role listens on its own port.
//
//   SITE/site.yaml        cluster, id, subnet and programs: a resumed init and reset use the same
//   SITE/cluster.yaml     the cluster config being created
//   SITE/root.yaml        the root's node config; SITE/root/ its log
//   SITE/pki/             the pki phase (node/cluster_pki.h) and, beside each VM's keys, the
//                         node configs of what runs in it (director-NODE.yaml, agent-VM.yaml,
//                         orchestrator-N.yaml)
//   SITE/local/           the local provider's sandboxes; each VM's own data in NAME/disk/
//   SITE/containerd/      Omni's own containerd, on a machine that runs none
//   SITE/libvirt/         libvirt VMs only: the kernel they boot and each VM's initramfs (the
//                         shared one with the VM's files appended), its serial console log
//
// The VMs are the local provider's sandboxes, or, when the nodes' hypervisor is a libvirt URI,
// libvirt domains on this machine: their NICs join the same bridge, and a Director inside its
// VM reaches the libvirtd over TCP at the bridge's address (libvirt_uri_from_vms).
#include <map>
#include <string>

#include "model/config/cluster_config.h"
#include "model/root/plan.h"

namespace omni::node {

inline constexpr int kRootPort = 7100;
inline constexpr int kDirectorPort = 7200;
inline constexpr int kAgentPort = 7300;
inline constexpr int kOrchestratorPortBase = 7400;  // replica N listens on 7400 + N
inline constexpr int kAdminPort = 7500;
inline constexpr int kDashboardPortBase = 7600;  // replica N's dashboard: 7600 + N (HTTPS)
inline constexpr int kFirstVmHost = 10;          // SUBNET.10: the plan's first VM

inline constexpr const char* kOmniImage = "omni/omni-node:dev";  // what omni-image.tar holds

struct LocalSite {
  std::string dir;  // absolute
  // The cluster the site was made for: init and reset refuse a site of another cluster (a
  // --state-dir that names one would otherwise be taken over or wiped).
  std::string cluster;
  std::string id;         // the provider's id: bridge omb-ID
  std::string subnet;     // A.B.C
  std::string omni_node;  // the program every sandbox and container runs
  std::string image_tar;  // Omni's OCI image (the Orchestrators' containers)
  std::string image = kOmniImage;
  std::string runtime = "process";  // the Agents' container runtime: process | containerd
  std::string containerd_socket;    // containerd: the runtime's socket
  // containerd: the machine's own ("system") or Omni's, under SITE/containerd ("own"), which
  // omni init and omni-node boot start and omni reset stops
  // (drivers/container/containerd_daemon.h).
  std::string containerd;
  // "local", or the libvirt URI every node's VMs are made through (on this machine), with the
  // kernel and the shared initramfs they boot (copied into SITE/libvirt/).
  std::string hypervisor = "local";
  std::string kernel;
  std::string initramfs;
};

inline bool on_libvirt(const LocalSite& site) {
  return site.hypervisor != "local";
}

// The bridge the site's VMs join, with the host at SUBNET.1 (the local provider's, or libvirt's).
inline std::string bridge_of(const LocalSite& site) {
  return "omb-" + site.id;
}

inline std::string libvirt_dir(const LocalSite& site) {
  return site.dir + "/libvirt";
}

// The URI under which a VM on the site's bridge reaches the libvirtd of `uri`: QEMU's driver,
// over TCP at the bridge's address (SUBNET.1), on the port `uri` names (default 16509). Empty
// when `uri` is not a QEMU libvirtd on this machine (a remote host, ssh, tls, the test driver).
std::string libvirt_uri_from_vms(const std::string& uri, const std::string& subnet);

// Where Omni's own containerd keeps everything, when the site has one.
inline std::string own_containerd_dir(const LocalSite& site) {
  return site.dir + "/containerd";
}

// A site in DIR with the id and subnet that DIR's name hashes to (10.215.1 .. 10.215.254).
LocalSite site_in(const std::string& dir);

// Each planned VM's address (model name -> IPv4), or empty when the subnet cannot hold them.
std::map<std::string, std::string> planned_addresses(const root::Plan& plan,
                                                     const std::string& subnet);

// Where every identity of the cluster listens (identity -> host:port): what each process is
// told of its peers.
std::map<std::string, std::string> peer_book(const root::Plan& plan, const std::string& subnet);

// Writes the site: the config, the pki (kept when it exists: a resumed init keeps its CA), and
// every node config. Empty on success, else what failed.
std::string write_local_site(const LocalSite& site, const std::string& cluster_yaml,
                             const config::ClusterConfig& config, const root::Plan& plan);

// Reads SITE/site.yaml, or says why it cannot.
std::string read_local_site(const std::string& dir, LocalSite& site);

}  // namespace omni::node
