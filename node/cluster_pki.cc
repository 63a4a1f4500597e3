#include "node/cluster_pki.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "model/core/assert.h"

namespace omni::node {
namespace {

namespace fs = std::filesystem;

// Issues `identity` and writes its key pair into `dir`; the CA's certificate goes next to it.
class Issuer {
 public:
  Issuer(KeyPair ca, Validity validity, fs::path root)
      : ca_(std::move(ca)), validity_(validity), root_(std::move(root)) {}

  std::string into(const fs::path& dir, const std::string& identity,
                   const std::string& ip_address = "") {
    std::string error;
    const auto pair = issue(ca_, identity, validity_, error, ip_address);
    if (!pair) return "cannot issue " + identity + ": " + error;
    std::error_code made;
    fs::create_directories(dir, made);
    if (made) return "cannot make " + dir.string() + ": " + made.message();
    for (fs::path at = dir; at.has_relative_path() && at != root_; at = at.parent_path())
      fs::permissions(at, fs::perms::owner_all, fs::perm_options::replace, made);
    return write_key_pair(dir.string(), key_pair_name(identity), *pair);
  }

  std::string write_ca_cert(const fs::path& dir) const {
    std::ofstream out(dir / "ca.crt", std::ios::trunc);
    out << ca_.cert_pem;
    return out ? std::string() : "cannot write " + (dir / "ca.crt").string();
  }

 private:
  KeyPair ca_;
  Validity validity_;
  fs::path root_;  // DIR: its subdirectories are made 0700, DIR itself was made by write_key_pair
};

// Who runs in which VM: a Director in its own, an Agent and the placed replicas in a worker.
std::map<std::string, std::vector<std::string>> identities_by_vm(const root::Plan& plan) {
  std::map<std::string, std::vector<std::string>> by_vm;
  for (const auto& vm : plan.vms)
    by_vm[vm.name].push_back(vm.role == root::VmRole::director ? "director:" + vm.node
                                                               : "agent:" + vm.name);
  for (const auto& replica : plan.replicas)
    by_vm[replica.vm].push_back("orchestrator:" + std::to_string(replica.replica));
  OMNI_ASSERT(by_vm.size() == plan.vms.size(), "every replica is placed in a planned VM");
  return by_vm;
}

// A VM's directory: a worker's lies inside its Director's, which hands it over.
fs::path vm_dir(const fs::path& root, const root::Plan& plan, const root::PlannedVm& vm) {
  if (vm.role == root::VmRole::director) return root / "vms" / vm.name;
  return root / "vms" / root::director_vm_name(plan.cluster, vm.node) / "vms" / vm.name;
}

}  // namespace

std::string key_pair_name(const std::string& identity) {
  std::string name = identity;
  std::replace(name.begin(), name.end(), ':', '-');
  return name;
}

std::string write_cluster_pki(const root::Plan& plan, const std::string& dir,
                              const Validity& validity,
                              const std::map<std::string, std::string>& addresses) {
  std::string error;
  const auto ca = make_ca(plan.cluster, validity, error);
  if (!ca) return "cannot make the cluster's CA: " + error;
  if (error = write_key_pair(dir, "ca", *ca); !error.empty()) return error;
  Issuer issuer(*ca, validity, dir);
  for (const std::string identity : {"root", "admin"})
    if (error = issuer.into(dir, identity); !error.empty()) return error;
  const auto by_vm = identities_by_vm(plan);
  for (const auto& vm : plan.vms) {
    const fs::path at = vm_dir(dir, plan, vm);
    const auto address = addresses.find(vm.name);
    const std::string ip = address == addresses.end() ? "" : address->second;
    for (const auto& identity : by_vm.at(vm.name))
      if (error = issuer.into(at, identity, ip); !error.empty()) return error;
    if (error = issuer.write_ca_cert(at); !error.empty()) return error;
  }
  return {};
}

}  // namespace omni::node
