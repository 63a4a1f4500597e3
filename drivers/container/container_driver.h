#pragma once
// The container side of the drivers: one small interface that the containerd driver and the
// `process` runtime implement, and that an Agent (node/) drives from its event loop.
//
// Calls are synchronous and return errors as values. Exits arrive as ContainerEvents in a queue
// the host polls; event_fd() becomes readable when events wait. Drivers are thread-safe.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "drivers/util/outcome.h"

namespace omni::drivers {

struct ContainerSpec {
  std::string name;   // [a-z0-9_.-], unique per driver
  std::string image;  // a name given to import_image
  // Docker semantics: the process runs the image's Entrypoint followed by `args`, or by the
  // image's Cmd when `args` is empty.
  std::vector<std::string> args;
  std::vector<std::string> env;   // KEY=VALUE, on top of the image's
  std::int64_t cpu_millis = 0;    // 0: no limit
  std::int64_t memory_bytes = 0;  // 0: no limit
  bool host_network = true;       // share the host's (the VM's) network namespace
  std::map<std::string, std::string> labels;
};

enum class ContainerState { created, running, stopped, unknown };
const char* container_state_name(ContainerState state);

struct ContainerInfo {
  std::string name;
  std::string image;
  ContainerState state = ContainerState::unknown;
  int pid = 0;
  int exit_code = -1;  // valid when stopped
  std::map<std::string, std::string> labels;
};

struct ContainerEvent {
  std::string name;
  int exit_code = -1;  // 128 + signal for a process killed by a signal
  std::string detail;
};

class ContainerDriver {
 public:
  virtual ~ContainerDriver() = default;

  // Imports an OCI image layout tar (what drivers/image/build_omni_image.sh writes) under
  // `image`. Importing the same image again is ok.
  virtual DriverResult import_image(const std::string& image, const std::string& oci_tar_path) = 0;
  virtual Outcome<std::vector<std::string>> list_images() = 0;
  // Creates without starting. not_found for an image never imported, already_exists for a
  // taken name; nothing is left behind on failure.
  virtual DriverResult create(const ContainerSpec& spec) = 0;
  virtual DriverResult start(const std::string& name) = 0;
  // Sends `signal` to the container's processes (stop = SIGTERM, kill = SIGKILL). The exit is
  // reported as an event.
  virtual DriverResult kill(const std::string& name, int signal) = 0;
  // Kills it if running and removes every trace of it. not_found if there is none.
  virtual DriverResult remove(const std::string& name) = 0;
  virtual Outcome<std::vector<ContainerInfo>> list() = 0;  // sorted by name
  virtual Outcome<ContainerInfo> inspect(const std::string& name) = 0;

  virtual std::vector<ContainerEvent> poll_events() = 0;
  virtual int event_fd() const = 0;
};

std::string validate_container_name(const std::string& name);

}  // namespace omni::drivers
