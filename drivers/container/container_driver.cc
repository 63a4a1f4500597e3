#include "drivers/container/container_driver.h"

#include <signal.h>

namespace omni::drivers {

const char* container_state_name(ContainerState state) {
  switch (state) {
    case ContainerState::created:
      return "created";
    case ContainerState::running:
      return "running";
    case ContainerState::stopped:
      return "stopped";
    case ContainerState::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string validate_container_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return "a container name needs 1 to 64 characters";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return "container name '" + name + "' may hold only a-z, 0-9, '_', '.' and '-'";
  }
  if (name[0] == '.' || name[0] == '-')
    return "container name '" + name + "' must not start with '.' or '-'";
  return {};
}

DriverResult execute_container_op(ContainerDriver& driver, const ContainerOp& op) {
  switch (op.kind) {
    case ContainerOpKind::import_image:
      if (op.args.empty()) {
        return error_result(DriverStatus::failed,
                            "import_image of " + op.image + " names no OCI tar (args[0])");
      }
      return driver.import_image(op.image, op.args[0]);
    case ContainerOpKind::create: {
      ContainerSpec spec;
      spec.name = op.name;
      spec.image = op.image;
      spec.args = op.args;
      spec.cpu_millis = op.cpu_millis;
      spec.memory_bytes = op.memory_bytes;
      return driver.create(spec);
    }
    case ContainerOpKind::start:
      return driver.start(op.name);
    case ContainerOpKind::stop:
      return driver.kill(op.name, SIGTERM);
    case ContainerOpKind::kill:
      return driver.kill(op.name, SIGKILL);
    case ContainerOpKind::remove:
      return driver.remove(op.name);
    case ContainerOpKind::list: {
      auto listed = driver.list();
      if (!listed.ok()) return listed.result;
      DriverResult result = ok_result();
      for (const auto& container : listed.value) {
        result.names.push_back(container.name);
        if (container.state == ContainerState::running) result.running.push_back(container.name);
      }
      return result;
    }
  }
  return error_result(DriverStatus::failed, "unknown container op");
}

}  // namespace omni::drivers
