// The local provider: two sandboxes on one bridge reach each other; teardown leaves no
// namespace, link or process behind (checked with `ip`).
#include "drivers/vm/local_provider.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "drivers/util/cgroup.h"
#include "drivers/util/subprocess.h"
#include "tests/drivers/test_support.h"

namespace omni::drivers {
namespace {

using testing::TempDir;

VmSpec sandbox(int slot) {
  VmSpec spec;
  spec.identity = {"t", "local", "worker", slot};
  spec.cpu_millis = 100;
  spec.memory_bytes = 64ll << 20;
  return spec;
}

LocalOptions options_in(const TempDir& dir) {
  LocalOptions options;
  options.id = "t" + std::to_string(::getpid() % 100000);
  options.state_dir = dir / "state";
  options.subnet_prefix = "10.213.77";
  options.capacity = {4000, 1ll << 30};
  return options;
}

TEST(LocalProvider, TwoSandboxesReachEachOtherAndTeardownLeavesNothing) {
  OMNI_REQUIRE(testing::is_root(), "network namespaces need root");
  TempDir dir("omni-local");
  LocalProvider provider(options_in(dir));
  ASSERT_TRUE(provider.isolated());
  // Sandbox 2's init is a tiny TCP echo server; sandbox 1 talks to it over the bridge.
  const std::string echo_server =
      "import socket\n"
      "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
      "s.bind(('0.0.0.0', 7007)); s.listen()\n"
      "while True:\n"
      "    c, _ = s.accept(); c.sendall(c.recv(100)); c.close()\n";
  for (int slot : {1, 2}) {
    VmSpec spec = sandbox(slot);
    if (slot == 2) spec.boot.init_args = {"python3", "-c", echo_server};
    auto created = provider.create(spec);
    ASSERT_EQ(created.status, DriverStatus::ok) << created.message;
    ASSERT_EQ(provider.start("omni-t-local-worker-" + std::to_string(slot)).status,
              DriverStatus::ok);
  }
  auto listed = provider.list();
  ASSERT_EQ(listed.value.size(), 2u);
  EXPECT_EQ(listed.value[0].state, VmState::running);
  std::string peer = listed.value[1].address;
  EXPECT_EQ(peer, "10.213.77.3");
  EXPECT_NE(testing::run({"ip", "netns", "list"}).find("omni-t-local-worker-1"), std::string::npos);

  const std::string echo_client =
      "import socket, sys\n"
      "c = socket.create_connection(('" +
      peer +
      "', 7007), timeout=2)\n"
      "c.sendall(b'hello-omni'); sys.stdout.write(c.recv(100).decode())\n";
  std::string echoed;
  EXPECT_TRUE(testing::wait_until([&] {
    echoed = testing::run(
        {"ip", "netns", "exec", "omni-t-local-worker-1", "python3", "-c", echo_client});
    return echoed == "hello-omni";
  })) << echoed
      << testing::read_file(provider.console_path("omni-t-local-worker-2"));
  // The host is on the bridge too (its .1 address).
  EXPECT_EQ(testing::run({"python3", "-c", echo_client}), "hello-omni");

  // Admission: the node's capacity counts every sandbox.
  VmSpec big = sandbox(3);
  big.memory_bytes = 2ll << 30;
  EXPECT_EQ(provider.create(big).status, DriverStatus::no_capacity);
  EXPECT_EQ(provider.create(sandbox(1)).status, DriverStatus::already_exists);

  std::string bridge = provider.bridge_name();
  for (int slot : {1, 2}) {
    ASSERT_EQ(provider.destroy("omni-t-local-worker-" + std::to_string(slot)).status,
              DriverStatus::ok);
  }
  EXPECT_TRUE(provider.list().value.empty());
  EXPECT_EQ(testing::run({"ip", "netns", "list"}).find("omni-t-local"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists("/run/netns/" + provider.host_handle()));
  std::string links = testing::run({"ip", "-o", "link"});
  EXPECT_EQ(links.find(bridge), std::string::npos) << links;
  EXPECT_EQ(links.find("omv-"), std::string::npos) << links;
  EXPECT_EQ(testing::run({"pgrep", "-f", "sleep infinity", "-P", std::to_string(::getpid())}), "");
  EXPECT_EQ(provider.destroy("omni-t-local-worker-1").status, DriverStatus::not_found);
}

TEST(LocalProvider, ASandboxGetsTheAddressItsSpecAsksForAndOnlyAValidOne) {
  OMNI_REQUIRE(testing::is_root(), "network namespaces need root");
  TempDir dir("omni-local");
  LocalProvider provider(options_in(dir));
  VmSpec first = sandbox(1);
  first.address = "10.213.77.40";
  ASSERT_EQ(provider.create(first).status, DriverStatus::ok);
  EXPECT_EQ(provider.inspect("omni-t-local-worker-1").value.address, "10.213.77.40");
  EXPECT_NE(
      testing::run({"ip", "-n", "omni-t-local-worker-1", "-o", "addr"}).find("10.213.77.40/24"),
      std::string::npos);
  for (const std::string wrong : {"10.213.77.40", "10.213.78.5", "10.213.77.1", "10.213.77.255",
                                  "10.213.77.x", "10.213.77.0005"}) {
    VmSpec second = sandbox(2);
    second.address = wrong;
    const auto refused = provider.create(second);
    EXPECT_EQ(refused.status, DriverStatus::failed) << wrong;
    EXPECT_NE(refused.message.find(wrong), std::string::npos) << refused.message;
    EXPECT_EQ(provider.inspect("omni-t-local-worker-2").result.status, DriverStatus::not_found);
  }
  EXPECT_EQ(testing::run({"ip", "netns", "list"}).find("omni-t-local-worker-2"), std::string::npos);
  ASSERT_EQ(provider.destroy("omni-t-local-worker-1").status, DriverStatus::ok);
}

// A sandbox's namespace deleted while its links stay on the machine (a process still held the
// namespace, or the kernel had not finished tearing it down): its next start makes them anew.
TEST(LocalProvider, LinksLeftOnTheMachineByASandboxDoNotStopItsStart) {
  OMNI_REQUIRE(testing::is_root(), "network namespaces need root");
  TempDir dir("omni-local");
  LocalProvider provider(options_in(dir));
  const std::string name = "omni-t-local-worker-1";
  ASSERT_EQ(provider.create(sandbox(1)).status, DriverStatus::ok);
  const std::string veth = LocalProvider::veth_name(name);
  testing::run({"ip", "netns", "del", name});
  ASSERT_TRUE(
      testing::wait_until([&] { return !std::filesystem::exists("/sys/class/net/" + veth); }));
  int code = 1;
  testing::run({"ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p"}, &code);
  ASSERT_EQ(code, 0);

  const auto started = provider.start(name);
  EXPECT_EQ(started.status, DriverStatus::ok) << started.message;
  EXPECT_EQ(provider.inspect(name).value.state, VmState::running);
  EXPECT_NE(testing::run({"ip", "-n", name, "-o", "addr"}).find("10.213.77.2/24"),
            std::string::npos);
  ASSERT_EQ(provider.destroy(name).status, DriverStatus::ok);
  const std::string links = testing::run({"ip", "-o", "link"});
  EXPECT_EQ(links.find(veth), std::string::npos) << links;
}

TEST(LocalProvider, EachNodeIsAdmittedAgainstItsOwnCapacity) {
  TempDir dir("omni-local");
  auto options = options_in(dir);
  options.capacity = {1000, 256ll << 20};
  LocalProvider provider(options);
  VmSpec one = sandbox(1);
  one.memory_bytes = 200ll << 20;
  ASSERT_EQ(provider.create(one).status, DriverStatus::ok);
  VmSpec same_node = sandbox(2);
  same_node.memory_bytes = 200ll << 20;
  EXPECT_EQ(provider.create(same_node).status, DriverStatus::no_capacity);
  VmSpec other_node = same_node;
  other_node.identity.node = "other";
  EXPECT_EQ(provider.create(other_node).status, DriverStatus::ok);
  for (const auto& vm : provider.list().value)
    EXPECT_EQ(provider.destroy(vm.name).status, DriverStatus::ok);
}

// One line of the sandbox's state directory, without its newline.
std::string state_of(const TempDir& dir, const std::string& name, const std::string& file) {
  std::string text = testing::read_file(dir / ("state/" + name + "/" + file));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

bool event_for(LocalProvider& provider, const std::string& name, VmEventKind kind,
               std::string& detail) {
  for (const auto& event : provider.poll_events()) {
    if (event.name != name || event.kind != kind) continue;
    detail = event.detail;
    return true;
  }
  return false;
}

// Clock ticks of CPU (user + system) /proc/PID/stat says the process used.
long cpu_ticks_of(const std::string& pid) {
  const std::string stat = testing::read_file("/proc/" + pid + "/stat");
  if (stat.find(')') == std::string::npos) return -1;
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i >= 14) ticks += std::atol(field.c_str());
  return ticks;
}

class LocalProviderLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    OMNI_REQUIRE(testing::is_root(), "cgroups need root");
    OMNI_REQUIRE(Cgroups().version() != CgroupVersion::none,
                 "no cgroup hierarchy with cpu and memory is mounted");
  }
  TempDir dir_{"omni-local"};
};

TEST_F(LocalProviderLimits, TheInitRunsInItsCgroupAndDestroyRemovesIt) {
  LocalProvider provider(options_in(dir_));
  VmSpec spec = sandbox(5);
  spec.cpu_millis = 250;
  ASSERT_EQ(provider.create(spec).status, DriverStatus::ok);
  const std::string name = vm_name(spec.identity);
  const auto started = provider.start(name);
  ASSERT_EQ(started.status, DriverStatus::ok);
  EXPECT_EQ(started.message.find("not enforced"), std::string::npos) << started.message;

  const std::string group = "omni-local-" + options_in(dir_).id;
  const auto dirs = Cgroups().directories(group, name);
  ASSERT_FALSE(dirs.empty());
  const std::string pid = state_of(dir_, name, "pid");
  const std::string membership = testing::read_file("/proc/" + pid + "/cgroup");
  EXPECT_NE(membership.find("/" + group + "/" + name + "\n"), std::string::npos) << membership;
  if (provider.cgroup_version() == CgroupVersion::v1) {
    EXPECT_EQ(testing::read_file(dirs[0] + "/memory.limit_in_bytes"), "67108864\n");
    EXPECT_EQ(testing::read_file(dirs[1] + "/cpu.cfs_quota_us"), "25000\n");
  } else {
    EXPECT_EQ(testing::read_file(dirs[0] + "/memory.max"), "67108864\n");
    EXPECT_EQ(testing::read_file(dirs[0] + "/cpu.max"), "25000 100000\n");
  }

  ASSERT_EQ(provider.destroy(name).status, DriverStatus::ok);
  for (const auto& each : dirs) {
    EXPECT_FALSE(std::filesystem::exists(each)) << each;
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(each).parent_path())) << each;
  }
}

// The limit is enforced, not just written: an init that touches more than its sandbox's
// memory is killed by the kernel, which the provider reports as a crash. The same program with
// room enough keeps running.
TEST_F(LocalProviderLimits, AnInitOverItsMemoryLimitIsKilledAndReportedAsACrash) {
  LocalProvider provider(options_in(dir_));
  const std::string hog =
      "import time\n"
      "data = b'\\x01' * (128 << 20)\n"
      "print('allocated', flush=True)\n"
      "time.sleep(120)\n";
  for (int slot : {6, 7}) {
    VmSpec spec = sandbox(slot);
    spec.memory_bytes = slot == 6 ? 64ll << 20 : 256ll << 20;
    spec.boot.init_args = {"python3", "-c", hog};
    ASSERT_EQ(provider.create(spec).status, DriverStatus::ok);
    ASSERT_EQ(provider.start(vm_name(spec.identity)).status, DriverStatus::ok);
  }
  const std::string small = "omni-t-local-worker-6";
  const std::string roomy = "omni-t-local-worker-7";
  std::string detail;
  EXPECT_TRUE(
      testing::wait_until([&] { return event_for(provider, small, VmEventKind::crashed, detail); },
                          std::chrono::seconds(30)))
      << testing::read_file(provider.console_path(small));
  EXPECT_NE(detail.find("killed by signal 9"), std::string::npos) << detail;
  EXPECT_TRUE(testing::wait_until(
      [&] {
        return testing::read_file(provider.console_path(roomy)).find("allocated") !=
               std::string::npos;
      },
      std::chrono::seconds(30)))
      << testing::read_file(provider.console_path(roomy));
  EXPECT_EQ(provider.inspect(roomy).value.state, VmState::running);
  for (const auto& name : {small, roomy})
    EXPECT_EQ(provider.destroy(name).status, DriverStatus::ok);
  // A stop the provider was asked for is a stop, not a crash.
  EXPECT_FALSE(event_for(provider, roomy, VmEventKind::crashed, detail)) << detail;
}

// A busy loop limited to a tenth of a CPU gets about that: the kernel throttles it.
TEST_F(LocalProviderLimits, ABusyInitIsThrottledToItsCpuShare) {
  LocalProvider provider(options_in(dir_));
  VmSpec spec = sandbox(8);
  spec.cpu_millis = 100;
  spec.boot.init_args = {"sh", "-c", "while :; do :; done"};
  ASSERT_EQ(provider.create(spec).status, DriverStatus::ok);
  const std::string name = vm_name(spec.identity);
  ASSERT_EQ(provider.start(name).status, DriverStatus::ok);
  const std::string pid = state_of(dir_, name, "pid");
  const long ticks_per_s = ::sysconf(_SC_CLK_TCK);
  const long before = cpu_ticks_of(pid);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long used = cpu_ticks_of(pid) - before;
  const auto dirs = Cgroups().directories("omni-local-" + options_in(dir_).id, name);
  const std::string cpu_stat = testing::read_file(dirs.back() + "/cpu.stat");
  ASSERT_EQ(provider.destroy(name).status, DriverStatus::ok);
  // 10% of 2 s is 0.2 s; a loop left alone would take up to 2 s of a core.
  EXPECT_LE(used, ticks_per_s / 2) << used << " ticks in 2 s";
  EXPECT_EQ(cpu_stat.find("nr_throttled 0\n"), std::string::npos) << cpu_stat;
  EXPECT_NE(cpu_stat.find("nr_throttled"), std::string::npos) << cpu_stat;
}

// start() returns once the init has exec'd: an init that cannot run is an error of the start
// itself, with the reason, and the sandbox stays defined with no cgroup left behind.
TEST(LocalProvider, AnInitThatCannotRunFailsTheStartWithItsReason) {
  TempDir dir("omni-local");
  LocalProvider provider(options_in(dir));
  VmSpec spec = sandbox(9);
  spec.boot.init_args = {"/no/such/omni-init"};
  ASSERT_EQ(provider.create(spec).status, DriverStatus::ok);
  const std::string name = vm_name(spec.identity);
  const auto started = provider.start(name);
  EXPECT_EQ(started.status, DriverStatus::failed);
  EXPECT_NE(started.message.find("/no/such/omni-init"), std::string::npos) << started.message;
  EXPECT_NE(started.message.find("No such file"), std::string::npos) << started.message;
  EXPECT_EQ(provider.inspect(name).value.state, VmState::defined);
  for (const auto& each : Cgroups().directories("omni-local-" + options_in(dir).id, name))
    EXPECT_FALSE(std::filesystem::exists(each)) << each;
  EXPECT_EQ(provider.destroy(name).status, DriverStatus::ok);
}

TEST(LocalProvider, ASandboxLargerThanTheNodeLeavesNothing) {
  TempDir dir("omni-local");
  LocalProvider provider(options_in(dir));
  VmSpec huge = sandbox(1);
  huge.cpu_millis = 64000;
  auto refused = provider.create(huge);
  EXPECT_EQ(refused.status, DriverStatus::no_capacity);
  EXPECT_NE(refused.message.find("not enough CPU"), std::string::npos) << refused.message;
  EXPECT_TRUE(provider.list().value.empty());
  EXPECT_EQ(testing::run({"ip", "netns", "list"}).find("omni-t-local"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists("/run/netns/" + provider.host_handle()));
}

// After a power loss every sandbox is gone but its state; start_autostart() boots exactly those
// marked autostart, as libvirtd does for its domains, and a restarted provider finds them.
TEST(LocalProvider, StartAutostartBootsTheMarkedSandboxesOnly) {
  TempDir dir("omni-local");
  std::vector<std::string> names;
  {
    LocalProvider provider(options_in(dir));
    for (const int slot : {1, 2}) {
      VmSpec spec = sandbox(slot);
      spec.autostart = slot == 1;
      ASSERT_EQ(provider.create(spec).status, DriverStatus::ok);
      names.push_back(vm_name(spec.identity));
      ASSERT_EQ(provider.start(names.back()).status, DriverStatus::ok);
      ASSERT_EQ(provider.stop(names.back(), /*force=*/true).status, DriverStatus::ok);
    }
  }
  LocalProvider restarted(options_in(dir));
  EXPECT_TRUE(restarted.inspect(names[0]).value.autostart);
  EXPECT_FALSE(restarted.inspect(names[1]).value.autostart);
  const auto started = restarted.start_autostart();
  ASSERT_TRUE(started.ok()) << started.result.message;
  EXPECT_EQ(started.value, std::vector<std::string>{names[0]});
  EXPECT_EQ(restarted.inspect(names[0]).value.state, VmState::running);
  EXPECT_NE(restarted.inspect(names[1]).value.state, VmState::running);
  EXPECT_TRUE(restarted.start_autostart().value.empty());  // running ones are left alone
  for (const auto& name : names) EXPECT_EQ(restarted.destroy(name).status, DriverStatus::ok);
}

}  // namespace
}  // namespace omni::drivers
