#include "drivers/vm/libvirt_xml.h"

#include <charconv>

namespace omni::drivers {
namespace {

std::string attr(const char* key, const std::string& value) {
  return std::string(" ") + key + "=\"" + xml_escape(value) + "\"";
}

// The value of attribute `key` in the element starting at `from`, quoted either way.
bool find_attr(const std::string& xml, std::size_t from, std::size_t to, const std::string& key,
               std::string& value) {
  for (std::size_t at = xml.find(key + "=", from); at != std::string::npos && at < to;
       at = xml.find(key + "=", at + 1)) {
    if (at > 0 && xml[at - 1] != ' ' && xml[at - 1] != '\n' && xml[at - 1] != '\t') continue;
    std::size_t quote_at = at + key.size() + 1;
    if (quote_at >= xml.size()) return false;
    char quote = xml[quote_at];
    if (quote != '"' && quote != '\'') return false;
    std::size_t end = xml.find(quote, quote_at + 1);
    if (end == std::string::npos) return false;
    value = xml_unescape(xml.substr(quote_at + 1, end - quote_at - 1));
    return true;
  }
  return false;
}

template <class Int>
bool to_int(const std::string& text, Int& value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

std::string os_xml(const VmBoot& boot, const std::string& domain_type) {
  std::string xml = "  <os>\n    <type";
  if (domain_type != "test") xml += " arch='x86_64'";
  xml += ">hvm</type>\n";
  if (!boot.kernel_path.empty()) {
    xml += "    <kernel>" + xml_escape(boot.kernel_path) + "</kernel>\n";
    if (!boot.initrd_path.empty()) {
      xml += "    <initrd>" + xml_escape(boot.initrd_path) + "</initrd>\n";
    }
    xml += "    <cmdline>" + xml_escape(boot.kernel_cmdline) + "</cmdline>\n";
  }
  xml += "    <boot dev='hd'/>\n  </os>\n";
  return xml;
}

std::string devices_xml(const VmBoot& boot, const std::string& domain_type, const VmNic& nic) {
  std::string xml = "  <devices>\n";
  if (!boot.disk_path.empty()) {
    xml += "    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='" +
           xml_escape(boot.disk_path) + "'/><target dev='vda' bus='virtio'/></disk>\n";
  }
  if (!nic.network.empty()) {
    xml += "    <interface type='network'><source network='" + xml_escape(nic.network) +
           "'/><model type='virtio'/></interface>\n";
  } else if (!nic.bridge.empty()) {
    xml += "    <interface type='bridge'><source bridge='" + xml_escape(nic.bridge) +
           "'/><model type='virtio'/></interface>\n";
  }
  if (domain_type != "test") {
    if (!boot.serial_log_path.empty()) {
      xml += "    <serial type='file'><source path='" + xml_escape(boot.serial_log_path) +
             "'/><target port='0'/></serial>\n";
    } else {
      xml += "    <serial type='pty'><target port='0'/></serial>\n";
    }
    xml += "    <memballoon model='none'/>\n";
  }
  xml += "  </devices>\n";
  return xml;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string xml_unescape(const std::string& text) {
  static const std::pair<const char*, char> k_entities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    bool replaced = false;
    if (text[i] == '&') {
      for (const auto& [entity, c] : k_entities) {
        std::string_view e(entity);
        if (text.compare(i, e.size(), e) == 0) {
          out += c;
          i += e.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

std::string omni_metadata_xml(const VmSpec& spec, const std::string& xml_namespace) {
  const auto& id = spec.identity;
  std::string xml = "<omni:instance xmlns:omni=\"" + xml_escape(xml_namespace) + "\"" +
                    attr("cluster", id.cluster) + attr("node", id.node) + attr("role", id.role) +
                    attr("slot", std::to_string(id.slot)) +
                    attr("cpu_millis", std::to_string(spec.cpu_millis)) +
                    attr("memory_bytes", std::to_string(spec.memory_bytes)) +
                    (spec.address.empty() ? "" : attr("address", spec.address)) + ">";
  for (const auto& [key, value] : spec.labels) {
    xml += "<omni:label" + attr("key", key) + attr("value", value) + "/>";
  }
  return xml + "</omni:instance>";
}

std::string libvirt_domain_xml(const VmSpec& spec, const std::string& domain_type, const VmNic& nic,
                               const std::string& xml_namespace) {
  std::int64_t memory_kib = (spec.memory_bytes + 1023) / 1024;
  std::int64_t vcpus = std::max<std::int64_t>(1, (spec.cpu_millis + 999) / 1000);
  std::string xml = "<domain type='" + xml_escape(domain_type) + "'>\n";
  xml += "  <name>" + xml_escape(vm_name(spec.identity)) + "</name>\n";
  xml += "  <memory unit='KiB'>" + std::to_string(memory_kib) + "</memory>\n";
  xml += "  <vcpu>" + std::to_string(vcpus) + "</vcpu>\n";
  xml += "  <metadata>\n    " + omni_metadata_xml(spec, xml_namespace) + "\n  </metadata>\n";
  xml += os_xml(spec.boot, domain_type);
  // Without ACPI a guest cannot power itself off (it halts and QEMU keeps running) and a
  // graceful stop, which is an ACPI power-button press, is never seen.
  if (domain_type != "test") xml += "  <features><acpi/><apic/></features>\n";
  // A guest that panics or crashes is booted again, as a machine's watchdog would; one that
  // powers itself off stays off (a stop asked for).
  xml += "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n";
  xml += "  <on_crash>restart</on_crash>\n";
  xml += devices_xml(spec.boot, domain_type, nic);
  return xml + "</domain>\n";
}

bool parse_omni_metadata(const std::string& xml, VmInfo& info) {
  std::size_t start = xml.find("instance");
  if (start == std::string::npos) return false;
  std::size_t end = xml.find('>', start);
  std::string slot, cpu, memory;
  VmIdentity& id = info.identity;
  if (!find_attr(xml, start, end, "cluster", id.cluster) ||
      !find_attr(xml, start, end, "node", id.node) ||
      !find_attr(xml, start, end, "role", id.role) || !find_attr(xml, start, end, "slot", slot) ||
      !to_int(slot, id.slot)) {
    return false;
  }
  if (find_attr(xml, start, end, "cpu_millis", cpu)) to_int(cpu, info.cpu_millis);
  if (find_attr(xml, start, end, "memory_bytes", memory)) to_int(memory, info.memory_bytes);
  find_attr(xml, start, end, "address", info.address);
  for (std::size_t at = xml.find("label", end); at != std::string::npos;
       at = xml.find("label", at + 1)) {
    std::size_t close = xml.find('>', at);
    std::string key, value;
    if (find_attr(xml, at, close, "key", key) && find_attr(xml, at, close, "value", value)) {
      info.labels[key] = value;
    }
  }
  return true;
}

}  // namespace omni::drivers
