#pragma once
// ContainerDriver without containerd: a "container" is a plain process (fork/exec) running a
// binary from an image's unpacked root filesystem; exits come from waitpid. No isolation and no
// resource limits: the fallback for machines without containerd, and for tests. Its processes
// do not outlive the driver: the destructor kills what is still running.
#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "drivers/container/container_driver.h"
#include "drivers/util/event_queue.h"
#include "drivers/util/oci_layout.h"

namespace omni::drivers {

struct ProcessRuntimeOptions {
  std::string state_dir;  // images/NAME/rootfs, containers/NAME/log; created if missing
  std::size_t containers_max = 256;
};

class ProcessRuntime final : public ContainerDriver {
 public:
  explicit ProcessRuntime(ProcessRuntimeOptions options);
  ~ProcessRuntime() override;
  ProcessRuntime(const ProcessRuntime&) = delete;
  ProcessRuntime& operator=(const ProcessRuntime&) = delete;

  DriverResult import_image(const std::string& image, const std::string& oci_tar_path) override;
  Outcome<std::vector<std::string>> list_images() override;
  DriverResult create(const ContainerSpec& spec) override;
  DriverResult start(const std::string& name) override;
  DriverResult kill(const std::string& name, int signal) override;
  DriverResult remove(const std::string& name) override;
  Outcome<std::vector<ContainerInfo>> list() override;
  Outcome<ContainerInfo> inspect(const std::string& name) override;

  std::vector<ContainerEvent> poll_events() override { return events_.poll(); }
  int event_fd() const override { return events_.fd(); }

  std::string log_path(const std::string& name) const;

 private:
  struct Image {
    std::string rootfs;
    OciImage config;
  };
  struct Container {
    ContainerSpec spec;
    ContainerState state = ContainerState::created;
    pid_t pid = 0;
    int exit_code = -1;
    std::thread waiter;
  };
  std::mutex import_mutex_;  // taken before mutex_
  void wait_for(const std::string& name, pid_t pid);
  ContainerInfo info_of(const std::string& name, const Container& container) const;
  std::vector<std::string> command_of(const Container& container, const Image& image) const;

  ProcessRuntimeOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, Image> images_;
  std::map<std::string, std::unique_ptr<Container>> containers_;
  EventQueue<ContainerEvent> events_;
};

}  // namespace omni::drivers
