// The two bridges between the model and the drivers (node/driver_bridge.h), execute_vm_op and
// execute_container_op, against real drivers: libvirt's in-process test driver for VMs, the process
// runtime with Omni's own image for containers. Every op's effect is checked through what the
// driver itself reports afterwards (inspect, list), not through the op's answer alone.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "drivers/container/process_runtime.h"
#include "drivers/util/text_file.h"
#include "drivers/vm/libvirt_driver.h"
#include "drivers/vm/local_provider.h"
#include "model/root/plan.h"
#include "node/driver_bridge.h"
#include "tests/drivers/test_support.h"

namespace omni {

// Failures name the status and state instead of printing their bytes.
void PrintTo(DriverStatus status, std::ostream* out) {
  *out << node::model_status_name(status);
}

namespace drivers {

void PrintTo(DriverStatus status, std::ostream* out) {
  *out << status_name(status);
}
void PrintTo(VmState state, std::ostream* out) {
  *out << vm_state_name(state);
}
void PrintTo(ContainerState state, std::ostream* out) {
  *out << container_state_name(state);
}

namespace {

// The bridges answer in the model's terms.
using DriverResult = omni::DriverResult;
using DriverStatus = omni::DriverStatus;
using node::execute_container_op;
using node::execute_vm_op;
using testing::TempDir;
using Names = std::vector<std::string>;

// VMs ---------------------------------------------------------------------------------------

constexpr std::int64_t k_vm_cpu_millis = 1500;
constexpr std::int64_t k_vm_memory_bytes = 256ll << 20;
// The driver's names, and the model's for the same VMs (what the bridge's list answers).
const std::string k_worker = "omni-prod-host1-worker-1";
const std::string k_director = "omni-prod-host1-director-0";
const std::string k_model_worker = "prod-host1-worker-1";
const std::string k_model_director = "prod-host1-director";
const std::map<std::string, std::string> k_worker_metadata = {
    {"cluster", "prod"}, {"node", "host1"}, {"role", "worker"}, {"slot", "1"}};

VmOp vm_op(VmOpKind kind, const std::string& name,
           std::map<std::string, std::string> metadata = {}) {
  VmOp op;
  op.kind = kind;
  op.node = "host1";
  op.name = name;
  op.cpu_millis = k_vm_cpu_millis;
  op.memory_bytes = k_vm_memory_bytes;
  op.metadata = std::move(metadata);
  return op;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// One test:///default per test. Its state may be shared by every connection of the process,
// so each test starts from no Omni VM and destroys what it leaves.
class ExecuteVmOp : public ::testing::Test {
 protected:
  void SetUp() override {
    LibvirtOptions options;
    options.uri = "test:///default";
    auto connected = LibvirtDriver::connect(options);
    ASSERT_TRUE(connected.ok()) << connected.result.message;
    driver_ = std::move(connected.value);
    ASSERT_TRUE(listed_names().empty());
  }

  void TearDown() override {
    if (!driver_) return;
    for (const auto& name : listed_names()) driver_->destroy(name);
  }

  DriverResult run(const VmOp& op) { return execute_vm_op(*driver_, op, scope_); }

  // What the driver itself lists, independent of the bridge's list.
  Names listed_names() {
    auto listed = driver_->list();
    EXPECT_TRUE(listed.ok()) << listed.result.message;
    Names names;
    for (const auto& vm : listed.value) names.push_back(vm.name);
    return names;
  }

  VmState state_of(const std::string& name) {
    auto vm = driver_->inspect(name);
    EXPECT_TRUE(vm.ok()) << vm.result.message;
    return vm.value.state;
  }

  // A graceful stop may take effect after the call returns, as on a real hypervisor.
  bool stops(const std::string& name) {
    return testing::wait_until([&] { return state_of(name) != VmState::running; });
  }

  std::unique_ptr<LibvirtDriver> driver_;
  node::VmBridgeConfig scope_{"prod", "", {}, false, "", {}};
};

TEST_F(ExecuteVmOp, CreateFromMetadataDefinesAndBootsTheVmWithItsLabels) {
  auto metadata = k_worker_metadata;
  metadata["image"] = "omni-worker:0.1";
  auto created = run(vm_op(VmOpKind::create, "", metadata));
  ASSERT_EQ(created.status, DriverStatus::ok) << created.message;

  auto vm = driver_->inspect(k_worker);
  ASSERT_TRUE(vm.ok()) << vm.result.message;
  EXPECT_EQ(vm.value.identity, (VmIdentity{"prod", "host1", "worker", 1}));
  EXPECT_EQ(vm.value.cpu_millis, k_vm_cpu_millis);
  EXPECT_EQ(vm.value.memory_bytes, k_vm_memory_bytes);
  // The identity keys make the name; only the rest is kept as labels.
  EXPECT_EQ(vm.value.labels, (std::map<std::string, std::string>{{"image", "omni-worker:0.1"}}));
  // The model counts a VM as running once its create succeeds: the bridge boots it.
  EXPECT_EQ(vm.value.state, VmState::running);
}

TEST_F(ExecuteVmOp, CreateFromTheNameAloneWhenMetadataHasNoCluster) {
  // The model's create carries node and role only; the name then decides.
  auto created =
      run(vm_op(VmOpKind::create, k_model_director, {{"node", "host1"}, {"role", "director"}}));
  ASSERT_EQ(created.status, DriverStatus::ok) << created.message;
  auto vm = driver_->inspect(k_director);
  ASSERT_TRUE(vm.ok()) << vm.result.message;
  EXPECT_EQ(vm.value.identity, (VmIdentity{"prod", "host1", "director", 0}));
  EXPECT_TRUE(vm.value.labels.empty());
  EXPECT_EQ(vm.value.state, VmState::running);
}

TEST_F(ExecuteVmOp, ListAnswersOmniVmsSortedAndWhichOfThemRun) {
  auto empty = run(vm_op(VmOpKind::list, ""));
  ASSERT_EQ(empty.status, DriverStatus::ok) << empty.message;
  // test:///default's own domain "test" runs, but it is not Omni's.
  EXPECT_TRUE(empty.names.empty());
  EXPECT_TRUE(empty.running.empty());

  ASSERT_EQ(run(vm_op(VmOpKind::create, k_model_worker)).status, DriverStatus::ok);
  ASSERT_EQ(run(vm_op(VmOpKind::create, k_model_director)).status, DriverStatus::ok);
  ASSERT_EQ(driver_->stop(k_director, /*force=*/true).status, drivers::DriverStatus::ok);

  auto listed = run(vm_op(VmOpKind::list, ""));
  ASSERT_EQ(listed.status, DriverStatus::ok) << listed.message;
  EXPECT_EQ(listed.names, (Names{k_model_director, k_model_worker}));
  EXPECT_EQ(listed.running, Names{k_model_worker});
}

TEST_F(ExecuteVmOp, StopStartAndDestroyActOnTheNamedVm) {
  ASSERT_EQ(run(vm_op(VmOpKind::create, "", k_worker_metadata)).status, DriverStatus::ok);
  ASSERT_EQ(run(vm_op(VmOpKind::create, k_model_director)).status, DriverStatus::ok);

  auto stopped = run(vm_op(VmOpKind::stop, k_model_worker));
  ASSERT_EQ(stopped.status, DriverStatus::ok) << stopped.message;
  EXPECT_TRUE(stops(k_worker));
  EXPECT_EQ(state_of(k_director), VmState::running);  // only the named VM

  auto started = run(vm_op(VmOpKind::start, k_model_worker));
  ASSERT_EQ(started.status, DriverStatus::ok) << started.message;
  EXPECT_EQ(state_of(k_worker), VmState::running);

  // Destroy by metadata: the same VM as by name.
  auto destroyed = run(vm_op(VmOpKind::destroy, "", k_worker_metadata));
  ASSERT_EQ(destroyed.status, DriverStatus::ok) << destroyed.message;
  EXPECT_EQ(driver_->inspect(k_worker).result.status, drivers::DriverStatus::not_found);
  EXPECT_EQ(listed_names(), Names{k_director});
  EXPECT_EQ(run(vm_op(VmOpKind::list, "")).names, Names{k_model_director});
}

TEST_F(ExecuteVmOp, CreateOfAStoppedVmBootsItAndSaysItExists) {
  ASSERT_EQ(run(vm_op(VmOpKind::create, k_model_worker)).status, DriverStatus::ok);
  ASSERT_EQ(driver_->stop(k_worker, /*force=*/true).status, drivers::DriverStatus::ok);
  ASSERT_NE(state_of(k_worker), VmState::running);

  // A retried create (the Root's, after a start that failed) must leave the VM running.
  VmOp again = vm_op(VmOpKind::create, k_model_worker);
  again.cpu_millis = 500;
  auto created = run(again);
  EXPECT_EQ(created.status, DriverStatus::already_exists) << created.message;
  EXPECT_TRUE(contains(created.message, k_worker)) << created.message;
  EXPECT_EQ(state_of(k_worker), VmState::running);
  EXPECT_EQ(driver_->inspect(k_worker).value.cpu_millis, k_vm_cpu_millis);  // not redefined
}

TEST_F(ExecuteVmOp, CreateThatDoesNotFitIsRefusedAndDefinesNothing) {
  VmOp huge = vm_op(VmOpKind::create, k_model_worker);
  huge.memory_bytes = 1ll << 50;
  auto refused = run(huge);
  EXPECT_EQ(refused.status, DriverStatus::no_capacity) << refused.message;
  EXPECT_FALSE(refused.message.empty());

  VmOp no_resources = vm_op(VmOpKind::create, k_model_worker);
  no_resources.cpu_millis = 0;
  auto failed = run(no_resources);
  EXPECT_EQ(failed.status, DriverStatus::failed) << failed.message;
  EXPECT_TRUE(contains(failed.message, "cpu_millis")) << failed.message;
  EXPECT_TRUE(listed_names().empty());
}

TEST_F(ExecuteVmOp, OpsOnAVmThatDoesNotExistAreNotFound) {
  const std::string missing = "prod-host1-worker-9";
  for (VmOpKind kind : {VmOpKind::start, VmOpKind::stop, VmOpKind::destroy}) {
    SCOPED_TRACE(static_cast<int>(kind));
    auto result = run(vm_op(kind, missing));
    EXPECT_EQ(result.status, DriverStatus::not_found) << result.message;
    EXPECT_TRUE(contains(result.message, missing)) << result.message;
  }
  EXPECT_TRUE(listed_names().empty());
}

TEST_F(ExecuteVmOp, OpsThatNameNoValidOmniVmFailWithTheReason) {
  struct Case {
    std::string name;
    std::map<std::string, std::string> metadata;
    std::string reason;
  };
  const std::vector<Case> cases = {
      // A model name of another node than the op's: refused, not guessed at.
      {"prod-host2-worker-1", {}, "is not CLUSTER-host1-director or CLUSTER-host1-worker-N"},
      {"prod-host1-worker-0", {}, "CLUSTER-host1-worker-N"},
      {"-host1-director", {}, "CLUSTER-host1-worker-N"},
      // The driver's own names are not the model's.
      {"omni-prod-host1-director-0", {}, "CLUSTER-host1-worker-N"},
      // A model name whose partial metadata says otherwise.
      {"prod-host1-worker-1", {{"role", "director"}}, "metadata says role 'director'"},
      {"", {}, "CLUSTER-host1-worker-N"},
      {"Prod-host1-worker-1", {}, "CLUSTER-host1-worker-N"},
      {"", {{"cluster", "prod"}, {"role", "worker"}, {"slot", "1"}}, "node is empty"},
      {"", {{"cluster", "prod"}, {"node", "host1"}, {"role", "worker"}}, "slot"},
      {"", {{"cluster", "prod"}, {"node", "host1"}, {"role", "worker"}, {"slot", "x"}}, "slot 'x'"},
      {"",
       {{"cluster", "My"}, {"node", "host1"}, {"role", "worker"}, {"slot", "1"}},
       "cluster 'My'"},
  };
  for (VmOpKind kind : {VmOpKind::create, VmOpKind::start, VmOpKind::stop, VmOpKind::destroy}) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::to_string(static_cast<int>(kind)) + " '" + c.name + "'");
      auto result = run(vm_op(kind, c.name, c.metadata));
      EXPECT_EQ(result.status, DriverStatus::failed) << result.message;
      EXPECT_TRUE(contains(result.message, c.reason)) << result.message;
    }
  }
  EXPECT_TRUE(listed_names().empty());
}

// The ops exactly as model/root and model/director make them: a model name, the node, and
// for creates node and role in the metadata. Cluster and node names hold '-', as configs do.
TEST_F(ExecuteVmOp, TheModelsOwnOpsRunByTheModelsNames) {
  const std::string director = root::director_vm_name("my-prod", "worker-01");
  const std::string worker = root::worker_vm_name("my-prod", "worker-01", 2);
  scope_.cluster = "my-prod";
  auto model_op = [](VmOpKind kind, const std::string& name,
                     std::map<std::string, std::string> metadata = {}) {
    VmOp op = vm_op(kind, name, std::move(metadata));
    op.node = "worker-01";
    return op;
  };
  auto created =
      run(model_op(VmOpKind::create, director, {{"node", "worker-01"}, {"role", "director"}}));
  ASSERT_EQ(created.status, DriverStatus::ok) << created.message;
  created = run(model_op(VmOpKind::create, worker, {{"node", "worker-01"}, {"role", "worker"}}));
  ASSERT_EQ(created.status, DriverStatus::ok) << created.message;

  // The driver keeps its own names and the identity in the VM's metadata.
  auto vms = driver_->list();
  ASSERT_TRUE(vms.ok());
  ASSERT_EQ(vms.value.size(), 2u);
  EXPECT_EQ(vms.value[0].identity, (VmIdentity{"my-prod", "worker-01", "director", 0}));
  EXPECT_EQ(vms.value[1].identity, (VmIdentity{"my-prod", "worker-01", "worker", 2}));
  // The model sees its own names, so a Director finds exactly the VMs it wants.
  auto listed = run(model_op(VmOpKind::list, ""));
  EXPECT_EQ(listed.names, (Names{director, worker}));
  EXPECT_EQ(listed.running, (Names{director, worker}));

  // A Director's stop and destroy carry the name and node only.
  ASSERT_EQ(run(model_op(VmOpKind::stop, worker)).status, DriverStatus::ok);
  EXPECT_TRUE(stops(vms.value[1].name));
  EXPECT_EQ(run(model_op(VmOpKind::list, "")).running, Names{director});
  ASSERT_EQ(run(model_op(VmOpKind::start, worker)).status, DriverStatus::ok);
  EXPECT_EQ(state_of(vms.value[1].name), VmState::running);
  for (const auto& name : {worker, director})
    ASSERT_EQ(run(model_op(VmOpKind::destroy, name)).status, DriverStatus::ok) << name;
  EXPECT_TRUE(listed_names().empty());
}

TEST_F(ExecuteVmOp, NameAndMetadataThatDisagreeTouchNeitherVm) {
  ASSERT_EQ(run(vm_op(VmOpKind::create, k_model_worker)).status, DriverStatus::ok);
  auto other_slot = k_worker_metadata;
  other_slot["slot"] = "2";
  auto refused = run(vm_op(VmOpKind::destroy, k_model_worker, other_slot));
  EXPECT_EQ(refused.status, DriverStatus::failed) << refused.message;
  EXPECT_TRUE(contains(refused.message, "different VMs")) << refused.message;
  EXPECT_EQ(listed_names(), Names{k_worker});
  EXPECT_EQ(state_of(k_worker), VmState::running);
}

// Two Directors sharing one hypervisor (a libvirt host, or one local provider's state), and a
// second cluster on it too: each bridge lists, stops and destroys only its own node's VMs.
TEST_F(ExecuteVmOp, DirectorsSharingAHostNeverSeeOrTouchEachOthersVms) {
  const node::VmBridgeConfig host1{"prod", "host1", {}, false, "", {}};
  const node::VmBridgeConfig host2{"prod", "host2", {}, false, "", {}};
  const node::VmBridgeConfig other{"other", "host1", {}, false, "", {}};
  const auto op = [](VmOpKind kind, const std::string& node, const std::string& name) {
    VmOp made =
        vm_op(kind, name,
              kind == VmOpKind::create ? std::map<std::string, std::string>{{"role", "worker"}}
                                       : std::map<std::string, std::string>{});
    made.node = node;
    return made;
  };
  ASSERT_EQ(
      execute_vm_op(*driver_, op(VmOpKind::create, "host1", "prod-host1-worker-1"), host1).status,
      DriverStatus::ok);
  ASSERT_EQ(
      execute_vm_op(*driver_, op(VmOpKind::create, "host2", "prod-host2-worker-1"), host2).status,
      DriverStatus::ok);
  ASSERT_EQ(
      execute_vm_op(*driver_, op(VmOpKind::create, "host1", "other-host1-worker-1"), other).status,
      DriverStatus::ok);
  EXPECT_EQ(listed_names().size(), 3u);

  EXPECT_EQ(execute_vm_op(*driver_, op(VmOpKind::list, "host1", ""), host1).names,
            Names{"prod-host1-worker-1"});
  EXPECT_EQ(execute_vm_op(*driver_, op(VmOpKind::list, "host2", ""), host2).names,
            Names{"prod-host2-worker-1"});
  EXPECT_EQ(execute_vm_op(*driver_, op(VmOpKind::list, "host1", ""), other).names,
            Names{"other-host1-worker-1"});
  // The root's bridge has no node: it sees its cluster on every node, and no other cluster.
  EXPECT_EQ(execute_vm_op(*driver_, op(VmOpKind::list, "", ""), scope_).names,
            (Names{"prod-host1-worker-1", "prod-host2-worker-1"}));

  // host1's Director asking for host2's VM by its name and node is refused, and nothing moves.
  for (const VmOpKind kind : {VmOpKind::destroy, VmOpKind::stop, VmOpKind::create}) {
    const auto refused = execute_vm_op(*driver_, op(kind, "host2", "prod-host2-worker-1"), host1);
    EXPECT_EQ(refused.status, DriverStatus::failed);
    EXPECT_TRUE(contains(refused.message, "not on this host's 'host1'")) << refused.message;
  }
  const auto cross_cluster =
      execute_vm_op(*driver_, op(VmOpKind::destroy, "host1", "other-host1-worker-1"), host1);
  EXPECT_EQ(cross_cluster.status, DriverStatus::failed);
  EXPECT_TRUE(contains(cross_cluster.message, "cluster 'other'")) << cross_cluster.message;
  EXPECT_EQ(listed_names().size(), 3u);
  EXPECT_EQ(state_of("omni-prod-host2-worker-1"), VmState::running);
  EXPECT_EQ(state_of("omni-other-host1-worker-1"), VmState::running);
}

// What a VM boots is the host's: the bridge gives a create its role's boot data, and marks the
// VM autostart so that it comes back after the host's power returns.
TEST_F(ExecuteVmOp, CreateBootsTheRolesImageAndMarksTheVmAutostart) {
  drivers::VmBoot worker_boot;
  worker_boot.kernel_path = "/var/lib/omni/vmlinuz";
  worker_boot.initrd_path = "/var/lib/omni/omni-initramfs.cpio.gz";
  worker_boot.kernel_cmdline = "console=ttyS0 omni.vm={vm} omni.node={node} omni.address={address}";
  scope_.boot = {{"worker", worker_boot}};
  scope_.autostart = true;
  scope_.addresses = {{k_model_worker, "10.1.2.3"}};
  ASSERT_EQ(run(vm_op(VmOpKind::create, k_model_worker, {{"role", "worker"}})).status,
            DriverStatus::ok);
  const auto vm = driver_->inspect(k_worker);
  ASSERT_TRUE(vm.ok()) << vm.result.message;
  EXPECT_TRUE(vm.value.autostart);
  EXPECT_EQ(vm.value.address, "10.1.2.3");  // kept in the domain's metadata
  const std::string xml = driver_->domain_xml_of(k_worker);
  EXPECT_TRUE(contains(xml, "<kernel>/var/lib/omni/vmlinuz</kernel>")) << xml;
  // One profile serves every worker: each finds its own name and address in what it boots.
  EXPECT_TRUE(contains(xml, "<cmdline>console=ttyS0 omni.vm=" + k_model_worker +
                                " omni.node=host1 omni.address=10.1.2.3</cmdline>"))
      << xml;

  scope_.autostart = false;
  ASSERT_EQ(run(vm_op(VmOpKind::create, k_model_director, {{"role", "director"}})).status,
            DriverStatus::ok);
  EXPECT_FALSE(driver_->inspect(k_director).value.autostart);
  EXPECT_FALSE(contains(driver_->domain_xml_of(k_director), "<kernel>"));
}

// The entries of the newc archives in `bytes` from `offset` on: path -> (mode, content).
std::map<std::string, std::pair<unsigned, std::string>> newc_entries(const std::string& bytes,
                                                                     std::size_t offset) {
  std::map<std::string, std::pair<unsigned, std::string>> entries;
  const auto field = [&](std::size_t at, int index) {
    return static_cast<unsigned>(std::stoul(bytes.substr(at + 6 + 8 * index, 8), nullptr, 16));
  };
  const auto aligned = [](std::size_t n) { return (n + 3) / 4 * 4; };
  for (std::size_t at = offset; at + 110 <= bytes.size();) {
    EXPECT_EQ(bytes.substr(at, 6), "070701") << "at " << at;
    if (bytes.substr(at, 6) != "070701") break;
    const unsigned mode = field(at, 1), size = field(at, 6), name_size = field(at, 11);
    const std::string name = bytes.substr(at + 110, name_size - 1);
    const std::size_t data = aligned(at + 110 + name_size);
    if (name == "TRAILER!!!") break;
    entries[name] = {mode, bytes.substr(data, size)};
    at = aligned(data + size);
  }
  return entries;
}

// A VM receives its own files when it is created: with libvirt, appended (under etc/omni/) to a
// copy of the shared initramfs made for it, which goes when the VM goes.
TEST_F(ExecuteVmOp, CreateGivesTheVmItsFilesInItsOwnInitramfs) {
  TempDir dir("omni-files");
  testing::write_file(dir / "odd.cpio.gz", "odd-initramfs");  // 13 bytes: padded to 16
  const std::filesystem::path files = dir / "files";
  const std::filesystem::path own = files / k_model_worker;
  std::filesystem::create_directories(own / "pki");
  testing::write_file((own / "pki" / "agent.key").string(), "SECRET");
  std::filesystem::permissions(
      own / "pki" / "agent.key",
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      std::filesystem::perm_options::replace);
  testing::write_file((own / "agent.yaml").string(), "identity: x\n");
  LibvirtOptions options;
  options.uri = "test:///default";
  options.state_dir = dir / "libvirt";
  auto connected = LibvirtDriver::connect(options);
  ASSERT_TRUE(connected.ok()) << connected.result.message;
  auto& driver = *connected.value;
  drivers::VmBoot boot;
  boot.kernel_path = "/boot/vmlinuz";
  boot.initrd_path = dir / "odd.cpio.gz";
  scope_.boot = {{"worker", boot}};
  scope_.files_dir = files.string();
  const auto created =
      execute_vm_op(driver, vm_op(VmOpKind::create, k_model_worker, {{"role", "worker"}}), scope_);
  ASSERT_EQ(created.status, DriverStatus::ok) << created.message;

  const std::string copy = dir / ("libvirt/" + k_worker + ".initrd");
  EXPECT_TRUE(contains(driver.domain_xml_of(k_worker), "<initrd>" + copy + "</initrd>"))
      << driver.domain_xml_of(k_worker);
  const std::string bytes = testing::read_file(copy);
  ASSERT_EQ(bytes.substr(0, 13), "odd-initramfs");
  EXPECT_EQ(bytes.substr(13, 3), std::string(3, '\0')) << "the archive starts 4-byte aligned";
  const auto entries = newc_entries(bytes, 16);
  ASSERT_EQ(entries.count("etc/omni/pki/agent.key"), 1u);
  EXPECT_EQ(entries.at("etc/omni/pki/agent.key").second, "SECRET");
  EXPECT_EQ(entries.at("etc/omni/pki/agent.key").first, 0100600u);
  EXPECT_EQ(entries.at("etc/omni/agent.yaml").second, "identity: x\n");
  EXPECT_EQ(entries.at("etc/omni").first, 040700u);
  EXPECT_EQ(entries.count("etc/omni/pki"), 1u);

  // Another VM without files of its own boots the shared image; a destroyed VM leaves no copy.
  ASSERT_EQ(execute_vm_op(driver, vm_op(VmOpKind::create, k_model_director, {{"role", "director"}}),
                          scope_)
                .status,
            DriverStatus::ok);
  ASSERT_EQ(execute_vm_op(driver, vm_op(VmOpKind::destroy, k_model_worker), scope_).status,
            DriverStatus::ok);
  EXPECT_FALSE(std::filesystem::exists(copy));
  driver.destroy(k_director);
}

// A file the VM should receive but that cannot be read whole fails the create and defines nothing:
// it was shipped empty, and the VM failed later, in its TLS, far from the cause.
TEST_F(ExecuteVmOp, AFileThatCannotBeReadFailsTheCreateWithItsName) {
  TempDir dir("omni-files");
  testing::write_file(dir / "initrd.cpio.gz", "initramfs");
  const std::filesystem::path own = std::filesystem::path(dir / "files") / k_model_worker / "pki";
  std::filesystem::create_directories(own);
  testing::write_file((own / "agent.key").string(), "SECRET");
  std::filesystem::resize_file(own / "agent.key", drivers::kMaxTextFileBytes + 1);  // sparse
  drivers::VmBoot boot;
  boot.kernel_path = "/boot/vmlinuz";
  boot.initrd_path = dir / "initrd.cpio.gz";
  scope_.boot = {{"worker", boot}};
  scope_.files_dir = dir / "files";
  const auto created = execute_vm_op(
      *driver_, vm_op(VmOpKind::create, k_model_worker, {{"role", "worker"}}), scope_);
  EXPECT_EQ(created.status, DriverStatus::failed);
  EXPECT_TRUE(contains(created.message, "cannot give VM " + k_model_worker + " its file"))
      << created.message;
  EXPECT_TRUE(contains(created.message, "agent.key")) << created.message;
  EXPECT_TRUE(listed_names().empty());
}

// Files without an initramfs to carry them, or with a path that climbs out, are refused.
TEST_F(ExecuteVmOp, FilesAVmCannotReceiveAreRefusedAndDefineNothing) {
  VmSpec spec;
  spec.identity = {"prod", "host1", "worker", 1};
  spec.cpu_millis = 1000;
  spec.memory_bytes = 256ll << 20;
  spec.boot.files = {{"pki/agent.key", "x", 0600}};
  const auto no_initrd = driver_->create(spec);
  EXPECT_EQ(no_initrd.status, drivers::DriverStatus::failed);
  EXPECT_TRUE(contains(no_initrd.message, "need a kernel and an initramfs")) << no_initrd.message;
  spec.boot.kernel_path = "/boot/vmlinuz";
  spec.boot.initrd_path = "/boot/initrd";
  for (const std::string path : {"../etc/shadow", "/etc/shadow", "a//b", "a/./b", ""}) {
    spec.boot.files = {{path, "x", 0600}};
    const auto refused = driver_->create(spec);
    EXPECT_EQ(refused.status, drivers::DriverStatus::failed) << path;
    EXPECT_TRUE(contains(refused.message, "file path")) << refused.message;
  }
  EXPECT_TRUE(listed_names().empty());
}

// The model's statuses carry the drivers' names, each its own.
TEST(VmBridgeConfig, ModelStatusesAreNamedAsTheDriversName) {
  EXPECT_STREQ(node::model_status_name(DriverStatus::ok), "ok");
  EXPECT_STREQ(node::model_status_name(DriverStatus::no_capacity), "no_capacity");
  EXPECT_STREQ(node::model_status_name(DriverStatus::unavailable), "unavailable");
  EXPECT_STREQ(node::model_status_name(DriverStatus::failed), "failed");
}

// Addresses follow from the plan: the bridge creates each VM with the address the host was
// told, so its peers know where it listens before it exists.
TEST(ExecuteVmOpLocal, ACreateGivesTheVmItsPlannedAddress) {
  OMNI_REQUIRE(drivers::testing::is_root(), "sandboxes with their own addresses need root");
  drivers::testing::TempDir dir("omni-bridge-address");
  drivers::LocalOptions options;
  options.id = "a" + std::to_string(::getpid() % 100000);
  options.state_dir = dir / "state";
  options.subnet_prefix = "10.213.79";
  options.capacity = {4000, 1ll << 30};
  drivers::LocalProvider provider(options);
  node::VmBridgeConfig scope{"prod", "host1", {},
                             true,   "",      {{"prod-host1-worker-2", "10.213.79.42"}}};
  VmOp create{VmOpKind::create, "host1", "prod-host1-worker-2", 100, 64ll << 20, {}};
  ASSERT_EQ(node::execute_vm_op(provider, create, scope).status, DriverStatus::ok);
  EXPECT_EQ(provider.inspect("omni-prod-host1-worker-2").value.address, "10.213.79.42");
  EXPECT_EQ(
      node::vm_addresses(provider, scope),
      (std::vector<std::pair<std::string, std::string>>{{"prod-host1-worker-2", "10.213.79.42"}}));
  // A VM the host was told nothing of gets the provider's choice.
  create.name = "prod-host1-worker-1";
  ASSERT_EQ(node::execute_vm_op(provider, create, scope).status, DriverStatus::ok);
  EXPECT_EQ(provider.inspect("omni-prod-host1-worker-1").value.address, "10.213.79.2");
  for (const auto& vm : provider.list().value)
    EXPECT_TRUE(drivers::is_ok(provider.destroy(vm.name)));
}

// A bridge config that could reach the wrong VMs is refused before any op runs.
TEST(VmBridgeConfig, AnInvalidScopeOrAnUnknownRoleIsAProblem) {
  EXPECT_EQ(node::vm_bridge_problem({"prod", "host1", {}, true, "", {}}), "");
  EXPECT_EQ(node::vm_bridge_problem({"prod", "", {}, true, "", {}}), "");
  EXPECT_NE(node::vm_bridge_problem({"", "host1", {}, true, "", {}}), "");
  EXPECT_NE(node::vm_bridge_problem({"Prod!", "host1", {}, true, "", {}}), "");
  EXPECT_NE(node::vm_bridge_problem({"prod", "host_1/x", {}, true, "", {}}), "");
  EXPECT_TRUE(
      contains(node::vm_bridge_problem({"prod", "", {{"agent", {}}}, true, "", {}}), "agent"));
}

TEST_F(ExecuteVmOp, AnUnknownKindIsRefused) {
  auto result = run(vm_op(static_cast<VmOpKind>(42), k_model_worker));
  EXPECT_EQ(result.status, DriverStatus::failed);
  EXPECT_TRUE(contains(result.message, "unknown VM op kind 42")) << result.message;
  EXPECT_TRUE(listed_names().empty());
}

// Containers --------------------------------------------------------------------------------

const std::string k_image = "omni:dev";
const std::string k_server = "orchestrator-1";
const Names k_serve_args = {"serve", "--component", "orchestrator"};

ContainerOp container_op(ContainerOpKind kind, const std::string& name, Names args = {}) {
  ContainerOp op;
  op.kind = kind;
  op.name = name;
  op.image = k_image;
  op.args = std::move(args);
  return op;
}

ProcessRuntimeOptions runtime_options(const TempDir& dir) {
  ProcessRuntimeOptions options;
  options.state_dir = dir / "state";
  return options;
}

// A process runtime of its own per test, with Omni's image imported through the bridge.
class ExecuteContainerOp : public ::testing::Test {
 protected:
  ExecuteContainerOp() : dir_("omni-ops"), runtime_(runtime_options(dir_)) {}

  void SetUp() override {
    auto imported = run(container_op(ContainerOpKind::import_image, "", {OMNI_IMAGE_TAR}));
    ASSERT_EQ(imported.status, DriverStatus::ok) << imported.message;
  }

  DriverResult run(const ContainerOp& op) { return execute_container_op(runtime_, op); }

  ContainerInfo inspect(const std::string& name) {
    auto info = runtime_.inspect(name);
    EXPECT_TRUE(info.ok()) << info.result.message;
    return info.value;
  }

  bool stops(const std::string& name) {
    return testing::wait_until([&] { return inspect(name).state == ContainerState::stopped; });
  }

  bool serves(const std::string& name) {
    return testing::wait_until(
        [&] { return contains(testing::read_file(runtime_.log_path(name)), "serving"); });
  }

  std::size_t container_count() { return runtime_.list().value.size(); }

  TempDir dir_;
  ProcessRuntime runtime_;
};

TEST_F(ExecuteContainerOp, ImportImageMakesTheImageUsableAndNeedsItsTar) {
  EXPECT_EQ(runtime_.list_images().value, Names{k_image});
  auto again = run(container_op(ContainerOpKind::import_image, "", {OMNI_IMAGE_TAR}));
  EXPECT_EQ(again.status, DriverStatus::ok) << again.message;

  ContainerOp no_tar = container_op(ContainerOpKind::import_image, "");
  no_tar.image = "other:1";
  auto refused = run(no_tar);
  EXPECT_EQ(refused.status, DriverStatus::failed);
  EXPECT_TRUE(contains(refused.message, "other:1")) << refused.message;

  ContainerOp missing_tar = container_op(ContainerOpKind::import_image, "", {dir_ / "none.tar"});
  missing_tar.image = "other:1";
  auto missing = run(missing_tar);
  EXPECT_EQ(missing.status, DriverStatus::not_found) << missing.message;
  EXPECT_EQ(runtime_.list_images().value, Names{k_image});
}

TEST_F(ExecuteContainerOp, CreateRunsTheContainerWithItsArgs) {
  auto created = run(container_op(ContainerOpKind::create, k_server, k_serve_args));
  ASSERT_EQ(created.status, DriverStatus::ok) << created.message;
  // The model's create is `ctr run`: the container runs without a start.
  ContainerInfo info = inspect(k_server);
  EXPECT_EQ(info.state, ContainerState::running);
  EXPECT_EQ(info.image, k_image);
  EXPECT_GT(info.pid, 0);
  EXPECT_TRUE(serves(k_server)) << testing::read_file(runtime_.log_path(k_server));
}

TEST_F(ExecuteContainerOp, ListAnswersEveryContainerAndWhichOfThemRun) {
  ASSERT_EQ(run(container_op(ContainerOpKind::create, k_server, k_serve_args)).status,
            DriverStatus::ok);
  // The image's Cmd ("version") exits at once.
  ASSERT_EQ(run(container_op(ContainerOpKind::create, "version")).status, DriverStatus::ok);
  ASSERT_TRUE(stops("version"));

  auto listed = run(container_op(ContainerOpKind::list, ""));
  ASSERT_EQ(listed.status, DriverStatus::ok) << listed.message;
  // The Agent restarts what it wants and does not run, and removes what it does not want,
  // running or not: it needs both lists.
  EXPECT_EQ(listed.names, (Names{k_server, "version"}));
  EXPECT_EQ(listed.running, Names{k_server});
  EXPECT_EQ(container_count(), 2u);
}

TEST_F(ExecuteContainerOp, StopStartKillAndRemoveActOnTheNamedContainer) {
  ASSERT_EQ(run(container_op(ContainerOpKind::create, k_server, k_serve_args)).status,
            DriverStatus::ok);
  ASSERT_TRUE(serves(k_server));

  auto stopped = run(container_op(ContainerOpKind::stop, k_server));
  ASSERT_EQ(stopped.status, DriverStatus::ok) << stopped.message;
  ASSERT_TRUE(stops(k_server));
  EXPECT_EQ(inspect(k_server).exit_code, 0);  // SIGTERM: serve exits cleanly
  auto listed = run(container_op(ContainerOpKind::list, ""));
  EXPECT_EQ(listed.names, Names{k_server});
  EXPECT_TRUE(listed.running.empty());

  auto started = run(container_op(ContainerOpKind::start, k_server));
  ASSERT_EQ(started.status, DriverStatus::ok) << started.message;
  EXPECT_EQ(inspect(k_server).state, ContainerState::running);
  EXPECT_EQ(run(container_op(ContainerOpKind::list, "")).running, Names{k_server});

  auto killed = run(container_op(ContainerOpKind::kill, k_server));
  ASSERT_EQ(killed.status, DriverStatus::ok) << killed.message;
  ASSERT_TRUE(stops(k_server));
  EXPECT_EQ(inspect(k_server).exit_code, 128 + SIGKILL);

  auto removed = run(container_op(ContainerOpKind::remove, k_server));
  ASSERT_EQ(removed.status, DriverStatus::ok) << removed.message;
  EXPECT_EQ(runtime_.inspect(k_server).result.status, drivers::DriverStatus::not_found);
  EXPECT_EQ(container_count(), 0u);
}

TEST_F(ExecuteContainerOp, RemoveOfARunningContainerEndsIt) {
  ASSERT_EQ(run(container_op(ContainerOpKind::create, k_server, k_serve_args)).status,
            DriverStatus::ok);
  const int pid = inspect(k_server).pid;
  ASSERT_GT(pid, 0);
  auto removed = run(container_op(ContainerOpKind::remove, k_server));
  ASSERT_EQ(removed.status, DriverStatus::ok) << removed.message;
  EXPECT_EQ(container_count(), 0u);
  EXPECT_TRUE(testing::wait_until([&] { return ::kill(pid, 0) != 0; }));
}

TEST_F(ExecuteContainerOp, CreateOfAnExitedContainerRunsTheOpsSpecAndSaysItExists) {
  ASSERT_EQ(run(container_op(ContainerOpKind::create, k_server, k_serve_args)).status,
            DriverStatus::ok);
  const int first_pid = inspect(k_server).pid;
  ASSERT_EQ(run(container_op(ContainerOpKind::stop, k_server)).status, DriverStatus::ok);
  ASSERT_TRUE(stops(k_server));

  // The Agent's create after an exit: the container runs again, as the op says now (here:
  // another component), not as it was first created.
  const Names new_args = {"serve", "--component", "agent"};
  auto restarted = run(container_op(ContainerOpKind::create, k_server, new_args));
  EXPECT_EQ(restarted.status, DriverStatus::already_exists) << restarted.message;
  ContainerInfo info = inspect(k_server);
  EXPECT_EQ(info.state, ContainerState::running);
  EXPECT_NE(info.pid, first_pid);
  EXPECT_TRUE(testing::wait_until([&] {
    return contains(testing::read_file(runtime_.log_path(k_server)), "serving component agent");
  })) << testing::read_file(runtime_.log_path(k_server));

  // A create of a running container leaves that process alone.
  auto again = run(container_op(ContainerOpKind::create, k_server, k_serve_args));
  EXPECT_EQ(again.status, DriverStatus::already_exists) << again.message;
  EXPECT_EQ(inspect(k_server).pid, info.pid);
  EXPECT_EQ(container_count(), 1u);
}

TEST_F(ExecuteContainerOp, OpsOnAContainerThatDoesNotExistAreNotFound) {
  for (ContainerOpKind kind : {ContainerOpKind::start, ContainerOpKind::stop, ContainerOpKind::kill,
                               ContainerOpKind::remove}) {
    SCOPED_TRACE(static_cast<int>(kind));
    auto result = run(container_op(kind, "nope"));
    EXPECT_EQ(result.status, DriverStatus::not_found) << result.message;
    EXPECT_TRUE(contains(result.message, "nope")) << result.message;
  }
  EXPECT_EQ(container_count(), 0u);
}

TEST_F(ExecuteContainerOp, CreateFromAnImageNeverImportedIsNotFoundAndLeavesNothing) {
  ContainerOp op = container_op(ContainerOpKind::create, k_server, k_serve_args);
  op.image = "never-imported:1";
  auto result = run(op);
  EXPECT_EQ(result.status, DriverStatus::not_found) << result.message;
  EXPECT_TRUE(contains(result.message, "never-imported:1")) << result.message;
  EXPECT_EQ(container_count(), 0u);
}

TEST_F(ExecuteContainerOp, BadNamesAreRefusedForEveryOpThatNamesAContainer) {
  for (ContainerOpKind kind :
       {ContainerOpKind::create, ContainerOpKind::start, ContainerOpKind::stop,
        ContainerOpKind::kill, ContainerOpKind::remove}) {
    for (const std::string name : {"Bad Name", "", "-dash"}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(kind)) + " '" + name + "'");
      auto result = run(container_op(kind, name, k_serve_args));
      EXPECT_EQ(result.status, DriverStatus::failed) << result.message;
      EXPECT_TRUE(contains(result.message, "container name")) << result.message;
    }
  }
  EXPECT_EQ(container_count(), 0u);
}

// A fresh VM's runtime has no image: a create of one the host knows imports it first.
TEST(ExecuteContainerOpImports, ACreateImportsAMissingImageTheHostKnows) {
  TempDir dir("omni-ops");
  ProcessRuntime runtime(runtime_options(dir));
  const node::ContainerBridgeConfig config{{{k_image, OMNI_IMAGE_TAR}}, {"OMNI_VM_FILES=/vm"}};
  const auto created = execute_container_op(
      runtime, container_op(ContainerOpKind::create, k_server, k_serve_args), config);
  ASSERT_EQ(created.status, DriverStatus::ok) << created.message;
  EXPECT_EQ(runtime.list_images().value, Names{k_image});
  const auto info = runtime.inspect(k_server).value;
  EXPECT_EQ(info.state, ContainerState::running);
  // Every container gets the host's env: here, where its VM's files are.
  std::string environ = testing::read_file("/proc/" + std::to_string(info.pid) + "/environ");
  std::replace(environ.begin(), environ.end(), '\0', '\n');
  EXPECT_TRUE(contains(environ, "OMNI_VM_FILES=/vm\n")) << environ;

  ContainerOp unknown = container_op(ContainerOpKind::create, "other");
  unknown.image = "elsewhere/app:1";
  EXPECT_EQ(execute_container_op(runtime, unknown, config).status, DriverStatus::not_found);
  const node::ContainerBridgeConfig broken{{{"elsewhere/app:1", "/no/such/image.tar"}}, {}};
  const auto failed = execute_container_op(runtime, unknown, broken);
  EXPECT_NE(failed.status, DriverStatus::ok);
  EXPECT_TRUE(contains(failed.message, "/no/such/image.tar")) << failed.message;
  // The host's own list may name a tar relative to where it runs (its config's own business);
  // only a path from the wire must be absolute.
  const node::ContainerBridgeConfig relative{{{"elsewhere/app:1", "no/such/image.tar"}}, {}};
  const auto tried = execute_container_op(runtime, unknown, relative);
  EXPECT_NE(tried.status, DriverStatus::ok);
  EXPECT_TRUE(contains(tried.message, "import from no/such/image.tar failed")) << tried.message;
  EXPECT_EQ(runtime.remove(k_server).status, drivers::DriverStatus::ok);
}

// An app's image comes with the op: its archive, imported the first time a create needs it. A
// relative path is refused (it would be read from wherever the host runs), and a missing archive
// fails the create with its path.
TEST(ExecuteContainerOpImports, ACreateImportsAMissingImageFromTheOpsArchive) {
  TempDir dir("omni-ops");
  ProcessRuntime runtime(runtime_options(dir));
  ContainerOp relative = container_op(ContainerOpKind::create, k_server, k_serve_args);
  relative.archive = "images/omni.tar";
  const auto refused = execute_container_op(runtime, relative);
  EXPECT_EQ(refused.status, DriverStatus::failed);
  EXPECT_TRUE(contains(refused.message, "'images/omni.tar', which is not an absolute path"))
      << refused.message;
  ContainerOp missing = relative;
  missing.archive = dir / "none.tar";
  const auto failed = execute_container_op(runtime, missing);
  EXPECT_NE(failed.status, DriverStatus::ok);
  EXPECT_TRUE(contains(failed.message, missing.archive)) << failed.message;
  EXPECT_TRUE(runtime.list_images().value.empty());
  EXPECT_EQ(runtime.list().value.size(), 0u);

  ContainerOp app = relative;
  app.archive = OMNI_IMAGE_TAR;
  const auto created = execute_container_op(runtime, app);
  ASSERT_EQ(created.status, DriverStatus::ok) << created.message;
  EXPECT_EQ(runtime.list_images().value, Names{k_image});
  EXPECT_EQ(runtime.inspect(k_server).value.state, ContainerState::running);
  EXPECT_EQ(runtime.remove(k_server).status, drivers::DriverStatus::ok);
}

TEST_F(ExecuteContainerOp, AnUnknownKindIsRefused) {
  auto result = run(container_op(static_cast<ContainerOpKind>(42), k_server, k_serve_args));
  EXPECT_EQ(result.status, DriverStatus::failed);
  EXPECT_TRUE(contains(result.message, "unknown container op kind 42")) << result.message;
  EXPECT_EQ(container_count(), 0u);
}

}  // namespace
}  // namespace drivers
}  // namespace omni
