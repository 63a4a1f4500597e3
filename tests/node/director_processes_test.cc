// A real `omni-node director` with the local VM provider, its certificates from the root's pki
// phase: commanded over mutual TLS by this test (acting as the root), it boots a worker VM (a
// sandbox in its own network namespace) that receives its own files (key, certificates, node
// configs) and whose init is a real `omni-node agent` reading them; the Agent reaches its
// Director, imports Omni's image and runs the replica container it is given, a real Orchestrator
// that finds its config among the same files and leads. A SIGKILLed Director comes back to the
// same VM: it finds it by its scoped list and creates nothing twice. Everything is stopped by PID
// and destroyed.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "drivers/vm/local_provider.h"
#include "model/config/parse.h"
#include "model/director/fence.h"
#include "model/root/plan.h"
#include "node/cluster_pki.h"
#include "node/pki.h"
#include "node/transport.h"
#include "tests/drivers/test_support.h"
#include "tests/node/support.h"

namespace omni::node {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string k_worker = "t-host1-worker-1";
const std::string k_container = "t-orchestrator-1";
constexpr int k_director_port = 7201;
constexpr int k_agent_port = 7300;
constexpr int k_orchestrator_port = 7400;
constexpr int k_admin_port = 7500;

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The processes whose program lies under `dir` (a container runs its image's binary).
std::vector<int> processes_running_from(const std::string& dir) {
  std::vector<int> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string program;
    std::getline(in, program, '\0');
    if (program.rfind(dir, 0) == 0) pids.push_back(std::stoi(name));
  }
  return pids;
}

// The test's end of the wire: it is "root", the controller the Director says hello to.
class FakeRoot {
 public:
  FakeRoot(const fs::path& pki, int port)
      : transport_("127.0.0.1:" + std::to_string(port), slurp(pki / "ca.crt"),
                   KeyPair{slurp(pki / "root.crt"), slurp(pki / "root.key")},
                   [this](Address from, v1::Envelope e) { on_message(from, e); }) {}

  // Only once SUBNET.1 is the Director's bridge: until then a message to it leaves the machine.
  void reach_director() {
    transport_.add_peer("director:host1",
                        "10.214." + subnet() + ".1:" + std::to_string(k_director_port));
  }

  static std::string subnet() { return std::to_string(100 + ::getpid() % 100); }

  void command(v1::DirectorCommand c) {
    *c.mutable_fence() = to_proto(FenceValue{kRootEra, 1});
    c.set_controller("root");
    v1::Envelope e;
    e.set_seq(++seq_);
    *e.mutable_director_command() = std::move(c);
    transport_.send("root", "director:host1", e);
  }

  // Waits for a report that satisfies `done`, resending `resend` every second (the root does).
  template <class Done>
  std::optional<v1::DirectorReport> wait_for(std::chrono::seconds limit, const Done& done,
                                             const std::optional<v1::DirectorCommand>& resend) {
    for (const auto end = Clock::now() + limit; Clock::now() < end;) {
      if (resend) command(*resend);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::lock_guard lock(mutex_);
      if (last_ && done(*last_)) return last_;
    }
    return std::nullopt;
  }
  // Reports from before now no longer count.
  void forget() {
    std::lock_guard lock(mutex_);
    last_.reset();
  }
  bool said_hello() {
    std::lock_guard lock(mutex_);
    return hellos_ > 0;
  }

 private:
  void on_message(const Address& from, const v1::Envelope& e) {
    if (from != "director:host1") return;
    std::lock_guard lock(mutex_);
    if (e.has_hello()) ++hellos_;
    if (e.has_director_report()) last_ = e.director_report();
  }

  GrpcTransport transport_;
  std::uint64_t seq_ = 0;
  std::mutex mutex_;
  int hellos_ = 0;
  std::optional<v1::DirectorReport> last_;
};

bool vm_ready(const v1::DirectorReport& r) {
  for (const auto& vm : r.vms())
    if (vm.name() == k_worker && vm.running() && vm.agent_ready()) return true;
  return false;
}

bool container_runs(const v1::DirectorReport& r) {
  for (const auto& c : r.containers())
    if (c.name() == k_container && c.vm() == k_worker && c.running()) return true;
  return false;
}

class DirectorProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    OMNI_REQUIRE(drivers::testing::is_root(), "worker VMs as sandboxes need root");
    OMNI_REQUIRE(drivers::testing::have_program("ip"), "the local provider needs iproute2");
    char pattern[] = "/tmp/omni-director-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    // The root's pki phase for a one-node cluster: the Director's VM receives its own files and
    // its worker's, which it hands to the worker VM when it creates it.
    const auto parsed = config::parse_cluster_config(
        "cluster: {name: t, orchestrators: 1}\n"
        "nodes: [{name: host1, resources: {cpu: 4, memory: 8Gi}}]\n",
        "t.yaml");
    ASSERT_TRUE(parsed.config);
    ASSERT_EQ(write_cluster_pki(std::get<root::Plan>(root::make_plan(*parsed.config)),
                                (dir_ / "pki").string()),
              "");
    root_port_ = testing::free_port();
    write_director_config();
    write_agent_config();
    write_orchestrator_config();
    // The root listens before the Director starts: the Director says hello once, at its start,
    // and a hello to a root not listening yet was lost (under load, the test then failed).
    root_.emplace(dir_ / "pki", root_port_);
    start_director();
    const std::string bridge = "/sys/class/net/omb-" + local_options().id;
    for (const auto end = Clock::now() + std::chrono::seconds(10);
         !fs::exists(bridge) && Clock::now() < end;)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(fs::exists(bridge)) << outputs();
    root_->reach_director();
  }

  void TearDown() override {
    if (director_ > 0) stop_director();
    // What the Director left: its sandboxes, destroyed through a provider of the same options.
    if (!dir_.empty()) {
      drivers::LocalProvider provider(local_options());
      for (const auto& vm : provider.list().value) provider.destroy(vm.name);
      // A create the SIGKILL cut short has a namespace but no state yet: destroy finds it by name.
      provider.destroy("omni-t-host1-worker-1");
      // The Director made the bridge before it listened, even if no sandbox was ever made.
      if (fs::exists("/sys/class/net/" + provider.bridge_name()))
        drivers::testing::run({"ip", "link", "del", provider.bridge_name()});
      if (fs::exists("/run/netns/" + provider.host_handle()))
        drivers::testing::run({"ip", "netns", "del", provider.host_handle()});
      root_.reset();
      fs::remove_all(dir_);
    }
  }

  drivers::LocalOptions local_options() const {
    drivers::LocalOptions options;
    options.id = "d" + std::to_string(::getpid() % 100000);
    options.state_dir = (dir_ / "local").string();
    options.subnet_prefix = "10.214." + FakeRoot::subnet();
    return options;
  }

  // Asks orchestrator:1 for status as the admin, from the sandboxes' bridge, for up to 30 s.
  bool admin_sees_a_leader(const std::string& worker_address) {
    std::mutex mutex;
    std::condition_variable answered;
    bool leads = false;
    GrpcTransport admin(
        local_options().subnet_prefix + ".1:" + std::to_string(k_admin_port),
        slurp(dir_ / "pki" / "ca.crt"),
        KeyPair{slurp(dir_ / "pki" / "admin.crt"), slurp(dir_ / "pki" / "admin.key")},
        [&](Address, v1::Envelope e) {
          std::lock_guard lock(mutex);
          leads = leads || (e.has_status_reply() && e.status_reply().is_leader() &&
                            e.status_reply().quorum_healthy());
          answered.notify_all();
        });
    admin.add_peer("orchestrator:1", worker_address + ":" + std::to_string(k_orchestrator_port));
    for (std::uint64_t nonce = 1; nonce <= 30; ++nonce) {
      v1::Envelope e;
      e.set_seq(nonce);
      e.mutable_status_request()->set_nonce(nonce);
      admin.send("admin", "orchestrator:1", e);
      std::unique_lock lock(mutex);
      if (answered.wait_for(lock, std::chrono::seconds(1), [&] { return leads; })) return true;
    }
    return false;
  }

  fs::path director_files() const { return dir_ / "pki" / "vms" / "t-host1-director"; }
  fs::path worker_files() const { return director_files() / "vms" / k_worker; }

  void write_director_config() {
    const auto local = local_options();
    std::ofstream out(dir_ / "director.yaml");
    out << "identity: director:host1\n"
        << "args: [director, --node=host1, --own-vm=t-host1-director, --cpu-millis=2000, "
           "--memory-bytes=2147483648]\n"
        << "state_dir: " << (dir_ / "director-state").string() << "\n"
        << "listen: " << local.subnet_prefix << ".1:" << k_director_port << "\n"
        << "peers: {root: 127.0.0.1:" << root_port_ << "}\n"
        << "tls: {ca: " << (director_files() / "ca.crt").string()
        << ", cert: " << (director_files() / "director-host1.crt").string()
        << ", key: " << (director_files() / "director-host1.key").string() << "}\n"
        << "vms:\n  provider: local\n  state_dir: " << local.state_dir << "\n  id: " << local.id
        << "\n  subnet: " << local.subnet_prefix
        << "\n  cluster: t\n  node: host1\n  agent_port: " << k_agent_port
        << "\n  files: " << (director_files() / "vms").string()
        << "\n  boot:\n    worker: {init: [sh, -c, 'exec " << OMNI_NODE_BIN
        << " agent --config \"$OMNI_VM_FILES/agent.yaml\"']}\n";
  }

  // The replica's config, also among the worker VM's files; its args come from its container.
  void write_orchestrator_config() {
    std::ofstream out(worker_files() / "orchestrator-1.yaml");
    out << "identity: orchestrator:1\nstate_dir: orchestrator-1\nlisten: 0.0.0.0:"
        << k_orchestrator_port << "\npeers: {admin: " << local_options().subnet_prefix
        << ".1:" << k_admin_port << "}\n"
        << "tls: {ca: ca.crt, cert: orchestrator-1.crt, key: orchestrator-1.key}\n";
  }

  // Among the worker VM's own files: it names its key and certificates next to it.
  void write_agent_config() {
    std::ofstream out(worker_files() / "agent.yaml");
    out << "identity: agent:" << k_worker << "\n"
        << "args: [agent, --vm=" << k_worker
        << ", --director=director:host1, --cpu-millis=1000, --memory-bytes=536870912]\n"
        << "state_dir: " << (dir_ / "agent-state").string() << "\n"
        << "listen: 0.0.0.0:" << k_agent_port << "\n"
        << "peers: {director:host1: " << local_options().subnet_prefix << ".1:" << k_director_port
        << "}\n"
        << "tls: {ca: ca.crt, cert: agent-" << k_worker << ".crt, key: agent-" << k_worker
        << ".key}\n"
        << "containers:\n  runtime: process\n  state_dir: " << (dir_ / "agent-containers").string()
        << "\n  images: {omni/omni-node:dev: " << OMNI_IMAGE_TAR << "}\n";
  }

  void start_director() {
    director_ = node::testing::start_process(
        {OMNI_NODE_BIN, "director", "--config", (dir_ / "director.yaml").string()},
        (dir_ / "director.out").string());
  }
  void stop_director() {
    ::kill(director_, SIGKILL);
    int status = 0;
    ::waitpid(director_, &status, 0);
    director_ = 0;
  }

  static v1::DirectorCommand ensure_workers() {
    v1::DirectorCommand c;
    v1::VmSpec* vm = c.mutable_ensure_workers()->add_vms();
    vm->set_name(k_worker);
    vm->mutable_resources()->set_cpu_millis(1000);
    vm->mutable_resources()->set_memory_bytes(512ll << 20);
    return c;
  }

  static v1::DirectorCommand ensure_replicas() {
    v1::DirectorCommand c;
    v1::ReplicaSpec* replica = c.mutable_ensure_replicas()->add_replicas();
    replica->set_vm(k_worker);
    v1::ContainerSpec* container = replica->mutable_container();
    container->set_name(k_container);
    container->set_image("omni/omni-node:dev");
    // As the root asks for a replica: omni-node finds its config among its VM's files.
    container->add_args("orchestrator");
    container->add_args("--replica=1");
    container->add_args("--members=orchestrator:1");
    container->mutable_resources()->set_cpu_millis(200);
    container->mutable_resources()->set_memory_bytes(64ll << 20);
    container->set_replica(1);
    return c;
  }

  std::string outputs() const {
    return "director:\n" + slurp(dir_ / "director.out") + "\nagent console:\n" +
           slurp(dir_ / "local" / ("omni-t-host1-worker-1") / "console.log");
  }

  fs::path dir_;
  int root_port_ = 0;
  std::optional<FakeRoot> root_;
  pid_t director_ = 0;
};

TEST_F(DirectorProcess, BootsAWorkerVmWhoseAgentRunsItsContainerAndComesBackToItAfterSigkill) {
  // Claimed, the Director is controlled by the root; asked for a worker, it boots the sandbox,
  // whose init is the Agent, which says hello to its Director.
  v1::DirectorCommand claim;
  claim.mutable_claim();
  ASSERT_TRUE(root_->wait_for(
      std::chrono::seconds(20),
      [](const v1::DirectorReport& r) { return r.controller() == "root"; }, claim))
      << outputs();
  EXPECT_TRUE(root_->said_hello());
  ASSERT_TRUE(root_->wait_for(std::chrono::seconds(60), vm_ready, ensure_workers())) << outputs();
  // The worker VM received its own key when it was created, readable by its owner only.
  const fs::path received = dir_ / "local" / "omni-t-host1-worker-1" / "files";
  EXPECT_EQ(slurp(received / ("agent-" + k_worker + ".key")),
            slurp(worker_files() / ("agent-" + k_worker + ".key")));
  EXPECT_EQ(fs::status(received / ("agent-" + k_worker + ".key")).permissions(),
            fs::perms::owner_read | fs::perms::owner_write);

  // The replica's container: the Agent imports the image it lacks and runs it.
  ASSERT_TRUE(root_->wait_for(std::chrono::seconds(60), container_runs, ensure_replicas()))
      << outputs();
  // It is a real Orchestrator replica, in the worker VM: alone, it leads and answers an admin
  // after a committed round trip, over the same wire.
  const fs::path container_log = dir_ / "agent-containers" / "containers" / k_container / "log";
  drivers::LocalProvider sandboxes(local_options());
  const std::string worker_address = sandboxes.inspect("omni-" + k_worker).value.address;
  ASSERT_FALSE(worker_address.empty());
  EXPECT_TRUE(admin_sees_a_leader(worker_address)) << slurp(container_log);
  EXPECT_NE(slurp(container_log).find("leads at term"), std::string::npos) << slurp(container_log);
  const std::string director_log = slurp(dir_ / "director.out");
  EXPECT_NE(director_log.find("each in its own network namespace"), std::string::npos)
      << director_log;
  EXPECT_NE(director_log.find("controlled by root at era 0 term 1"), std::string::npos)
      << director_log;

  // SIGKILL: the restarted Director replays its checkpoint (still the root's), lists its VMs
  // and finds the worker: one sandbox, the same one, still running its Agent.
  drivers::LocalProvider provider(local_options());
  const auto before = provider.list().value;
  ASSERT_EQ(before.size(), 1u);
  stop_director();
  root_->forget();
  start_director();
  ASSERT_TRUE(root_->wait_for(
      std::chrono::seconds(30),
      [](const v1::DirectorReport& r) { return vm_ready(r) && container_runs(r); }, std::nullopt))
      << outputs();
  const auto after = provider.list().value;
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].name, before[0].name);
  EXPECT_EQ(after[0].address, before[0].address);
  EXPECT_EQ(after[0].state, drivers::VmState::running);
  EXPECT_TRUE(after[0].autostart);
  // Powered off, the worker VM takes its Agent's container with it: nothing of it runs on.
  const std::string image_dir = (dir_ / "agent-containers" / "images").string();
  ASSERT_EQ(processes_running_from(image_dir).size(), 1u);
  stop_director();  // or it would boot its worker again
  ASSERT_EQ(provider.destroy(after[0].name).status, drivers::DriverStatus::ok);
  EXPECT_TRUE(processes_running_from(image_dir).empty()) << "a container outlived its VM";
  if (std::getenv("OMNI_TEST_SHOW_LOGS")) std::fprintf(stderr, "%s\n", outputs().c_str());
}

}  // namespace
}  // namespace omni::node
