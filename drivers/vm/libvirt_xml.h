#pragma once
// The text side of the libvirt driver: domain XML out, Omni metadata back in. Pure functions.
#include <map>
#include <string>

#include "drivers/vm/vm_driver.h"

namespace omni::drivers {

std::string xml_escape(const std::string& text);
std::string xml_unescape(const std::string& text);

// Where a VM's virtio NIC plugs in on the libvirt host: a libvirt network or a bridge (a
// privileged libvirtd makes the tap); neither: the VM has no NIC.
struct VmNic {
  std::string network;
  std::string bridge;
};

// <domain> for `spec`, with Omni's metadata element in namespace `xml_namespace`.
std::string libvirt_domain_xml(const VmSpec& spec, const std::string& domain_type, const VmNic& nic,
                               const std::string& xml_namespace);

// The metadata element alone (what virDomainGetMetadata returns).
std::string omni_metadata_xml(const VmSpec& spec, const std::string& xml_namespace);

// Reads identity, cpu_millis, memory_bytes, address and labels back from a metadata element; false
// if it is not Omni's.
bool parse_omni_metadata(const std::string& xml, VmInfo& info);

}  // namespace omni::drivers
