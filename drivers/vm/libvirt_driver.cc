#include "drivers/vm/libvirt_driver.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "drivers/util/cpio.h"
#include "drivers/vm/libvirt_xml.h"

namespace omni::drivers {
namespace {

using EventSink = std::shared_ptr<EventQueue<VmEvent>>;

void silent_error_handler(void*, virErrorPtr) {}

// libvirt's event loop runs on one process-wide thread, registered before any connection so
// lifecycle events, keepalives and close callbacks work. The error handler keeps libvirt from
// printing to stderr; every error is read back with virGetLastError instead.
void init_libvirt_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    virSetErrorFunc(nullptr, silent_error_handler);
    virInitialize();
    if (virEventRegisterDefaultImpl() == 0) {
      std::thread([] {
        for (;;) virEventRunDefaultImpl();
      }).detach();
    }
  });
}

struct DomainFree {
  void operator()(virDomainPtr d) const {
    if (d != nullptr) virDomainFree(d);
  }
};
using Domain = std::unique_ptr<virDomain, DomainFree>;

bool is_connection_error(int code) {
  return code == VIR_ERR_NO_CONNECT || code == VIR_ERR_INVALID_CONN || code == VIR_ERR_RPC ||
         code == VIR_ERR_SYSTEM_ERROR || code == VIR_ERR_AUTH_FAILED ||
         code == VIR_ERR_AUTH_UNAVAILABLE || code == VIR_ERR_SSH || code == VIR_ERR_LIBSSH ||
         code == VIR_ERR_NO_SUPPORT || code == VIR_ERR_OPEN_FAILED || code == VIR_ERR_UNKNOWN_HOST;
}

// Turns libvirt's last error on this thread into a DriverResult that says what we tried.
DriverResult libvirt_error(const std::string& what) {
  virErrorPtr error = virGetLastError();
  int code = error != nullptr ? error->code : VIR_ERR_INTERNAL_ERROR;
  std::string reason =
      error != nullptr && error->message != nullptr ? error->message : "unknown libvirt error";
  virResetLastError();
  DriverStatus status = DriverStatus::failed;
  if (code == VIR_ERR_NO_DOMAIN) {
    status = DriverStatus::not_found;
  } else if (code == VIR_ERR_DOM_EXIST || reason.find("already exists") != std::string::npos) {
    status = DriverStatus::already_exists;
  } else if (reason.find("Cannot allocate memory") != std::string::npos ||
             reason.find("not enough memory") != std::string::npos) {
    status = DriverStatus::no_capacity;
  } else if (is_connection_error(code)) {
    status = DriverStatus::unavailable;
  }
  return error_result(status, what + ": " + reason);
}

VmState state_of(int libvirt_state) {
  switch (libvirt_state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
      return VmState::running;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
      return VmState::paused;
    case VIR_DOMAIN_SHUTDOWN:
    case VIR_DOMAIN_SHUTOFF:
      return VmState::stopped;
    case VIR_DOMAIN_CRASHED:
      return VmState::crashed;
    default:
      return VmState::unknown;
  }
}

int on_lifecycle(virConnectPtr, virDomainPtr domain, int event, int detail, void* opaque) {
  const char* raw_name = virDomainGetName(domain);
  std::string name = raw_name != nullptr ? raw_name : "";
  if (name.rfind("omni-", 0) != 0) return 0;
  VmEvent out{VmEventKind::stopped, name, {}};
  switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
      out.kind = VmEventKind::started;
      break;
    case VIR_DOMAIN_EVENT_STOPPED:
      out.kind =
          (detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED || detail == VIR_DOMAIN_EVENT_STOPPED_FAILED)
              ? VmEventKind::crashed
              : VmEventKind::stopped;
      break;
    case VIR_DOMAIN_EVENT_CRASHED:
      out.kind = VmEventKind::crashed;
      break;
    case VIR_DOMAIN_EVENT_UNDEFINED:
      out.kind = VmEventKind::destroyed;
      break;
    default:
      return 0;
  }
  out.detail = "libvirt lifecycle event " + std::to_string(event) + "/" + std::to_string(detail);
  (*static_cast<EventSink*>(opaque))->push(std::move(out));
  return 0;
}

void on_close(virConnectPtr, int reason, void* opaque) {
  const char* why = reason == VIR_CONNECT_CLOSE_REASON_EOF         ? "end of file"
                    : reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive timeout"
                    : reason == VIR_CONNECT_CLOSE_REASON_CLIENT    ? "closed by client"
                                                                   : "error";
  if (reason == VIR_CONNECT_CLOSE_REASON_CLIENT) return;
  (*static_cast<EventSink*>(opaque))
      ->push(VmEvent{VmEventKind::connection_lost, {}, std::string("connection lost: ") + why});
}

void free_sink(void* opaque) {
  delete static_cast<EventSink*>(opaque);
}

// KVM when the host can run it: its capabilities list a kvm domain type whenever QEMU was
// built with KVM, so ask for KVM's domain capabilities, which libvirt refuses without /dev/kvm.
std::string pick_domain_type(virConnectPtr connection) {
  const char* type = virConnectGetType(connection);
  if (type != nullptr && std::string(type) == "Test") return "test";
  char* caps = virConnectGetDomainCapabilities(connection, nullptr, "x86_64", nullptr, "kvm", 0);
  const bool has_kvm = caps != nullptr;
  std::free(caps);
  virResetLastError();
  return has_kvm ? "kvm" : "qemu";
}

}  // namespace

namespace {

// A newc archive of `files` under etc/omni/, with every directory they need (0700).
std::string overlay_of(const std::vector<VmFile>& files) {
  std::vector<ArchiveFile> entries{{"etc", "", 0755, true}, {"etc/omni", "", 0700, true}};
  std::set<std::string> directories{"etc", "etc/omni"};
  for (const auto& file : files) {
    const std::string path = "etc/omni/" + file.path;
    for (auto slash = path.find('/', 9); slash != std::string::npos;
         slash = path.find('/', slash + 1))
      if (directories.insert(path.substr(0, slash)).second)
        entries.push_back({path.substr(0, slash), "", 0700, true});
    entries.push_back({path, file.content, file.mode, false});
  }
  return newc_archive(entries);
}

}  // namespace

std::string write_initrd_with_files(const std::string& shared, const std::vector<VmFile>& files,
                                    const std::string& copy) {
  std::ifstream in(shared, std::ios::binary);
  if (!in) return "cannot read the initramfs " + shared;
  std::ofstream out(copy, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
  // The kernel wants each archive 4-byte aligned; an uncompressed one may follow a gzip'd one.
  for (auto at = out.tellp(); at % 4 != 0; at += 1) out.put('\0');
  const std::string overlay = overlay_of(files);
  out.write(overlay.data(), static_cast<std::streamsize>(overlay.size()));
  out.close();
  ::chmod(copy.c_str(), 0600);
  return out ? std::string() : "cannot write the initramfs copy " + copy;
}

LibvirtDriver::LibvirtDriver(const LibvirtOptions& options)
    : options_(options), events_(std::make_shared<EventQueue<VmEvent>>()) {}

LibvirtDriver::~LibvirtDriver() {
  std::lock_guard lock(mutex_);
  close();
}

Outcome<std::unique_ptr<LibvirtDriver>> LibvirtDriver::connect(const LibvirtOptions& options) {
  init_libvirt_once();
  std::unique_ptr<LibvirtDriver> driver(new LibvirtDriver(options));
  std::lock_guard lock(driver->mutex_);
  if (auto opened = driver->open(); !is_ok(opened)) {
    return failure<std::unique_ptr<LibvirtDriver>>(opened);
  }
  return success(std::move(driver));
}

DriverResult LibvirtDriver::open() {
  connection_ = virConnectOpen(options_.uri.c_str());
  if (connection_ == nullptr) {
    auto error = libvirt_error("cannot connect to libvirt at '" + options_.uri + "'");
    error.status = DriverStatus::unavailable;
    return error;
  }
  virConnSetErrorFunc(connection_, nullptr, silent_error_handler);
  // 1 means keepalive is not needed (a local driver); -1 is not fatal either.
  if (virConnectSetKeepAlive(connection_, options_.keepalive_interval_s,
                             static_cast<unsigned>(options_.keepalive_count)) < 0) {
    virResetLastError();
  }
  // libvirt frees callback data only for a registration it accepted; a refused one is ours.
  auto* lifecycle_sink = new EventSink(events_);
  lifecycle_callback_id_ = virConnectDomainEventRegisterAny(
      connection_, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
      lifecycle_sink, free_sink);
  if (lifecycle_callback_id_ < 0) {
    free_sink(lifecycle_sink);
    virResetLastError();
  }
  // The close callback points at our own member and frees nothing: the test driver never calls
  // a free callback at unregistration, and close() unregisters before events_ goes away.
  if (virConnectRegisterCloseCallback(connection_, on_close, &events_, nullptr) < 0) {
    virResetLastError();
  }
  domain_type_ =
      options_.domain_type.empty() ? pick_domain_type(connection_) : options_.domain_type;
  return ok_result();
}

void LibvirtDriver::close() {
  if (connection_ == nullptr) return;
  if (lifecycle_callback_id_ >= 0) {
    virConnectDomainEventDeregisterAny(connection_, lifecycle_callback_id_);
  }
  virConnectUnregisterCloseCallback(connection_, on_close);
  virConnectClose(connection_);
  virResetLastError();
  connection_ = nullptr;
  lifecycle_callback_id_ = -1;
}

// A lost connection is reopened once per call; if that fails the caller hears why.
DriverResult LibvirtDriver::ensure_connected() {
  if (connection_ != nullptr && virConnectIsAlive(connection_) == 1) return ok_result();
  virResetLastError();
  close();
  auto reopened = open();
  if (!is_ok(reopened)) {
    reopened.message =
        "connection to '" + options_.uri + "' lost; reconnecting failed: " + reopened.message;
  }
  return reopened;
}

std::string LibvirtDriver::domain_xml(const VmSpec& spec) const {
  return libvirt_domain_xml(spec, domain_type_, VmNic{options_.network, options_.bridge},
                            k_omni_xml_namespace);
}

Outcome<HostCapacity> LibvirtDriver::capacity() {
  std::lock_guard lock(mutex_);
  if (auto c = ensure_connected(); !is_ok(c)) return failure<HostCapacity>(c);
  virNodeInfo node{};
  if (virNodeGetInfo(connection_, &node) < 0) {
    return failure<HostCapacity>(libvirt_error("cannot read host info from " + options_.uri));
  }
  return success(HostCapacity{static_cast<std::int64_t>(node.cpus) * 1000,
                              static_cast<std::int64_t>(node.memory) * 1024});
}

// A VM fits when it and every other Omni VM on the host fit the host together.
DriverResult LibvirtDriver::admit(const VmSpec& spec) {
  virNodeInfo node{};
  if (virNodeGetInfo(connection_, &node) < 0) {
    return libvirt_error("cannot read host info from " + options_.uri);
  }
  HostCapacity host{static_cast<std::int64_t>(node.cpus) * 1000,
                    static_cast<std::int64_t>(node.memory) * 1024};
  auto listed = list_locked();
  if (!listed.ok()) return listed.result;
  HostCapacity used;
  for (const auto& vm : listed.value) {
    used.cpu_millis += vm.cpu_millis;
    used.memory_bytes += vm.memory_bytes;
  }
  std::string name = vm_name(spec.identity);
  if (used.memory_bytes + spec.memory_bytes > host.memory_bytes) {
    return error_result(DriverStatus::no_capacity,
                        "not enough memory for " + name + " on " + options_.uri + ": it needs " +
                            std::to_string(spec.memory_bytes) + " bytes, the host has " +
                            std::to_string(host.memory_bytes) + " of which Omni VMs use " +
                            std::to_string(used.memory_bytes));
  }
  if (used.cpu_millis + spec.cpu_millis > host.cpu_millis) {
    return error_result(DriverStatus::no_capacity,
                        "not enough CPU for " + name + " on " + options_.uri + ": it needs " +
                            std::to_string(spec.cpu_millis) + " millis, the host has " +
                            std::to_string(host.cpu_millis) + " of which Omni VMs use " +
                            std::to_string(used.cpu_millis));
  }
  return ok_result();
}

DriverResult LibvirtDriver::create(const VmSpec& spec) {
  if (auto invalid = validate_identity(spec.identity); !invalid.empty()) {
    return error_result(DriverStatus::failed, "invalid VM identity: " + invalid);
  }
  if (spec.cpu_millis <= 0 || spec.memory_bytes <= 0) {
    return error_result(DriverStatus::failed, "a VM needs cpu_millis > 0 and memory_bytes > 0");
  }
  std::lock_guard lock(mutex_);
  if (auto c = ensure_connected(); !is_ok(c)) return c;
  std::string name = vm_name(spec.identity);
  if (Domain existing{virDomainLookupByName(connection_, name.c_str())}) {
    return error_result(DriverStatus::already_exists,
                        "domain " + name + " already exists on " + options_.uri);
  }
  virResetLastError();
  if (auto admitted = admit(spec); !is_ok(admitted)) return admitted;
  const Outcome<VmSpec> defined = with_files(spec, name);
  if (!defined.ok()) return defined.result;
  Domain domain{virDomainDefineXML(connection_, domain_xml(defined.value).c_str())};
  if (!domain) {
    std::remove(initrd_copy_of(name).c_str());
    return libvirt_error("cannot define domain " + name + " on " + options_.uri);
  }
  if (spec.autostart && virDomainSetAutostart(domain.get(), 1) < 0) {
    DriverResult failed = libvirt_error("cannot mark domain " + name + " autostart");
    virDomainUndefine(domain.get());
    return failed;
  }
  return ok_result();
}

std::string LibvirtDriver::initrd_copy_of(const std::string& name) const {
  return options_.state_dir + "/" + name + ".initrd";
}

// The kernel unpacks every archive of an initramfs in order: the shared image, then this VM's
// etc/omni/ with its key and certificates.
Outcome<VmSpec> LibvirtDriver::with_files(const VmSpec& spec, const std::string& name) {
  if (spec.boot.files.empty()) return success(spec);
  for (const auto& file : spec.boot.files)
    if (auto invalid = validate_vm_file(file); !invalid.empty())
      return failure<VmSpec>(DriverStatus::failed, "VM " + name + ": " + invalid);
  if (spec.boot.kernel_path.empty() || spec.boot.initrd_path.empty())
    return failure<VmSpec>(DriverStatus::failed,
                           "VM " + name +
                               " has files, which need a kernel and an initramfs to "
                               "append them to");
  if (!std::filesystem::exists(spec.boot.initrd_path))
    return failure<VmSpec>(DriverStatus::not_found,
                           "cannot read the initramfs " + spec.boot.initrd_path);
  std::error_code ignored;
  std::filesystem::create_directories(options_.state_dir, ignored);
  const std::string copy = initrd_copy_of(name);
  if (std::string problem = write_initrd_with_files(spec.boot.initrd_path, spec.boot.files, copy);
      !problem.empty())
    return failure<VmSpec>(DriverStatus::failed, "VM " + name + ": " + problem);
  VmSpec defined = spec;
  defined.boot.initrd_path = copy;
  return success(std::move(defined));
}

std::string LibvirtDriver::domain_xml_of(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (!is_ok(ensure_connected())) return {};
  Domain domain{virDomainLookupByName(connection_, name.c_str())};
  if (!domain) {
    virResetLastError();
    return {};
  }
  char* xml = virDomainGetXMLDesc(domain.get(), 0);
  std::string text = xml != nullptr ? xml : "";
  std::free(xml);
  virResetLastError();
  return text;
}

DriverResult LibvirtDriver::start(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (auto c = ensure_connected(); !is_ok(c)) return c;
  Domain domain{virDomainLookupByName(connection_, name.c_str())};
  if (!domain) return libvirt_error("no domain " + name + " on " + options_.uri);
  if (virDomainIsActive(domain.get()) == 1) return ok_result("already running");
  if (virDomainCreate(domain.get()) < 0) {
    return libvirt_error("cannot start domain " + name + " on " + options_.uri);
  }
  return ok_result();
}

DriverResult LibvirtDriver::stop(const std::string& name, bool force) {
  std::lock_guard lock(mutex_);
  if (auto c = ensure_connected(); !is_ok(c)) return c;
  Domain domain{virDomainLookupByName(connection_, name.c_str())};
  if (!domain) return libvirt_error("no domain " + name + " on " + options_.uri);
  if (virDomainIsActive(domain.get()) != 1) return ok_result("not running");
  int rc = force ? virDomainDestroy(domain.get()) : virDomainShutdown(domain.get());
  if (rc < 0) return libvirt_error("cannot stop domain " + name + " on " + options_.uri);
  return ok_result();
}

DriverResult LibvirtDriver::destroy(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (auto c = ensure_connected(); !is_ok(c)) return c;
  Domain domain{virDomainLookupByName(connection_, name.c_str())};
  if (!domain) return libvirt_error("no domain " + name + " on " + options_.uri);
  if (virDomainIsActive(domain.get()) == 1 && virDomainDestroy(domain.get()) < 0) {
    return libvirt_error("cannot power off domain " + name + " on " + options_.uri);
  }
  unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                   VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM;
  if (virDomainUndefineFlags(domain.get(), flags) < 0) {
    virResetLastError();  // older or test drivers reject some flags; plain undefine then
    if (virDomainUndefine(domain.get()) < 0) {
      return libvirt_error("cannot undefine domain " + name + " on " + options_.uri);
    }
  }
  std::remove(initrd_copy_of(name).c_str());  // its files (a key) go with it
  return ok_result();
}

Outcome<VmInfo> LibvirtDriver::info_of(virDomainPtr domain) {
  VmInfo info;
  const char* name = virDomainGetName(domain);
  info.name = name != nullptr ? name : "";
  char* metadata =
      virDomainGetMetadata(domain, VIR_DOMAIN_METADATA_ELEMENT, k_omni_xml_namespace, 0);
  bool is_omni = metadata != nullptr && parse_omni_metadata(metadata, info);
  std::free(metadata);
  virResetLastError();
  if (!is_omni) {
    return failure<VmInfo>(DriverStatus::not_found,
                           "domain " + info.name + " on " + options_.uri + " is not Omni's");
  }
  virDomainInfo raw{};
  if (virDomainGetInfo(domain, &raw) < 0) {
    return failure<VmInfo>(libvirt_error("cannot read domain " + info.name));
  }
  info.state = state_of(raw.state);
  if (info.state == VmState::stopped && virDomainIsPersistent(domain) == 1) {
    info.state = VmState::defined;
  }
  int autostart = 0;
  info.autostart = virDomainGetAutostart(domain, &autostart) == 0 && autostart == 1;
  virResetLastError();
  if (info.memory_bytes == 0) info.memory_bytes = static_cast<std::int64_t>(raw.maxMem) * 1024;
  if (info.cpu_millis == 0) info.cpu_millis = static_cast<std::int64_t>(raw.nrVirtCpu) * 1000;
  return success(std::move(info));
}

Outcome<std::vector<VmInfo>> LibvirtDriver::list_locked() {
  virDomainPtr* domains = nullptr;
  int count = virConnectListAllDomains(connection_, &domains, 0);
  if (count < 0) {
    return failure<std::vector<VmInfo>>(libvirt_error("cannot list domains on " + options_.uri));
  }
  std::vector<VmInfo> vms;
  for (int i = 0; i < count; ++i) {
    Domain domain{domains[i]};
    auto info = info_of(domain.get());
    if (info.ok()) vms.push_back(std::move(info.value));
  }
  std::free(domains);
  std::sort(vms.begin(), vms.end(),
            [](const VmInfo& a, const VmInfo& b) { return a.name < b.name; });
  return success(std::move(vms));
}

Outcome<std::vector<VmInfo>> LibvirtDriver::list() {
  std::lock_guard lock(mutex_);
  if (auto c = ensure_connected(); !is_ok(c)) return failure<std::vector<VmInfo>>(c);
  return list_locked();
}

Outcome<VmInfo> LibvirtDriver::inspect(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (auto c = ensure_connected(); !is_ok(c)) return failure<VmInfo>(c);
  Domain domain{virDomainLookupByName(connection_, name.c_str())};
  if (!domain) return failure<VmInfo>(libvirt_error("no domain " + name + " on " + options_.uri));
  return info_of(domain.get());
}

}  // namespace omni::drivers
