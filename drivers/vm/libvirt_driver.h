#pragma once
// VmDriver over libvirt's C API, for any URI: qemu:///system, qemu+ssh://HOST/system,
// test:///default, test:///path/to/node.xml, test+unix:///default?socket=PATH.
//
// Domains are named omni-CLUSTER-NODE-ROLE-SLOT and carry Omni's metadata (cluster, node,
// role, slot, cpu_millis, memory_bytes, labels) in <metadata> under k_omni_xml_namespace, so a
// new driver (after a restart) finds exactly the VMs Omni made. libvirt never prints: its
// errors become DriverResults.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/util/event_queue.h"
#include "drivers/vm/vm_driver.h"

typedef struct _virConnect* virConnectPtr;
typedef struct _virDomain* virDomainPtr;

namespace omni::drivers {

inline constexpr const char* k_omni_xml_namespace = "https://omni.dev/xmlns/libvirt/vm/1";

struct LibvirtOptions {
  std::string uri = "qemu:///system";
  // "kvm", "qemu" (TCG), "test"; empty picks: test for the test driver, kvm when the host
  // offers it, else qemu.
  std::string domain_type;
  std::string network;  // libvirt network for a virtio NIC; none when empty
  std::string bridge;   // else a bridge on the libvirt host for it (a privileged libvirtd)
  // Where per-VM initramfs copies (the shared one with the VM's files appended) are written;
  // the libvirt host must see this path too (a local URI, or a directory shared with it).
  std::string state_dir = "/var/lib/omni/libvirt";
  int keepalive_interval_s = 5;
  int keepalive_count = 3;
};

// Writes to `copy` the initramfs `shared` with `files` appended under etc/omni/, as one more
// archive (the kernel unpacks every archive in turn). Empty, or why it cannot.
std::string write_initrd_with_files(const std::string& shared, const std::vector<VmFile>& files,
                                    const std::string& copy);

class LibvirtDriver final : public VmDriver {
 public:
  // Opens the connection; unavailable (with the URI and libvirt's reason) when it cannot.
  static Outcome<std::unique_ptr<LibvirtDriver>> connect(const LibvirtOptions& options);
  ~LibvirtDriver() override;
  LibvirtDriver(const LibvirtDriver&) = delete;
  LibvirtDriver& operator=(const LibvirtDriver&) = delete;

  DriverResult create(const VmSpec& spec) override;
  DriverResult start(const std::string& name) override;
  DriverResult stop(const std::string& name, bool force) override;
  DriverResult destroy(const std::string& name) override;
  Outcome<std::vector<VmInfo>> list() override;
  Outcome<VmInfo> inspect(const std::string& name) override;
  Outcome<HostCapacity> capacity() override;

  std::vector<VmEvent> poll_events() override { return events_->poll(); }
  int event_fd() const override { return events_->fd(); }

  const std::string& uri() const { return options_.uri; }
  const std::string& domain_type() const { return domain_type_; }  // kvm, qemu (TCG) or test
  // The domain XML create() defines, exposed for tests and for `omni` dry runs.
  std::string domain_xml(const VmSpec& spec) const;
  // libvirt's XML of a defined domain as it keeps it (what `virsh dumpxml` prints); empty when
  // there is no such domain or the host cannot be reached.
  std::string domain_xml_of(const std::string& name);

 private:
  explicit LibvirtDriver(const LibvirtOptions& options);
  DriverResult open();
  void close();
  DriverResult ensure_connected();
  // The spec to define: with the VM's files, its initrd is a copy with them appended.
  Outcome<VmSpec> with_files(const VmSpec& spec, const std::string& name);
  std::string initrd_copy_of(const std::string& name) const;
  Outcome<VmInfo> info_of(virDomainPtr domain);
  Outcome<std::vector<VmInfo>> list_locked();
  DriverResult admit(const VmSpec& spec);

  LibvirtOptions options_;
  std::string domain_type_;
  std::mutex mutex_;
  virConnectPtr connection_ = nullptr;
  int lifecycle_callback_id_ = -1;
  std::shared_ptr<EventQueue<VmEvent>> events_;
};

}  // namespace omni::drivers
