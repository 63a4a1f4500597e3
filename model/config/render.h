#pragma once
#include <string>

#include "model/config/cluster_config.h"

namespace YAML {
class Emitter;
}

namespace omni::config {

// Every field explicit, quantities in their shortest exact spelling; parses back to an equal
// config.
std::string render_yaml(const ClusterConfig& config);
void emit_config(YAML::Emitter& out, const ClusterConfig& config);
void emit_resources(YAML::Emitter& out, const Resources& resources);  // {cpu, memory}

}  // namespace omni::config
