#pragma once
#include <string>
#include <string_view>

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

// True when `text` written plain could be read as something else than a string: yaml-cpp quotes
// only null-like text, and YAML 1.1 readers (PyYAML, Go's yaml.v2) read 123, true, yes, on, 0x1f
// or 1e3 as numbers and booleans, and a node may be named any of them.
bool plain_yaml_is_ambiguous(std::string_view text);
// `text` as a YAML string every reader reads back as that string: double-quoted when plain is
// ambiguous.
void emit_text(YAML::Emitter& out, const std::string& text);

}  // namespace omni::config
