#include "model/config/render.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <iterator>

#include "model/config/quantity.h"
#include "model/core/assert.h"

namespace omni::config {

bool plain_yaml_is_ambiguous(std::string_view text) {
  if (text.empty()) return true;
  const char first = text.front();
  // Numbers of every base and form, dates, times, .inf and .nan start with one of these.
  if ((first >= '0' && first <= '9') || first == '+' || first == '-' || first == '.' ||
      first == '~')
    return true;
  if (text.size() > 5) return false;  // longer than every word below
  std::string lower;
  for (const char c : text) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  static constexpr std::string_view kWords[] = {"y",     "n",  "yes", "no",  "true",
                                                "false", "on", "off", "null"};
  OMNI_ASSERT(lower.size() == text.size() && !lower.empty());
  return std::find(std::begin(kWords), std::end(kWords), lower) != std::end(kWords);
}

void emit_text(YAML::Emitter& out, const std::string& text) {
  if (plain_yaml_is_ambiguous(text)) out << YAML::DoubleQuoted;
  out << text;
}

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
  out << YAML::Key << "name" << YAML::Value;
  emit_text(out, app.name);
  out << YAML::Key << "image" << YAML::Value;
  emit_text(out, app.image);
  if (!app.archive.empty()) {
    out << YAML::Key << "archive" << YAML::Value;
    emit_text(out, app.archive);
  }
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
  out << YAML::Key << "name" << YAML::Value;
  emit_text(out, config.name);
  out << YAML::Key << "orchestrators" << YAML::Value << config.orchestrators;
  out << YAML::Key << "director" << YAML::Value;
  emit_resources(out, config.director_vm);
  out << YAML::Key << "orchestrator" << YAML::Value;
  emit_resources(out, config.orchestrator);
  out << YAML::EndMap;
  out << YAML::Key << "nodes" << YAML::Value << YAML::BeginSeq;
  for (const auto& node : config.nodes) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value;
    emit_text(out, node.name);
    out << YAML::Key << "role" << YAML::Value;
    emit_text(out, node.role);
    out << YAML::Key << "resources" << YAML::Value;
    emit_resources(out, node.resources);
    out << YAML::Key << "hypervisor" << YAML::Value;
    emit_text(out, node.hypervisor);
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
