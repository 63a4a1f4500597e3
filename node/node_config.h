#pragma once
// What `omni-node ROLE --config FILE` reads: who this process is, where it keeps its log, where
// it listens, where its peers are, and its TLS files. Every key is checked; a bad file is an
// error with the file, the key and what was expected, never a crash. Relative paths in it are
// relative to the file (a VM's config names its certificates next to it).
//
//   identity: orchestrator:1
//   args: [orchestrator, --replica=1, "--members=orchestrator:1,orchestrator:2,orchestrator:3"]
//   state_dir: /var/lib/omni/orchestrator-1
//   listen: 127.0.0.1:7101
//   peers: {orchestrator:2: 127.0.0.1:7102, orchestrator:3: 127.0.0.1:7103}
//   tls: {ca: /etc/omni/ca.crt, cert: /etc/omni/o1.crt, key: /etc/omni/o1.key}
//   metrics: 127.0.0.1:9101      # optional: Prometheus GET /metrics
//   dashboard: 0.0.0.0:7601      # optional, orchestrator: the HTTPS dashboard (node/dashboard.h)
//   dashboard_token: HEX         #   with it: what the page's data asks for
//
// A Director also says how it reaches its hypervisor, and an Agent its container runtime:
//
//   vms:                          # director
//     provider: local             # or libvirt (with uri: qemu:///system, bridge: BRIDGE for
//                                 # each VM's NIC, domain_type: kvm|qemu)
//     state_dir: /var/lib/omni/local
//     id: "0"                     # local: tells providers on one machine apart
//     subnet: 10.213.0            # local: sandboxes get .2 and up, the host .1
//     cluster: prod               # the bridge's scope: this cluster's VMs, this node's
//     node: host1
//     agent_port: 7300            # where the Agent of every worker VM listens
//     autostart: true
//     files: /var/lib/omni/pki/vms   # what each VM receives at create: FILES/VM/ (its key, certs)
//     boot:                       # per role; {vm}, {node}, {cluster} are replaced
//       worker: {init: [omni-node, agent, --config, "/etc/omni/{vm}.yaml"]}
//     addresses: {prod-host1-worker-1: 10.213.0.12}   # local: each VM's, from the plan
//     capacity: {cpu_millis: 4000, memory_bytes: 8589934592}   # local: the node's
//   containers:                   # agent
//     runtime: process            # or containerd (with socket:, log_dir:, scope:, host_access:)
//     state_dir: /var/lib/omni/process
//     images: {omni/orchestrator: /usr/lib/omni/omni-image.tar}
//
// The root has `vms` without a node (it creates every node's Director VM) and names the cluster
// config it creates and the image of its Orchestrators:
//
//   cluster: /var/lib/omni/prod/cluster.yaml
//   image: omni/omni-node:dev
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "node/driver_bridge.h"

namespace omni::node {

struct VmsConfig {
  std::string provider;     // local | libvirt
  std::string uri;          // libvirt
  std::string nic_bridge;   // libvirt: the host bridge each VM's NIC joins; empty: no NIC
  std::string domain_type;  // libvirt: kvm, qemu (TCG) or test; empty: what the host offers
  std::string state_dir;    // local
  std::string id = "0";     // local
  std::string subnet = "10.213.0";
  int agent_port = 7300;
  drivers::HostCapacity capacity;  // local: the node's; zero: this machine's
  VmBridgeConfig bridge;
};

struct ContainersConfig {
  std::string runtime;    // process | containerd
  std::string state_dir;  // process
  std::string socket = "/run/containerd/containerd.sock";
  std::string log_dir = "/var/log/omni/containers";
  // containerd: the Agent's share of a containerd that several Agents use (default: the VM's
  // name, $OMNI_VM_NAME, when a sandbox runs it), and the commands whose containers get the
  // machine (drivers/container/containerd_driver.h).
  std::string scope;
  std::vector<std::string> host_access;
  ContainerBridgeConfig bridge;
};

struct NodeConfig {
  std::string role;  // orchestrator, director, agent
  std::string identity;
  std::vector<std::string> args;  // the component's own arguments, as its container gets them
  std::string state_dir;
  std::string listen;
  std::map<std::string, std::string> peers;  // identity -> host:port
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string metrics;           // host:port for GET /metrics; empty: none
  std::string dashboard;         // an orchestrator's: host:port of its HTTPS dashboard; empty: none
  std::string dashboard_token;   // what the dashboard's data asks for (?token=)
  std::optional<VmsConfig> vms;  // a Director's
  std::optional<ContainersConfig> containers;  // an Agent's
  std::string cluster_file;                    // the root's: the cluster config it creates
  std::string orchestrator_image;              // the root's: the image its replicas run
  bool log_json = false;                       // --log-format json
  std::string log_path;                        // empty: stderr (omni init: the site's root.log)
};

// The config, or the reason it is not one ("FILE: key `listen`: expected host:port").
std::variant<NodeConfig, std::string> parse_node_config(const std::string& role,
                                                        const std::string& text,
                                                        const std::string& file);

}  // namespace omni::node
