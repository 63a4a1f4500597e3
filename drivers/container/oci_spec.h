#pragma once
// The OCI runtime spec (config.json) a container runs with, as JSON.
#include <string>
#include <vector>

#include "drivers/container/container_driver.h"

namespace omni::drivers {

struct ProcessSpec {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
};

std::string oci_runtime_spec_json(const ContainerSpec& spec, const ProcessSpec& process);

}  // namespace omni::drivers
