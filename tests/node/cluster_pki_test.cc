// The root's pki phase for a plan: one CA, a certificate for every component the plan names,
// each where the VM that runs it receives it, keys readable by their owner only.
#include "node/cluster_pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "model/config/parse.h"
#include "tests/node/support.h"

namespace omni::node {
namespace {

namespace fs = std::filesystem;

root::Plan plan_of(const std::string& yaml) {
  const auto parsed = config::parse_cluster_config(yaml, "cluster.yaml");
  EXPECT_TRUE(parsed.config) << (parsed.errors.empty() ? "" : parsed.errors[0].to_string());
  return std::get<root::Plan>(root::make_plan(*parsed.config));
}

const std::string kCluster = R"(cluster: {name: prod, orchestrators: 3}
nodes:
  - {name: host-a, resources: {cpu: 8, memory: 16Gi}}
  - {name: host-b, resources: {cpu: 8, memory: 16Gi}}
  - {name: host-c, resources: {cpu: 8, memory: 16Gi}}
)";

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

// The identities whose key pairs lie directly in `dir`.
std::set<std::string> identities_in(const fs::path& dir) {
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".crt" || entry.path().stem() == "ca") continue;
    const auto identity = identity_of(slurp(entry.path()));
    EXPECT_TRUE(identity) << entry.path();
    if (identity) found.insert(*identity);
    EXPECT_EQ(key_pair_name(*identity), entry.path().stem().string());
    EXPECT_EQ(mode_of(fs::path(entry.path()).replace_extension(".key")), 0600u) << entry.path();
  }
  return found;
}

TEST(ClusterPki, EveryComponentOfThePlanGetsItsCertificateWhereItsVmReceivesIt) {
  testing::TempDir dir;
  const root::Plan plan = plan_of(kCluster);
  ASSERT_EQ(write_cluster_pki(plan, dir.path.string()), "");
  const std::string ca = slurp(dir.path / "ca.crt");
  EXPECT_EQ(identities_in(dir.path), (std::set<std::string>{"root", "admin"}));
  EXPECT_EQ(mode_of(dir.path / "ca.key"), 0600u);

  std::set<std::string> replicas_seen;
  for (const auto& vm : plan.vms) {
    const fs::path director_dir = dir.path / "vms" / root::director_vm_name("prod", vm.node);
    const fs::path at =
        vm.role == root::VmRole::director ? director_dir : director_dir / "vms" / vm.name;
    ASSERT_TRUE(fs::is_directory(at)) << at;
    EXPECT_EQ(mode_of(at), 0700u) << at;
    EXPECT_EQ(slurp(at / "ca.crt"), ca) << "every VM trusts the cluster's CA";
    std::set<std::string> expected{vm.role == root::VmRole::director ? "director:" + vm.node
                                                                     : "agent:" + vm.name};
    for (const auto& replica : plan.replicas)
      if (replica.vm == vm.name) {
        expected.insert("orchestrator:" + std::to_string(replica.replica));
        replicas_seen.insert("orchestrator:" + std::to_string(replica.replica));
      }
    EXPECT_EQ(identities_in(at), expected) << vm.name;
    for (const auto& identity : expected)
      EXPECT_EQ(verify(ca, slurp(at / (key_pair_name(identity) + ".crt"))), "") << identity;
  }
  EXPECT_EQ(replicas_seen.size(), 3u);
}

// Whether the PEM certificate `cert_pem` names the IP address `ip` (as TLS checks a host name).
bool names_address(const std::string& cert_pem, const std::string& ip) {
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return false;
  const bool named = X509_check_ip_asc(cert, ip.c_str(), 0) == 1;
  X509_free(cert);
  return named;
}

// Each certificate of what runs in a VM names the VM's planned address, and no other: a browser
// that trusts the CA then trusts an Orchestrator's dashboard at its address. Without it, every
// member's page was a name mismatch to a browser that had imported the CA.
TEST(ClusterPki, ACertificateNamesTheAddressOfTheVmItIsFor) {
  testing::TempDir dir;
  const root::Plan plan = plan_of(kCluster);
  std::map<std::string, std::string> addresses;
  int host = 10;
  for (const auto& vm : plan.vms) addresses[vm.name] = "10.215.7." + std::to_string(host++);
  ASSERT_EQ(write_cluster_pki(plan, dir.path.string(), {}, addresses), "");
  int checked = 0;
  for (const auto& vm : plan.vms) {
    const fs::path director_dir = dir.path / "vms" / root::director_vm_name("prod", vm.node);
    const fs::path at =
        vm.role == root::VmRole::director ? director_dir : director_dir / "vms" / vm.name;
    for (const auto& entry : fs::directory_iterator(at)) {
      if (entry.path().extension() != ".crt" || entry.path().stem() == "ca") continue;
      const std::string cert = slurp(entry.path());
      for (const auto& [other, ip] : addresses)
        EXPECT_EQ(names_address(cert, ip), other == vm.name) << entry.path() << " " << ip;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(plan.vms.size() + plan.replicas.size()));
  EXPECT_FALSE(names_address(slurp(dir.path / "root.crt"), "10.215.7.10"));
}

TEST(ClusterPki, ADirectoryThatCannotBeWrittenIsAnErrorNotACrash) {
  testing::TempDir dir;
  std::ofstream(dir.path / "file") << "x";
  const std::string error = write_cluster_pki(plan_of(kCluster), (dir.path / "file").string());
  EXPECT_NE(error, "");
}

}  // namespace
}  // namespace omni::node
