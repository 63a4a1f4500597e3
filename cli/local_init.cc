#include "cli/local_init.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <variant>

#include "cli/admin.h"
#include "cli/app.h"
#include "cli/file_io.h"
#include "drivers/container/containerd_daemon.h"
#include "drivers/container/containerd_driver.h"
#include "drivers/util/subprocess.h"
#include "drivers/util/text_file.h"
#include "drivers/vm/libvirt_driver.h"
#include "drivers/vm/local_provider.h"
#include "model/config/parse.h"
#include "model/core/json.h"
#include "node/durable_log.h"
#include "node/local_site.h"
#include "node/node_config.h"
#include "node/serve.h"

namespace omni::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A path a person gave (too long, unreadable) is an answer, not an exception.
bool exists(const fs::path& path) {
  std::error_code error;
  return fs::exists(path, error);
}

fs::path own_directory() {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path(".") : self.parent_path();
}

// The first of `candidates` that exists (beside this program, in a build tree, installed).
std::string first_existing(const std::vector<fs::path>& candidates) {
  for (const auto& path : candidates) {
    std::error_code error;
    if (fs::is_regular_file(path, error)) return fs::weakly_canonical(path, error).string();
  }
  return {};
}

std::string find_omni_node() {
  const fs::path here = own_directory();
  return first_existing({here / "omni-node", here / ".." / "node" / "omni-node",
                         "/usr/local/bin/omni-node", "/usr/bin/omni-node"});
}

std::string find_initramfs() {
  const fs::path here = own_directory();
  return first_existing({here / "omni-initramfs.cpio.gz", here / ".." / "omni-initramfs.cpio.gz",
                         "/usr/local/lib/omni/omni-initramfs.cpio.gz",
                         "/usr/lib/omni/omni-initramfs.cpio.gz"});
}

std::string newest_kernel() {
  std::vector<std::string> kernels;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/boot", error))
    if (entry.path().filename().string().rfind("vmlinuz-", 0) == 0)
      kernels.push_back(entry.path().string());
  std::sort(kernels.begin(), kernels.end());
  return kernels.empty() ? std::string() : kernels.back();
}

std::string find_image_tar() {
  const fs::path here = own_directory();
  return first_existing({here / "omni-image.tar", here / ".." / "omni-image.tar",
                         "/usr/local/lib/omni/omni-image.tar", "/usr/lib/omni/omni-image.tar"});
}

// Held for as long as this process initializes (or resets) the cluster; the kernel lets go of
// it when the process ends, however it ends.
class SiteLock {
 public:
  explicit SiteLock(const std::string& dir) {
    std::error_code ignored;
    fs::create_directories(dir, ignored);
    path_ = dir + "/init.lock";
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    held_ = fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
    // Who holds it, for the message a second init prints; the lock itself is the flock.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (held_ && ::ftruncate(fd_, 0) == 0) {
      [[maybe_unused]] const auto written = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
  }
  ~SiteLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  SiteLock(const SiteLock&) = delete;
  SiteLock& operator=(const SiteLock&) = delete;
  bool held() const { return held_; }
  std::string holder() const {
    std::ifstream in(path_);
    std::string pid;
    in >> pid;
    return pid;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool held_ = false;
};

// kubeadm's way: one line per phase and step, a phase's time when it ends.
class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool json) : out_(out), json_(json) {}

  void print(const v1::Progress& p) {
    const auto now = Clock::now();
    if (p.phase() != phase_) {
      if (!phase_.empty()) {
        if (!json_) out_ << "[" << phase_ << "] done (" << seconds(now) << ")\n";
        phase_started_ = now;  // the first phase's time runs from the printer's start
      }
      phase_ = p.phase();
    }
    last_ = p;
    if (json_) {
      out_ << "{\"phase\":" << json_quote(p.phase()) << ",\"detail\":" << json_quote(p.detail())
           << ",\"failed\":" << (p.failed() ? "true" : "false")
           << ",\"done\":" << (p.done() ? "true" : "false")
           << ",\"seconds\":" << std::chrono::duration<double>(now - started_).count() << "}\n";
    } else if (!p.detail().empty()) {
      out_ << "[" << p.phase() << "] " << (p.failed() ? "FAILED: " : "") << p.detail() << "\n";
    }
    out_.flush();
  }

  const v1::Progress& last() const { return last_; }
  std::string total() const { return seconds(Clock::now(), started_); }

 private:
  std::string seconds(Clock::time_point now) const { return seconds(now, phase_started_); }
  static std::string seconds(Clock::time_point now, Clock::time_point since) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(now - since).count());
    return text;
  }

  std::ostream& out_;
  bool json_;
  std::string phase_;
  Clock::time_point started_ = Clock::now();
  Clock::time_point phase_started_ = started_;
  v1::Progress last_;
};

std::string copy_file(const fs::path& from, const fs::path& to, fs::perms perms) {
  std::error_code error;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, error);
  if (!error) fs::permissions(to, perms, error);
  return error ? "cannot copy " + from.string() + " to " + to.string() + ": " + error.message()
               : std::string();
}

// ~/.omni/CLUSTER: what `omni status` and a person need to reach the cluster as its admin.
std::string write_credentials(const node::LocalSite& site, const root::Plan& plan,
                              const std::string& home) {
  const fs::path dir = fs::path(home) / ".omni" / plan.cluster;
  std::error_code error;
  fs::create_directories(dir, error);
  fs::permissions(dir, fs::perms::owner_all, error);
  const fs::path pki = fs::path(site.dir) / "pki";
  const auto owner_rw = fs::perms::owner_read | fs::perms::owner_write;
  std::string problem = copy_file(pki / "ca.crt", dir / "ca.crt",
                                  owner_rw | fs::perms::group_read | fs::perms::others_read);
  if (problem.empty())
    problem = copy_file(pki / "admin.crt", dir / "admin.crt",
                        owner_rw | fs::perms::group_read | fs::perms::others_read);
  if (problem.empty()) problem = copy_file(pki / "admin.key", dir / "admin.key", owner_rw);
  if (problem.empty())
    problem = copy_file(fs::path(site.dir) / "dashboard.token", dir / "dashboard.token", owner_rw);
  if (!problem.empty()) return problem;
  const auto book = node::peer_book(plan, site.subnet);
  std::ostringstream out;
  out << "cluster: " << plan.cluster << "\nsite: " << site.dir
      << "\nadmin_listen: " << book.at("admin") << "\norchestrators:\n";
  for (const auto& replica : plan.replicas) {
    const std::string identity = "orchestrator:" + std::to_string(replica.replica);
    out << "  " << identity << ": " << book.at(identity) << "\n";
  }
  const fs::path endpoints = dir / "endpoints.yaml";
  if (const auto failed = node::write_file_durably(endpoints.string(), out.str(), 0644))
    return "cannot write " + endpoints.string() + ": " + failed->message;
  return {};
}

// The site `omni init` recorded with the cluster's credentials (endpoints.yaml's `site:`), empty
// when there are none (no credentials, or written before sites were recorded): reset finds a
// cluster made with --state-dir without being told. `damaged` says why an endpoints.yaml that
// is there cannot be read; then nobody knows where the cluster lives.
struct RecordedSite {
  std::string dir;
  std::string damaged;
};

RecordedSite recorded_site(const fs::path& credentials) {
  const fs::path endpoints = credentials / "endpoints.yaml";
  std::error_code error;
  if (!fs::exists(endpoints, error)) return {};
  const drivers::TextFile file = drivers::read_regular_file(endpoints.string());
  if (!file.error.empty()) return {{}, endpoints.string() + ": " + file.error};
  try {
    const YAML::Node site = YAML::Load(file.text)["site"];
    if (site && !site.IsScalar()) return {{}, endpoints.string() + ": site: is not a path"};
    return {site ? site.Scalar() : std::string(), {}};
  } catch (const YAML::Exception& e) {
    return {{}, endpoints.string() + ": " + e.msg};
  }
}

bool has_site(const std::string& dir) {
  std::error_code error;
  return fs::is_regular_file(dir + "/site.yaml", error);
}

// Where libvirt VMs boot from: the kernel and Omni's initramfs, both required.
std::string prepare_libvirt_boot(const LocalInitOptions& options, node::LocalSite& site) {
  site.kernel = options.kernel.empty() ? newest_kernel() : options.kernel;
  site.initramfs = options.initramfs.empty() ? find_initramfs() : options.initramfs;
  if (site.kernel.empty() || !exists(site.kernel))
    return "libvirt VMs boot a Linux kernel: none in /boot (apt install linux-image-amd64), or "
           "say which with --kernel";
  if (site.initramfs.empty() || !exists(site.initramfs))
    return "libvirt VMs boot Omni's initramfs: cannot find omni-initramfs.cpio.gz beside omni; "
           "build it (cmake --build BUILD --target omni_initramfs) or say where with --initramfs";
  site.kernel = fs::absolute(site.kernel).string();
  site.initramfs = fs::absolute(site.initramfs).string();
  return {};
}

std::string site_dir_of(const LocalInitOptions& options, const root::Plan& plan) {
  return options.site_dir.empty() ? default_site_dir(plan.cluster) : options.site_dir;
}

// Why `dir` cannot be a site, or empty: init fills it (and makes it 0700) and omni reset removes
// it whole, so a directory that holds anything init did not put there is refused. An init into
// --state-dir /srv made /srv 0700, and a reset deleted everything in it.
std::string not_a_site(const std::string& dir) {
  std::error_code error;
  if (!fs::exists(dir, error)) return {};
  if (!fs::is_directory(dir, error)) return dir + " is not a directory";
  // A site, or the start of one (an init stopped before it wrote site.yaml).
  if (has_site(dir) || fs::exists(fs::path(dir) / "init.lock", error)) return {};
  if (fs::directory_iterator(dir, error) == fs::directory_iterator()) return {};  // empty
  return dir + " holds files that are not an omni site: init would fill it and omni reset " +
         "would remove it whole; give --state-dir a new or empty directory";
}

// Why the site this init would use cannot be this cluster's (a --state-dir that names another
// cluster's site, or a directory that is no site), or empty.
std::string other_clusters_site(const LocalInitOptions& options, const root::Plan& plan) {
  const std::string dir = site_dir_of(options, plan);
  if (std::string problem = not_a_site(dir); !problem.empty()) return problem;
  node::LocalSite site;
  if (!has_site(dir) || !node::read_local_site(dir, site).empty()) return {};
  if (site.cluster.empty() || site.cluster == plan.cluster) return {};
  return dir + " is the site of cluster " + site.cluster + ", not " + plan.cluster +
         ": give this cluster another --state-dir (or remove that one: omni reset --cluster " +
         site.cluster + " --state-dir " + dir + " --yes)";
}

// The site a previous init chose (its subnet and id stay), or a new one.
std::string prepare_site(const LocalInitOptions& options, const root::Plan& plan,
                         const std::string& hypervisor, node::LocalSite& site) {
  const std::string dir = site_dir_of(options, plan);
  if (has_site(dir)) {
    if (std::string problem = node::read_local_site(dir, site); !problem.empty()) return problem;
    // Refused before (bad input); here only if another init wrote it since.
    if (!site.cluster.empty() && site.cluster != plan.cluster)
      return dir + " became the site of cluster " + site.cluster + " meanwhile";
  } else {
    site = node::site_in(fs::absolute(dir).lexically_normal().string());
    site.runtime.clear();  // a new site's: prepare_container_runtime chooses it
  }
  site.dir = fs::absolute(dir).lexically_normal().string();
  site.cluster = plan.cluster;
  site.omni_node = options.omni_node.empty() ? find_omni_node() : options.omni_node;
  site.image_tar = options.image_tar.empty() ? find_image_tar() : options.image_tar;
  if (site.image.empty()) site.image = node::kOmniImage;
  if (site.omni_node.empty() || !exists(site.omni_node))
    return "cannot find omni-node (beside omni, or in /usr/local/bin); say where with --omni-node";
  if (site.image_tar.empty() || !exists(site.image_tar))
    return "cannot find Omni's image omni-image.tar (beside omni, or in /usr/local/lib/omni); say "
           "where with --image";
  if (has_site(dir) && site.hypervisor != hypervisor)
    return "this cluster's VMs were made through " + site.hypervisor +
           " (its first init); an init cannot move them to " + hypervisor + ": omni reset it first";
  site.hypervisor = hypervisor;
  return node::on_libvirt(site) ? prepare_libvirt_boot(options, site) : std::string();
}

bool installed(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

// A new site's container runtime (LocalInitOptions::container_runtime): containerd, the
// machine's when one answers, else Omni's own; plain processes when containerd is not installed
// or not wanted. Empty, or why it cannot.
std::string choose_container_runtime(const std::string& wanted, node::LocalSite& site,
                                     std::string& said) {
  const bool installed_both = installed("containerd") && installed("runc");
  if (wanted == "containerd" && !installed_both)
    return "--container-runtime containerd: containerd and runc must be installed (apt install "
           "containerd runc)";
  if (wanted == "process" || !installed_both) {
    site.runtime = "process";
    said = wanted == "process" ? "the Agents run containers as plain processes"
                               : "containerd is not installed: the Agents run containers as plain "
                                 "processes (apt install containerd runc to use containerd)";
    return {};
  }
  site.runtime = "containerd";
  if (drivers::containerd_answers(drivers::kSystemContainerdSocket)) {
    site.containerd = "system";
    site.containerd_socket = drivers::kSystemContainerdSocket;
  } else {
    site.containerd = "own";
    site.containerd_socket = drivers::OwnContainerd{node::own_containerd_dir(site)}.socket();
  }
  return {};
}

// The containerd the site chose, answering: the machine's, or Omni's own, started when it does
// not run. Empty, or why it cannot.
std::string ready_containerd(const node::LocalSite& site, std::string& said) {
  if (site.containerd == "system") {
    if (!drivers::containerd_answers(site.containerd_socket))
      return "this machine's containerd at " + site.containerd_socket +
             " does not answer; start it (systemctl start containerd) and run omni init again";
    said = "using this machine's containerd at " + site.containerd_socket + ", namespace omni";
    return {};
  }
  std::string error;
  const pid_t pid =
      drivers::start_own_containerd(site.omni_node, node::own_containerd_dir(site), error);
  if (pid < 0) return "cannot start Omni's own containerd: " + error;
  said = (pid > 0 ? "no containerd runs on this machine: started Omni's own (supervisor pid " +
                        std::to_string(pid) + "), socket "
                  : "Omni's own containerd runs, socket ") +
         site.containerd_socket + "; omni reset stops it";
  return {};
}

// The site's containerd, as the CLI reaches it: every container of namespace omni (no scope).
drivers::Outcome<std::unique_ptr<drivers::ContainerdDriver>> connect_containerd(
    const node::LocalSite& site) {
  drivers::ContainerdOptions options;
  options.socket_path = site.containerd_socket;
  options.log_dir = site.dir + "/local";  // the containers' logs are in their VMs' disks
  return drivers::ContainerdDriver::connect(options);
}

// Omni's image in the containerd, imported once here rather than by every Agent at the same
// moment (each would write the whole image). Empty, or why it cannot.
std::string import_omni_image(const node::LocalSite& site) {
  auto connected = connect_containerd(site);
  if (!connected.ok()) return connected.result.message;
  const auto images = connected.value->list_images();
  if (images.ok() &&
      std::find(images.value.begin(), images.value.end(), site.image) != images.value.end())
    return {};
  const auto imported = connected.value->import_image(site.image, site.image_tar);
  return drivers::is_ok(imported) ? std::string() : imported.message;
}

// The Agents' container runtime, ready. A resumed init keeps the first init's choice.
std::string prepare_container_runtime(const std::string& wanted, node::LocalSite& site,
                                      std::string& said) {
  if (site.runtime.empty()) {
    if (std::string problem = choose_container_runtime(wanted, site, said); !problem.empty())
      return problem;
  } else if (wanted != "auto" && wanted != site.runtime) {
    return "this cluster's Agents run containers with " + site.runtime +
           " (its first init chose it); an init cannot change it to " + wanted;
  }
  if (site.runtime != "containerd") return {};
  if (std::string problem = ready_containerd(site, said); !problem.empty()) return problem;
  if (std::string problem = import_omni_image(site); !problem.empty())
    return "cannot import Omni's image " + site.image_tar + " into containerd: " + problem;
  said += "; Omni's image " + site.image + " is in it";
  return {};
}

// Every node's hypervisor: one machine runs them all, so they share one ("local" or a libvirt
// URI on this machine). Empty, or why this config cannot be made here.
std::string hypervisor_of(const config::ClusterConfig& config, std::string& hypervisor) {
  hypervisor = config.nodes.empty() ? "local" : config.nodes.front().hypervisor;
  for (const auto& node : config.nodes)
    if (node.hypervisor != hypervisor)
      return node.where.file + ":" + std::to_string(node.where.line) + ": node " + node.name +
             ": hypervisor " + node.hypervisor +
             ": omni init makes a cluster on this machine, "
             "so every node names the same hypervisor (here " +
             hypervisor + ")";
  // Any subnet tells whether the VMs could reach it: the Directors make their workers from there.
  if (hypervisor != "local" && node::libvirt_uri_from_vms(hypervisor, "10.0.0").empty())
    return "hypervisor " + hypervisor +
           ": omni init makes libvirt VMs through a QEMU libvirtd on this machine "
           "(qemu:///system, or qemu+tcp://127.0.0.1/system), which its Directors reach over TCP "
           "from their VMs";
  return {};
}

// The bridge the VMs' NICs join, with the host's address on it (libvirt: the local provider
// makes its own). Empty, or why it cannot.
std::string ensure_bridge(const node::LocalSite& site) {
  const std::string bridge = node::bridge_of(site);
  if (fs::exists("/sys/class/net/" + bridge)) return {};
  const std::vector<std::vector<std::string>> steps{
      {"ip", "link", "add", bridge, "type", "bridge"},
      {"ip", "addr", "add", site.subnet + ".1/24", "dev", bridge},
      {"ip", "link", "set", bridge, "up"}};
  for (const auto& step : steps) {
    const auto ran = drivers::run_command(step, std::chrono::seconds(10));
    if (ran.exit_code != 0) {
      drivers::run_command({"ip", "link", "del", bridge}, std::chrono::seconds(10));
      return "cannot make the bridge " + bridge + ": " + ran.output;
    }
  }
  return {};
}

// The libvirtd answers both where this process reaches it and where the Directors' VMs will.
// Empty, or why not, with what to change.
std::string libvirt_answers(const node::LocalSite& site, std::string& said) {
  drivers::LibvirtOptions here;
  here.uri = site.hypervisor;
  auto connected = drivers::LibvirtDriver::connect(here);
  if (!connected.ok()) return connected.result.message;
  const std::string from_vms = node::libvirt_uri_from_vms(site.hypervisor, site.subnet);
  drivers::LibvirtOptions there;
  there.uri = from_vms;
  there.keepalive_count = 1;
  if (auto reached = drivers::LibvirtDriver::connect(there); !reached.ok())
    return "the Directors in their VMs will reach libvirt at " + from_vms +
           ", which does not answer (" + reached.result.message +
           "): libvirtd must listen for TCP on the bridge's address (libvirtd --listen, with "
           "listen_tcp = 1 in libvirtd.conf)";
  said = "VMs are libvirt domains through " + site.hypervisor + " (" +
         (connected.value->domain_type() == "kvm" ? "KVM" : "QEMU without KVM") + "), booting " +
         site.kernel + " with Omni's initramfs; Directors reach it at " + from_vms;
  return {};
}

// Libvirt VMs: the bridge, a libvirtd that answers from here and from the VMs; their Agents
// run containers as plain processes (the initramfs has no containerd).
std::string prepare_libvirt(const std::string& wanted_runtime, node::LocalSite& site,
                            std::string& said) {
  if (wanted_runtime == "containerd")
    return "--container-runtime containerd: the Agents in libvirt VMs run containers as plain "
           "processes (Omni's initramfs has no containerd)";
  site.runtime = "process";
  if (std::string problem = ensure_bridge(site); !problem.empty()) return problem;
  return libvirt_answers(site, said);
}

// The sandboxes (name -> role) the plan of the site's copy of its config makes; none when the
// copy cannot be read. Names, not a prefix: a cluster name may hold '-', so "omni-a-" begins the
// sandboxes of cluster "a-b" too.
std::map<std::string, std::string> planned_sandboxes(const std::string& site_dir) {
  std::map<std::string, std::string> planned;
  const auto text = read_text_file(site_dir + "/cluster.yaml");
  if (std::holds_alternative<config::Diagnostic>(text)) return planned;
  const auto parsed = config::parse_cluster_config(std::get<std::string>(text), "cluster.yaml");
  if (!parsed.config) return planned;
  const auto made = root::make_plan(*parsed.config);
  const auto* plan = std::get_if<root::Plan>(&made);
  if (!plan) return planned;
  for (const auto& vm : plan->vms) {
    const bool director = vm.role == root::VmRole::director;
    const drivers::VmIdentity identity{plan->cluster, vm.node, director ? "director" : "worker",
                                       vm.index};
    planned[drivers::vm_name(identity)] = identity.role;
  }
  return planned;
}

// The cluster's sandboxes (name -> role): those with state, and the network namespaces of
// creates that were cut short before they wrote any, of the names its plan makes. Matched by
// the cluster a name seems to hold, the namespaces of cluster "a-b" were cluster "a"'s, and a
// reset of "a" cut a running "a-b" off its network.
std::map<std::string, std::string> sandboxes_of(drivers::LocalProvider& provider,
                                                const std::string& cluster,
                                                const std::map<std::string, std::string>& planned) {
  std::map<std::string, std::string> found;
  for (const auto& vm : provider.list().value)
    if (vm.identity.cluster == cluster) found[vm.name] = vm.identity.role;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/run/netns", error)) {
    const std::string name = entry.path().filename().string();
    if (const auto role = planned.find(name); role != planned.end())
      found.emplace(name, role->second);
  }
  return found;
}

// What the cluster put in containerd: its containers (their ids are SANDBOX.NAME, of its
// sandboxes' names) and, from the machine's containerd, Omni's image once no container uses it.
// Omni's own containerd is stopped; its directory goes with the site. Empty, or why it cannot.
std::string remove_from_containerd(const node::LocalSite& site,
                                   const std::map<std::string, std::string>& sandboxes,
                                   std::ostream& out) {
  if (site.runtime != "containerd") return {};
  auto connected = connect_containerd(site);
  if (connected.ok()) {
    auto& containerd = *connected.value;
    int removed = 0;
    bool image_in_use = false;
    for (const auto& container : containerd.list().value) {
      const std::string sandbox = container.name.substr(0, container.name.find('.'));
      if (sandbox == container.name || !sandboxes.count(sandbox)) {
        image_in_use = image_in_use || container.image == site.image;
        continue;
      }
      if (const auto gone = containerd.remove(container.name); !drivers::is_ok(gone))
        return "cannot remove container " + container.name + " from containerd: " + gone.message;
      ++removed;
    }
    if (removed > 0) out << "removed " << removed << " containers from containerd\n";
    if (site.containerd == "system" && !image_in_use &&
        drivers::is_ok(containerd.remove_image(site.image)))
      out << "removed image " << site.image << " from containerd\n";
  } else if (site.containerd == "system") {
    return "this machine's containerd does not answer (" + connected.result.message +
           "); the cluster's containers in it are left: run omni reset again once it answers";
  }
  if (site.containerd == "own") {
    const pid_t pid = drivers::stop_own_containerd(node::own_containerd_dir(site));
    if (pid > 0) out << "stopped Omni's own containerd (supervisor pid " << pid << ")\n";
  }
  return {};
}

// The cluster's libvirt domains, Directors first (one left running would make again the workers
// removed before it). Empty, or why they cannot all go.
std::string remove_domains(const node::LocalSite& site, const std::string& cluster,
                           std::ostream& out, int& removed) {
  drivers::LibvirtOptions options;
  options.uri = site.hypervisor;
  options.state_dir = node::libvirt_dir(site);
  auto connected = drivers::LibvirtDriver::connect(options);
  if (!connected.ok())
    return "cannot reach libvirt to remove the cluster's VMs: " + connected.result.message;
  const auto listed = connected.value->list();
  if (!listed.ok()) return listed.result.message;
  std::vector<std::string> order;
  for (const auto& vm : listed.value)
    if (vm.identity.cluster == cluster && vm.identity.role == "director") order.push_back(vm.name);
  for (const auto& vm : listed.value)
    if (vm.identity.cluster == cluster && vm.identity.role != "director") order.push_back(vm.name);
  for (const auto& name : order) {
    const auto destroyed = connected.value->destroy(name);
    if (!drivers::is_ok(destroyed) && destroyed.status != drivers::DriverStatus::not_found)
      return "domain " + name + ": " + destroyed.message;
    out << "removed domain " << name << "\n";
    ++removed;
  }
  return {};
}

}  // namespace

std::string default_site_dir(const std::string& cluster) {
  return "/var/lib/omni/" + cluster;
}

// What part of `config` differs from the config the cluster at `site_dir` was first initialized
// from (its site's copy), or empty when they are the same or there is none yet. An init makes a
// cluster once: a second one with another config rewrote the site's node configs and kept its
// keys, and left a cluster whose site described another (or an init that could never finish).
std::string changed_since_first_init(const std::string& site_dir,
                                     const config::ClusterConfig& config) {
  const std::string copy = site_dir + "/cluster.yaml";
  if (!fs::exists(copy)) return {};
  const auto text = read_text_file(copy);
  if (const auto* unreadable = std::get_if<config::Diagnostic>(&text))
    return "cannot read " + copy +
           ", the config this cluster was initialized from: " + unreadable->message +
           "; omni reset removes the cluster";
  const auto first = config::parse_cluster_config(std::get<std::string>(text), copy);
  if (!first.config)
    return copy + ", the config this cluster was initialized from, does not parse (" +
           first.errors.front().to_string() + "); omni reset removes the cluster";
  if (*first.config == config) return {};
  const std::string what = first.config->name != config.name ||
                                   first.config->orchestrators != config.orchestrators ||
                                   !(first.config->director_vm == config.director_vm) ||
                                   !(first.config->orchestrator == config.orchestrator)
                               ? "its cluster settings"
                           : first.config->nodes != config.nodes ? "its nodes"
                                                                 : "its apps";
  return "cluster " + config.name + " was initialized from another config (" + copy +
         " differs in " + what +
         "): an init makes a cluster once and does not change it. Change apps with omni apply "
         "-f APPS.yaml; to make the cluster anew, remove it with omni reset first";
}

int init_local(const LocalInitOptions& options, const std::string& config_text,
               const config::ClusterConfig& config, const root::Plan& plan, std::ostream& out,
               std::ostream& err) {
  std::string hypervisor;
  // Both are the config's or the flags' doing: bad input, as the docs' exit codes say.
  if (std::string problem = hypervisor_of(config, hypervisor); !problem.empty()) {
    err << "omni: init: " << problem << "\n";
    return kExitBadInput;
  }
  if (std::string problem = other_clusters_site(options, plan); !problem.empty()) {
    err << "omni: init: " << problem << "\n";
    return kExitBadInput;
  }
  if (::geteuid() != 0) {
    err << "omni: init: "
        << (hypervisor == "local"
                ? "the local provider needs root: each VM is a sandbox with its own network "
                  "namespace and cgroup (run it with sudo)\n"
                : "libvirt VMs need root: their NICs join a bridge omni init makes (run it with "
                  "sudo)\n");
    return kExitFailure;
  }
  node::LocalSite site;
  if (std::string problem = prepare_site(options, plan, hypervisor, site); !problem.empty()) {
    err << "omni: init: " << problem << "\n";
    return kExitFailure;
  }
  SiteLock lock(site.dir);
  if (!lock.held()) {
    err << "omni: init: another omni init or reset of cluster " << plan.cluster
        << " is running (pid " << lock.holder()
        << "); wait for it, or stop it and run this again\n";
    return kExitFailure;
  }
  if (std::string problem = changed_since_first_init(site.dir, config); !problem.empty()) {
    err << "omni: init: " << problem << "\n";
    return kExitBadInput;
  }
  if (!options.json)
    out << "[init] cluster " << plan.cluster << ": " << plan.vms.size() << " VMs and "
        << plan.replicas.size() << " Orchestrators as "
        << (node::on_libvirt(site) ? "libvirt VMs" : "local sandboxes") << " on " << site.subnet
        << ".0/24 (bridge omb-" << site.id << "), state in " << site.dir << "\n";
  ProgressPrinter printer(out, options.json);
  std::string runtime_said;
  if (std::string problem =
          node::on_libvirt(site)
              ? prepare_libvirt(options.container_runtime, site, runtime_said)
              : prepare_container_runtime(options.container_runtime, site, runtime_said);
      !problem.empty()) {
    err << "omni: init: " << problem << "\n";
    return kExitFailure;
  }
  if (!runtime_said.empty()) {
    v1::Progress containers;
    containers.set_phase(node::on_libvirt(site) ? "vms" : "containers");
    containers.set_detail(runtime_said);
    printer.print(containers);
  }
  if (std::string problem = node::write_local_site(site, config_text, config, plan);
      !problem.empty()) {
    err << "omni: init: " << problem << "\n";
    return kExitFailure;
  }
  const auto root_yaml = read_text_file(site.dir + "/root.yaml");
  if (const auto* unreadable = std::get_if<config::Diagnostic>(&root_yaml)) {
    err << "omni: init: " << unreadable->to_string() << "\n";
    return kExitFailure;
  }
  auto parsed =
      node::parse_node_config("root", std::get<std::string>(root_yaml), site.dir + "/root.yaml");
  if (const auto* problem = std::get_if<std::string>(&parsed)) {
    err << "omni: init: " << *problem << "\n";
    return kExitFailure;
  }
  auto root_config = std::get<node::NodeConfig>(std::move(parsed));
  root_config.log_path = site.dir + "/root.log";
  const int code = node::serve(
      root_config, node::ServeHooks{[&printer](const v1::Progress& p) { printer.print(p); }});
  if (code != 0) {
    const v1::Progress& last = printer.last();
    err << "omni: init failed in phase " << (last.phase().empty() ? "preflight" : last.phase())
        << ": "
        << (last.failed() ? last.detail() : "the root stopped (see " + root_config.log_path + ")")
        << "\n  the root's log: " << root_config.log_path
        << "\n  run the same omni init again to resume, or omni reset --yes --cluster "
        << plan.cluster
        << (site.dir == default_site_dir(plan.cluster) ? "" : " --state-dir " + site.dir)
        << " to remove what was made\n";
    return kExitFailure;
  }
  if (std::string problem = write_credentials(site, plan, home_dir(options.home));
      !problem.empty()) {
    err << "omni: init: the cluster runs, but " << problem << "\n";
    return kExitFailure;
  }
  if (!options.json)
    out << "[init] cluster " << plan.cluster << " manages itself (" << printer.total()
        << "); admin credentials in " << home_dir(options.home) << "/.omni/" << plan.cluster
        << "\n";
  return kExitOk;
}

// Where reset looks: the --state-dir given, else the site init recorded with the credentials,
// else the default.
std::string site_dir_to_reset(const LocalResetOptions& options, const RecordedSite& recorded) {
  if (!options.site_dir.empty()) return options.site_dir;
  return recorded.dir.empty() ? default_site_dir(options.cluster) : recorded.dir;
}

int reset_local(const LocalResetOptions& options, std::ostream& out, std::ostream& err) {
  const fs::path credentials = fs::path(home_dir(options.home)) / ".omni" / options.cluster;
  const RecordedSite recorded_site_of = recorded_site(credentials);
  const std::string dir = site_dir_to_reset(options, recorded_site_of);
  std::error_code error;
  if (!has_site(dir)) {
    // Credentials are removed only when they lead nowhere: a mistyped --state-dir must not
    // cut the person off from a cluster that still runs, and damaged ones may lead anywhere.
    if (!recorded_site_of.damaged.empty()) {
      err << "omni: reset: no site in " << dir << ", and " << recorded_site_of.damaged
          << ", which records where cluster " << options.cluster
          << " lives: give --state-dir, or remove " << credentials.string()
          << " yourself if the cluster is gone. Nothing was removed\n";
      return kExitBadInput;
    }
    const std::string& recorded = recorded_site_of.dir;
    if (!recorded.empty() && recorded != dir && has_site(recorded)) {
      err << "omni: reset: no site in " << dir << "; cluster " << options.cluster << " lives in "
          << recorded << " (" << credentials.string() << "/endpoints.yaml): omni reset --cluster "
          << options.cluster << " --state-dir " << recorded << " --yes. Nothing was removed\n";
      return kExitBadInput;
    }
    fs::remove_all(credentials, error);
    out << "cluster " << options.cluster << ": nothing on this machine (no " << dir
        << "/site.yaml)\n";
    return kExitOk;
  }
  node::LocalSite site;
  if (std::string problem = node::read_local_site(dir, site); !problem.empty()) {
    err << "omni: reset: " << problem << "\n";
    return kExitFailure;
  }
  if (!site.cluster.empty() && site.cluster != options.cluster) {
    err << "omni: reset: " << dir << " is the site of cluster " << site.cluster << ", not "
        << options.cluster << ". Nothing was removed\n";
    return kExitBadInput;
  }
  SiteLock lock(dir);
  if (!lock.held()) {
    err << "omni: reset: an omni init of cluster " << options.cluster << " is running (pid "
        << lock.holder() << "); stop it first\n";
    return kExitFailure;
  }
  if (node::on_libvirt(site)) {
    int removed = 0;
    if (std::string problem = remove_domains(site, options.cluster, out, removed);
        !problem.empty()) {
      err << "omni: reset: " << problem << "; " << dir
          << " is kept so that reset can be run again\n";
      return kExitFailure;
    }
    const std::string bridge = node::bridge_of(site);
    if (fs::exists("/sys/class/net/" + bridge))
      drivers::run_command({"ip", "link", "del", bridge}, std::chrono::seconds(10));
    fs::remove_all(dir, error);
    fs::remove_all(credentials, error);
    out << "cluster " << options.cluster << " is gone from this machine: " << removed
        << " libvirt domains, the bridge " << bridge << ", " << dir << " and "
        << credentials.string() << "\n";
    return kExitOk;
  }
  drivers::LocalOptions local;
  local.id = site.id;
  local.state_dir = dir + "/local";
  local.subnet_prefix = site.subnet;
  drivers::LocalProvider provider(local);
  // Directors first: a Director left running would make again the workers removed before it.
  std::vector<std::string> order;
  std::map<std::string, std::string> planned = planned_sandboxes(dir);
  const auto sandboxes = sandboxes_of(provider, options.cluster, planned);
  for (const auto& [name, role] : sandboxes)
    if (role == "director") order.push_back(name);
  for (const auto& [name, role] : sandboxes)
    if (role != "director") order.push_back(name);
  int failures = 0;
  for (const auto& name : order) {
    const auto destroyed = provider.destroy(name);
    if (drivers::is_ok(destroyed)) {
      out << "removed sandbox " << name << "\n";
    } else if (destroyed.status != drivers::DriverStatus::not_found) {
      err << "omni: reset: sandbox " << name << ": " << destroyed.message << "\n";
      ++failures;
    }
  }
  if (failures > 0) {
    err << "omni: reset: " << failures << " sandboxes could not be removed; " << dir
        << " is kept so that reset can be run again\n";
    return kExitFailure;
  }
  planned.insert(sandboxes.begin(), sandboxes.end());  // a container may outlive its sandbox
  if (std::string problem = remove_from_containerd(site, planned, out); !problem.empty()) {
    err << "omni: reset: " << problem << "; " << dir << " is kept so that reset can be run again\n";
    return kExitFailure;
  }
  // The last destroy removes them; a site whose sandboxes were all gone already still has them.
  const std::string bridge = provider.bridge_name(), handle = provider.host_handle();
  if (fs::exists("/sys/class/net/" + bridge))
    drivers::run_command({"ip", "link", "del", bridge}, std::chrono::seconds(10));
  if (fs::exists("/run/netns/" + handle))
    drivers::run_command({"ip", "netns", "del", handle}, std::chrono::seconds(10));
  fs::remove_all(dir, error);
  fs::remove_all(credentials, error);
  out << "cluster " << options.cluster << " is gone from this machine: " << order.size()
      << " sandboxes, the bridge omb-" << site.id << ", " << dir << " and " << credentials.string()
      << "\n";
  return kExitOk;
}

}  // namespace omni::cli
