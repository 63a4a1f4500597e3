#include "node/local_site.h"

#include <openssl/rand.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "drivers/util/text_file.h"
#include "drivers/vm/libvirt_driver.h"
#include "model/core/assert.h"
#include "model/director/director.h"
#include "node/cluster_pki.h"
#include "node/driver_bridge.h"
#include "node/durable_log.h"

namespace omni::node {
namespace {

namespace fs = std::filesystem;

std::uint32_t fnv1a(const std::string& text) {
  std::uint32_t hash = 2166136261u;  // stable across runs and machines
  for (unsigned char c : text) hash = (hash ^ c) * 16777619u;
  return hash;
}

std::string at(const std::string& host, int port) {
  return host + ":" + std::to_string(port);
}

config::Resources largest_node(const config::ClusterConfig& config) {
  config::Resources largest;
  for (const auto& node : config.nodes) {
    largest.cpu_millis = std::max(largest.cpu_millis, node.resources.cpu_millis);
    largest.memory_bytes = std::max(largest.memory_bytes, node.resources.memory_bytes);
  }
  return largest;
}

// Written whole or not at all: a SIGKILLed init leaves the old file or the new one.
std::string write_atomically(const fs::path& path, const std::string& text, mode_t mode = 0644) {
  if (const auto failed = write_file_durably(path.string(), text, mode))
    return "cannot write " + path.string() + ": " + failed->message;
  return {};
}

// What every node config has: who it is, where its log is, where it listens, who its peers are.
void emit_common(YAML::Emitter& out, const std::string& identity, const std::string& state_dir,
                 const std::string& listen, const std::map<std::string, std::string>& peers,
                 const std::string& tls_dir) {
  const std::string name = key_pair_name(identity);
  out << YAML::Key << "identity" << YAML::Value << identity;
  out << YAML::Key << "state_dir" << YAML::Value << state_dir;
  out << YAML::Key << "listen" << YAML::Value << listen;
  out << YAML::Key << "peers" << YAML::Value << YAML::BeginMap;
  for (const auto& [peer, address] : peers) out << YAML::Key << peer << YAML::Value << address;
  out << YAML::EndMap;
  out << YAML::Key << "tls" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "ca" << YAML::Value << tls_dir + "ca.crt";
  out << YAML::Key << "cert" << YAML::Value << tls_dir + name + ".crt";
  out << YAML::Key << "key" << YAML::Value << tls_dir + name + ".key";
  out << YAML::EndMap;
}

void emit_list(YAML::Emitter& out, const std::string& key, const std::vector<std::string>& items) {
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& item : items) out << item;
  out << YAML::EndSeq;
}

// A sandbox's init: omni-node with the config among the files its VM received.
std::vector<std::string> boot_init(const LocalSite& site, const std::string& role,
                                   const std::string& config_name) {
  return {"sh", "-c",
          "exec '" + site.omni_node + "' " + role + " --config \"$OMNI_VM_FILES/" + config_name +
              ".yaml\""};
}

bool ours(const root::PlannedVm& vm, const std::string& node) {
  return node.empty() ? vm.role == root::VmRole::director
                      : vm.node == node && vm.role == root::VmRole::worker;
}

void emit_addresses(YAML::Emitter& out, const root::Plan& plan, const std::string& node,
                    const std::map<std::string, std::string>& addresses) {
  out << YAML::Key << "addresses" << YAML::Value << YAML::BeginMap;
  for (const auto& vm : plan.vms)
    if (ours(vm, node)) out << YAML::Key << vm.name << YAML::Value << addresses.at(vm.name);
  out << YAML::EndMap;
}

// A libvirt VM boots the site's kernel with its own initramfs, and learns from the kernel
// command line what to run, its config among its files, and its address on the bridge.
void emit_libvirt_boot(YAML::Emitter& out, const LocalSite& site, const std::string& role,
                       const std::string& component, const std::string& config_name) {
  out << YAML::Key << "boot" << YAML::Value << YAML::BeginMap << YAML::Key << role << YAML::Value
      << YAML::BeginMap;
  out << YAML::Key << "kernel" << YAML::Value << libvirt_dir(site) + "/vmlinuz";
  out << YAML::Key << "initrd" << YAML::Value << libvirt_dir(site) + "/{vm}.initrd";
  out << YAML::Key << "cmdline" << YAML::Value
      << "console=ttyS0 panic=-1 quiet omni.role=" + component + " omni.config=/etc/omni/" +
             config_name + ".yaml omni.address={address}/24 omni.gateway=" + site.subnet +
             ".1 omni.vm={vm}";
  out << YAML::Key << "serial_log" << YAML::Value << libvirt_dir(site) + "/{vm}.log";
  out << YAML::EndMap << YAML::EndMap;
}

// The `vms:` of the root (every node's Director VMs) or of one node's Director (its workers).
// `uri` is how that process reaches libvirt (the root on this machine, the rest from a VM).
void emit_vms(YAML::Emitter& out, const LocalSite& site, const root::Plan& plan,
              const std::string& node, const config::Resources& capacity,
              const std::string& files_dir, const std::map<std::string, std::string>& addresses,
              const std::string& uri) {
  const std::string role = node.empty() ? "director" : "worker";
  const std::string component = node.empty() ? "director" : "agent";
  const std::string config_name = node.empty() ? "director-{node}" : "agent-{vm}";
  out << YAML::Key << "vms" << YAML::Value << YAML::BeginMap;
  if (on_libvirt(site)) {
    out << YAML::Key << "provider" << YAML::Value << "libvirt";
    out << YAML::Key << "uri" << YAML::Value << uri;
    out << YAML::Key << "bridge" << YAML::Value << bridge_of(site);
    out << YAML::Key << "state_dir" << YAML::Value << libvirt_dir(site);
  } else {
    out << YAML::Key << "provider" << YAML::Value << "local";
    out << YAML::Key << "state_dir" << YAML::Value << site.dir + "/local";
    out << YAML::Key << "id" << YAML::Value << site.id;
    out << YAML::Key << "subnet" << YAML::Value << site.subnet;
  }
  out << YAML::Key << "cluster" << YAML::Value << plan.cluster;
  if (!node.empty()) out << YAML::Key << "node" << YAML::Value << node;
  out << YAML::Key << "agent_port" << YAML::Value << kAgentPort;
  emit_addresses(out, plan, node, addresses);
  if (on_libvirt(site)) {
    // Each VM's files are in the initramfs omni init made for it (a Director in a VM cannot
    // write on the libvirt host), and libvirt knows the host's capacity.
    emit_libvirt_boot(out, site, role, component, config_name);
    out << YAML::EndMap;
    return;
  }
  out << YAML::Key << "files" << YAML::Value << files_dir;
  out << YAML::Key << "capacity" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "cpu_millis" << YAML::Value << capacity.cpu_millis;
  out << YAML::Key << "memory_bytes" << YAML::Value << capacity.memory_bytes;
  out << YAML::EndMap;
  out << YAML::Key << "boot" << YAML::Value << YAML::BeginMap << YAML::Key << role << YAML::Value
      << YAML::BeginMap;
  emit_list(out, "init", boot_init(site, component, config_name));
  out << YAML::EndMap << YAML::EndMap;
  out << YAML::EndMap;
}

// How the VMs reach libvirt, or empty on the local provider.
std::string uri_from_vms(const LocalSite& site) {
  return on_libvirt(site) ? libvirt_uri_from_vms(site.hypervisor, site.subnet) : std::string();
}

std::string root_yaml(const LocalSite& site, const config::ClusterConfig& config,
                      const root::Plan& plan, const std::map<std::string, std::string>& book,
                      const std::map<std::string, std::string>& addresses) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  emit_common(out, "root", site.dir + "/root", at(site.subnet + ".1", kRootPort), book,
              site.dir + "/pki/");
  out << YAML::Key << "cluster" << YAML::Value << site.dir + "/cluster.yaml";
  out << YAML::Key << "image" << YAML::Value << site.image;
  emit_vms(out, site, plan, "", largest_node(config), site.dir + "/pki/vms", addresses,
           site.hypervisor);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string director_yaml(const LocalSite& site, const config::ClusterConfig& config,
                          const root::Plan& plan, const config::NodeConfig& node,
                          const std::map<std::string, std::string>& book,
                          const std::map<std::string, std::string>& addresses) {
  const std::string own_vm = root::director_vm_name(plan.cluster, node.name);
  YAML::Emitter out;
  out << YAML::BeginMap;
  emit_common(out, director::director_address(node.name), "../disk/director",
              at(addresses.at(own_vm), kDirectorPort), book, "");
  emit_list(out, "args",
            {"director", "--node=" + node.name, "--own-vm=" + own_vm,
             "--cpu-millis=" + std::to_string(node.resources.cpu_millis),
             "--memory-bytes=" + std::to_string(node.resources.memory_bytes),
             "--director-vm-cpu-millis=" + std::to_string(config.director_vm.cpu_millis),
             "--director-vm-memory-bytes=" + std::to_string(config.director_vm.memory_bytes)});
  emit_vms(out, site, plan, node.name, node.resources, "vms", addresses, uri_from_vms(site));
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string agent_yaml(const LocalSite& site, const root::PlannedVm& vm,
                       const std::map<std::string, std::string>& book) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  emit_common(out, director::agent_address(vm.name), "../disk/agent", at("0.0.0.0", kAgentPort),
              book, "");
  emit_list(out, "args",
            {"agent", "--vm=" + vm.name, "--director=" + director::director_address(vm.node),
             "--cpu-millis=" + std::to_string(vm.resources.cpu_millis),
             "--memory-bytes=" + std::to_string(vm.resources.memory_bytes)});
  out << YAML::Key << "containers" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "runtime" << YAML::Value << site.runtime;
  if (site.runtime == "process") {
    out << YAML::Key << "state_dir" << YAML::Value << "../disk/containers";
  } else {
    out << YAML::Key << "socket" << YAML::Value << site.containerd_socket;
    out << YAML::Key << "log_dir" << YAML::Value << "../disk/container-logs";
    // The local provider's hypervisor is this machine: the Orchestrator that brings a
    // Director's sandbox back needs it from its container.
    emit_list(out, "host_access", {"orchestrator"});
  }
  // In a libvirt VM, Omni's image is in the initramfs (drivers/image/build_initramfs.sh).
  out << YAML::Key << "images" << YAML::Value << YAML::BeginMap << YAML::Key << site.image
      << YAML::Value << (on_libvirt(site) ? "/usr/lib/omni/omni-image.tar" : site.image_tar)
      << YAML::EndMap;
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

// A replica's config; its args come from its container (the root's replica_args). Its leader
// brings back a Director whose VM is lost, as the root made it: the same VMs section.
std::string orchestrator_yaml(const LocalSite& site, const config::ClusterConfig& config,
                              const root::Plan& plan, const root::PlannedReplica& replica,
                              const std::map<std::string, std::string>& book,
                              const std::map<std::string, std::string>& addresses,
                              const std::string& dashboard_token) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  emit_common(out, "orchestrator:" + std::to_string(replica.replica),
              "../disk/orchestrator-" + std::to_string(replica.replica),
              at("0.0.0.0", kOrchestratorPortBase + replica.replica), book, "");
  out << YAML::Key << "dashboard" << YAML::Value
      << at("0.0.0.0", kDashboardPortBase + replica.replica);
  out << YAML::Key << "dashboard_token" << YAML::Value << dashboard_token;
  emit_vms(out, site, plan, "", largest_node(config), site.dir + "/pki/vms", addresses,
           uri_from_vms(site));
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

fs::path files_of(const LocalSite& site, const root::Plan& plan, const root::PlannedVm& vm) {
  const fs::path vms = fs::path(site.dir) / "pki" / "vms";
  if (vm.role == root::VmRole::director) return vms / vm.name;
  return vms / root::director_vm_name(plan.cluster, vm.node) / "vms" / vm.name;
}

// The cluster's dashboard token, made once (SITE/dashboard.token, 0600) and kept: a resumed
// init, and the URL a person saved, go on working.
std::string ensure_dashboard_token(const LocalSite& site, std::string& token) {
  const fs::path file = fs::path(site.dir) / "dashboard.token";
  if (std::ifstream in(file); in && std::getline(in, token) && token.size() == 32) return {};
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return "cannot draw a dashboard token";
  token.clear();
  for (const unsigned char b : bytes) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", b);
    token += hex;
  }
  return write_atomically(file, token + "\n", 0600);
}

std::string write_node_configs(const LocalSite& site, const config::ClusterConfig& config,
                               const root::Plan& plan) {
  const auto addresses = planned_addresses(plan, site.subnet);
  const auto book = peer_book(plan, site.subnet);
  std::string token;
  if (std::string problem = ensure_dashboard_token(site, token); !problem.empty()) return problem;
  std::string error = write_atomically(fs::path(site.dir) / "root.yaml",
                                       root_yaml(site, config, plan, book, addresses));
  for (const auto& node : config.nodes) {
    if (!error.empty()) return error;
    const fs::path dir =
        fs::path(site.dir) / "pki" / "vms" / root::director_vm_name(plan.cluster, node.name);
    error = write_atomically(dir / (key_pair_name(director::director_address(node.name)) + ".yaml"),
                             director_yaml(site, config, plan, node, book, addresses), 0600);
  }
  for (const auto& vm : plan.vms) {
    if (!error.empty() || vm.role != root::VmRole::worker) continue;
    error = write_atomically(
        files_of(site, plan, vm) / (key_pair_name(director::agent_address(vm.name)) + ".yaml"),
        agent_yaml(site, vm, book), 0600);
  }
  for (const auto& replica : plan.replicas) {
    if (!error.empty()) break;
    const auto vm = std::find_if(plan.vms.begin(), plan.vms.end(),
                                 [&](const root::PlannedVm& v) { return v.name == replica.vm; });
    OMNI_ASSERT(vm != plan.vms.end(), "a replica is placed in a planned VM");
    error = write_atomically(
        files_of(site, plan, *vm) / ("orchestrator-" + std::to_string(replica.replica) + ".yaml"),
        orchestrator_yaml(site, config, plan, replica, book, addresses, token), 0600);
  }
  return error;
}

// Under libvirt: the kernel, and each planned VM's initramfs (the shared one with the VM's
// files), in SITE/libvirt/, where the libvirtd's QEMU reads them.
std::string write_libvirt_boot_files(const LocalSite& site, const root::Plan& plan) {
  std::error_code error;
  fs::create_directories(libvirt_dir(site), error);
  // A system libvirtd runs QEMU as its own user (libvirt-qemu on Debian) and gives it each VM's
  // files, not their directories: it must be able to pass through them. Listing stays closed,
  // and the files are 0600 (a VM's initramfs holds its key).
  ::chmod(site.dir.c_str(), 0711);
  ::chmod(libvirt_dir(site).c_str(), 0711);
  fs::copy_file(site.kernel, libvirt_dir(site) + "/vmlinuz", fs::copy_options::overwrite_existing,
                error);
  if (error) return "cannot copy the kernel " + site.kernel + ": " + error.message();
  for (const auto& vm : plan.vms) {
    const fs::path files = files_of(site, plan, vm);
    const std::string initrd = libvirt_dir(site) + "/" + vm.name + ".initrd";
    std::string unreadable;
    const auto vm_file_list = vm_files(files.parent_path().string(), vm.name, unreadable);
    if (!unreadable.empty()) return unreadable;
    if (std::string problem =
            drivers::write_initrd_with_files(site.initramfs, vm_file_list, initrd + ".new");
        !problem.empty())
      return problem;
    fs::rename(initrd + ".new", initrd, error);
    if (error) return "cannot write " + initrd + ": " + error.message();
  }
  return {};
}

std::string site_yaml(const LocalSite& site, const std::string& cluster) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "cluster" << YAML::Value << cluster;
  out << YAML::Key << "id" << YAML::Value << site.id;
  out << YAML::Key << "subnet" << YAML::Value << site.subnet;
  out << YAML::Key << "omni_node" << YAML::Value << site.omni_node;
  out << YAML::Key << "image_tar" << YAML::Value << site.image_tar;
  out << YAML::Key << "image" << YAML::Value << site.image;
  out << YAML::Key << "runtime" << YAML::Value << site.runtime;
  out << YAML::Key << "containerd_socket" << YAML::Value << site.containerd_socket;
  out << YAML::Key << "containerd" << YAML::Value << site.containerd;
  out << YAML::Key << "hypervisor" << YAML::Value << site.hypervisor;
  out << YAML::Key << "kernel" << YAML::Value << site.kernel;
  out << YAML::Key << "initramfs" << YAML::Value << site.initramfs;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

struct LibvirtUri {
  std::string driver;     // qemu, test, ...
  std::string transport;  // empty, tcp, unix, ssh, tls, ...
  std::string host;       // empty: this machine's socket
  std::string port;       // empty: the transport's default
  std::string path;       // /system, without ?query
};

// DRIVER[+TRANSPORT]://[USER@][HOST][:PORT]/PATH[?QUERY], or nothing when `uri` is not one.
std::optional<LibvirtUri> parse_libvirt_uri(const std::string& uri) {
  const auto scheme_end = uri.find("://");
  if (scheme_end == std::string::npos) return std::nullopt;
  LibvirtUri parts;
  const std::string scheme = uri.substr(0, scheme_end);
  parts.driver = scheme.substr(0, scheme.find('+'));
  if (const auto plus = scheme.find('+'); plus != std::string::npos)
    parts.transport = scheme.substr(plus + 1);
  const std::string rest = uri.substr(scheme_end + 3);
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  parts.path = slash == std::string::npos ? "/" : rest.substr(slash, rest.find('?') - slash);
  if (const auto at = authority.find('@'); at != std::string::npos)
    authority = authority.substr(at + 1);
  parts.host = authority;
  if (const auto colon = authority.rfind(':');
      colon != std::string::npos && authority.find(']') == std::string::npos) {
    parts.host = authority.substr(0, colon);
    parts.port = authority.substr(colon + 1);
    if (parts.port.empty() || parts.port.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
  }
  return parts;
}

// A site written before site.yaml named its cluster: the name in the config it was made from.
std::string cluster_named_in(const std::string& cluster_yaml) {
  const drivers::TextFile file = drivers::read_text_file(cluster_yaml);
  if (!file.error.empty()) return {};
  const auto parsed = config::parse_cluster_config(file.text, cluster_yaml);
  return parsed.config ? parsed.config->name : std::string();
}

}  // namespace

std::string libvirt_uri_from_vms(const std::string& uri, const std::string& subnet) {
  const auto parts = parse_libvirt_uri(uri);
  if (!parts) return {};
  const bool here = parts->host.empty() || parts->host == "localhost" ||
                    parts->host == "127.0.0.1" || parts->host == "[::1]";
  const bool local_transport =
      parts->transport.empty() || parts->transport == "tcp" || parts->transport == "unix";
  if (parts->driver != "qemu" || !here || !local_transport) return {};
  // A unix socket's URI names no port: the VMs use libvirtd's TCP default.
  const std::string port =
      parts->transport == "tcp" && !parts->port.empty() ? parts->port : "16509";
  return "qemu+tcp://" + subnet + ".1:" + port + parts->path;
}

LocalSite site_in(const std::string& dir) {
  const std::uint32_t hash = fnv1a(dir);
  char id[16];
  std::snprintf(id, sizeof id, "c%07x", hash & 0xfffffffu);
  LocalSite site;
  site.dir = dir;
  site.id = id;
  site.subnet = "10.215." + std::to_string(hash % 254 + 1);
  return site;
}

std::map<std::string, std::string> planned_addresses(const root::Plan& plan,
                                                     const std::string& subnet) {
  std::map<std::string, std::string> addresses;
  if (plan.vms.size() > static_cast<std::size_t>(254 - kFirstVmHost + 1)) return addresses;
  int host = kFirstVmHost;
  for (const auto& vm : plan.vms) addresses[vm.name] = subnet + "." + std::to_string(host++);
  OMNI_ASSERT(addresses.size() == plan.vms.size(), "VM names are unique");
  return addresses;
}

std::map<std::string, std::string> peer_book(const root::Plan& plan, const std::string& subnet) {
  const auto addresses = planned_addresses(plan, subnet);
  std::map<std::string, std::string> book;
  if (addresses.empty()) return book;
  book["root"] = at(subnet + ".1", kRootPort);
  book["admin"] = at(subnet + ".1", kAdminPort);
  for (const auto& vm : plan.vms) {
    if (vm.role == root::VmRole::director)
      book[director::director_address(vm.node)] = at(addresses.at(vm.name), kDirectorPort);
    else
      book[director::agent_address(vm.name)] = at(addresses.at(vm.name), kAgentPort);
  }
  for (const auto& replica : plan.replicas)
    book["orchestrator:" + std::to_string(replica.replica)] =
        at(addresses.at(replica.vm), kOrchestratorPortBase + replica.replica);
  OMNI_ASSERT(book.size() == plan.vms.size() + plan.replicas.size() + 2, "identities are unique");
  return book;
}

std::string write_local_site(const LocalSite& site, const std::string& cluster_yaml,
                             const config::ClusterConfig& config, const root::Plan& plan) {
  if (planned_addresses(plan, site.subnet).empty())
    return "a local cluster holds at most " + std::to_string(254 - kFirstVmHost + 1) +
           " VMs; this plan has " + std::to_string(plan.vms.size());
  if (site.omni_node.find('\'') != std::string::npos)
    return "the path of omni-node must not contain a quote: " + site.omni_node;
  OMNI_ASSERT(site.cluster.empty() || site.cluster == plan.cluster,
              "init never writes over another cluster's site");
  std::error_code ignored;
  fs::create_directories(site.dir, ignored);
  ::chmod(site.dir.c_str(), 0700);
  std::string error =
      write_atomically(fs::path(site.dir) / "site.yaml", site_yaml(site, plan.cluster));
  if (error.empty()) error = write_atomically(fs::path(site.dir) / "cluster.yaml", cluster_yaml);
  // Made whole beside, then renamed: a resumed init keeps a CA it finds, never half of one.
  const fs::path pki = fs::path(site.dir) / "pki";
  if (error.empty() && !fs::exists(pki)) {
    const fs::path fresh = site.dir + "/pki.new";
    fs::remove_all(fresh, ignored);
    error = write_cluster_pki(plan, fresh.string(), {}, planned_addresses(plan, site.subnet));
    if (error.empty()) fs::rename(fresh, pki, ignored);
    if (error.empty() && ignored)
      error = "cannot rename " + fresh.string() + ": " + ignored.message();
  }
  if (error.empty()) error = write_node_configs(site, config, plan);
  if (error.empty() && on_libvirt(site)) error = write_libvirt_boot_files(site, plan);
  return error;
}

std::string read_local_site(const std::string& dir, LocalSite& site) {
  const std::string file = dir + "/site.yaml";
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::Exception& e) {
    return "cannot read " + file + ": " + e.msg;
  }
  const auto text = [&](const char* key) {
    const YAML::Node node = root[key];
    return node && node.IsScalar() ? node.Scalar() : std::string();
  };
  if (!root.IsMap() || text("id").empty() || text("subnet").empty())
    return file + " is not an Omni site (it needs id and subnet)";
  site.dir = dir;
  site.cluster =
      text("cluster").empty() ? cluster_named_in(dir + "/cluster.yaml") : text("cluster");
  site.id = text("id");
  site.subnet = text("subnet");
  site.omni_node = text("omni_node");
  site.image_tar = text("image_tar");
  site.image = text("image");
  site.runtime = text("runtime");
  site.containerd_socket = text("containerd_socket");
  site.containerd = text("containerd");
  site.hypervisor = text("hypervisor").empty() ? "local" : text("hypervisor");
  site.kernel = text("kernel");
  site.initramfs = text("initramfs");
  if (site.containerd != "" && site.containerd != "system" && site.containerd != "own")
    return file + ": containerd: expected system or own, got `" + site.containerd + "`";
  return {};
}

}  // namespace omni::node
