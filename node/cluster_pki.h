#pragma once
// The root's pki phase: the cluster's CA and a certificate for every component its plan names,
// laid out as each VM receives them (the VM bridge's `files_dir`, node/driver_bridge.h):
//
//   DIR/ca.crt, DIR/ca.key                 the CA (its key stays with whoever issues next)
//   DIR/root.{crt,key}, DIR/admin.{crt,key}
//   DIR/vms/CLUSTER-NODE-director/         what a Director VM receives
//       ca.crt, director-NODE.{crt,key}
//       vms/CLUSTER-NODE-worker-N/...      its workers' files, which it gives them in turn
//   DIR/vms/CLUSTER-NODE-worker-N/         what a worker VM receives
//       ca.crt, agent-CLUSTER-NODE-worker-N.{crt,key}, orchestrator-R.{crt,key} (its replicas)
//
// File names are identities with ':' as '-'. Keys are 0600 in 0700 directories.
#include <map>
#include <string>

#include "model/root/plan.h"
#include "node/pki.h"

namespace omni::node {

// Empty on success, else what failed (OpenSSL's reason, or the file that could not be written).
// `addresses` (VM name -> IP address, where planned) go into the certificates of what runs in
// each VM, so that a browser trusting the CA trusts an Orchestrator's dashboard at its address.
std::string write_cluster_pki(const root::Plan& plan, const std::string& dir,
                              const Validity& validity = {},
                              const std::map<std::string, std::string>& addresses = {});

// "director:host1" -> "director-host1": the file name of an identity's key pair.
std::string key_pair_name(const std::string& identity);

}  // namespace omni::node
