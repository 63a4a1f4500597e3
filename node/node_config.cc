#include "node/node_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "model/config/yaml_reader.h"
#include "node/local_site.h"

namespace omni::node {
namespace {

const std::set<std::string> kRoles{"root", "orchestrator", "director", "agent"};
const std::set<std::string> kKeys{
    "identity",   "args",    "state_dir", "listen",    "peers",          "tls", "metrics", "vms",
    "containers", "cluster", "image",     "dashboard", "dashboard_token"};

bool is_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= text.size()) return false;
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoi(port) <= 65535;
}

struct Reader {
  const std::string& file;
  std::string error;

  // A path in the file is relative to the file, so a VM's files can name each other.
  std::string path(std::string value) const {
    const auto dir = std::filesystem::path(file).parent_path();
    if (value.empty() || value.front() == '/' || dir.empty()) return value;
    return (dir / value).string();
  }

  std::string text(const YAML::Node& node, const std::string& key) {
    if (!error.empty()) return {};
    if (!node || !node.IsScalar() || node.Scalar().empty()) {
      error = file + ": key `" + key + "`: expected a non-empty string";
      return {};
    }
    return node.Scalar();
  }

  // A map whose keys are all in `known`; false (with the error) when it is not one.
  bool map_of(const YAML::Node& node, const std::string& key, const std::set<std::string>& known) {
    if (!error.empty()) return false;
    if (!node || !node.IsMap()) {
      error = file + ": key `" + key + "`: expected a map";
      return false;
    }
    for (const auto& entry : node) {
      const std::string name = entry.first.IsScalar() ? entry.first.Scalar() : "?";
      if (!known.count(name)) {
        error = file + ": unknown key `" + key + "." + name + "`";
        return false;
      }
    }
    return true;
  }

  std::string optional_text(const YAML::Node& node, const std::string& key,
                            const std::string& fallback) {
    return node ? text(node, key) : fallback;
  }

  std::vector<std::string> texts(const YAML::Node& node, const std::string& key) {
    std::vector<std::string> out;
    if (!node) return out;
    if (!node.IsSequence()) {
      if (error.empty()) error = file + ": key `" + key + "`: expected a list of strings";
      return out;
    }
    for (const auto& item : node) out.push_back(text(item, key));
    return out;
  }

  bool flag(const YAML::Node& node, const std::string& key, bool fallback) {
    if (!node) return fallback;
    const std::string value = text(node, key);
    if (value == "true") return true;
    if (value == "false") return false;
    if (error.empty()) error = file + ": key `" + key + "`: expected true or false";
    return fallback;
  }

  std::int64_t positive(const YAML::Node& node, const std::string& key) {
    const std::string value = text(node, key);
    if (!error.empty()) return 0;
    if (value.size() > 18 || value.find_first_not_of("0123456789") != std::string::npos ||
        std::stoll(value) <= 0) {
      error = file + ": key `" + key + "`: expected a positive whole number, got `" + value + "`";
      return 0;
    }
    return std::stoll(value);
  }

  int port(const YAML::Node& node, const std::string& key, int fallback) {
    if (!node) return fallback;
    const std::string value = text(node, key);
    if (!error.empty()) return fallback;
    if (value.size() > 5 || value.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(value) < 1 || std::stoi(value) > 65535) {
      error = file + ": key `" + key + "`: expected a port 1..65535, got `" + value + "`";
      return fallback;
    }
    return std::stoi(value);
  }
};

drivers::VmBoot read_boot(Reader& in, const YAML::Node& node, const std::string& key) {
  drivers::VmBoot boot;
  if (!in.map_of(node, key, {"init", "kernel", "initrd", "cmdline", "disk", "serial_log"}))
    return boot;
  boot.init_args = in.texts(node["init"], key + ".init");
  boot.kernel_path = in.optional_text(node["kernel"], key + ".kernel", "");
  boot.initrd_path = in.optional_text(node["initrd"], key + ".initrd", "");
  boot.kernel_cmdline = in.optional_text(node["cmdline"], key + ".cmdline", "");
  boot.disk_path = in.optional_text(node["disk"], key + ".disk", "");
  boot.serial_log_path = in.optional_text(node["serial_log"], key + ".serial_log", "");
  return boot;
}

bool is_ipv4(const std::string& text) {
  int parts = 0;
  std::size_t at = 0;
  while (at <= text.size()) {
    const auto dot = std::min(text.find('.', at), text.size());
    const std::string part = text.substr(at, dot - at);
    if (part.empty() || part.size() > 3 ||
        part.find_first_not_of("0123456789") != std::string::npos || std::stoi(part) > 255)
      return false;
    ++parts;
    at = dot + 1;
  }
  return parts == 4;
}

void read_addresses(Reader& in, const YAML::Node& node, VmBridgeConfig& bridge) {
  if (!node) return;
  if (!node.IsMap()) {
    if (in.error.empty()) in.error = in.file + ": key `vms.addresses`: expected a map of VM: IPv4";
    return;
  }
  for (const auto& entry : node) {
    const std::string vm = in.text(entry.first, "vms.addresses");
    const std::string address = in.text(entry.second, "vms.addresses." + vm);
    if (in.error.empty() && !is_ipv4(address))
      in.error = in.file + ": key `vms.addresses." + vm + "`: expected an IPv4 address, got `" +
                 address + "`";
    bridge.addresses[vm] = address;
  }
}

drivers::HostCapacity read_capacity(Reader& in, const YAML::Node& node) {
  if (!node || !in.map_of(node, "vms.capacity", {"cpu_millis", "memory_bytes"})) return {};
  return {in.positive(node["cpu_millis"], "vms.capacity.cpu_millis"),
          in.positive(node["memory_bytes"], "vms.capacity.memory_bytes")};
}

std::optional<VmsConfig> read_vms(Reader& in, const YAML::Node& node, bool root) {
  if (!in.map_of(
          node, "vms",
          {"provider", "uri", "bridge", "domain_type", "state_dir", "id", "subnet", "cluster",
           "node", "agent_port", "autostart", "boot", "files", "addresses", "capacity"}))
    return std::nullopt;
  VmsConfig v;
  v.provider = in.text(node["provider"], "vms.provider");
  if (in.error.empty() && v.provider != "local" && v.provider != "libvirt")
    in.error =
        in.file + ": key `vms.provider`: expected local or libvirt, got `" + v.provider + "`";
  v.uri = in.optional_text(node["uri"], "vms.uri", "qemu:///system");
  v.nic_bridge = in.optional_text(node["bridge"], "vms.bridge", "");
  v.domain_type = in.optional_text(node["domain_type"], "vms.domain_type", "");
  if (in.error.empty() && !v.domain_type.empty() && v.domain_type != "kvm" &&
      v.domain_type != "qemu" && v.domain_type != "test")
    in.error = in.file + ": key `vms.domain_type`: expected kvm, qemu or test, got `" +
               v.domain_type + "`";
  v.state_dir = in.path(
      in.optional_text(node["state_dir"], "vms.state_dir",
                       v.provider == "libvirt" ? "/var/lib/omni/libvirt" : "/var/lib/omni/local"));
  v.id = in.optional_text(node["id"], "vms.id", "0");
  v.subnet = in.optional_text(node["subnet"], "vms.subnet", "10.213.0");
  v.bridge.cluster = in.text(node["cluster"], "vms.cluster");
  // The root reaches every node's hypervisor; a Director only its own node's.
  if (root && node["node"] && in.error.empty())
    in.error = in.file + ": key `vms.node`: these VMs belong to every node; name none";
  if (!root) v.bridge.node = in.text(node["node"], "vms.node");
  read_addresses(in, node["addresses"], v.bridge);
  v.capacity = read_capacity(in, node["capacity"]);
  v.agent_port = in.port(node["agent_port"], "vms.agent_port", 7300);
  v.bridge.autostart = in.flag(node["autostart"], "vms.autostart", true);
  v.bridge.files_dir = in.path(in.optional_text(node["files"], "vms.files", ""));
  if (node["boot"] && in.map_of(node["boot"], "vms.boot", {"director", "worker"})) {
    for (const auto& entry : node["boot"]) {
      const std::string role = entry.first.Scalar();
      v.bridge.boot[role] = read_boot(in, entry.second, "vms.boot." + role);
    }
  }
  if (!in.error.empty()) return std::nullopt;
  if (auto problem = vm_bridge_problem(v.bridge); !problem.empty()) {
    in.error = in.file + ": key `vms`: " + problem;
    return std::nullopt;
  }
  return v;
}

std::optional<ContainersConfig> read_containers(Reader& in, const YAML::Node& node) {
  if (!in.map_of(node, "containers",
                 {"runtime", "state_dir", "socket", "log_dir", "images", "scope", "host_access"}))
    return std::nullopt;
  ContainersConfig c;
  c.runtime = in.text(node["runtime"], "containers.runtime");
  if (in.error.empty() && c.runtime != "process" && c.runtime != "containerd")
    in.error = in.file + ": key `containers.runtime`: expected process or containerd, got `" +
               c.runtime + "`";
  c.state_dir = in.path(in.optional_text(node["state_dir"], "containers.state_dir", ""));
  if (in.error.empty() && c.runtime == "process" && c.state_dir.empty())
    in.error = in.file + ": key `containers.state_dir`: the process runtime needs one";
  c.socket = in.optional_text(node["socket"], "containers.socket", c.socket);
  c.log_dir = in.optional_text(node["log_dir"], "containers.log_dir", c.log_dir);
  c.scope = in.optional_text(node["scope"], "containers.scope", "");
  c.host_access = in.texts(node["host_access"], "containers.host_access");
  if (in.error.empty() && c.runtime != "containerd" && (node["scope"] || node["host_access"]))
    in.error = in.file + ": keys `containers.scope` and `containers.host_access` are containerd's";
  if (node["images"]) {
    if (!node["images"].IsMap()) {
      if (in.error.empty())
        in.error = in.file + ": key `containers.images`: expected a map of image: OCI tar";
    } else {
      for (const auto& entry : node["images"]) {
        const std::string image = in.text(entry.first, "containers.images");
        c.bridge.image_tars[image] = in.path(in.text(entry.second, "containers.images." + image));
      }
    }
  }
  if (!in.error.empty()) return std::nullopt;
  return c;
}

std::variant<NodeConfig, std::string> read(const std::string& role, const YAML::Node& root,
                                           const std::string& file);

}  // namespace

std::variant<NodeConfig, std::string> parse_node_config(const std::string& role,
                                                        const std::string& text,
                                                        const std::string& file) {
  if (!kRoles.count(role))
    return "unknown role `" + role + "`; omni-node serves root, orchestrator, director and agent";
  YAML::Node root;
  try {
    root = config::load_one_document(text);
  } catch (const YAML::Exception& e) {
    return file + ":" + std::to_string(e.mark.line + 1) + ": not YAML: " + e.msg;
  }
  try {
    return read(role, root, file);
  } catch (const YAML::Exception& e) {  // a shape yaml-cpp itself refuses to walk
    return file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg;
  }
}

namespace {

std::variant<NodeConfig, std::string> read(const std::string& role, const YAML::Node& root,
                                           const std::string& file) {
  if (!root.IsMap()) return file + ": expected a map of " + std::to_string(kKeys.size()) + " keys";
  for (const auto& entry : root) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "?";
    if (!kKeys.count(key)) return file + ": unknown key `" + key + "`";
  }
  NodeConfig c;
  c.role = role;
  Reader in{file, {}};
  c.identity = in.text(root["identity"], "identity");
  c.state_dir = in.path(in.text(root["state_dir"], "state_dir"));
  c.listen = in.text(root["listen"], "listen");
  if (!in.error.empty()) return in.error;
  const YAML::Node tls = root["tls"];
  if (!tls || !tls.IsMap()) return file + ": key `tls`: expected {ca, cert, key}";
  for (const auto& entry : tls) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "?";
    if (key != "ca" && key != "cert" && key != "key")
      return file + ": unknown key `tls." + key + "`";
  }
  c.ca_file = in.path(in.text(tls["ca"], "tls.ca"));
  c.cert_file = in.path(in.text(tls["cert"], "tls.cert"));
  c.key_file = in.path(in.text(tls["key"], "tls.key"));
  if (!in.error.empty()) return in.error;
  // Optional: a component started with its args on the command line takes those.
  const YAML::Node args = root["args"];
  if (args && !args.IsSequence()) return file + ": key `args`: expected a list of strings";
  if (args)
    for (const auto& arg : args) c.args.push_back(in.text(arg, "args"));
  if (!in.error.empty()) return in.error;
  const YAML::Node peers = root["peers"];
  if (!peers || !peers.IsMap())
    return file + ": key `peers`: expected a map of identity: host:port";
  for (const auto& peer : peers) {
    const std::string identity = in.text(peer.first, "peers");
    const std::string at = in.text(peer.second, "peers." + identity);
    if (in.error.empty() && !is_host_port(at))
      return file + ": key `peers." + identity + "`: expected host:port, got `" + at + "`";
    c.peers[identity] = at;
  }
  if (!in.error.empty()) return in.error;
  if (!is_host_port(c.listen))
    return file + ": key `listen`: expected host:port, got `" + c.listen + "`";
  if (root["metrics"]) {
    c.metrics = in.text(root["metrics"], "metrics");
    if (!in.error.empty()) return in.error;
    if (!is_host_port(c.metrics))
      return file + ": key `metrics`: expected host:port, got `" + c.metrics + "`";
  }
  if (root["dashboard"] || root["dashboard_token"]) {
    if (role != "orchestrator") return file + ": key `dashboard`: only an orchestrator serves one";
    if (!root["dashboard"] || !root["dashboard_token"])
      return file + ": keys `dashboard` and `dashboard_token` go together";
    c.dashboard = in.text(root["dashboard"], "dashboard");
    c.dashboard_token = in.text(root["dashboard_token"], "dashboard_token");
    if (!in.error.empty()) return in.error;
    if (!is_host_port(c.dashboard))
      return file + ": key `dashboard`: expected host:port, got `" + c.dashboard + "`";
    if (c.dashboard_token.size() < 16)
      return file + ": key `dashboard_token`: at least 16 characters";
  }
  // What each role drives, and nothing it does not.
  // An Orchestrator may have every node's (no node), to bring back a Director's lost VM.
  if (role == "director" || role == "root") {
    if (!root["vms"]) return file + ": a " + role + " needs `vms` (how it reaches its hypervisor)";
    c.vms = read_vms(in, root["vms"], role == "root");
  } else if (role == "orchestrator" && root["vms"]) {
    c.vms = read_vms(in, root["vms"], true);
  } else if (root["vms"]) {
    return file + ": key `vms`: only a director, an orchestrator or the root has VMs";
  }
  if (role == "root") {
    if (!root["cluster"])
      return file + ": the root needs `cluster` (the cluster config it creates)";
    c.cluster_file = in.path(in.text(root["cluster"], "cluster"));
    c.orchestrator_image = in.optional_text(root["image"], "image", kOmniImage);
  } else if (root["cluster"] || root["image"]) {
    return file + ": keys `cluster` and `image` are the root's";
  }
  if (role == "agent") {
    if (!root["containers"])
      return file + ": an agent needs `containers` (how it reaches its container runtime)";
    c.containers = read_containers(in, root["containers"]);
  } else if (root["containers"]) {
    return file + ": key `containers`: only an agent has containers";
  }
  if (!in.error.empty()) return in.error;
  return c;
}

}  // namespace
}  // namespace omni::node
