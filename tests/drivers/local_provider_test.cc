// The local provider: two sandboxes on one bridge reach each other; teardown leaves no
// namespace, link or process behind (checked with `ip`).
#include "drivers/vm/local_provider.h"

#include <gtest/gtest.h>

#include <filesystem>

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
  if (!testing::is_root()) GTEST_SKIP() << "network namespaces need root";
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
  std::string links = testing::run({"ip", "-o", "link"});
  EXPECT_EQ(links.find(bridge), std::string::npos) << links;
  EXPECT_EQ(links.find("omv-"), std::string::npos) << links;
  EXPECT_EQ(testing::run({"pgrep", "-f", "sleep infinity", "-P", std::to_string(::getpid())}), "");
  EXPECT_EQ(provider.destroy("omni-t-local-worker-1").status, DriverStatus::not_found);
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
}

}  // namespace
}  // namespace omni::drivers
