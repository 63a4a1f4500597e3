#include "drivers/container/oci_spec.h"

#include "drivers/util/oci_layout.h"

namespace omni::drivers {
namespace {

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

std::string resources_json(const ContainerSpec& spec) {
  std::string out = "{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]";
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

std::string namespaces_json(const ContainerSpec& spec) {
  std::string out = R"([{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"})";
  if (!spec.host_network) out += R"(,{"type":"network"})";
  return out + "]";
}

}  // namespace

std::string oci_runtime_spec_json(const ContainerSpec& spec, const ProcessSpec& process) {
  std::string caps = json_strings(default_capabilities());
  std::string json = "{\"ociVersion\":\"1.0.2\",";
  json += "\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},";
  json += "\"args\":" + json_strings(process.args) + ",\"env\":" + json_strings(process.env) + ",";
  json += "\"cwd\":\"" + json_escape(process.cwd.empty() ? "/" : process.cwd) + "\",";
  json += "\"capabilities\":{\"bounding\":" + caps + ",\"effective\":" + caps +
          ",\"permitted\":" + caps + "},";
  json +=
      R"("rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true},)";
  json += R"("root":{"path":"rootfs","readonly":false},)";
  json += "\"hostname\":\"" + json_escape(spec.name) + "\",";
  json += "\"mounts\":" + mounts_json() + ",";
  json += "\"linux\":{\"resources\":" + resources_json(spec) + ",";
  json += "\"cgroupsPath\":\"/omni/" + json_escape(spec.name) + "\",";
  json += "\"namespaces\":" + namespaces_json(spec) + ",";
  json += R"("maskedPaths":["/proc/kcore","/proc/keys","/proc/timer_list","/sys/firmware"],)";
  json +=
      R"("readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}})";
  return json;
}

}  // namespace omni::drivers
