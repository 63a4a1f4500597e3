#include "cli/app.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <variant>

#include "cli/archives.h"
#include "cli/cluster_commands.h"
#include "cli/file_io.h"
#include "cli/flags.h"
#include "cli/local_init.h"
#include "cli/plan_output.h"
#include "model/config/parse.h"
#include "model/config/render.h"
#include "model/orchestrator/cluster_spec.h"
#include "model/orchestrator/cluster_state.h"
#include "model/root/plan.h"

namespace omni::cli {
namespace po = boost::program_options;
namespace {

constexpr const char* kUsage =
    "Usage: omni [--help] COMMAND [OPTIONS]\n"
    "\n"
    "Omni bootstraps a cluster that then manages itself.\n"
    "\n"
    "Commands:\n"
    "  init      bootstrap a cluster from a config file (see omni init --help)\n"
    "  status    the cluster's health, as its leader sees it (-w: as it changes)\n"
    "  get       nodes, vms, containers, orchestrators or apps (-w: as they change)\n"
    "  events    what the leader saw happen, with times (-f: follow)\n"
    "  dashboard print the URL of the cluster's web dashboard\n"
    "  apply     create or change apps from a file (apply -f APPS.yaml)\n"
    "  delete    delete an app (delete app NAME)\n"
    "  reset     remove everything a cluster made on this machine (see omni reset --help)\n"
    "  version   print the version\n"
    "\n"
    "Example (as root; docs/using.md walks through it):\n"
    "  omni init -f examples/cluster-local.yaml\n"
    "  omni status -w\n"
    "  omni reset --yes -f examples/cluster-local.yaml\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 bad input.\n";

constexpr const char* kInitUsage =
    "Usage: omni init -f FILE [--dry-run] [-o table|json|yaml] [--state-dir DIR]\n"
    "\n"
    "Start a temporary root orchestrator that deploys a Director on every node, worker VMs\n"
    "with Agents, and the Orchestrators, hands control to them and removes itself.\n"
    "\n"
    "On the local provider every VM is a sandbox on this machine (its own network namespace\n"
    "and cgroup; needs root). The Agents run containers in containerd, namespace omni: this\n"
    "machine's when one answers on /run/containerd/containerd.sock, else Omni's own, which\n"
    "init starts (and says so) and reset stops.\n"
    "\n"
    "Nodes whose hypervisor is a libvirt URI on this machine (qemu:///system, or\n"
    "qemu+tcp://127.0.0.1/system) get real VMs: each boots a kernel (--kernel, default the\n"
    "newest /boot/vmlinuz-*) with Omni's initramfs (--initramfs), its NIC on a bridge init\n"
    "makes; the Directors reach the libvirtd from their VMs over TCP at the bridge's address,\n"
    "so libvirtd must listen for TCP (libvirtd --listen, listen_tcp = 1). Their Agents run\n"
    "containers as plain processes.\n"
    "\n"
    "One line is printed per phase and step; -o json prints them as JSON objects. Killed in any "
    "phase, the same command resumes where it stopped; a second\n"
    "init of a cluster while one runs is refused. Afterwards the admin credentials are in\n"
    "~/.omni/CLUSTER/ and the root's log in the state directory (root.log).\n"
    "\n"
    "Exit codes: 0 the cluster manages itself, 1 a phase failed (said with its reason),\n"
    "2 bad input.\n"
    "\n"
    "Examples:\n"
    "  omni init --dry-run -f examples/cluster-3node.yaml   # the plan only\n"
    "  omni init -f examples/cluster-local.yaml\n\n";

constexpr const char* kResetUsage =
    "Usage: omni reset --yes (-f FILE | --cluster NAME) [--state-dir DIR]\n"
    "\n"
    "Remove everything the cluster made on this machine: its sandboxes or libvirt domains (and\n"
    "what runs in them), its containers in containerd (and Omni's image, from a containerd of\n"
    "the machine's once nothing uses it), Omni's own containerd, network namespaces, veths,\n"
    "the bridge, cgroups, its state directory and the credentials in ~/.omni/CLUSTER.\n"
    "Removing what is not there is not an error.\n"
    "\n"
    "Examples:\n"
    "  omni reset -f examples/cluster-local.yaml          # says what it would remove\n"
    "  omni reset --yes -f examples/cluster-local.yaml\n\n";

int bad_input(std::ostream& err, const std::string& message) {
  err << "omni: " << message << "\n";
  return kExitBadInput;
}

std::optional<OutputFormat> format_named(const std::string& name) {
  if (name == "table") return OutputFormat::table;
  if (name == "json") return OutputFormat::json;
  if (name == "yaml") return OutputFormat::yaml;
  return std::nullopt;
}

// The file's own text, unless an app's archive was made absolute: then the config rendered.
std::string config_to_hand_on(std::string text, const config::ClusterConfig& config) {
  const bool archives =
      std::any_of(config.apps.begin(), config.apps.end(),
                  [](const config::AppConfig& app) { return !app.archive.empty(); });
  return archives ? config::render_yaml(config) : std::move(text);
}

// Read, parse, validate and plan; every problem is printed as one located line.
// `text`, when given, gets the config to hand on, and its apps' archives must be found: init
// hands on what it parsed, since a second read of a pipe (`-f /dev/stdin`) finds nothing, and
// with archives made absolute, since the root reads its copy from another directory.
std::optional<std::pair<config::ClusterConfig, root::Plan>> load_plan(
    const std::string& path, std::ostream& err, std::string* text_read = nullptr) {
  auto text = read_text_file(path);
  if (auto* d = std::get_if<config::Diagnostic>(&text)) {
    err << d->to_string() << "\n";
    return std::nullopt;
  }
  auto parsed = config::parse_cluster_config(std::get<std::string>(text), path);
  for (const auto& d : parsed.errors) err << d.to_string() << "\n";
  if (!parsed.config) return std::nullopt;
  if (text_read) {
    const auto problems = resolve_archives(parsed.config->apps, path);
    for (const auto& d : problems) err << d.to_string() << "\n";
    if (!problems.empty()) return std::nullopt;
  }
  auto plan = root::make_plan(*parsed.config);
  if (text_read)
    *text_read = config_to_hand_on(std::get<std::string>(std::move(text)), *parsed.config);
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&plan)) {
    for (const auto& d : *errors) err << d.to_string() << "\n";
    return std::nullopt;
  }
  return std::make_pair(std::move(*parsed.config), std::get<root::Plan>(std::move(plan)));
}

// The simulator runs clusters of any size the config allows; a real plane keeps the cluster's
// own records within kMaxClusterRecordBytes, or a snapshot of its state would not fit a log record.
std::optional<config::Diagnostic> too_large_for_a_plane(const config::ClusterConfig& config) {
  const std::size_t bytes =
      orchestrator::cluster_record_bytes(orchestrator::to_cluster_spec(config));
  if (bytes <= orchestrator::kMaxClusterRecordBytes) return std::nullopt;
  const auto mib = [](std::size_t b) { return std::to_string((b + (1 << 20) - 1) >> 20); };
  return config::Diagnostic{config.nodes.front().where,
                            "the cluster's own records (its nodes and their VMs) would take " +
                                mib(bytes) + " MiB of the plane's state; a plane keeps at most " +
                                mib(orchestrator::kMaxClusterRecordBytes) +
                                " MiB of them: fewer nodes or worker VMs, or shorter names"};
}

int run_init(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help")("file,f", po::value<std::string>(),
                                                    "cluster config (YAML)")(
      "dry-run", "validate and print the plan; create nothing")(
      "output,o", po::value<std::string>()->default_value("table"), "table, json or yaml")(
      "state-dir", po::value<std::string>(),
      "where the cluster lives (default /var/lib/omni/NAME)")(
      "omni-node", po::value<std::string>(), "the omni-node program (default: beside omni)")(
      "image", po::value<std::string>(), "Omni's OCI image tar (default: beside omni)")(
      "container-runtime", po::value<std::string>()->default_value("auto"),
      "how Agents run containers: containerd, process, or auto (containerd when installed)")(
      "kernel", po::value<std::string>(),
      "libvirt nodes: the kernel the VMs boot (default: the newest /boot/vmlinuz-*)")(
      "initramfs", po::value<std::string>(),
      "libvirt nodes: Omni's initramfs (default: omni-initramfs.cpio.gz beside omni)");
  po::variables_map vm;
  try {
    store_flags(args, options, {}, vm);
  } catch (const po::error& e) {
    return bad_input(err, std::string("init: ") + e.what() + "; see omni init --help");
  }
  if (vm.count("help")) {
    out << kInitUsage << options;
    return kExitOk;
  }
  if (!vm.count("file")) return bad_input(err, "init: missing -f FILE (the cluster config)");
  const auto format = format_named(vm["output"].as<std::string>());
  if (!format)
    return bad_input(err, "init: unknown output format \"" + vm["output"].as<std::string>() +
                              "\"; use table, json or yaml");
  std::string config_text;
  auto loaded = load_plan(vm["file"].as<std::string>(), err, &config_text);
  if (!loaded) return kExitBadInput;
  const auto& [config, plan] = *loaded;
  if (auto problem = too_large_for_a_plane(config)) {
    err << problem->to_string() << "\n";
    return kExitBadInput;
  }
  if (!vm.count("dry-run")) {
    if (*format == OutputFormat::yaml)
      return bad_input(err, "init: progress is printed as table or json");
    const auto option = [&vm](const char* name) {
      return vm.count(name) ? vm[name].as<std::string>() : std::string();
    };
    LocalInitOptions local;
    local.config_file = vm["file"].as<std::string>();
    local.site_dir = option("state-dir");
    local.omni_node = option("omni-node");
    local.image_tar = option("image");
    local.container_runtime = option("container-runtime");
    local.kernel = option("kernel");
    local.initramfs = option("initramfs");
    if (local.container_runtime != "auto" && local.container_runtime != "containerd" &&
        local.container_runtime != "process")
      return bad_input(err, "init: unknown container runtime \"" + local.container_runtime +
                                "\"; use containerd, process or auto");
    local.json = *format == OutputFormat::json;
    return init_local(local, config_text, config, plan, out, err);
  }
  switch (*format) {
    case OutputFormat::table:
      print_plan_table(out, plan);
      break;
    case OutputFormat::json:
      print_plan_json(out, plan);
      break;
    case OutputFormat::yaml:
      print_plan_yaml(out, plan, config);
      break;
  }
  return kExitOk;
}

int run_reset(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help")("yes", "really remove it")(
      "file,f", po::value<std::string>(), "the cluster's config (names the cluster)")(
      "cluster", po::value<std::string>(), "the cluster's name")(
      "state-dir", po::value<std::string>(),
      "where the cluster lives (default /var/lib/omni/NAME)");
  po::variables_map vm;
  try {
    store_flags(args, options, {}, vm);
  } catch (const po::error& e) {
    return bad_input(err, std::string("reset: ") + e.what() + "; see omni reset --help");
  }
  if (vm.count("help")) {
    out << kResetUsage << options;
    return kExitOk;
  }
  if (vm.count("file") == vm.count("cluster"))
    return bad_input(err, "reset: name the cluster with -f FILE or --cluster NAME (one of them)");
  LocalResetOptions reset;
  if (vm.count("file")) {
    auto loaded = load_plan(vm["file"].as<std::string>(), err);
    if (!loaded) return kExitBadInput;
    reset.cluster = loaded->second.cluster;
  } else {
    reset.cluster = vm["cluster"].as<std::string>();
    if (reset.cluster.empty() || reset.cluster.find_first_not_of(
                                     "abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
      return bad_input(err, "reset: --cluster must be a cluster name ([a-z0-9-])");
  }
  if (!vm.count("yes"))
    return bad_input(err, "reset: this removes cluster " + reset.cluster +
                              " and everything it runs; say --yes to go on");
  if (vm.count("state-dir")) reset.site_dir = vm["state-dir"].as<std::string>();
  return reset_local(reset, out, err);
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUsage;
    return kExitBadInput;
  }
  const std::string& command = args.front();
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "--help" || command == "-h" || command == "help") {
    out << kUsage;
    return kExitOk;
  }
  if (command == "version" || command == "--version") {
    out << "omni " << OMNI_VERSION << "\n";
    return kExitOk;
  }
  if (command == "init") return run_init(rest, out, err);
  if (command == "reset") return run_reset(rest, out, err);
  if (command == "status") return run_status(rest, out, err);
  if (command == "get") return run_get(rest, out, err);
  if (command == "events") return run_events(rest, out, err);
  if (command == "dashboard") return run_dashboard(rest, out, err);
  if (command == "apply") return run_apply(rest, out, err);
  if (command == "delete") return run_delete(rest, out, err);
  return bad_input(err, "unknown command \"" + command + "\"; see omni --help");
}

}  // namespace omni::cli
