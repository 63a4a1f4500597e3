#include "model/config/render.h"

#include <yaml-cpp/yaml.h>

#include "model/config/quantity.h"
#include "model/core/assert.h"

namespace omni::config {

void emit_resources(YAML::Emitter& out, const Resources& r) {
  OMNI_ASSERT(r.cpu_millis > 0 && r.memory_bytes > 0);
  out << YAML::BeginMap;
  out << YAML::Key << "cpu" << YAML::Value << format_cpu_millis(r.cpu_millis);
  out << YAML::Key << "memory" << YAML::Value << format_memory_bytes(r.memory_bytes);
  out << YAML::EndMap;
  OMNI_ASSERT(out.good(), out.GetLastError());
}

namespace {

void emit_app(YAML::Emitter& out, const AppConfig& app) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << app.name;
  out << YAML::Key << "image" << YAML::Value << app.image;
  if (!app.archive.empty()) out << YAML::Key << "archive" << YAML::Value << app.archive;
  if (!app.args.empty()) {
    out << YAML::Key << "args" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& arg : app.args) out << YAML::DoubleQuoted << arg;
    out << YAML::EndSeq;
  }
  out << YAML::Key << "replicas" << YAML::Value << app.replicas;
  out << YAML::Key << "resources" << YAML::Value;
  emit_resources(out, app.resources);
  out << YAML::Key << "spread" << YAML::Value << (app.spread ? "nodes" : "none");
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
  out << YAML::EndSeq;
  if (!config.apps.empty()) {
    out << YAML::Key << "apps" << YAML::Value << YAML::BeginSeq;
    for (const auto& app : config.apps) emit_app(out, app);
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
}

std::string render_yaml(const ClusterConfig& config) {
  YAML::Emitter out;
  emit_config(out, config);
  OMNI_ASSERT(out.good(), out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace omni::config
