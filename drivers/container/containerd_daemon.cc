#include "drivers/container/containerd_daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include "drivers/container/containerd_driver.h"
#include "drivers/util/subprocess.h"

namespace omni::drivers {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string tail_of(const std::string& path, std::size_t bytes) {
  const std::string text = read_all(path);
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

bool write_all(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

// Waits for our child `pid` for up to `timeout`; true when it was reaped.
bool reaped_within(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno == ECHILD)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void stop_child(pid_t pid) {
  ::kill(pid, SIGTERM);
  if (reaped_within(pid, std::chrono::seconds(10))) return;
  ::kill(pid, SIGKILL);
  reaped_within(pid, std::chrono::seconds(5));
}

pid_t start_containerd(const OwnContainerd& own) {
  SpawnOptions options;
  options.log_path = own.log_path();
  std::string error;
  const pid_t pid = spawn_process({"containerd", "--config", own.config_path()}, options, error);
  if (pid < 0)
    std::fprintf(stderr, "omni-node containerd: cannot start containerd: %s\n", error.c_str());
  return pid;
}

// What a process runs, its arguments joined by spaces; empty when it is gone.
std::string command_line(pid_t pid) {
  std::string text = read_all("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : text)
    if (c == '\0') c = ' ';
  return text;
}

// A zombie has ended: only its parent's wait is left.
bool running(pid_t pid) {
  return process_alive(pid) &&
         read_all("/proc/" + std::to_string(pid) + "/status").find("\nState:\tZ") ==
             std::string::npos;
}

// Waits up to `timeout` for a process that need not be our child to end.
bool ended_within(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (!running(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !running(pid);
}

void kill_and_wait(pid_t pid) {
  ::kill(pid, SIGTERM);
  if (ended_within(pid, std::chrono::seconds(15))) return;
  ::kill(pid, SIGKILL);
  ended_within(pid, std::chrono::seconds(5));
}

// The processes still running whose command line `matches`.
std::vector<pid_t> running_pids_whose(const std::function<bool(const std::string&)>& matches) {
  std::vector<pid_t> pids;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(name));
    if (matches(command_line(pid)) && running(pid)) pids.push_back(pid);
  }
  return pids;
}

// The containerd processes that run DIR's config.
std::vector<pid_t> pids_running_containerd(const OwnContainerd& own) {
  const std::string command = "containerd --config " + own.config_path();
  return running_pids_whose([&](const std::string& line) { return line.rfind(command, 0) == 0; });
}

// The shims a containerd started outlive it by design; those of SOCKET's are its.
std::vector<pid_t> shims_of(const std::string& socket) {
  return running_pids_whose([&](const std::string& line) {
    return line.find("containerd-shim") != std::string::npos &&
           line.find(" " + socket) != std::string::npos;
  });
}

// DIR's supervisor, by the pid it recorded, when it runs; else 0.
pid_t running_supervisor(const OwnContainerd& own) {
  const std::string recorded = read_all(own.supervisor_pid_path());
  if (recorded.empty() || recorded.find_first_not_of("0123456789\n") != std::string::npos) return 0;
  const auto pid = static_cast<pid_t>(std::stol(recorded));
  // A recorded pid that now names another program is not ours.
  const bool ours =
      running(pid) && command_line(pid).find("containerd --dir " + own.dir) != std::string::npos;
  return ours ? pid : 0;
}

}  // namespace

std::string containerd_config_toml(const std::string& dir, const bool gc_at_once) {
  const OwnContainerd own{dir};
  std::string toml = "version = 2\n";
  toml += "root = \"" + dir + "/root\"\n";
  toml += "state = \"" + dir + "/state\"\n";
  toml +=
      "disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.aufs\", "
      "\"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", "
      "\"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.tracing.processor.v1.otlp\"]\n";
  toml += "[grpc]\n  address = \"" + own.socket() + "\"\n";
  toml += "[ttrpc]\n  address = \"" + own.socket() + ".ttrpc\"\n";
  toml += "[debug]\n  address = \"" + dir + "/debug.sock\"\n";
  if (gc_at_once) {
    toml += "[plugins.\"io.containerd.gc.v1.scheduler\"]\n";
    toml += "  pause_threshold = 0.5\n  deletion_threshold = 1\n  mutation_threshold = 1\n";
    toml += "  schedule_delay = \"0s\"\n  startup_delay = \"0s\"\n";
  }
  return toml;
}

bool containerd_answers(const std::string& socket) {
  ContainerdOptions options;
  options.socket_path = socket;
  options.log_dir = {};
  return ContainerdDriver::connect(options).ok();
}

int supervise_containerd(const std::string& dir) {
  const OwnContainerd own{dir};
  std::error_code error;
  fs::create_directories(dir, error);
  const int lock_fd =
      ::open((dir + "/supervisor.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::fprintf(stderr,
                 "omni-node containerd: another supervisor runs the containerd of %s (pid %s)\n",
                 dir.c_str(), read_all(own.supervisor_pid_path()).c_str());
    return 1;
  }
  if (!write_all(own.config_path(), containerd_config_toml(dir)) ||
      !write_all(own.supervisor_pid_path(), std::to_string(::getpid()))) {
    std::fprintf(stderr, "omni-node containerd: cannot write in %s\n", dir.c_str());
    return 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&signals, s);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  pid_t child = start_containerd(own);
  if (child < 0) {  // not even once (not installed): trying every second would not help
    fs::remove(own.supervisor_pid_path(), error);
    return 1;
  }
  for (;;) {
    siginfo_t info{};
    const timespec a_second{1, 0};
    const int signal =
        child > 0 ? ::sigwaitinfo(&signals, &info) : ::sigtimedwait(&signals, &info, &a_second);
    if (signal == SIGTERM || signal == SIGINT) break;
    if (signal == SIGCHLD && child > 0 && ::waitpid(child, nullptr, WNOHANG) == child) {
      std::fprintf(stderr, "omni-node containerd: containerd (pid %d) ended; starting it again\n",
                   static_cast<int>(child));
      child = -1;  // a second's pause first: a containerd that cannot start does not spin
    } else if (signal < 0 && errno == EAGAIN && child <= 0) {
      child = start_containerd(own);
    }
  }
  if (child > 0) stop_child(child);
  fs::remove(own.supervisor_pid_path(), error);
  return 0;
}

pid_t start_own_containerd(const std::string& omni_node, const std::string& dir,
                           std::string& error) {
  const OwnContainerd own{dir};
  if (running_supervisor(own) > 0 && containerd_answers(own.socket())) return 0;
  // A containerd whose supervisor was killed runs on unwatched: it is stopped (its containers
  // run on, under their shims) and a new supervisor starts it again.
  for (const pid_t orphan : pids_running_containerd(own)) kill_and_wait(orphan);
  std::error_code ignored;
  fs::create_directories(dir, ignored);
  SpawnOptions options;
  options.log_path = own.supervisor_log_path();
  const pid_t pid = spawn_process({omni_node, "containerd", "--dir", dir}, options, error);
  if (pid < 0) return -1;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    if (fs::exists(own.socket()) && containerd_answers(own.socket())) return pid;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      error = "omni-node containerd ended: " + tail_of(own.supervisor_log_path(), 400);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // A supervisor whose containerd cannot start would try again every second, for nothing.
  ::kill(pid, SIGTERM);
  reaped_within(pid, std::chrono::seconds(15));
  error = "containerd did not answer on " + own.socket() +
          " within 30 s; the supervisor's log: " + tail_of(own.supervisor_log_path(), 300) +
          "; containerd's log ends: " + tail_of(own.log_path(), 300);
  return -1;
}

void unmount_below(const std::string& dir) {
  std::ifstream mounts("/proc/self/mounts");
  std::vector<std::string> points;
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    std::string source, point;
    fields >> source >> point;
    if (point.rfind(dir + "/", 0) == 0) points.push_back(point);
  }
  std::sort(points.begin(), points.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& point : points) ::umount2(point.c_str(), MNT_DETACH);
}

void stop_shims(const std::string& socket) {
  for (const pid_t shim : shims_of(socket)) kill_and_wait(shim);
}

pid_t stop_own_containerd(const std::string& dir) {
  const OwnContainerd own{dir};
  const pid_t supervisor = running_supervisor(own);
  if (supervisor > 0) kill_and_wait(supervisor);
  for (const pid_t orphan : pids_running_containerd(own)) kill_and_wait(orphan);
  stop_shims(own.socket());
  unmount_below(dir);
  return supervisor;
}

}  // namespace omni::drivers
