#include "drivers/container/container_driver.h"

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

}  // namespace omni::drivers
