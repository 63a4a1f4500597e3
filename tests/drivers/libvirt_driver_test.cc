// The libvirt driver against libvirt's test driver: in-process (test:///default and a custom
// node XML) and through a private libvirtd the test starts itself, so that a second driver and
// `virsh` see what the first one made.
#include "drivers/vm/libvirt_driver.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/drivers/test_support.h"

namespace omni::drivers {
namespace {

using testing::Daemon;
using testing::PrivateLibvirtd;
using testing::TempDir;

LibvirtOptions uri_options(const std::string& uri) {
  LibvirtOptions options;
  options.uri = uri;
  return options;
}

std::unique_ptr<LibvirtDriver> connect_or_die(const std::string& uri) {
  auto connected = LibvirtDriver::connect(uri_options(uri));
  EXPECT_TRUE(connected.ok()) << connected.result.message;
  return std::move(connected.value);
}

VmSpec spec_of(const std::string& node, const std::string& role, int slot) {
  VmSpec spec;
  spec.identity = {"prod", node, role, slot};
  spec.cpu_millis = 1500;
  spec.memory_bytes = 256ll << 20;
  spec.labels = {{"image", "omni-worker:0.1"}};
  return spec;
}

std::vector<std::string> names_of(const std::vector<VmInfo>& vms) {
  std::vector<std::string> names;
  for (const auto& vm : vms) names.push_back(vm.name);
  return names;
}

bool saw_event(LibvirtDriver& driver, VmEventKind kind, const std::string& name,
               std::vector<VmEvent>& seen) {
  return testing::wait_until([&] {
    for (auto& event : driver.poll_events()) seen.push_back(event);
    for (const auto& event : seen) {
      if (event.kind == kind && event.name == name) return true;
    }
    return false;
  });
}

TEST(LibvirtDriver, LifecycleOnTestDefault) {
  auto driver = connect_or_die("test:///default");
  ASSERT_TRUE(driver);
  VmSpec spec = spec_of("host1", "director", 0);
  const std::string name = "omni-prod-host1-director-0";

  ASSERT_EQ(driver->create(spec).status, DriverStatus::ok);
  auto listed = driver->list();
  ASSERT_TRUE(listed.ok()) << listed.result.message;
  // test:///default has a domain "test" of its own; only Omni's are listed.
  EXPECT_EQ(names_of(listed.value), std::vector<std::string>{name});
  const VmInfo& vm = listed.value.at(0);
  EXPECT_EQ(vm.identity, spec.identity);
  EXPECT_EQ(vm.cpu_millis, 1500);
  EXPECT_EQ(vm.memory_bytes, 256ll << 20);
  EXPECT_EQ(vm.labels.at("image"), "omni-worker:0.1");
  EXPECT_EQ(vm.state, VmState::defined);

  std::vector<VmEvent> seen;
  ASSERT_EQ(driver->start(name).status, DriverStatus::ok);
  EXPECT_EQ(driver->inspect(name).value.state, VmState::running);
  EXPECT_TRUE(saw_event(*driver, VmEventKind::started, name, seen));
  ASSERT_EQ(driver->stop(name, /*force=*/true).status, DriverStatus::ok);
  EXPECT_TRUE(saw_event(*driver, VmEventKind::stopped, name, seen));
  ASSERT_EQ(driver->destroy(name).status, DriverStatus::ok);
  EXPECT_TRUE(saw_event(*driver, VmEventKind::destroyed, name, seen));
  EXPECT_TRUE(driver->list().value.empty());
  EXPECT_EQ(driver->inspect(name).result.status, DriverStatus::not_found);
}

// A VM's NIC joins a libvirt network, or else a bridge on the host; neither: no NIC. What
// libvirt does when the guest ends is part of the same XML.
TEST(LibvirtDriver, AVmsNicJoinsTheNetworkOrTheBridgeItIsGiven) {
  const VmSpec spec = spec_of("host1", "worker", 1);
  const auto xml = [&](const std::string& network, const std::string& bridge) {
    LibvirtOptions options;
    options.uri = "test:///default";
    options.network = network;
    options.bridge = bridge;
    auto connected = LibvirtDriver::connect(options);
    return connected.ok() ? connected.value->domain_xml(spec) : connected.result.message;
  };
  EXPECT_NE(xml("", "omb-c1")
                .find("<interface type='bridge'><source bridge='omb-c1'/><model "
                      "type='virtio'/></interface>"),
            std::string::npos);
  EXPECT_NE(xml("default", "").find("<interface type='network'><source network='default'/>"),
            std::string::npos);
  EXPECT_EQ(xml("", "").find("<interface"), std::string::npos);
  // A crashed guest is booted again; one that powers itself off stays off.
  EXPECT_NE(xml("", "").find("<on_crash>restart</on_crash>"), std::string::npos);
  EXPECT_NE(xml("", "").find("<on_poweroff>destroy</on_poweroff>"), std::string::npos);
}

TEST(LibvirtDriver, CustomNodeXmlRediscoversOmniDomainsAndAdmitsCapacity) {
  auto driver = connect_or_die(std::string("test://") + OMNI_TEST_DATA + "/small_node.xml");
  ASSERT_TRUE(driver);
  auto capacity = driver->capacity();
  ASSERT_TRUE(capacity.ok());
  EXPECT_EQ(capacity.value.cpu_millis, 2000);
  EXPECT_EQ(capacity.value.memory_bytes, 1ll << 30);

  auto listed = driver->list();
  ASSERT_TRUE(listed.ok()) << listed.result.message;
  ASSERT_EQ(names_of(listed.value), std::vector<std::string>{"omni-prod-host1-worker-3"});
  EXPECT_EQ(listed.value[0].identity, (VmIdentity{"prod", "host1", "worker", 3}));
  EXPECT_EQ(listed.value[0].cpu_millis, 500);
  EXPECT_EQ(listed.value[0].labels.at("purpose"), "left over from before a restart");

  // Larger than the host: refused, nothing defined.
  VmSpec huge = spec_of("host1", "worker", 4);
  huge.memory_bytes = 4ll << 30;
  auto refused = driver->create(huge);
  EXPECT_EQ(refused.status, DriverStatus::no_capacity);
  EXPECT_NE(refused.message.find("not enough memory"), std::string::npos) << refused.message;
  VmSpec too_many_cpus = spec_of("host1", "worker", 5);
  too_many_cpus.cpu_millis = 1600;  // 500 already used of 2000
  EXPECT_EQ(driver->create(too_many_cpus).status, DriverStatus::no_capacity);
  EXPECT_EQ(names_of(driver->list().value), std::vector<std::string>{"omni-prod-host1-worker-3"});

  // A name clash leaves the existing VM as it was.
  VmSpec clash = spec_of("host1", "worker", 3);
  clash.cpu_millis = 100;
  auto clashed = driver->create(clash);
  EXPECT_EQ(clashed.status, DriverStatus::already_exists) << clashed.message;
  EXPECT_EQ(driver->inspect("omni-prod-host1-worker-3").value.cpu_millis, 500);
}

TEST(LibvirtDriver, BadInputIsAClearError) {
  auto bogus = LibvirtDriver::connect(uri_options("bogus:///nowhere"));
  EXPECT_EQ(bogus.result.status, DriverStatus::unavailable);
  EXPECT_NE(bogus.result.message.find("bogus:///nowhere"), std::string::npos);
  auto missing_file = LibvirtDriver::connect(uri_options("test:///no/such/node.xml"));
  EXPECT_EQ(missing_file.result.status, DriverStatus::unavailable);
  auto no_daemon =
      LibvirtDriver::connect(uri_options("test+unix:///default?socket=/nonexistent/libvirt-sock"));
  EXPECT_EQ(no_daemon.result.status, DriverStatus::unavailable) << no_daemon.result.message;
  auto no_host = LibvirtDriver::connect(uri_options("qemu+tcp://no-such-host.invalid/system"));
  EXPECT_EQ(no_host.result.status, DriverStatus::unavailable) << no_host.result.message;

  auto driver = connect_or_die("test:///default");
  ASSERT_TRUE(driver);
  VmSpec bad = spec_of("host1", "dir-ector", 0);
  EXPECT_EQ(driver->create(bad).status, DriverStatus::failed);
  EXPECT_EQ(driver->start("omni-prod-host1-director-9").status, DriverStatus::not_found);
  EXPECT_EQ(driver->destroy("omni-prod-host1-director-9").status, DriverStatus::not_found);
  EXPECT_TRUE(driver->list().value.empty());
}

TEST(LibvirtDriver, RediscoversThroughPrivateLibvirtdAndVirshAgrees) {
  OMNI_REQUIRE(testing::have_program("libvirtd"), "libvirtd not installed");
  PrivateLibvirtd libvirtd;
  ASSERT_TRUE(libvirtd.ready()) << libvirtd.log();
  // The daemon keeps test:///default's state only while a client holds it open.
  auto keeper = connect_or_die(libvirtd.uri("test"));
  ASSERT_TRUE(keeper);
  {
    auto first = connect_or_die(libvirtd.uri("test"));
    ASSERT_TRUE(first);
    ASSERT_EQ(first->create(spec_of("host2", "worker", 1)).status, DriverStatus::ok);
    ASSERT_EQ(first->start("omni-prod-host2-worker-1").status, DriverStatus::ok);
  }  // the first driver goes away, as in a restart
  auto second = connect_or_die(libvirtd.uri("test"));
  ASSERT_TRUE(second);
  auto listed = second->list();
  ASSERT_TRUE(listed.ok()) << listed.result.message;
  ASSERT_EQ(names_of(listed.value), std::vector<std::string>{"omni-prod-host2-worker-1"});
  EXPECT_EQ(listed.value[0].identity, (VmIdentity{"prod", "host2", "worker", 1}));
  EXPECT_EQ(listed.value[0].state, VmState::running);

  int code = 0;
  std::string virsh =
      testing::run({"virsh", "-c", libvirtd.uri("test"), "list", "--all", "--name"}, &code);
  EXPECT_EQ(code, 0) << virsh;
  EXPECT_NE(virsh.find("omni-prod-host2-worker-1"), std::string::npos) << virsh;
  std::string metadata = testing::run({"virsh", "-c", libvirtd.uri("test"), "metadata",
                                       "omni-prod-host2-worker-1", k_omni_xml_namespace},
                                      &code);
  EXPECT_NE(metadata.find("cluster=\"prod\""), std::string::npos) << metadata;

  ASSERT_EQ(second->destroy("omni-prod-host2-worker-1").status, DriverStatus::ok);
  virsh = testing::run({"virsh", "-c", libvirtd.uri("test"), "list", "--all", "--name"}, &code);
  EXPECT_EQ(virsh.find("omni-"), std::string::npos) << virsh;

  // The daemon dies: calls fail as unavailable and an event says the connection was lost.
  libvirtd.kill();
  EXPECT_TRUE(testing::wait_until([&] {
    for (const auto& event : second->poll_events()) {
      if (event.kind == VmEventKind::connection_lost) return true;
    }
    return false;
  }));
  EXPECT_EQ(second->list().result.status, DriverStatus::unavailable);
}

}  // namespace
}  // namespace omni::drivers
