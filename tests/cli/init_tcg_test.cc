// `omni init` of a one-node cluster whose hypervisor is a libvirt URI, end to end with real VMs
// under TCG (this machine has no KVM): the Director runs in a VM booted from Omni's initramfs,
// makes the worker VM through the libvirtd, the worker's Agent runs the Orchestrator (process
// runtime inside the VM), the root hands over and exits, `omni status` is healthy, and
// `omni reset` leaves no domain. Label `tcg`, run by `.ci/dev tcg` (docs/drivers.md).
//
// Everything runs in a network namespace this test makes: a privileged libvirtd (it makes the
// VMs' taps on the cluster's bridge) in a private mount namespace of its own, with its state on
// tmpfs, listening for TCP there only; omni init, status and reset run in it too.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/drivers/test_support.h"

namespace omni {
namespace {

namespace fs = std::filesystem;
using drivers::testing::Daemon;
using drivers::testing::read_file;
using drivers::testing::TempDir;
using drivers::testing::write_file;

constexpr const char* kUri = "qemu+tcp://127.0.0.1:16509/system";
constexpr const char* kCluster = "tcg";

// The libvirt directories a privileged libvirtd uses; the daemon gets them as its own tmpfs.
const std::vector<std::string> kLibvirtDirs{"/etc/libvirt", "/var/lib/libvirt", "/run/libvirt",
                                            "/var/cache/libvirt", "/var/log/libvirt"};

// Runs in the test's network namespace, in a mount namespace of its own. libvirt resolves its
// default QEMU user before it reads qemu.conf, so a private /etc/passwd gives it one; QEMU runs
// as root without cgroups, a security driver or virtlogd (nothing here runs them).
std::string libvirtd_script() {
  std::string mounts;
  for (const auto& dir : kLibvirtDirs)
    mounts += "mkdir -p " + dir + " && mount -t tmpfs tmpfs " + dir + " && ";
  return "set -e; D=$1; " + mounts +
         "cp /etc/passwd $D/passwd && cp /etc/group $D/group && "
         "echo 'libvirt-qemu:x:64055:64055::/nonexistent:/usr/sbin/nologin' >> $D/passwd && "
         "printf 'libvirt-qemu:x:64055:\\nkvm:x:64056:\\n' >> $D/group && "
         "mount --bind $D/passwd /etc/passwd && mount --bind $D/group /etc/group && "
         "printf 'listen_tls = 0\\nlisten_tcp = 1\\ntcp_port = \"16509\"\\nlisten_addr = "
         "\"0.0.0.0\"\\nauth_tcp = \"none\"\\n' > /etc/libvirt/libvirtd.conf && "
         "printf 'user = \"root\"\\ngroup = \"root\"\\ndynamic_ownership = 0\\nremember_owner = "
         "0\\nsecurity_driver = \"none\"\\ncgroup_controllers = [ ]\\nnamespaces = [ "
         "]\\nstdio_handler = \"file\"\\n' > /etc/libvirt/qemu.conf && "
         "exec libvirtd --listen";
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// The QEMUs in network namespace `netns`, by PID: what the libvirtd left if the test failed.
std::vector<pid_t> qemus_in(ino_t netns) {
  std::vector<pid_t> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (read_file(entry.path() / "comm").rfind("qemu-system", 0) != 0) continue;
    if (inode_of(entry.path() / "ns/net") == netns) found.push_back(std::stoi(name));
  }
  return found;
}

class InitTcg : public ::testing::Test {
 protected:
  void SetUp() override {
    OMNI_REQUIRE(drivers::testing::is_root(), "the VMs' NICs join a bridge: root only");
    for (const char* program : {"ip", "unshare", "libvirtd", "virsh", "qemu-system-x86_64"})
      OMNI_REQUIRE(drivers::testing::have_program(program),
                   std::string(program) + " is missing (.ci/dev tcg installs it)");
    OMNI_REQUIRE(fs::exists(OMNI_INITRAMFS),
                 std::string(OMNI_INITRAMFS) + " is missing: build the omni_initramfs target");
    for (const auto& dir : kLibvirtDirs)
      if (!fs::exists(dir)) made_on_host_.push_back(dir);
    netns_ = "omni-tcg-" + std::to_string(::getpid());
    ASSERT_EQ(ip({"netns", "add", netns_}), 0);
    ASSERT_EQ(ip({"-n", netns_, "link", "set", "lo", "up"}), 0);
    netns_inode_ = inode_of("/run/netns/" + netns_);
    libvirtd_ = std::make_unique<Daemon>(
        std::vector<std::string>{"ip", "netns", "exec", netns_, "unshare", "-m", "--propagation",
                                 "private", "sh", "-c", libvirtd_script(), "sh", dir_.path()},
        dir_ / "libvirtd.log");
    ASSERT_TRUE(drivers::testing::wait_until([&] { return virsh({"version"}) == 0; },
                                             std::chrono::seconds(30)))
        << read_file(dir_ / "libvirtd.log");
    write_file(dir_ / "cluster.yaml", std::string("cluster:\n  name: ") + kCluster +
                                          "\n  orchestrators: 1\nnodes:\n  - name: n1\n"
                                          "    resources: {cpu: 2, memory: 3Gi}\n"
                                          "    hypervisor: " +
                                          kUri + "\n");
    fs::create_directories(dir_ / "home");
  }

  void TearDown() override {
    if (netns_.empty()) return;
    if (libvirtd_) {
      omni({"reset", "--yes", "--cluster", kCluster, "--state-dir", site()});
      libvirtd_->stop();
    }
    for (const pid_t pid : qemus_in(netns_inode_)) ::kill(pid, SIGKILL);
    ip({"netns", "del", netns_});
    std::error_code ignored;
    for (const auto& dir : made_on_host_) fs::remove(dir, ignored);  // only when still empty
  }

  std::string site() const { return dir_ / "site"; }

  int ip(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    int code = -1;
    drivers::testing::run(argv, &code);
    return code;
  }

  // A command in the test's network namespace (killed after 10 minutes: omni init under TCG
  // takes one or two); its output in `output`.
  int in_netns(const std::vector<std::string>& command, std::string* output = nullptr) const {
    std::vector<std::string> argv{"ip", "netns", "exec", netns_};
    argv.insert(argv.end(), command.begin(), command.end());
    int code = -1;
    const std::string printed = drivers::testing::run(argv, &code, std::chrono::minutes(10));
    if (output) *output = printed;
    return code;
  }

  int virsh(const std::vector<std::string>& args, std::string* output = nullptr) const {
    std::vector<std::string> command{"virsh", "-c", kUri};
    command.insert(command.end(), args.begin(), args.end());
    return in_netns(command, output);
  }

  int omni(const std::vector<std::string>& args, std::string* output = nullptr) const {
    std::vector<std::string> command{"env", "HOME=" + (dir_ / "home"), OMNI_BINARY};
    command.insert(command.end(), args.begin(), args.end());
    return in_netns(command, output);
  }

  TempDir dir_{"omni-init-tcg"};
  std::string netns_;
  ino_t netns_inode_ = 0;
  std::unique_ptr<Daemon> libvirtd_;
  std::vector<std::string> made_on_host_;
};

TEST_F(InitTcg, ALibvirtNodeBecomesASelfManagingClusterAndResetLeavesNoDomain) {
  std::string said;
  const int code = omni(
      {"init", "-f", dir_ / "cluster.yaml", "--state-dir", site(), "--initramfs", OMNI_INITRAMFS},
      &said);
  const std::string director_log = read_file(site() + "/libvirt/tcg-n1-director.log");
  const std::string worker_log = read_file(site() + "/libvirt/tcg-n1-worker-1.log");
  ASSERT_EQ(code, 0) << said << "\nDirector's console:\n"
                     << director_log << "\nworker's console:\n"
                     << worker_log << "\nroot's log:\n"
                     << read_file(site() + "/root.log");
  EXPECT_NE(said.find("QEMU without KVM"), std::string::npos) << said;
  EXPECT_NE(said.find("[done] the cluster manages itself; the root is gone"), std::string::npos)
      << said;

  // Two domains run: the Director's VM, and the worker VM the Director made through libvirt.
  std::string listed;
  ASSERT_EQ(virsh({"list", "--name"}, &listed), 0);
  EXPECT_EQ(listed, "omni-tcg-n1-director-0\nomni-tcg-n1-worker-1\n\n");
  // Each VM's console shows its own component, at its planned address, and the worker's Agent
  // running the Orchestrator's container.
  EXPECT_NE(director_log.find("omni-node director at 10."), std::string::npos) << director_log;
  EXPECT_NE(director_log.find("controlled by orchestrator:1"), std::string::npos) << director_log;
  EXPECT_NE(worker_log.find("omni-node agent at 10."), std::string::npos) << worker_log;
  EXPECT_NE(worker_log.find("1 of 1 containers run"), std::string::npos) << worker_log;

  std::string status;
  ASSERT_EQ(omni({"status", "--cluster", kCluster, "-o", "json"}, &status), 0) << status;
  EXPECT_NE(status.find("\"healthy\":true"), std::string::npos) << status;
  EXPECT_NE(status.find("\"leader\":\"orchestrator:1\""), std::string::npos) << status;
  EXPECT_EQ(status.find("\"controller_term\":0"), std::string::npos) << status;

  std::string reset;
  ASSERT_EQ(omni({"reset", "--yes", "--cluster", kCluster, "--state-dir", site()}, &reset), 0)
      << reset;
  EXPECT_NE(reset.find("2 libvirt domains"), std::string::npos) << reset;
  ASSERT_EQ(virsh({"list", "--all", "--name"}, &listed), 0);
  EXPECT_EQ(listed, "\n");
  EXPECT_FALSE(fs::exists(site()));
  std::string links;
  in_netns({"ip", "-o", "link"}, &links);
  EXPECT_EQ(links.find("omb-"), std::string::npos) << links;
  EXPECT_TRUE(qemus_in(netns_inode_).empty());
}

}  // namespace
}  // namespace omni
