#include "drivers/container/container_driver.h"

#include <signal.h>

#include <algorithm>

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

namespace {

ContainerSpec spec_of(const ContainerOp& op) {
  ContainerSpec spec;
  spec.name = op.name;
  spec.image = op.image;
  spec.args = op.args;
  spec.cpu_millis = op.cpu_millis;
  spec.memory_bytes = op.memory_bytes;
  return spec;
}

DriverResult start_created(ContainerDriver& driver, const std::string& name, DriverResult answer) {
  DriverResult started = driver.start(name);
  if (!is_ok(started)) {
    return error_result(started.status,
                        "container " + name + " is created but did not start: " + started.message);
  }
  return answer;
}

// The model's create creates and starts, like `ctr run` (model/core/ops.h): the Agent counts a
// container as running once its create succeeds. A container of that name that does not run
// is replaced by one of the op's spec (its args may have changed since) and started, and the
// answer is already_exists, as the simulator's.
DriverResult create_and_start(ContainerDriver& driver, const ContainerOp& op) {
  DriverResult created = driver.create(spec_of(op));
  if (created.status == DriverStatus::ok) return start_created(driver, op.name, created);
  if (created.status != DriverStatus::already_exists) return created;
  auto existing = driver.inspect(op.name);
  if (!existing.ok()) {
    return error_result(
        existing.result.status,
        "container " + op.name + " cannot be inspected after create: " + existing.result.message);
  }
  if (existing.value.state == ContainerState::running) return created;
  if (DriverResult removed = driver.remove(op.name); !is_ok(removed)) {
    return error_result(removed.status,
                        "exited container " + op.name + " cannot be replaced: " + removed.message);
  }
  DriverResult replaced = driver.create(spec_of(op));
  if (!is_ok(replaced)) return replaced;
  return start_created(driver, op.name,
                       error_result(DriverStatus::already_exists,
                                    "container " + op.name + " existed, exited: replaced"));
}

// Every container and which of them run (model/core/ops.h), sorted as the model expects.
DriverResult list_containers(ContainerDriver& driver) {
  auto listed = driver.list();
  if (!listed.ok()) return listed.result;
  DriverResult result = ok_result();
  for (const auto& container : listed.value) {
    result.names.push_back(container.name);
    if (container.state == ContainerState::running) result.running.push_back(container.name);
  }
  std::sort(result.names.begin(), result.names.end());
  std::sort(result.running.begin(), result.running.end());
  return result;
}

DriverResult import_image(ContainerDriver& driver, const ContainerOp& op) {
  if (op.args.empty()) {
    return error_result(DriverStatus::failed,
                        "import_image of " + op.image + " names no OCI tar (args[0])");
  }
  return driver.import_image(op.image, op.args[0]);
}

}  // namespace

DriverResult execute_container_op(ContainerDriver& driver, const ContainerOp& op) {
  if (op.kind == ContainerOpKind::list) return list_containers(driver);
  if (op.kind == ContainerOpKind::import_image) return import_image(driver, op);
  // Refused here for every op that names a container, so a bad name reads the same whatever
  // the driver (a lookup would say not_found, containerd's API something else again).
  if (auto invalid = validate_container_name(op.name); !invalid.empty()) {
    return error_result(DriverStatus::failed, invalid);
  }
  switch (op.kind) {
    case ContainerOpKind::create:
      return create_and_start(driver, op);
    case ContainerOpKind::start:
      return driver.start(op.name);
    case ContainerOpKind::stop:
      return driver.kill(op.name, SIGTERM);
    case ContainerOpKind::kill:
      return driver.kill(op.name, SIGKILL);
    case ContainerOpKind::remove:
      return driver.remove(op.name);
    case ContainerOpKind::import_image:
    case ContainerOpKind::list:
      break;
  }
  return error_result(DriverStatus::failed,
                      "unknown container op kind " + std::to_string(static_cast<int>(op.kind)));
}

}  // namespace omni::drivers
