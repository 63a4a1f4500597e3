// The containerd driver against a real containerd + runc that this test starts itself, on a
// private socket with its root and state under a temp dir, and stops by PID. `ctr` checks what
// the driver did from the outside.
#include "drivers/container/containerd_driver.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <functional>

#include "drivers/container/containerd_daemon.h"
#include "drivers/util/cgroup.h"
#include "node/driver_bridge.h"
#include "tests/drivers/test_support.h"

namespace omni::drivers {
namespace {

using testing::Daemon;
using testing::TempDir;

class Containerd {
 public:
  Containerd() : dir_("omni-containerd") {
    // Garbage collection after every change: a snapshot that nothing holds is gone before the
    // next call, so a driver that leaves one unheld fails here every time, not once in twenty.
    testing::write_file(dir_ / "config.toml", containerd_config_toml(dir_.path(), true));
    daemon_ = std::make_unique<Daemon>(
        std::vector<std::string>{"containerd", "--config", dir_ / "config.toml"},
        dir_ / "containerd.log");
    ready_ = testing::wait_until([&] { return std::filesystem::exists(socket()); },
                                 std::chrono::seconds(20));
  }
  ~Containerd() {
    daemon_->stop();
    stop_shims(socket());  // a test that failed half-way may leave a container running
    unmount_below(dir_.path());
  }
  bool ready() const { return ready_; }
  std::string socket() const { return dir_ / "containerd.sock"; }
  std::string log() const { return testing::read_file(dir_ / "containerd.log"); }
  std::string dir(const std::string& name) const { return dir_ / name; }
  std::string ctr(std::vector<std::string> args) const {
    args.insert(args.begin(), {"ctr", "--address", socket(), "-n", "omni"});
    return testing::run(args);
  }
  ContainerdOptions options() const {
    ContainerdOptions options;
    options.socket_path = socket();
    options.log_dir = dir_ / "logs";
    return options;
  }

 private:
  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
  bool ready_ = false;
};

ContainerSpec container(const std::string& name, const std::string& image,
                        std::vector<std::string> args = {}) {
  ContainerSpec spec;
  spec.name = name;
  spec.image = image;
  spec.args = std::move(args);
  return spec;
}

bool wait_exit(ContainerDriver& driver, const std::string& name, int& code) {
  return testing::wait_until(
      [&] {
        for (const auto& event : driver.poll_events()) {
          if (event.name == name) {
            code = event.exit_code;
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(30));
}

class ContainerdDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OMNI_REQUIRE(testing::is_root(), "containerd + runc need root");
    OMNI_REQUIRE(testing::have_program("containerd"), "containerd is not installed");
    containerd_ = std::make_unique<Containerd>();
    ASSERT_TRUE(containerd_->ready()) << containerd_->log();
    auto connected = ContainerdDriver::connect(containerd_->options());
    ASSERT_TRUE(connected.ok()) << connected.result.message;
    driver_ = std::move(connected.value);
  }
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ContainerdDriver> driver_;
};

TEST_F(ContainerdDriverTest, RunsOmniImageKillsItAndCleansUp) {
  auto imported = driver_->import_image("omni/omni-node:dev", OMNI_IMAGE_TAR);
  ASSERT_EQ(imported.status, DriverStatus::ok) << "message: " << imported.message << "\n"
                                               << containerd_->log();
  EXPECT_EQ(driver_->list_images().value, std::vector<std::string>{"omni/omni-node:dev"});
  EXPECT_NE(containerd_->ctr({"images", "ls", "-q"}).find("omni/omni-node:dev"), std::string::npos);
  // Importing again changes nothing.
  ASSERT_EQ(driver_->import_image("omni/omni-node:dev", OMNI_IMAGE_TAR).status, DriverStatus::ok);

  ContainerSpec orchestrator =
      container("orchestrator-1", "omni/omni-node:dev", {"serve", "--component", "orchestrator"});
  orchestrator.memory_bytes = 128ll << 20;
  orchestrator.labels = {{"omni.role", "orchestrator"}};
  ASSERT_EQ(driver_->create(orchestrator).status, DriverStatus::ok);
  auto started = driver_->start("orchestrator-1");
  ASSERT_EQ(started.status, DriverStatus::ok) << started.message << containerd_->log();
  ASSERT_TRUE(testing::wait_until([&] {
    return testing::read_file(driver_->log_path("orchestrator-1"))
               .find("serving component orchestrator") != std::string::npos;
  })) << testing::read_file(driver_->log_path("orchestrator-1"));
  auto info = driver_->inspect("orchestrator-1");
  EXPECT_EQ(info.value.state, ContainerState::running);
  EXPECT_GT(info.value.pid, 0);
  EXPECT_EQ(info.value.labels.at("omni.role"), "orchestrator");
  EXPECT_NE(containerd_->ctr({"containers", "ls", "-q"}).find("orchestrator-1"), std::string::npos);
  EXPECT_NE(containerd_->ctr({"tasks", "ls"}).find("RUNNING"), std::string::npos);

  // A restarted driver finds the container, and still hears its exit.
  driver_.reset();
  auto again = ContainerdDriver::connect(containerd_->options());
  ASSERT_TRUE(again.ok()) << again.result.message;
  driver_ = std::move(again.value);
  ASSERT_EQ(driver_->list().value.size(), 1u);
  ASSERT_EQ(driver_->kill("orchestrator-1", SIGTERM).status, DriverStatus::ok);
  int code = -1;
  ASSERT_TRUE(wait_exit(*driver_, "orchestrator-1", code));
  EXPECT_EQ(code, 0);
  EXPECT_EQ(driver_->inspect("orchestrator-1").value.state, ContainerState::stopped);

  // The image's own Cmd: `omni-node version`, which exits by itself.
  ASSERT_EQ(driver_->create(container("version", "omni/omni-node:dev")).status, DriverStatus::ok);
  ASSERT_EQ(driver_->start("version").status, DriverStatus::ok);
  ASSERT_TRUE(wait_exit(*driver_, "version", code));
  EXPECT_EQ(code, 0);
  EXPECT_NE(testing::read_file(driver_->log_path("version")).find("omni-node 0.1.0"),
            std::string::npos);

  // Kill a running one outright: remove does it all.
  ASSERT_EQ(driver_->start("orchestrator-1").status, DriverStatus::ok);
  ASSERT_EQ(driver_->remove("orchestrator-1").status, DriverStatus::ok);
  ASSERT_EQ(driver_->remove("version").status, DriverStatus::ok);
  EXPECT_TRUE(driver_->list().value.empty());
  EXPECT_EQ(containerd_->ctr({"containers", "ls", "-q"}), "");
  EXPECT_EQ(containerd_->ctr({"tasks", "ls", "-q"}), "");
  EXPECT_EQ(containerd_->ctr({"snapshots", "ls"}).find("orchestrator-1"), std::string::npos);
}

TEST_F(ContainerdDriverTest, BadInputIsAClearErrorAndLeavesNothing) {
  auto missing_tar = driver_->import_image("x", containerd_->dir("missing.tar"));
  EXPECT_EQ(missing_tar.status, DriverStatus::not_found) << missing_tar.message;
  auto missing_image = driver_->create(container("a", "never-imported"));
  EXPECT_EQ(missing_image.status, DriverStatus::not_found) << missing_image.message;
  EXPECT_NE(missing_image.message.find("never-imported"), std::string::npos);
  EXPECT_EQ(containerd_->ctr({"containers", "ls", "-q"}), "");
  EXPECT_EQ(containerd_->ctr({"snapshots", "ls"}).find(" a "), std::string::npos);

  ASSERT_EQ(driver_->import_image("omni:dev", OMNI_IMAGE_TAR).status, DriverStatus::ok);
  ASSERT_EQ(driver_->create(container("a", "omni:dev")).status, DriverStatus::ok);
  auto clash = driver_->create(container("a", "omni:dev"));
  EXPECT_EQ(clash.status, DriverStatus::already_exists) << clash.message;
  EXPECT_EQ(driver_->start("nope").status, DriverStatus::not_found);
  EXPECT_EQ(driver_->remove("nope").status, DriverStatus::not_found);
  ASSERT_EQ(driver_->remove("a").status, DriverStatus::ok);
  EXPECT_EQ(containerd_->ctr({"containers", "ls", "-q"}), "");
}

// The model's ops through the bridge, as an Agent sends them: create runs the container, list
// tells what exists and what runs, and a create after an exit replaces the container with the
// op's (changed) args rather than restarting the old ones.
TEST_F(ContainerdDriverTest, TheAgentsOpsRunThroughTheBridge) {
  ASSERT_EQ(driver_->import_image("omni/omni-node:dev", OMNI_IMAGE_TAR).status, DriverStatus::ok);
  ContainerOp create{ContainerOpKind::create,
                     "orchestrator-1",
                     "omni/omni-node:dev",
                     {"serve", "--component", "orchestrator"},
                     500,
                     128ll << 20};
  const omni::DriverResult created = node::execute_container_op(*driver_, create);
  ASSERT_EQ(created.status, omni::DriverStatus::ok) << created.message << containerd_->log();
  EXPECT_NE(containerd_->ctr({"tasks", "ls"}).find("RUNNING"), std::string::npos);

  ASSERT_EQ(
      node::execute_container_op(*driver_, {ContainerOpKind::kill, "orchestrator-1", "", {}, 0, 0})
          .status,
      omni::DriverStatus::ok);
  ContainerOp list{ContainerOpKind::list, "", "", {}, 0, 0};
  ASSERT_TRUE(testing::wait_until(
      [&] { return node::execute_container_op(*driver_, list).running.empty(); }));
  EXPECT_EQ(node::execute_container_op(*driver_, list).names,
            std::vector<std::string>{"orchestrator-1"});

  create.args = {"serve", "--component", "agent"};
  const omni::DriverResult replaced = node::execute_container_op(*driver_, create);
  EXPECT_EQ(replaced.status, omni::DriverStatus::already_exists) << replaced.message;
  ASSERT_TRUE(testing::wait_until([&] {
    return testing::read_file(driver_->log_path("orchestrator-1"))
               .find("serving component agent") != std::string::npos;
  })) << testing::read_file(driver_->log_path("orchestrator-1"));
  EXPECT_EQ(node::execute_container_op(*driver_, list).running,
            std::vector<std::string>{"orchestrator-1"});
  EXPECT_NE(containerd_->ctr({"tasks", "ls"}).find("RUNNING"), std::string::npos);

  ASSERT_EQ(node::execute_container_op(*driver_,
                                       {ContainerOpKind::remove, "orchestrator-1", "", {}, 0, 0})
                .status,
            omni::DriverStatus::ok);
  EXPECT_EQ(containerd_->ctr({"containers", "ls", "-q"}), "");
  EXPECT_EQ(containerd_->ctr({"tasks", "ls", "-q"}), "");
}

// The container's root filesystem is prepared before the container that references it exists;
// with garbage collection running after every change, a re-create right after a remove still
// finds its snapshot when it starts.
TEST_F(ContainerdDriverTest, ARecreateRightAfterARemoveKeepsItsRootFilesystem) {
  ASSERT_EQ(driver_->import_image("omni:dev", OMNI_IMAGE_TAR).status, DriverStatus::ok);
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_EQ(driver_->create(container("again", "omni:dev")).status, DriverStatus::ok);
    const DriverResult started = driver_->start("again");
    ASSERT_EQ(started.status, DriverStatus::ok) << started.message << containerd_->log();
    ASSERT_EQ(driver_->remove("again").status, DriverStatus::ok);
  }
  EXPECT_EQ(containerd_->ctr({"containers", "ls", "-q"}), "");
  EXPECT_EQ(containerd_->ctr({"leases", "ls", "-q"}), "");
}

// Agents of several local sandboxes share the machine's containerd: each sees, and can touch,
// only its own scope's containers, though their names are the same.
TEST_F(ContainerdDriverTest, AgentsSharingAContainerdSeeOnlyTheirOwnContainers) {
  ASSERT_EQ(driver_->import_image("omni:dev", OMNI_IMAGE_TAR).status, DriverStatus::ok);
  std::vector<std::unique_ptr<ContainerdDriver>> agents;
  const std::string pid = std::to_string(::getpid());
  for (const std::string& scope : {"vm-a" + pid, "vm-b" + pid}) {
    ContainerdOptions options = containerd_->options();
    options.scope = scope;
    auto connected = ContainerdDriver::connect(options);
    ASSERT_TRUE(connected.ok()) << connected.result.message;
    agents.push_back(std::move(connected.value));
  }
  for (auto& agent : agents) {
    ASSERT_EQ(agent->create(container("web", "omni:dev", {"serve", "--component", "web"})).status,
              DriverStatus::ok);
    ASSERT_EQ(agent->start("web").status, DriverStatus::ok) << containerd_->log();
  }
  const auto ids = containerd_->ctr({"containers", "ls", "-q"});
  EXPECT_NE(ids.find("vm-a" + pid + ".web"), std::string::npos) << ids;
  EXPECT_NE(ids.find("vm-b" + pid + ".web"), std::string::npos) << ids;
  ASSERT_EQ(agents[0]->list().value.size(), 1u);
  EXPECT_EQ(agents[0]->list().value[0].name, "web");
  EXPECT_EQ(agents[0]->list().value[0].labels.at("omni.scope"), "vm-a" + pid);

  ASSERT_EQ(agents[0]->kill("web", SIGKILL).status, DriverStatus::ok);
  int code = -1;
  ASSERT_TRUE(wait_exit(*agents[0], "web", code));
  EXPECT_EQ(code, 128 + SIGKILL);
  EXPECT_EQ(agents[1]->inspect("web").value.state, ContainerState::running);
  EXPECT_TRUE(agents[1]->poll_events().empty());
  ASSERT_EQ(agents[0]->remove("web").status, DriverStatus::ok);
  EXPECT_EQ(agents[0]->inspect("web").result.status, DriverStatus::not_found);
  EXPECT_EQ(agents[1]->list().value.size(), 1u);
  ASSERT_EQ(agents[1]->remove("web").status, DriverStatus::ok);
}

std::string namespace_of(int pid, const char* kind) {
  std::error_code error;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + std::string(kind),
                                       error)
      .string();
}

// A containerd on the machine runs a local sandbox's containers in the sandbox: its network
// namespace and, below its cgroup, without limits of their own. A host-access container (the
// Orchestrator, which drives the local provider) shares the machine's processes and, once
// omni-node starts, its mount namespace.
TEST_F(ContainerdDriverTest,
       AContainerRunsInTheNetworkAndCgroupItIsGivenAndHostAccessGetsTheMachine) {
  ASSERT_EQ(driver_->import_image("omni:dev", OMNI_IMAGE_TAR).status, DriverStatus::ok);
  const std::string netns = "omni-test-" + std::to_string(::getpid());
  ASSERT_EQ(testing::run({"ip", "netns", "add", netns}), "");
  struct Remove {
    std::function<void()> what;
    ~Remove() { what(); }
  } remove_netns{[&] { testing::run({"ip", "netns", "del", netns}); }};
  testing::run({"ip", "-n", netns, "link", "set", "lo", "up"});
  const std::string group = "omni-test-" + std::to_string(::getpid());
  Cgroups cgroups;
  ASSERT_TRUE(cgroups.create(group, "vm", {}).ok());
  Remove remove_cgroup{[&] { cgroups.remove(group, "vm"); }};
  const std::string parent = group + "/vm";
  ContainerdOptions options = containerd_->options();
  options.scope = "vm" + std::to_string(::getpid());
  options.network_namespace_path = "/run/netns/" + netns;
  options.cgroup_parent = parent;
  options.host_access_commands = {"serve"};
  auto connected = ContainerdDriver::connect(options);
  ASSERT_TRUE(connected.ok()) << connected.result.message;
  auto& agent = *connected.value;

  ASSERT_EQ(agent.create(container("web", "omni:dev", {"demo-web", "--port", "8089"})).status,
            DriverStatus::ok);
  const DriverResult web_started = agent.start("web");
  ASSERT_EQ(web_started.status, DriverStatus::ok) << web_started.message;
  std::string answer;
  EXPECT_TRUE(testing::wait_until([&] {
    answer = testing::run({"ip", "netns", "exec", netns, "python3", "-c",
                           "import urllib.request; print(urllib.request.urlopen("
                           "'http://127.0.0.1:8089/', timeout=2).read().decode(), end='')"});
    return answer.find("hello from omni demo-web") != std::string::npos;
  })) << answer
      << testing::read_file(agent.log_path("web"));
  const int web = agent.inspect("web").value.pid;
  EXPECT_NE(namespace_of(web, "net"), namespace_of(::getpid(), "net"));
  EXPECT_NE(namespace_of(web, "pid"), namespace_of(::getpid(), "pid"));
  EXPECT_NE(testing::read_file("/proc/" + std::to_string(web) + "/cgroup")
                .find(":/" + parent + "/omni-" + options.scope + ".web\n"),
            std::string::npos)
      << testing::read_file("/proc/" + std::to_string(web) + "/cgroup");

  ASSERT_EQ(agent.create(container("host", "omni:dev", {"serve", "--component", "host"})).status,
            DriverStatus::ok);
  const DriverResult host_started = agent.start("host");
  ASSERT_EQ(host_started.status, DriverStatus::ok) << host_started.message;
  ASSERT_TRUE(testing::wait_until([&] {
    return testing::read_file(agent.log_path("host")).find("serving component host") !=
           std::string::npos;
  })) << testing::read_file(agent.log_path("host"));
  const int host = agent.inspect("host").value.pid;
  EXPECT_EQ(namespace_of(host, "mnt"), namespace_of(::getpid(), "mnt"))
      << testing::read_file("/proc/" + std::to_string(host) + "/environ")
      << testing::read_file(agent.log_path("host"));
  EXPECT_EQ(namespace_of(host, "pid"), namespace_of(::getpid(), "pid"));
  EXPECT_NE(namespace_of(host, "net"), namespace_of(::getpid(), "net"));

  ASSERT_EQ(agent.remove("web").status, DriverStatus::ok);
  ASSERT_EQ(agent.remove("host").status, DriverStatus::ok);
  const auto dirs = cgroups.directories(group, "vm");
  cgroups.remove(group, "vm");
  for (const auto& dir : dirs) EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

// The pids of the processes whose command line holds `part`.
std::vector<pid_t> pids_running(const std::string& part) {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string command = testing::read_file(entry.path() / "cmdline");
    for (char& c : command)
      if (c == '\0') c = ' ';
    if (command.find(part) != std::string::npos &&
        testing::read_file(entry.path() / "status").find("\nState:\tZ") == std::string::npos)
      pids.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return pids;
}

// Omni's own containerd, on a machine that runs none: its supervisor starts it, starts it again
// when it dies, refuses a second supervisor of the same directory, and stops it on SIGTERM.
TEST(OwnContainerd, ItsSupervisorStartsItAgainWhenItDiesAndStopsItWhenAsked) {
  OMNI_REQUIRE(testing::is_root(), "containerd needs root");
  OMNI_REQUIRE(testing::have_program("containerd"), "containerd is not installed");
  TempDir dir("omni-own-containerd");
  const OwnContainerd own{dir.path()};
  std::string error;
  const pid_t supervisor = start_own_containerd(OMNI_NODE_BIN, dir.path(), error);
  ASSERT_GT(supervisor, 0) << error;
  EXPECT_TRUE(containerd_answers(own.socket()));
  EXPECT_EQ(start_own_containerd(OMNI_NODE_BIN, dir.path(), error), 0) << "it answers already";
  int code = 0;
  const std::string second =
      testing::run({OMNI_NODE_BIN, "containerd", "--dir", dir.path()}, &code);
  EXPECT_EQ(code, 1);
  EXPECT_NE(second.find("another supervisor runs the containerd of " + dir.path()),
            std::string::npos)
      << second;

  const auto first = pids_running("containerd --config " + own.config_path());
  ASSERT_EQ(first.size(), 1u);
  ::kill(first[0], SIGKILL);
  ASSERT_TRUE(testing::wait_until(
      [&] {
        const auto now = pids_running("containerd --config " + own.config_path());
        return now.size() == 1 && now[0] != first[0] && containerd_answers(own.socket());
      },
      std::chrono::seconds(30)))
      << testing::read_file(own.supervisor_log_path());

  // A supervisor killed alone leaves its containerd unwatched: the next start stops that one
  // and starts a supervisor again.
  const auto orphan = pids_running("containerd --config " + own.config_path());
  ASSERT_EQ(orphan.size(), 1u);
  ::kill(supervisor, SIGKILL);
  ::waitpid(supervisor, nullptr, 0);
  const pid_t again = start_own_containerd(OMNI_NODE_BIN, dir.path(), error);
  ASSERT_GT(again, 0) << error;
  const auto now = pids_running("containerd --config " + own.config_path());
  ASSERT_EQ(now.size(), 1u);
  EXPECT_NE(now[0], orphan[0]);
  EXPECT_TRUE(containerd_answers(own.socket()));

  EXPECT_EQ(stop_own_containerd(dir.path()), again);
  EXPECT_TRUE(pids_running("containerd --dir " + dir.path()).empty());
  EXPECT_TRUE(pids_running("containerd --config " + own.config_path()).empty());
  EXPECT_FALSE(containerd_answers(own.socket()));
  EXPECT_EQ(stop_own_containerd(dir.path()), 0) << "nothing runs: nothing to stop";
  ::waitpid(again, nullptr, 0);  // our child: reaped
}

// A containerd that cannot start: the error says why, and no supervisor is left trying.
TEST(OwnContainerd, AContainerdThatCannotStartIsAClearErrorAndLeavesNoSupervisor) {
  OMNI_REQUIRE(testing::is_root(), "the supervisor writes its directory");
  TempDir dir("omni-own-containerd");
  // An empty PATH: the supervisor cannot find containerd.
  const char* path = std::getenv("PATH");
  const std::string saved = path ? path : "";
  ::setenv("PATH", "/nonexistent", 1);
  std::string error;
  const pid_t supervisor = start_own_containerd(OMNI_NODE_BIN, dir.path(), error);
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(supervisor, -1);
  EXPECT_NE(error.find("cannot start containerd"), std::string::npos) << error;
  EXPECT_TRUE(pids_running("containerd --dir " + dir.path()).empty());
}

TEST(ContainerdDriver, MissingSocketIsUnavailable) {
  ContainerdOptions options;
  options.socket_path = "/nonexistent/containerd.sock";
  auto connected = ContainerdDriver::connect(options);
  EXPECT_EQ(connected.result.status, DriverStatus::unavailable);
  EXPECT_NE(connected.result.message.find("/nonexistent/containerd.sock"), std::string::npos);
}

}  // namespace
}  // namespace omni::drivers
