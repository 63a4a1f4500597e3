// omni-node: the real host of one Omni component. `root|orchestrator|director|agent --config
// FILE` runs that component on the host loop, its durable log, the mutual-TLS transport and (for a
// Director or an Agent) its driver (docs/node.md); `version`; `report` (what the machine it runs on
// offers, the line a freshly booted VM sends its host); and the placeholder `serve --component
// NAME`, which announces itself and waits for SIGTERM, for the roles whose real hosts are still to
// come.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "drivers/container/containerd_daemon.h"
#include "drivers/util/text_file.h"
#include "drivers/vm/local_provider.h"
#include "model/config/parse.h"
#include "model/root/plan.h"
#include "node/cluster_pki.h"
#include "node/components.h"
#include "node/local_site.h"
#include "node/metrics.h"
#include "node/node_config.h"
#include "node/pki.h"
#include "node/serve.h"

namespace {

constexpr const char* k_version = "0.1.0";

int usage() {
  std::fprintf(
      stderr,
      "usage: omni-node version\n"
      "       omni-node report\n"
      "       omni-node demo-web [--port N]\n"
      "       omni-node boot --site DIR (at power-on: start the sandboxes marked autostart)\n"
      "       omni-node containerd --dir DIR (run Omni's own containerd, and again when it ends)\n"
      "       omni-node serve --component NAME\n"
      "       omni-node root|orchestrator|director|agent --config FILE [--log-format text|json]\n"
      "       omni-node orchestrator|director|agent COMPONENT-ARGS... (config from "
      "$OMNI_VM_FILES)\n"
      "       omni-node pki --cluster NAME --out DIR IDENTITY...\n"
      "       omni-node pki --plan CLUSTER.yaml --out DIR\n");
  return 2;
}

// MemTotal of /proc/meminfo in bytes, or -1 when it cannot be read.
long long memory_total_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  long long kib = -1;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * 1024;
  }
  return -1;
}

// One line, `key=value` pairs, that a host can parse: how the VM it booted really looks from
// inside (the vCPUs and memory it was given, the kernel it runs).
int report() {
  utsname uts{};
  uname(&uts);
  std::printf("omni-node report version=%s cpus=%ld memory_bytes=%lld kernel=%s machine=%s\n",
              k_version, sysconf(_SC_NPROCESSORS_ONLN), memory_total_bytes(), uts.release,
              uts.machine);
  std::fflush(stdout);
  return 0;
}

// A tiny web app in Omni's own image, for trying apps out (examples/apps.yaml): GET / answers
// which VM it runs in. Runs until SIGTERM or SIGINT.
int demo_web(int argc, char** argv) {
  std::string port = "8080";
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--port") == 0) port = argv[++i];
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    std::fprintf(stderr, "omni-node demo-web: --port must be a port number\n");
    return 2;
  }
  const char* vm = std::getenv("OMNI_VM_NAME");
  const std::string greeting =
      std::string("hello from omni demo-web on ") + (vm ? vm : "this machine") + "\n";
  boost::asio::io_context io;
  omni::node::MetricsServer web(
      io, "0.0.0.0:" + port, [greeting] { return greeting; }, "/");
  if (!web.listening()) {
    std::fprintf(stderr, "omni-node demo-web: cannot listen on port %s\n", port.c_str());
    return 1;
  }
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  std::printf("omni-node demo-web listening on port %s\n", port.c_str());
  std::fflush(stdout);
  io.run();
  return 0;
}

// What a machine's init system runs at power-on (`omni-node boot --site DIR`): the machine's
// network for the site's sandboxes, then every sandbox marked autostart, and nothing else; the
// cluster does the rest.
int boot(int argc, char** argv) {
  std::string dir;
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--site") == 0) dir = argv[++i];
  if (dir.empty()) return usage();
  omni::node::LocalSite site;
  if (const std::string problem = omni::node::read_local_site(dir, site); !problem.empty()) {
    std::fprintf(stderr, "omni-node boot: %s\n", problem.c_str());
    return 2;
  }
  if (site.containerd == "own") {
    std::string error;
    const pid_t pid = omni::drivers::start_own_containerd(
        site.omni_node, omni::node::own_containerd_dir(site), error);
    if (pid < 0) {
      std::fprintf(stderr, "omni-node boot: cannot start Omni's containerd: %s\n", error.c_str());
      return 1;
    }
    if (pid > 0)
      std::printf("omni-node boot: started Omni's containerd (supervisor pid %d)\n", pid);
  }
  omni::drivers::LocalOptions options;
  options.id = site.id;
  options.state_dir = dir + "/local";
  options.subnet_prefix = site.subnet;
  omni::drivers::LocalProvider provider(options);
  if (const auto prepared = provider.prepare_network(); !omni::drivers::is_ok(prepared)) {
    std::fprintf(stderr, "omni-node boot: cannot make the sandboxes' network: %s\n",
                 prepared.message.c_str());
    return 1;
  }
  const auto started = provider.start_autostart();
  for (const auto& name : started.value) std::printf("omni-node boot: started %s\n", name.c_str());
  if (!started.ok()) {
    std::fprintf(stderr, "omni-node boot: %s\n", started.result.message.c_str());
    return 1;
  }
  std::printf("omni-node boot: %zu sandboxes started\n", started.value.size());
  return 0;
}

int serve(const std::string& component) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  std::printf("omni-node %s serving component %s pid %d\n", k_version, component.c_str(),
              static_cast<int>(getpid()));
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  std::printf("omni-node component %s stopping on signal %d\n", component.c_str(), received);
  std::fflush(stdout);
  return 0;
}

// A new cluster CA in DIR/ca.{crt,key} and a certificate per identity in DIR/NAME.{crt,key},
// NAME being the identity with ':' as '-' ("orchestrator-1"). For running replicas by hand; the
// root's pki phase makes the same.
// The root's pki phase for a cluster config: every identity its plan names, laid out as each VM
// receives them (node/cluster_pki.h).
int plan_pki(const std::string& file, const std::string& out) {
  const omni::drivers::TextFile read = omni::drivers::read_text_file(file);
  if (!read.error.empty()) {
    std::fprintf(stderr, "omni-node: %s: %s\n", file.c_str(), read.error.c_str());
    return 2;
  }
  const auto parsed = omni::config::parse_cluster_config(read.text, file);
  for (const auto& d : parsed.errors) std::fprintf(stderr, "%s\n", d.to_string().c_str());
  if (!parsed.config) return 2;
  const auto planned = omni::root::make_plan(*parsed.config);
  if (const auto* problems = std::get_if<std::vector<omni::config::Diagnostic>>(&planned)) {
    for (const auto& d : *problems) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    return 2;
  }
  const auto& plan = std::get<omni::root::Plan>(planned);
  if (const std::string error = omni::node::write_cluster_pki(plan, out); !error.empty()) {
    std::fprintf(stderr, "omni-node: %s\n", error.c_str());
    return 1;
  }
  std::printf("wrote %s/ca.crt, root, admin and the files of %zu VMs under %s/vms\n", out.c_str(),
              plan.vms.size(), out.c_str());
  return 0;
}

int pki(int argc, char** argv) {
  std::string cluster;
  std::string out;
  std::string plan;
  std::vector<std::string> identities;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--plan") == 0 && i + 1 < argc) {
      plan = argv[++i];
    } else if (std::strcmp(argv[i], "--cluster") == 0 && i + 1 < argc) {
      cluster = argv[++i];
    } else if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
      out = argv[++i];
    } else {
      identities.emplace_back(argv[i]);
    }
  }
  if (!plan.empty() && !out.empty() && cluster.empty() && identities.empty())
    return plan_pki(plan, out);
  if (cluster.empty() || out.empty() || identities.empty()) return usage();
  for (const auto& identity : identities)
    if (identity.empty() || identity.front() == '-') {
      std::fprintf(stderr,
                   "omni-node: pki: \"%s\" is not an identity (like orchestrator:1 or root); "
                   "nothing was written\n",
                   identity.c_str());
      return 2;
    }
  std::string error;
  const auto ca = omni::node::make_ca(cluster, {}, error);
  if (!ca) {
    std::fprintf(stderr, "omni-node: %s\n", error.c_str());
    return 1;
  }
  error = omni::node::write_key_pair(out, "ca", *ca);
  for (const auto& identity : identities) {
    if (!error.empty()) break;
    const auto pair = omni::node::issue(*ca, identity, {}, error);
    std::string name = identity;
    std::replace(name.begin(), name.end(), ':', '-');
    if (pair) error = omni::node::write_key_pair(out, name, *pair);
  }
  if (!error.empty()) {
    std::fprintf(stderr, "omni-node: %s\n", error.c_str());
    return 1;
  }
  std::printf("wrote %s/ca.crt and %zu certificates\n", out.c_str(), identities.size());
  return 0;
}

// `ROLE --config FILE`, or `ROLE COMPONENT-ARGS...` as a container or a VM starts it: the
// config is then the VM's own file for that identity ($OMNI_VM_FILES/orchestrator-2.yaml), and
// the arguments given replace the file's `args`.
int run_component(const std::string& role, int argc, char** argv) {
  std::string path;
  bool json = false;
  std::vector<std::string> args;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (arg == "--log-format" && i + 1 < argc &&
               (std::strcmp(argv[i + 1], "text") == 0 || std::strcmp(argv[i + 1], "json") == 0)) {
      json = std::strcmp(argv[++i], "json") == 0;
    } else if (arg.rfind("--", 0) == 0) {
      args.push_back(arg);
    } else {
      return usage();
    }
  }
  if (path.empty() == args.empty()) return usage();
  if (path.empty()) {
    const char* files = std::getenv("OMNI_VM_FILES");
    const std::string identity = omni::node::identity_of_args(role, args);
    if (files == nullptr || identity.empty()) {
      std::fprintf(stderr,
                   "omni-node: without --config, the args must name the %s and "
                   "OMNI_VM_FILES must say where this VM's files are\n",
                   role.c_str());
      return 2;
    }
    path = std::string(files) + "/" + omni::node::key_pair_name(identity) + ".yaml";
  }
  const omni::drivers::TextFile read = omni::drivers::read_text_file(path);
  if (!read.error.empty()) {
    std::fprintf(stderr, "omni-node: %s: %s\n", path.c_str(), read.error.c_str());
    return 2;
  }
  auto parsed = omni::node::parse_node_config(role, read.text, path);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    std::fprintf(stderr, "omni-node: %s\n", error->c_str());
    return 2;
  }
  auto config = std::get<omni::node::NodeConfig>(parsed);
  config.log_json = json;
  if (!args.empty()) {
    config.args = {role};
    config.args.insert(config.args.end(), args.begin(), args.end());
  }
  // The containers an Agent runs find their VM's files as the VM does, and know they run in a
  // VM: a local provider there never takes the VM's network namespace for the machine's.
  for (const char* name : {"OMNI_VM_FILES", "OMNI_VM_NAME"})
    if (const char* value = std::getenv(name); value && config.containers)
      config.containers->bridge.env.push_back(std::string(name) + "=" + value);
  return omni::node::serve(config);
}

// A host-access container (drivers/container/oci_spec.h) starts omni-node from Omni's image and
// names the machine's mount namespace: the process moves there before it makes any thread (setns
// refuses a threaded process), so that it sees the machine's files, /run/netns and cgroups as a
// process on the machine does, and what it starts (a sandbox's init, `ip`) runs from there.
// Answers 0, or 1 with the reason printed.
int enter_mount_namespace() {
  const char* path = std::getenv("OMNI_ENTER_MOUNT_NS");
  if (path == nullptr || *path == '\0') return 0;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNS) != 0) {
    std::fprintf(stderr, "omni-node: cannot enter the mount namespace %s: %s\n", path,
                 std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return 1;
  }
  ::close(fd);
  ::unsetenv("OMNI_ENTER_MOUNT_NS");
  if (::chdir("/") != 0) return 1;
  return 0;
}

// gRPC (1.51) stops accepting connections for good after one accept() that failed with EMFILE, so
// a burst of connections past the limit on open files left a node deaf until restarted. The soft
// limit is raised to the hard one (as Go programs do), far past what peers and a burst need.
void raise_open_files_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, rlim_t{1} << 20);  // the kernel's nr_open
  ::setrlimit(RLIMIT_NOFILE, &limit);  // as far as it goes: the old limit otherwise
}

}  // namespace

int main(int argc, char** argv) {
  if (enter_mount_namespace() != 0) return 1;
  raise_open_files_limit();
  if (argc < 2) return usage();
  std::string command = argv[1];
  if (command == "version") {
    std::printf("omni-node %s\n", k_version);
    return 0;
  }
  if (command == "report") return report();
  if (command == "demo-web") return demo_web(argc, argv);
  if (command == "boot") return boot(argc, argv);
  if (command == "containerd") {
    if (argc != 4 || std::strcmp(argv[2], "--dir") != 0 || argv[3][0] != '/') return usage();
    return omni::drivers::supervise_containerd(argv[3]);
  }
  if (command == "pki") return pki(argc, argv);
  if (command == "orchestrator" || command == "director" || command == "agent" || command == "root")
    return run_component(command, argc, argv);
  if (command == "serve") {
    std::string component;
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--component") == 0 && i + 1 < argc) component = argv[++i];
    }
    if (component.empty()) return usage();
    return serve(component);
  }
  return usage();
}
