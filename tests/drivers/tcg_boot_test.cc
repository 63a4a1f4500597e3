// One end-to-end boot through the path real hardware uses: a private libvirtd runs QEMU under
// TCG (this machine has no KVM) and boots Debian's kernel with the initramfs the build
// assembles (busybox-static + omni-node, drivers/image/build_initramfs.sh). omni-node inside
// the VM reports the machine it sees on the serial console, which libvirt writes to a file on
// the host; the test checks that report against the VM it asked for, then sees the guest's
// power-off arrive as a driver event. Label `tcg`, run by `.ci/dev tcg` (docs/drivers.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "drivers/vm/libvirt_driver.h"
#include "tests/drivers/test_support.h"

namespace omni::drivers {
namespace {

using testing::PrivateLibvirtd;

constexpr std::int64_t k_vm_memory_bytes = 512ll << 20;
constexpr std::int64_t k_vm_cpu_millis = 2000;
// A Debian kernel under TCG reaches /init in 5-30 s on a loaded 2-core machine.
constexpr auto k_boot_timeout = std::chrono::seconds(240);

// OMNI_TCG_KERNEL, or the newest /boot/vmlinuz-* (linux-image-amd64).
std::string kernel_path() {
  if (const char* chosen = std::getenv("OMNI_TCG_KERNEL")) return chosen;
  std::vector<std::string> kernels;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/boot", error))
    if (entry.path().filename().string().rfind("vmlinuz-", 0) == 0) kernels.push_back(entry.path());
  std::sort(kernels.begin(), kernels.end());
  return kernels.empty() ? "" : kernels.back();
}

// "omni-node report key=value ..." from the serial log, as a map; empty until it arrived.
std::map<std::string, std::string> report_in(const std::string& serial_log) {
  std::istringstream lines(serial_log);
  std::string line;
  std::map<std::string, std::string> report;
  while (std::getline(lines, line)) {
    const auto at = line.find("omni-node report ");
    if (at == std::string::npos) continue;
    std::istringstream fields(line.substr(at + 17));
    std::string field;
    while (fields >> field) {
      const auto eq = field.find('=');
      if (eq != std::string::npos) report[field.substr(0, eq)] = field.substr(eq + 1);
    }
  }
  return report;
}

// Copies a boot file where the unprivileged daemon's QEMU may read it.
std::string stage(const std::string& from, const PrivateLibvirtd& libvirtd) {
  const std::string to = libvirtd.dir() + "/" + std::filesystem::path(from).filename().string();
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  if (testing::is_root()) testing::run({"chown", "65534:65534", to});
  return to;
}

VmSpec tiny_vm(const std::string& kernel, const std::string& initrd, const std::string& serial) {
  VmSpec spec;
  spec.identity = {"tcg", "host1", "worker", 1};
  spec.cpu_millis = k_vm_cpu_millis;
  spec.memory_bytes = k_vm_memory_bytes;
  spec.boot.kernel_path = kernel;
  spec.boot.initrd_path = initrd;
  spec.boot.kernel_cmdline = "console=ttyS0 panic=-1 quiet";
  spec.boot.serial_log_path = serial;
  return spec;
}

bool stopped_event_for(LibvirtDriver& driver, const std::string& name) {
  for (const auto& event : driver.poll_events())
    if (event.name == name && event.kind == VmEventKind::stopped) return true;
  return false;
}

TEST(TcgBoot, OmniNodeInsideAVmReportsTheMachineItWasGiven) {
  const std::string kernel = kernel_path();
  ASSERT_FALSE(kernel.empty())
      << "no kernel: apt install linux-image-amd64, or set OMNI_TCG_KERNEL";
  ASSERT_TRUE(std::filesystem::exists(OMNI_INITRAMFS))
      << OMNI_INITRAMFS << " is missing: build the omni_initramfs target (.ci/dev tcg does)";
  ASSERT_TRUE(testing::have_program("qemu-system-x86_64")) << "apt install qemu-system-x86";
  ASSERT_TRUE(testing::have_program("libvirtd")) << "apt install libvirt-daemon";

  PrivateLibvirtd libvirtd;
  ASSERT_TRUE(libvirtd.ready()) << libvirtd.log();
  LibvirtOptions options;
  options.uri = libvirtd.uri("qemu");
  options.domain_type = "qemu";  // TCG: what this machine can run; real hosts pick kvm
  auto connected = LibvirtDriver::connect(options);
  ASSERT_TRUE(connected.ok()) << connected.result.message << "\n" << libvirtd.log();
  LibvirtDriver& driver = *connected.value;

  const std::string serial_log = libvirtd.dir() + "/serial.log";
  const VmSpec spec = tiny_vm(stage(kernel, libvirtd), stage(OMNI_INITRAMFS, libvirtd), serial_log);
  const std::string name = vm_name(spec.identity);
  const DriverResult created = driver.create(spec);
  ASSERT_EQ(created.status, DriverStatus::ok) << created.message;
  const DriverResult started = driver.start(name);
  ASSERT_EQ(started.status, DriverStatus::ok) << started.message << "\n" << libvirtd.log();
  int code = 0;
  EXPECT_EQ(testing::run({"virsh", "-c", options.uri, "domstate", name}, &code), "running\n\n");

  std::map<std::string, std::string> report;
  const bool reported = testing::wait_until(
      [&] { return !(report = report_in(testing::read_file(serial_log))).empty(); },
      k_boot_timeout);
  ASSERT_TRUE(reported) << "no report within the boot timeout; serial console:\n"
                        << testing::read_file(serial_log);
  EXPECT_EQ(report["version"], "0.1.0");
  EXPECT_EQ(report["machine"], "x86_64");
  EXPECT_EQ(report["cpus"], std::to_string(k_vm_cpu_millis / 1000));
  // The kernel keeps some memory for itself; what is left is most of what the VM was given.
  const std::int64_t memory = std::atoll(report["memory_bytes"].c_str());
  EXPECT_LE(memory, k_vm_memory_bytes);
  EXPECT_GE(memory, k_vm_memory_bytes * 3 / 4) << report["memory_bytes"];
  // vmlinuz-6.1.0-56-amd64 runs as 6.1.0-56-amd64.
  EXPECT_EQ("vmlinuz-" + report["kernel"], std::filesystem::path(kernel).filename().string());

  // The guest powers itself off; the driver reports it and libvirt agrees.
  ASSERT_TRUE(testing::wait_until([&] { return stopped_event_for(driver, name); },
                                  std::chrono::seconds(60)))
      << testing::read_file(serial_log);
  auto info = driver.inspect(name);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info.value.state, VmState::defined);  // shut off, kept: a start boots it again
  EXPECT_EQ(testing::run({"virsh", "-c", options.uri, "domstate", name}, &code), "shut off\n\n");

  ASSERT_EQ(driver.destroy(name).status, DriverStatus::ok);
  EXPECT_EQ(testing::run({"virsh", "-c", options.uri, "list", "--all", "--name"}, &code), "\n");
}

}  // namespace
}  // namespace omni::drivers
