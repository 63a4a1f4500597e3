#include "drivers/container/oci_spec.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>

#include "drivers/util/oci_layout.h"

namespace omni::drivers {
namespace {

// A hard limit a container's program may raise its own soft one to (omni-node does: gRPC stops
// accepting for good after running out of descriptors, and 1,024 connections were enough for
// that): 65,536, or what this process has if less, which the runtime may always set (a hard limit
// above its own made every container fail to start where it lacked CAP_SYS_RESOURCE).
rlim_t open_files_hard_limit() {
  rlimit own{};
  if (::getrlimit(RLIMIT_NOFILE, &own) != 0) return 1024;
  return std::min<rlim_t>(own.rlim_max, 65536);
}

std::string json_strings(const std::vector<std::string>& items) {
  // Appended piece by piece: GCC 12 at -O3 reports `"x" + std::string` as a -Wrestrict overlap.
  std::string out = "[";
  for (const auto& item : items) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += json_escape(item);
    out += '"';
  }
  out += ']';
  return out;
}

const std::vector<std::string>& default_capabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE"};
  return caps;
}

// The capabilities in this process's bounding set, by their bit (Linux 6.1 knows 41): a
// host-access container may do what root on the machine may, and no more, since runc fails to
// start a container asking for one the machine withholds.
std::vector<std::string> machine_capabilities() {
  static const char* const names[] = {"CHOWN",
                                      "DAC_OVERRIDE",
                                      "DAC_READ_SEARCH",
                                      "FOWNER",
                                      "FSETID",
                                      "KILL",
                                      "SETGID",
                                      "SETUID",
                                      "SETPCAP",
                                      "LINUX_IMMUTABLE",
                                      "NET_BIND_SERVICE",
                                      "NET_BROADCAST",
                                      "NET_ADMIN",
                                      "NET_RAW",
                                      "IPC_LOCK",
                                      "IPC_OWNER",
                                      "SYS_MODULE",
                                      "SYS_RAWIO",
                                      "SYS_CHROOT",
                                      "SYS_PTRACE",
                                      "SYS_PACCT",
                                      "SYS_ADMIN",
                                      "SYS_BOOT",
                                      "SYS_NICE",
                                      "SYS_RESOURCE",
                                      "SYS_TIME",
                                      "SYS_TTY_CONFIG",
                                      "MKNOD",
                                      "LEASE",
                                      "AUDIT_WRITE",
                                      "AUDIT_CONTROL",
                                      "SETFCAP",
                                      "MAC_OVERRIDE",
                                      "MAC_ADMIN",
                                      "SYSLOG",
                                      "WAKE_ALARM",
                                      "BLOCK_SUSPEND",
                                      "AUDIT_READ",
                                      "PERFMON",
                                      "BPF",
                                      "CHECKPOINT_RESTORE"};
  std::uint64_t bounding = 0;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("CapBnd:", 0) == 0) bounding = std::stoull(line.substr(7), nullptr, 16);
  std::vector<std::string> caps;
  for (std::size_t bit = 0; bit < std::size(names); ++bit)
    if ((bounding >> bit) & 1u) caps.push_back(std::string("CAP_") + names[bit]);
  return caps;
}

std::string mounts_json() {
  return R"([
 {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
 {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
 {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
 {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
 {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
 {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
 {"destination":"/etc/resolv.conf","type":"bind","source":"/etc/resolv.conf","options":["rbind","ro"]},
 {"destination":"/etc/hosts","type":"bind","source":"/etc/hosts","options":["rbind","ro"]}])";
}

std::string resources_json(const ContainerSpec& spec, const OciPlacement& placement) {
  std::string out = "{\"devices\":[{\"allow\":";
  out += placement.host_access ? "true" : "false";
  out += ",\"access\":\"rwm\"}]";
  if (!placement.limits) return out + "}";
  if (spec.memory_bytes > 0) {
    out += ",\"memory\":{\"limit\":" + std::to_string(spec.memory_bytes) + "}";
  }
  if (spec.cpu_millis > 0) {
    constexpr std::int64_t k_period_us = 100000;
    out += ",\"cpu\":{\"quota\":" + std::to_string(spec.cpu_millis * k_period_us / 1000) +
           ",\"period\":" + std::to_string(k_period_us) + "}";
  }
  return out + "}";
}

std::string namespaces_json(const ContainerSpec& spec, const OciPlacement& placement) {
  std::string out = R"([{"type":"ipc"},{"type":"uts"},{"type":"mount"})";
  if (!placement.host_access) out += R"(,{"type":"pid"})";
  if (!spec.host_network) {
    out += R"(,{"type":"network"})";
  } else if (!placement.network_namespace_path.empty()) {
    out += R"(,{"type":"network","path":")";
    out += json_escape(placement.network_namespace_path);
    out += "\"}";
  }
  return out + "]";
}

std::vector<std::string> env_of(const ProcessSpec& process, const OciPlacement& placement) {
  std::vector<std::string> env = process.env;
  if (placement.host_access)
    env.push_back("OMNI_ENTER_MOUNT_NS=" + placement.machine_mount_namespace_path);
  return env;
}

}  // namespace

std::string oci_runtime_spec_json(const ContainerSpec& spec, const ProcessSpec& process,
                                  const OciPlacement& placement) {
  const std::string caps =
      json_strings(placement.host_access ? machine_capabilities() : default_capabilities());
  std::string json = "{\"ociVersion\":\"1.0.2\",";
  json += "\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},";
  json += "\"args\":" + json_strings(process.args) +
          ",\"env\":" + json_strings(env_of(process, placement)) + ",";
  json += "\"cwd\":\"" + json_escape(process.cwd.empty() ? "/" : process.cwd) + "\",";
  json += "\"capabilities\":{\"bounding\":" + caps + ",\"effective\":" + caps +
          ",\"permitted\":" + caps + "},";
  const rlim_t hard = open_files_hard_limit();
  json += R"("rlimits":[{"type":"RLIMIT_NOFILE","hard":)" + std::to_string(hard) + R"(,"soft":)" +
          std::to_string(std::min<rlim_t>(hard, 1024)) + R"(}],"noNewPrivileges":)";
  json += placement.host_access ? "false}," : "true},";
  json += R"("root":{"path":"rootfs","readonly":false},)";
  json += "\"hostname\":\"" + json_escape(spec.name) + "\",";
  json += "\"mounts\":" + mounts_json() + ",";
  json += "\"linux\":{\"resources\":" + resources_json(spec, placement) + ",";
  json += "\"cgroupsPath\":\"" + json_escape(placement.cgroups_path) + "\",";
  json += "\"namespaces\":" + namespaces_json(spec, placement);
  if (placement.host_access) return json + "}}";
  json += R"(,"maskedPaths":["/proc/kcore","/proc/keys","/proc/timer_list","/sys/firmware"],)";
  json +=
      R"("readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}})";
  return json;
}

}  // namespace omni::drivers
