// The files Cgroups writes, on directory trees that imitate a v2 and a v1 hierarchy: the
// layout of both is checked on any machine, whichever one it mounts (the local provider's
// integration test checks real enforcement on the one it has).
#include "drivers/util/cgroup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "tests/drivers/test_support.h"

namespace omni::drivers {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

void touch_v2_tree(const std::string& root) {
  write_file(root + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  write_file(root + "/cgroup.subtree_control", "");
}

// A real kernel makes a cgroup's files with its directory; the imitation makes them ahead.
void touch_v2_group(const std::string& root, const std::string& group, const std::string& name) {
  std::filesystem::create_directories(root + "/" + group + "/" + name);
  write_file(root + "/" + group + "/cgroup.subtree_control", "");
  for (const char* file : {"memory.max", "cpu.max", "cgroup.procs"})
    write_file(root + "/" + group + "/" + name + "/" + file, "");
}

void touch_v1_tree(const std::string& root) {
  std::filesystem::create_directories(root + "/memory");
  std::filesystem::create_directories(root + "/cpu");
  write_file(root + "/memory/memory.limit_in_bytes", "9223372036854771712\n");
  write_file(root + "/cpu/cpu.cfs_quota_us", "-1\n");
}

void touch_v1_group(const std::string& root, const std::string& group, const std::string& name) {
  const std::string memory = root + "/memory/" + group + "/" + name;
  const std::string cpu = root + "/cpu/" + group + "/" + name;
  std::filesystem::create_directories(memory);
  std::filesystem::create_directories(cpu);
  for (const char* file : {"memory.limit_in_bytes", "cgroup.procs"})
    write_file(memory + "/" + file, "");
  for (const char* file : {"cpu.cfs_period_us", "cpu.cfs_quota_us", "cgroup.procs"})
    write_file(cpu + "/" + file, "");
}

TEST(Cgroups, V2WritesMemoryMaxAndCpuMaxAndDelegatesBothControllers) {
  TempDir root("omni-cgroup-v2");
  touch_v2_tree(root.path());
  touch_v2_group(root.path(), "omni-local-x", "vm1");
  Cgroups cgroups(root.path());
  ASSERT_EQ(cgroups.version(), CgroupVersion::v2);

  auto made = cgroups.create("omni-local-x", "vm1", {1500, 64ll << 20});
  ASSERT_TRUE(made.ok()) << made.result.message;
  EXPECT_EQ(made.value, std::vector<std::string>{root / "omni-local-x/vm1/cgroup.procs"});
  EXPECT_EQ(read_file(root / "omni-local-x/vm1/memory.max"), "67108864");
  EXPECT_EQ(read_file(root / "omni-local-x/vm1/cpu.max"), "150000 100000");
  EXPECT_EQ(read_file(root / "cgroup.subtree_control"), "+cpu +memory");
  EXPECT_EQ(read_file(root / "omni-local-x/cgroup.subtree_control"), "+cpu +memory");
}

TEST(Cgroups, V2WithoutLimitsWritesMaxAndATinyQuotaIsRaisedToTheKernelsMinimum) {
  TempDir root("omni-cgroup-v2");
  touch_v2_tree(root.path());
  touch_v2_group(root.path(), "g", "unlimited");
  touch_v2_group(root.path(), "g", "tiny");
  Cgroups cgroups(root.path());
  ASSERT_TRUE(cgroups.create("g", "unlimited", {0, 0}).ok());
  EXPECT_EQ(read_file(root / "g/unlimited/memory.max"), "max");
  EXPECT_EQ(read_file(root / "g/unlimited/cpu.max"), "max 100000");
  ASSERT_TRUE(cgroups.create("g", "tiny", {1, 1 << 20}).ok());
  EXPECT_EQ(read_file(root / "g/tiny/cpu.max"), "1000 100000");
}

TEST(Cgroups, V1WritesOneDirectoryPerController) {
  TempDir root("omni-cgroup-v1");
  touch_v1_tree(root.path());
  touch_v1_group(root.path(), "omni-local-x", "vm1");
  Cgroups cgroups(root.path());
  ASSERT_EQ(cgroups.version(), CgroupVersion::v1);

  auto made = cgroups.create("omni-local-x", "vm1", {250, 128ll << 20});
  ASSERT_TRUE(made.ok()) << made.result.message;
  EXPECT_EQ(made.value, (std::vector<std::string>{root / "memory/omni-local-x/vm1/cgroup.procs",
                                                  root / "cpu/omni-local-x/vm1/cgroup.procs"}));
  EXPECT_EQ(read_file(root / "memory/omni-local-x/vm1/memory.limit_in_bytes"), "134217728");
  EXPECT_EQ(read_file(root / "cpu/omni-local-x/vm1/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read_file(root / "cpu/omni-local-x/vm1/cpu.cfs_quota_us"), "25000");
  EXPECT_EQ(
      cgroups.directories("omni-local-x", "vm1"),
      (std::vector<std::string>{root / "memory/omni-local-x/vm1", root / "cpu/omni-local-x/vm1"}));
}

// A sandbox's init leaves, through the roots of the other v1 hierarchies, the cgroups of the
// container that started it; v2 has one hierarchy, which the sandbox's own cgroup covers.
TEST(Cgroups, V1NamesTheRootsOfTheHierarchiesItDoesNotLimitWith) {
  TempDir root("omni-cgroup-v1");
  touch_v1_tree(root.path());
  for (const char* h : {"memory", "cpu", "pids", "devices"}) {
    std::filesystem::create_directories(root / h);
    write_file(root / (std::string(h) + "/cgroup.procs"), "");
  }
  std::filesystem::create_symlink(root / "cpu", root / "cpuacct");
  Cgroups v1(root.path());
  ASSERT_EQ(v1.version(), CgroupVersion::v1);
  EXPECT_EQ(v1.other_v1_roots(),
            (std::vector<std::string>{root / "devices/cgroup.procs", root / "pids/cgroup.procs"}));
  TempDir v2_root("omni-cgroup-v2");
  touch_v2_tree(v2_root.path());
  EXPECT_TRUE(Cgroups(v2_root.path()).other_v1_roots().empty());
}

TEST(Cgroups, NoHierarchyOrABadNameIsAClearErrorAndMakesNothing) {
  TempDir root("omni-cgroup-none");
  Cgroups none(root.path());
  EXPECT_EQ(none.version(), CgroupVersion::none);
  auto refused = none.create("g", "vm1", {1000, 1 << 30});
  EXPECT_EQ(refused.result.status, DriverStatus::unavailable);
  EXPECT_NE(refused.result.message.find(root.path()), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(root / "g"));

  TempDir v2("omni-cgroup-v2");
  touch_v2_tree(v2.path());
  Cgroups cgroups(v2.path());
  for (const char* bad : {"", "../escape", "a/b"}) {
    auto made = cgroups.create("g", bad, {1000, 1 << 30});
    EXPECT_EQ(made.result.status, DriverStatus::failed) << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(v2 / "g"));
}

// A file the kernel would refuse (here: missing, as when a controller is not delegated) fails
// the create with the path in its message.
TEST(Cgroups, AWriteThatFailsNamesTheFile) {
  TempDir root("omni-cgroup-v2");
  touch_v2_tree(root.path());
  std::filesystem::create_directories(root / "g/vm1");
  write_file(root / "g/cgroup.subtree_control", "");
  Cgroups cgroups(root.path());
  auto made = cgroups.create("g", "vm1", {1000, 1 << 30});
  EXPECT_EQ(made.result.status, DriverStatus::failed);
  EXPECT_NE(made.result.message.find("memory.max"), std::string::npos) << made.result.message;
}

// containerd nests a VM's containers below the VM's cgroup: killing the VM's processes reaches
// them (the imitation's cgroup.procs keeps the pid, as a zombie's would be listed, so the kill
// runs every pass and the test looks at the process, not the count).
TEST(Cgroups, KillAllReachesTheCgroupsBelowTheGroup) {
  TempDir root("omni-cgroup-v2");
  touch_v2_tree(root.path());
  touch_v2_group(root.path(), "g", "vm1");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  std::filesystem::create_directories(root / "g/vm1/omni-container");
  write_file(root / "g/vm1/omni-container/cgroup.procs", std::to_string(child) + "\n");
  touch_v2_group(root.path(), "g", "vm2");
  Cgroups cgroups(root.path());
  EXPECT_GE(cgroups.kill_all("g", "vm1"), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ(cgroups.kill_all("g", "vm2"), 0);  // a sibling is not below
}

}  // namespace
}  // namespace omni::drivers
