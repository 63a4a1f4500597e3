// The local site: every address follows from the plan, every process's config is written where
// its VM receives it, parses for its role, names the certificate of its identity, and a second
// write (a resumed init) keeps the cluster's CA.
#include "node/local_site.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "model/config/parse.h"
#include "node/cluster_pki.h"
#include "node/node_config.h"
#include "node/pki.h"
#include "tests/node/support.h"

namespace omni::node {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::string kCluster =
    "cluster: {name: prod, orchestrators: 3}\n"
    "nodes:\n"
    "  - {name: a, resources: {cpu: 2, memory: 4Gi}}\n"
    "  - {name: b, resources: {cpu: 2, memory: 4Gi}}\n"
    "  - {name: c, resources: {cpu: 4, memory: 8Gi}, worker_vms: 2}\n";

struct Planned {
  config::ClusterConfig config;
  root::Plan plan;
};

Planned planned(const std::string& text) {
  auto parsed = config::parse_cluster_config(text, "c.yaml");
  if (!parsed.config) throw std::runtime_error(parsed.errors.front().to_string());
  auto plan = root::make_plan(*parsed.config);
  return {*parsed.config, std::get<root::Plan>(plan)};
}

TEST(LocalSite, AddressesFollowThePlanAndEveryIdentityHasItsOwnPlace) {
  const auto [config, plan] = planned(kCluster);
  const auto addresses = planned_addresses(plan, "10.215.9");
  ASSERT_EQ(addresses.size(), plan.vms.size());
  int host = kFirstVmHost;
  for (const auto& vm : plan.vms)
    EXPECT_EQ(addresses.at(vm.name), "10.215.9." + std::to_string(host++)) << vm.name;
  const auto book = peer_book(plan, "10.215.9");
  EXPECT_EQ(book.at("root"), "10.215.9.1:7100");
  EXPECT_EQ(book.at("admin"), "10.215.9.1:7500");
  EXPECT_EQ(book.at("director:a"), addresses.at("prod-a-director") + ":7200");
  EXPECT_EQ(book.at("agent:prod-c-worker-2"), addresses.at("prod-c-worker-2") + ":7300");
  for (const auto& replica : plan.replicas)
    EXPECT_EQ(book.at("orchestrator:" + std::to_string(replica.replica)),
              addresses.at(replica.vm) + ":" + std::to_string(7400 + replica.replica));
  std::set<std::string> endpoints;
  for (const auto& [identity, at] : book) endpoints.insert(at);
  EXPECT_EQ(endpoints.size(), book.size()) << "no two identities listen in one place";
}

TEST(LocalSite, APlanLargerThanTheSubnetIsRefused) {
  std::string text = "cluster: {name: big, orchestrators: 3}\nnodes:\n";
  for (int n = 0; n < 130; ++n)
    text += "  - {name: n" + std::to_string(n) + ", resources: {cpu: 2, memory: 4Gi}}\n";
  const auto [config, plan] = planned(text);
  EXPECT_TRUE(planned_addresses(plan, "10.215.9").empty());
  EXPECT_TRUE(peer_book(plan, "10.215.9").empty());
  testing::TempDir dir;
  LocalSite site = site_in((dir.path / "site").string());
  site.omni_node = "/usr/bin/omni-node";
  EXPECT_NE(write_local_site(site, text, config, plan).find("at most 245 VMs"), std::string::npos);
}

TEST(LocalSite, ASitesIdAndSubnetComeFromItsDirectory) {
  const LocalSite one = site_in("/var/lib/omni/prod");
  EXPECT_EQ(one.id, site_in("/var/lib/omni/prod").id);
  EXPECT_EQ(one.subnet, site_in("/var/lib/omni/prod").subnet);
  EXPECT_NE(one.id, site_in("/var/lib/omni/test").id);
  EXPECT_LE(one.id.size(), 8u);
  EXPECT_EQ(one.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789"), std::string::npos);
  EXPECT_EQ(one.subnet.rfind("10.215.", 0), 0u);
}

TEST(LocalSite, EveryConfigParsesForItsRoleAndNamesItsOwnCertificate) {
  const auto [config, plan] = planned(kCluster);
  testing::TempDir dir;
  LocalSite site = site_in((dir.path / "site").string());
  site.omni_node = "/usr/local/bin/omni-node";
  site.image_tar = "/usr/local/lib/omni/omni-image.tar";
  ASSERT_EQ(write_local_site(site, kCluster, config, plan), "");
  const fs::path root = site.dir;

  struct Expected {
    std::string role;
    fs::path file;
    std::string identity;
  };
  std::vector<Expected> expected{{"root", root / "root.yaml", "root"}};
  for (const auto& vm : plan.vms) {
    const fs::path director_files = root / "pki/vms" / root::director_vm_name("prod", vm.node);
    if (vm.role == root::VmRole::director)
      expected.push_back(
          {"director", director_files / ("director-" + vm.node + ".yaml"), "director:" + vm.node});
    else
      expected.push_back({"agent",
                          director_files / "vms" / vm.name / ("agent-" + vm.name + ".yaml"),
                          "agent:" + vm.name});
  }
  for (const auto& replica : plan.replicas)
    expected.push_back(
        {"orchestrator",
         root / "pki/vms" / root::director_vm_name("prod", replica.node) / "vms" / replica.vm /
             ("orchestrator-" + std::to_string(replica.replica) + ".yaml"),
         "orchestrator:" + std::to_string(replica.replica)});
  for (const auto& e : expected) {
    const auto parsed = parse_node_config(e.role, slurp(e.file), e.file.string());
    ASSERT_TRUE(std::holds_alternative<NodeConfig>(parsed)) << std::get<std::string>(parsed);
    const NodeConfig& c = std::get<NodeConfig>(parsed);
    EXPECT_EQ(c.identity, e.identity);
    EXPECT_EQ(identity_of(slurp(c.cert_file)), e.identity) << c.cert_file;
    EXPECT_TRUE(fs::exists(c.key_file));
    EXPECT_EQ(c.peers, peer_book(plan, site.subnet)) << e.file;
  }

  const auto director = std::get<NodeConfig>(
      parse_node_config("director", slurp(expected[1].file), expected[1].file.string()));
  EXPECT_EQ(director.vms->bridge.node, "a");
  EXPECT_EQ(director.vms->bridge.addresses,
            (std::map<std::string, std::string>{
                {"prod-a-worker-1", planned_addresses(plan, site.subnet).at("prod-a-worker-1")}}));
  EXPECT_EQ(director.vms->capacity.cpu_millis, 2000);
  EXPECT_EQ(director.vms->state_dir, site.dir + "/local");
  EXPECT_EQ(director.listen, planned_addresses(plan, site.subnet).at("prod-a-director") + ":7200");
  const auto root_config =
      std::get<NodeConfig>(parse_node_config("root", slurp(root / "root.yaml"), "root.yaml"));
  EXPECT_EQ(root_config.vms->bridge.node, "");
  EXPECT_EQ(root_config.vms->bridge.addresses.size(), 3u);
  EXPECT_EQ(root_config.listen, site.subnet + ".1:7100");
  EXPECT_EQ(root_config.cluster_file, site.dir + "/cluster.yaml");
  EXPECT_EQ(slurp(root_config.cluster_file), kCluster);

  // A resumed init writes the site again and keeps the CA it made first.
  const std::string ca = slurp(root / "pki/ca.crt");
  ASSERT_EQ(write_local_site(site, kCluster, config, plan), "");
  EXPECT_EQ(slurp(root / "pki/ca.crt"), ca);
  LocalSite read;
  ASSERT_EQ(read_local_site(site.dir, read), "");
  EXPECT_EQ(read.id, site.id);
  EXPECT_EQ(read.subnet, site.subnet);
  EXPECT_EQ(read.omni_node, site.omni_node);
  EXPECT_EQ(read.image_tar, site.image_tar);
  EXPECT_NE(read_local_site((dir.path / "nowhere").string(), read), "");
}

// A Director in its VM reaches the libvirtd of this machine at the bridge's address, over TCP;
// a libvirtd elsewhere, or one that runs no VM, is not one omni init can make VMs through.
TEST(LocalSite, TheVmsReachALibvirtdOfThisMachineAtTheBridgesAddressOverTcp) {
  EXPECT_EQ(libvirt_uri_from_vms("qemu:///system", "10.9.8"), "qemu+tcp://10.9.8.1:16509/system");
  EXPECT_EQ(libvirt_uri_from_vms("qemu+tcp://127.0.0.1:16600/system", "10.9.8"),
            "qemu+tcp://10.9.8.1:16600/system");
  EXPECT_EQ(libvirt_uri_from_vms("qemu+tcp://localhost/session", "10.9.8"),
            "qemu+tcp://10.9.8.1:16509/session");
  EXPECT_EQ(libvirt_uri_from_vms("qemu+unix:///system?socket=/run/x/sock", "10.9.8"),
            "qemu+tcp://10.9.8.1:16509/system");
  EXPECT_EQ(libvirt_uri_from_vms("qemu+ssh://root@host/system", "10.9.8"), "");
  EXPECT_EQ(libvirt_uri_from_vms("qemu+tcp://10.0.0.5/system", "10.9.8"), "");
  EXPECT_EQ(libvirt_uri_from_vms("qemu+tls://127.0.0.1/system", "10.9.8"), "");
  EXPECT_EQ(libvirt_uri_from_vms("test:///default", "10.9.8"), "");  // runs no VM
  EXPECT_EQ(libvirt_uri_from_vms("qemu+tcp://127.0.0.1:port/system", "10.9.8"), "");
  EXPECT_EQ(libvirt_uri_from_vms("not a uri", "10.9.8"), "");
}

// With a libvirt hypervisor every VM boots the site's kernel with an initramfs of its own: the
// shared one with the VM's files appended. Each process reaches libvirt from where it runs.
TEST(LocalSite, ALibvirtSiteBootsEachVmFromItsOwnInitramfsWithItsFiles) {
  const std::string cluster =
      "cluster: {name: prod, orchestrators: 1}\n"
      "nodes:\n"
      "  - {name: a, resources: {cpu: 2, memory: 4Gi}, hypervisor: \"qemu:///system\"}\n";
  const auto [config, plan] = planned(cluster);
  testing::TempDir dir;
  LocalSite site = site_in((dir.path / "site").string());
  site.omni_node = "/usr/local/bin/omni-node";
  site.image_tar = "/usr/local/lib/omni/omni-image.tar";
  site.runtime = "process";
  site.hypervisor = "qemu:///system";
  site.kernel = (dir.path / "vmlinuz-6.1").string();
  site.initramfs = (dir.path / "omni-initramfs.cpio.gz").string();
  std::ofstream(site.kernel) << "KERNEL";
  std::ofstream(site.initramfs) << "SHARED-IMAGE";
  ASSERT_EQ(write_local_site(site, cluster, config, plan), "");

  const fs::path boot = fs::path(site.dir) / "libvirt";
  EXPECT_EQ(slurp(boot / "vmlinuz"), "KERNEL");
  // QEMU under a system libvirtd runs as another user: it may pass through, not list.
  EXPECT_EQ(fs::status(site.dir).permissions() & fs::perms::all, fs::perms(0711));
  EXPECT_EQ(fs::status(boot).permissions() & fs::perms::all, fs::perms(0711));
  EXPECT_EQ(fs::status(boot / "prod-a-director.initrd").permissions() & fs::perms::all,
            fs::perms(0600));
  const std::string director_initrd = slurp(boot / "prod-a-director.initrd");
  const std::string worker_initrd = slurp(boot / "prod-a-worker-1.initrd");
  EXPECT_EQ(director_initrd.rfind("SHARED-IMAGE", 0), 0u);
  EXPECT_EQ(worker_initrd.rfind("SHARED-IMAGE", 0), 0u);
  EXPECT_NE(director_initrd.find("etc/omni/director-a.yaml"), std::string::npos);
  EXPECT_NE(director_initrd.find("etc/omni/director-a.key"), std::string::npos);
  EXPECT_NE(worker_initrd.find("etc/omni/agent-prod-a-worker-1.yaml"), std::string::npos);
  EXPECT_NE(worker_initrd.find("etc/omni/orchestrator-1.yaml"), std::string::npos);
  EXPECT_EQ(worker_initrd.find("director-a.key"), std::string::npos) << "only its own files";

  const fs::path director_file = fs::path(site.dir) / "pki/vms/prod-a-director/director-a.yaml";
  const auto director =
      std::get<NodeConfig>(parse_node_config("director", slurp(director_file), "d.yaml"));
  ASSERT_TRUE(director.vms);
  EXPECT_EQ(director.vms->provider, "libvirt");
  EXPECT_EQ(director.vms->uri, "qemu+tcp://" + site.subnet + ".1:16509/system");
  EXPECT_EQ(director.vms->nic_bridge, "omb-" + site.id);
  EXPECT_TRUE(director.vms->bridge.files_dir.empty()) << "its workers' files are in their images";
  const drivers::VmBoot& worker_boot = director.vms->bridge.boot.at("worker");
  EXPECT_EQ(worker_boot.kernel_path, boot / "vmlinuz");
  EXPECT_EQ(worker_boot.initrd_path, (boot / "{vm}.initrd").string());
  EXPECT_NE(worker_boot.kernel_cmdline.find("omni.role=agent omni.config=/etc/omni/agent-{vm}.yaml"
                                            " omni.address={address}/24 omni.gateway=" +
                                            site.subnet + ".1 omni.vm={vm}"),
            std::string::npos)
      << worker_boot.kernel_cmdline;
  const auto root_config =
      std::get<NodeConfig>(parse_node_config("root", slurp(fs::path(site.dir) / "root.yaml"), "r"));
  EXPECT_EQ(root_config.vms->uri, "qemu:///system");
  EXPECT_EQ(root_config.vms->bridge.boot.at("director").initrd_path,
            (boot / "{vm}.initrd").string());
  const auto agent = std::get<NodeConfig>(parse_node_config(
      "agent",
      slurp(fs::path(site.dir) /
            "pki/vms/prod-a-director/vms/prod-a-worker-1/agent-prod-a-worker-1.yaml"),
      "a.yaml"));
  EXPECT_EQ(agent.containers->runtime, "process");
  EXPECT_EQ(agent.containers->bridge.image_tars.at(site.image), "/usr/lib/omni/omni-image.tar");

  LocalSite read;
  ASSERT_EQ(read_local_site(site.dir, read), "");
  EXPECT_EQ(read.hypervisor, site.hypervisor);
  EXPECT_EQ(read.kernel, site.kernel);
  EXPECT_EQ(read.initramfs, site.initramfs);
}

}  // namespace
}  // namespace omni::node
