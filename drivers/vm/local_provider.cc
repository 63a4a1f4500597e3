#include "drivers/vm/local_provider.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "drivers/util/subprocess.h"

namespace omni::drivers {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string out = text.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text << "\n";
}

// One value per line in the spec file: backslashes and newlines are escaped.
std::string escape_line(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string unescape_line(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      out += text[i + 1] == 'n' ? '\n' : text[i + 1];
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

DriverResult ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = run_command(argv, std::chrono::seconds(10));
  if (result.ok()) return ok_result();
  return error_result(DriverStatus::failed, join_argv(argv) + ": " + result.output);
}

std::string spec_text(const VmSpec& spec) {
  std::string text = "cluster=" + spec.identity.cluster + "\nnode=" + spec.identity.node +
                     "\nrole=" + spec.identity.role +
                     "\nslot=" + std::to_string(spec.identity.slot) +
                     "\ncpu_millis=" + std::to_string(spec.cpu_millis) +
                     "\nmemory_bytes=" + std::to_string(spec.memory_bytes) +
                     "\nautostart=" + (spec.autostart ? "1" : "0");
  for (const auto& arg : spec.boot.init_args) text += "\ninit=" + escape_line(arg);
  for (const auto& [key, value] : spec.labels) text += "\nlabel." + key + "=" + escape_line(value);
  return text;
}

std::vector<std::string> init_args_of(const std::string& dir) {
  std::vector<std::string> args;
  std::ifstream in(dir + "/spec");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("init=", 0) == 0) args.push_back(unescape_line(line.substr(5)));
  }
  return args;
}

// A VM's own files, with their modes, under `dir` (0700): what a real VM finds in /etc/omni.
DriverResult write_files(const std::string& dir, const std::vector<VmFile>& files) {
  for (const auto& file : files) {
    const fs::path path = fs::path(dir) / file.path;
    std::error_code error;
    fs::create_directories(path.parent_path(), error);
    fs::permissions(dir, fs::perms::owner_all, error);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, file.mode);
    const bool written = fd >= 0 && ::write(fd, file.content.data(), file.content.size()) ==
                                        static_cast<ssize_t>(file.content.size());
    if (fd >= 0) ::close(fd);
    if (!written)
      return error_result(DriverStatus::failed,
                          "cannot write " + path.string() + ": " + std::strerror(errno));
  }
  return ok_result();
}

HostCapacity machine_capacity() {
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page_bytes = ::sysconf(_SC_PAGE_SIZE);
  return HostCapacity{static_cast<std::int64_t>(cpus) * 1000,
                      static_cast<std::int64_t>(pages) * page_bytes};
}

}  // namespace

LocalProvider::StateLock::StateLock(const std::string& path) : path_(path) {}

LocalProvider::StateLock::~StateLock() {
  if (fd_ >= 0) ::close(fd_);
}

void LocalProvider::StateLock::lock() {
  mutex_.lock();
  if (depth_++ > 0) return;
  if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  // Without the file (a read-only state directory) changes still fail on their own.
  while (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
  }
}

void LocalProvider::StateLock::unlock() {
  if (--depth_ == 0 && fd_ >= 0) ::flock(fd_, LOCK_UN);
  mutex_.unlock();
}

LocalProvider::LocalProvider(LocalOptions options)
    : options_(std::move(options)), isolated_(::geteuid() == 0), cgroups_(options_.cgroup_root) {
  if (options_.capacity.cpu_millis == 0) options_.capacity = machine_capacity();
  std::error_code ignored;
  fs::create_directories(options_.state_dir, ignored);
  state_lock_ = std::make_unique<StateLock>(options_.state_dir + "/.lock");
}

LocalProvider::~LocalProvider() {
  std::map<std::string, std::thread> waiters;
  {
    std::lock_guard lock(mutex_);
    waiters.swap(waiters_);
  }
  // Sandboxes outlive the provider (a restarted provider finds them); only threads end here,
  // and none of them touches this provider from now on.
  {
    std::lock_guard lock(lifetime_->mutex);
    lifetime_->alive = false;
  }
  for (auto& [name, thread] : waiters) thread.detach();
}

std::string LocalProvider::veth_name(const std::string& vm_name) {
  std::uint32_t hash = 2166136261u;  // FNV-1a: short, stable across runs and machines
  for (unsigned char c : vm_name) hash = (hash ^ c) * 16777619u;
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "omv-%08x", hash);
  return buffer;
}

std::string LocalProvider::console_path(const std::string& name) const {
  return dir_of(name) + "/console.log";
}

Outcome<HostCapacity> LocalProvider::capacity() {
  return success(options_.capacity);
}

Outcome<VmInfo> LocalProvider::read_vm(const std::string& name) {
  std::string dir = dir_of(name);
  std::ifstream in(dir + "/spec");
  if (!in) return failure<VmInfo>(DriverStatus::not_found, "no sandbox " + name);
  VmInfo info;
  info.name = name;
  std::map<std::string, std::string> fields;
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key.rfind("label.", 0) == 0)
      info.labels[key.substr(6)] = unescape_line(value);
    else
      fields[key] = value;
  }
  info.identity = {fields["cluster"], fields["node"], fields["role"],
                   std::atoi(fields["slot"].c_str())};
  info.cpu_millis = std::atoll(fields["cpu_millis"].c_str());
  info.memory_bytes = std::atoll(fields["memory_bytes"].c_str());
  info.autostart = fields["autostart"] == "1";
  info.address = read_text(dir + "/address");
  pid_t pid = static_cast<pid_t>(std::atoi(read_text(dir + "/pid").c_str()));
  info.state = process_alive(pid) ? VmState::running : VmState::defined;
  return success(std::move(info));
}

DriverResult LocalProvider::prepare_network() {
  if (!isolated_) return ok_result();
  std::lock_guard lock(mutex_);
  return ensure_bridge();
}

Outcome<std::vector<std::string>> LocalProvider::start_autostart(const std::string& cluster,
                                                                 const std::string& node) {
  auto listed = list();
  if (!listed.ok()) return failure<std::vector<std::string>>(listed.result);
  std::vector<std::string> started;
  for (const auto& vm : listed.value) {
    if (!vm.autostart || vm.state == VmState::running) continue;
    if ((!cluster.empty() && vm.identity.cluster != cluster) ||
        (!node.empty() && vm.identity.node != node))
      continue;
    if (DriverResult result = start(vm.name); !is_ok(result))
      return failure<std::vector<std::string>>(result);
    started.push_back(vm.name);
  }
  return success(std::move(started));
}

Outcome<std::vector<VmInfo>> LocalProvider::list() {
  std::vector<VmInfo> vms;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(options_.state_dir, error)) {
    std::string name = entry.path().filename().string();
    VmIdentity ignored;
    if (!parse_vm_name(name, ignored)) continue;
    auto vm = read_vm(name);
    if (vm.ok()) vms.push_back(std::move(vm.value));
  }
  std::sort(vms.begin(), vms.end(),
            [](const VmInfo& a, const VmInfo& b) { return a.name < b.name; });
  return success(std::move(vms));
}

Outcome<VmInfo> LocalProvider::inspect(const std::string& name) {
  return read_vm(name);
}

DriverResult LocalProvider::admit(const VmSpec& spec) {
  HostCapacity used;
  for (const auto& vm : list().value) {
    if (vm.identity.cluster != spec.identity.cluster || vm.identity.node != spec.identity.node)
      continue;
    used.cpu_millis += vm.cpu_millis;
    used.memory_bytes += vm.memory_bytes;
  }
  const auto& host = options_.capacity;
  std::string name = vm_name(spec.identity);
  if (used.memory_bytes + spec.memory_bytes > host.memory_bytes) {
    return error_result(DriverStatus::no_capacity,
                        "not enough memory for sandbox " + name + ": it needs " +
                            std::to_string(spec.memory_bytes) + " bytes, the node has " +
                            std::to_string(host.memory_bytes) + " of which sandboxes use " +
                            std::to_string(used.memory_bytes));
  }
  if (used.cpu_millis + spec.cpu_millis > host.cpu_millis) {
    return error_result(DriverStatus::no_capacity,
                        "not enough CPU for sandbox " + name + ": it needs " +
                            std::to_string(spec.cpu_millis) + " millis, the node has " +
                            std::to_string(host.cpu_millis) + " of which sandboxes use " +
                            std::to_string(used.cpu_millis));
  }
  return ok_result();
}

// The spec's address when it asks for one (inside the subnet, not another sandbox's), or the
// lowest free one.
Outcome<std::string> LocalProvider::address_for(const VmSpec& spec) {
  if (!isolated_) return success(std::string("127.0.0.1"));
  std::set<std::string> taken;
  for (const auto& vm : list().value) taken.insert(vm.address);
  const std::string subnet = options_.subnet_prefix + ".0/24";
  if (!spec.address.empty()) {
    const std::string prefix = options_.subnet_prefix + ".";
    const std::string host =
        spec.address.rfind(prefix, 0) == 0 ? spec.address.substr(prefix.size()) : std::string();
    const int number =
        host.empty() || host.size() > 3 || host.find_first_not_of("0123456789") != std::string::npos
            ? 0
            : std::atoi(host.c_str());
    if (number < 2 || number > 254)
      return failure<std::string>(
          DriverStatus::failed,
          "address " + spec.address + " is not a sandbox address of " + subnet + " (.2 to .254)");
    if (taken.count(spec.address))
      return failure<std::string>(DriverStatus::failed,
                                  "address " + spec.address + " belongs to another sandbox");
    return success(spec.address);
  }
  for (int host = 2; host <= 254; ++host) {
    std::string address = options_.subnet_prefix + "." + std::to_string(host);
    if (taken.count(address) == 0) return success(std::move(address));
  }
  return failure<std::string>(DriverStatus::no_capacity, "no free address in " + subnet);
}

DriverResult LocalProvider::ensure_host_handle() {
  if (fs::exists("/run/netns/" + host_handle())) return ok_result();
  if (std::getenv("OMNI_VM_NAME") != nullptr)
    return error_result(DriverStatus::unavailable,
                        "the machine's network namespace handle /run/netns/" + host_handle() +
                            " is missing, and a provider inside a sandbox cannot make it (run "
                            "omni-node boot on the machine)");
  return ip({"netns", "attach", host_handle(), std::to_string(::getpid())});
}

// `ip` in the machine's network namespace, wherever this provider runs.
DriverResult LocalProvider::on_host(std::vector<std::string> args) {
  if (auto r = ensure_host_handle(); !is_ok(r)) return r;
  args.insert(args.begin(), {"-n", host_handle()});
  return ip(args);
}

DriverResult LocalProvider::ensure_bridge() {
  std::string bridge = bridge_name();
  if (auto r = ensure_host_handle(); !is_ok(r)) return r;
  if (host_has_link(bridge)) return ok_result();
  if (auto r = on_host({"link", "add", bridge, "type", "bridge"}); !is_ok(r)) return r;
  if (auto r = on_host({"addr", "add", options_.subnet_prefix + ".1/24", "dev", bridge});
      !is_ok(r)) {
    on_host({"link", "del", bridge});
    return r;
  }
  return on_host({"link", "set", bridge, "up"});
}

// Asked of the machine's namespace, not this process's: a provider inside a sandbox sees its own
// /sys/class/net. Without the machine's handle this process is on the machine (a provider in a
// sandbox cannot run without it), and asking must not attach one.
bool LocalProvider::host_has_link(const std::string& link) {
  if (!fs::exists("/run/netns/" + host_handle())) return fs::exists("/sys/class/net/" + link);
  return is_ok(ip({"-n", host_handle(), "link", "show", link}));
}

// A sandbox's links are named after it, so one found on the machine is a leftover of the same
// sandbox: its namespace was deleted while a process still held it, or the kernel has not yet
// finished tearing it down (namespace cleanup is asynchronous, so right after a power loss is
// emulated by deleting namespaces the links may still be there).
void LocalProvider::remove_host_links(const std::string& name) {
  const std::string veth = veth_name(name);
  for (const std::string& link : {veth, veth + "p"})
    if (host_has_link(link)) on_host({"link", "del", link});
}

DriverResult LocalProvider::make_network(const std::string& name, const std::string& address) {
  std::string ns = name, veth = veth_name(name), peer = veth + "p";
  if (auto r = ensure_bridge(); !is_ok(r)) return r;
  remove_host_links(name);
  const std::string host = host_handle();
  std::vector<std::vector<std::string>> steps = {
      {"netns", "add", ns},
      {"-n", host, "link", "add", veth, "type", "veth", "peer", "name", peer},
      {"-n", host, "link", "set", peer, "netns", ns},
      {"-n", ns, "link", "set", peer, "name", "eth0"},
      {"-n", ns, "addr", "add", address + "/24", "dev", "eth0"},
      {"-n", ns, "link", "set", "eth0", "up"},
      {"-n", ns, "link", "set", "lo", "up"},
      {"-n", ns, "route", "add", "default", "via", options_.subnet_prefix + ".1"},
      {"-n", host, "link", "set", veth, "master", bridge_name()},
      {"-n", host, "link", "set", veth, "up"},
  };
  for (const auto& step : steps) {
    if (auto r = ip(step); !is_ok(r)) {
      remove_network(name);
      return r;
    }
  }
  return ok_result();
}

// Deleting the namespace deletes eth0 and with it its host-side peer; the explicit link delete
// covers a failure half-way through create. The bridge goes with the last sandbox.
void LocalProvider::remove_network(const std::string& name) {
  if (!isolated_) return;
  remove_host_links(name);
  if (fs::exists("/run/netns/" + name)) ip({"netns", "del", name});
}

DriverResult LocalProvider::create(const VmSpec& spec) {
  std::lock_guard across_processes(*state_lock_);
  if (auto invalid = validate_identity(spec.identity); !invalid.empty()) {
    return error_result(DriverStatus::failed, "invalid VM identity: " + invalid);
  }
  std::lock_guard lock(mutex_);
  std::string name = vm_name(spec.identity);
  if (fs::exists(dir_of(name) + "/spec"))
    return error_result(DriverStatus::already_exists, "sandbox " + name + " already exists");
  // No spec: a create cut short (its process killed) left this; under the state lock nobody
  // else is making it, so it is taken down and made again.
  if (isolated_) remove_network(name);
  std::error_code ignored;
  fs::remove_all(dir_of(name), ignored);
  for (const auto& file : spec.boot.files)
    if (auto invalid = validate_vm_file(file); !invalid.empty())
      return error_result(DriverStatus::failed, "VM " + name + ": " + invalid);
  if (auto admitted = admit(spec); !is_ok(admitted)) return admitted;
  auto allocated = address_for(spec);
  if (!allocated.ok()) return allocated.result;
  const std::string& address = allocated.value;
  if (isolated_) {
    if (auto made = make_network(name, address); !is_ok(made)) return made;
  }
  std::error_code error;
  fs::create_directories(dir_of(name), error);
  VmSpec recorded = spec;
  if (recorded.boot.init_args.empty()) recorded.boot.init_args = options_.default_init_args;
  write_text(dir_of(name) + "/address", address);
  if (auto written = write_files(files_dir_of(name), spec.boot.files); !is_ok(written)) {
    if (isolated_) remove_network(name);
    fs::remove_all(dir_of(name), error);
    return written;
  }
  write_text(dir_of(name) + "/spec", spec_text(recorded));  // last: its presence means "exists"
  if (!isolated_) {
    return ok_result("not root: sandbox " + name +
                     " is a plain process on loopback, without its own network namespace");
  }
  return ok_result();
}

// Limits are joined by the init process itself before exec. Where no cgroup hierarchy can
// take them the sandbox still starts, and the result says its limits are not enforced.
std::string LocalProvider::limit_resources(const std::string& name, const VmInfo& vm,
                                           SpawnOptions& spawn) {
  auto made = cgroups_.create(cgroup_group(), name, {vm.cpu_millis, vm.memory_bytes});
  if (!made.ok()) return "limits of " + name + " are not enforced: " + made.result.message;
  spawn.cgroup_procs_files = std::move(made.value);
  // A sandbox started from a container (the leader's, bringing a Director back) must not stay
  // in the container's other cgroups: runc kills what is in them when the container goes.
  spawn.leave_cgroup_procs_files = cgroups_.other_v1_roots();
  // A containerd outside the sandbox nests the sandbox's containers here, in every hierarchy.
  spawn.env.push_back("OMNI_VM_CGROUP=" + cgroup_group() + "/" + name);
  return {};
}

void LocalProvider::remove_cgroup(const std::string& name) {
  cgroups_.remove(cgroup_group(), name);
}

DriverResult LocalProvider::start(const std::string& name) {
  std::lock_guard across_processes(*state_lock_);
  std::lock_guard lock(mutex_);
  auto vm = read_vm(name);
  if (!vm.ok()) return vm.result;
  if (vm.value.state == VmState::running) return ok_result("already running");
  // After a power loss /run is empty: the sandbox's namespace and links are made again, with
  // its address, before its init starts.
  if (isolated_ && !fs::exists("/run/netns/" + name))
    if (auto made = make_network(name, vm.value.address); !is_ok(made)) return made;
  SpawnOptions spawn;
  spawn.log_path = console_path(name);
  if (isolated_) spawn.netns_path = "/run/netns/" + name;
  spawn.env = {"OMNI_VM_NAME=" + name, "OMNI_VM_ADDRESS=" + vm.value.address,
               "OMNI_VM_FILES=" + files_dir_of(name)};
  if (isolated_) spawn.env.push_back("OMNI_VM_NETNS=/run/netns/" + name);
  const std::string note = limit_resources(name, vm.value, spawn);
  {
    std::lock_guard stop_lock(stop_mutex_);
    stopping_.erase(name);  // left by a stop of an init that was not our child
  }
  std::string error;
  pid_t pid = spawn_process(init_args_of(dir_of(name)), spawn, error);
  if (pid < 0) {
    remove_cgroup(name);
    return error_result(DriverStatus::failed, "cannot start sandbox " + name + ": " + error);
  }
  write_text(dir_of(name) + "/pid", std::to_string(pid));
  auto& waiter = waiters_[name];
  if (waiter.joinable()) waiter.detach();
  waiter = std::thread([this, lifetime = lifetime_, name, pid] {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::lock_guard alive(lifetime->mutex);
    if (lifetime->alive) on_init_ended(name, pid, status);
  });
  events_.push(VmEvent{VmEventKind::started, name, "init pid " + std::to_string(pid)});
  return ok_result(note);
}

// An init that ends without a stop() is a crash unless it exited 0: a SIGKILL nobody asked
// for is, typically, the kernel's OOM killer enforcing the sandbox's memory limit.
void LocalProvider::on_init_ended(const std::string& name, pid_t pid, int status) {
  bool asked_to_stop = false;
  {
    std::lock_guard lock(stop_mutex_);
    asked_to_stop = stopping_.erase(name) > 0;
  }
  // A VM whose init ended runs nothing more: what the init started (an Agent's containers, in
  // their own sessions) goes with it, as it would with a powered-off machine.
  cgroups_.kill_all(cgroup_group(), name);
  const bool clean = asked_to_stop || (WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string detail = "init pid " + std::to_string(pid);
  if (WIFEXITED(status)) detail += " exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) detail += " killed by signal " + std::to_string(WTERMSIG(status));
  events_.push(VmEvent{clean ? VmEventKind::stopped : VmEventKind::crashed, name, detail});
}

DriverResult LocalProvider::stop(const std::string& name, bool force) {
  std::lock_guard across_processes(*state_lock_);
  std::thread waiter;
  {
    std::lock_guard lock(mutex_);
    auto vm = read_vm(name);
    if (!vm.ok()) return vm.result;
    if (vm.value.state != VmState::running) return ok_result("not running");
    pid_t pid = static_cast<pid_t>(std::atoi(read_text(dir_of(name) + "/pid").c_str()));
    {
      std::lock_guard stop_lock(stop_mutex_);
      stopping_.insert(name);
    }
    ::kill(-pid, force ? SIGKILL : SIGTERM);
    ::kill(pid, force ? SIGKILL : SIGTERM);
    auto it = waiters_.find(name);
    if (it != waiters_.end()) {
      waiter = std::move(it->second);
      waiters_.erase(it);
    }
  }
  if (waiter.joinable()) waiter.join();  // our child: reaped, its event queued
  return ok_result();
}

DriverResult LocalProvider::destroy(const std::string& name) {
  std::lock_guard across_processes(*state_lock_);
  if (!fs::exists(dir_of(name) + "/spec") && !fs::exists("/run/netns/" + name)) {
    return error_result(DriverStatus::not_found, "no sandbox " + name);
  }
  stop(name, true);
  pid_t pid = static_cast<pid_t>(std::atoi(read_text(dir_of(name) + "/pid").c_str()));
  for (int i = 0; i < 100 && process_alive(pid); ++i) ::usleep(20000);  // not our child
  cgroups_.kill_all(cgroup_group(), name);  // a restarted provider's init is not its child
  std::lock_guard lock(mutex_);
  remove_cgroup(name);
  remove_network(name);
  std::error_code error;
  fs::remove_all(dir_of(name), error);
  events_.push(VmEvent{VmEventKind::destroyed, name, {}});
  bool last = true;
  for (const auto& entry : fs::directory_iterator(options_.state_dir, error)) {
    VmIdentity ignored;
    if (parse_vm_name(entry.path().filename().string(), ignored)) last = false;
  }
  if (last && isolated_ && fs::exists("/sys/class/net/" + bridge_name())) {
    on_host({"link", "del", bridge_name()});
  }
  // The handle goes with the bridge (only from outside a sandbox: one inside cannot remake it).
  if (last && isolated_ && std::getenv("OMNI_VM_NAME") == nullptr &&
      fs::exists("/run/netns/" + host_handle()))
    ip({"netns", "del", host_handle()});
  return ok_result();
}

}  // namespace omni::drivers
