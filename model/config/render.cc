#include "model/config/render.h"

#include <yaml-cpp/yaml.h>

#include "model/config/quantity.h"
#include "model/core/assert.h"

namespace omni::config {
namespace {

void emit_resources(YAML::Emitter& out, const Resources& r) {
  OMNI_ASSERT(r.cpu_millis > 0 && r.memory_bytes > 0);
  out << YAML::BeginMap;
  out << YAML::Key << "cpu" << YAML::Value << format_cpu_millis(r.cpu_millis);
  out << YAML::Key << "memory" << YAML::Value << format_memory_bytes(r.memory_bytes);
  out << YAML::EndMap;
}

}  // namespace

void emit_config(YAML::Emitter& out, const ClusterConfig& config) {
  OMNI_ASSERT(!config.nodes.empty());
  out << YAML::BeginMap;
  out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << config.name;
  out << YAML::Key << "orchestrators" << YAML::Value << config.orchestrators;
  out << YAML::Key << "director" << YAML::Value;
  emit_resources(out, config.director_vm);
  out << YAML::Key << "orchestrator" << YAML::Value;
  emit_resources(out, config.orchestrator);
  out << YAML::EndMap;
  out << YAML::Key << "nodes" << YAML::Value << YAML::BeginSeq;
  for (const auto& node : config.nodes) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << node.name;
    out << YAML::Key << "role" << YAML::Value << node.role;
    out << YAML::Key << "resources" << YAML::Value;
    emit_resources(out, node.resources);
    out << YAML::Key << "hypervisor" << YAML::Value << node.hypervisor;
    out << YAML::Key << "worker_vms" << YAML::Value << node.worker_vms;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
}

std::string render_yaml(const ClusterConfig& config) {
  YAML::Emitter out;
  emit_config(out, config);
  OMNI_ASSERT(out.good(), out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace omni::config
