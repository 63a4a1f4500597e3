#include "cli/plan_output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string>
#include <vector>

#include "model/config/quantity.h"
#include "model/config/render.h"
#include "model/core/json.h"

namespace omni::cli {
namespace {

using config::format_cpu_millis;
using config::format_memory_bytes;

// Zero is a valid "left over" figure, which the quantity formatters (for config values > 0)
// do not print.
std::string cpu_text(std::int64_t millis) {
  return millis == 0 ? "0" : format_cpu_millis(millis);
}
std::string memory_text(std::int64_t bytes) {
  return bytes == 0 ? "0" : format_memory_bytes(bytes);
}

std::string_view role_name(root::VmRole role) {
  return role == root::VmRole::director ? "director" : "worker";
}

// Columns padded to their widest cell, two spaces apart, like kubectl.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

}  // namespace

void print_plan_table(std::ostream& out, const root::Plan& plan) {
  out << "Plan for cluster \"" << plan.cluster << "\": " << plan.capacity.size() << " nodes, "
      << plan.vms.size() << " VMs, " << plan.orchestrators << " Orchestrator replicas (quorum "
      << plan.quorum << ")\n\n";
  std::vector<std::vector<std::string>> phases{{"PHASE", "WHAT"}};
  for (const auto& step : plan.phases)
    phases.push_back({std::string(root::phase_name(step.phase)), step.summary});
  print_table(out, phases);
  out << "\n";
  std::vector<std::vector<std::string>> vms{{"VM", "NODE", "ROLE", "CPU", "MEMORY"}};
  for (const auto& vm : plan.vms)
    vms.push_back({vm.name, vm.node, std::string(role_name(vm.role)),
                   cpu_text(vm.resources.cpu_millis), memory_text(vm.resources.memory_bytes)});
  print_table(out, vms);
  out << "\n";
  std::vector<std::vector<std::string>> replicas{{"ORCHESTRATOR", "NODE", "VM", "CPU", "MEMORY"}};
  for (const auto& r : plan.replicas)
    replicas.push_back({r.name, r.node, r.vm, cpu_text(r.resources.cpu_millis),
                        memory_text(r.resources.memory_bytes)});
  print_table(out, replicas);
  out << "\n";
  std::vector<std::vector<std::string>> capacity{{"NODE", "HYPERVISOR", "CPU", "MEMORY",
                                                  "UNALLOCATED CPU", "UNALLOCATED MEMORY",
                                                  "FREE FOR APPS CPU", "FREE FOR APPS MEMORY"}};
  for (const auto& c : plan.capacity)
    capacity.push_back({c.node, c.hypervisor, cpu_text(c.total.cpu_millis),
                        memory_text(c.total.memory_bytes), cpu_text(c.unallocated.cpu_millis),
                        memory_text(c.unallocated.memory_bytes), cpu_text(c.app_free.cpu_millis),
                        memory_text(c.app_free.memory_bytes)});
  print_table(out, capacity);
}

namespace {

std::string json_resources(const config::Resources& r) {
  return "{\"cpu_millis\": " + std::to_string(r.cpu_millis) +
         ", \"memory_bytes\": " + std::to_string(r.memory_bytes) + "}";
}

template <typename T, typename F>
void json_array(std::ostream& out, std::string_view key, const std::vector<T>& items, F item) {
  out << "  " << json_quote(key) << ": [";
  for (std::size_t i = 0; i < items.size(); ++i)
    out << (i ? ",\n    " : "\n    ") << item(items[i]);
  out << (items.empty() ? "]" : "\n  ]");
}

}  // namespace

void print_plan_json(std::ostream& out, const root::Plan& plan) {
  out << "{\n  \"cluster\": " << json_quote(plan.cluster)
      << ",\n  \"orchestrators\": " << plan.orchestrators << ",\n  \"quorum\": " << plan.quorum
      << ",\n";
  json_array(out, "phases", plan.phases, [](const root::PhaseStep& s) {
    return "{\"phase\": " + json_quote(root::phase_name(s.phase)) +
           ", \"summary\": " + json_quote(s.summary) + "}";
  });
  out << ",\n";
  json_array(out, "vms", plan.vms, [](const root::PlannedVm& vm) {
    return "{\"name\": " + json_quote(vm.name) + ", \"node\": " + json_quote(vm.node) +
           ", \"role\": " + json_quote(role_name(vm.role)) +
           ", \"index\": " + std::to_string(vm.index) +
           ", \"resources\": " + json_resources(vm.resources) + "}";
  });
  out << ",\n";
  json_array(out, "orchestrators_placement", plan.replicas, [](const root::PlannedReplica& r) {
    return "{\"replica\": " + std::to_string(r.replica) + ", \"name\": " + json_quote(r.name) +
           ", \"node\": " + json_quote(r.node) + ", \"vm\": " + json_quote(r.vm) +
           ", \"resources\": " + json_resources(r.resources) + "}";
  });
  out << ",\n";
  json_array(out, "capacity", plan.capacity, [](const root::NodeCapacity& c) {
    return "{\"node\": " + json_quote(c.node) + ", \"hypervisor\": " + json_quote(c.hypervisor) +
           ", \"total\": " + json_resources(c.total) +
           ", \"unallocated\": " + json_resources(c.unallocated) +
           ", \"free_for_apps\": " + json_resources(c.app_free) + "}";
  });
  out << "\n}\n";
}

namespace {

// Unlike config::emit_resources, zero is allowed: a node may have nothing left over.
void emit_plan_resources(YAML::Emitter& y, const config::Resources& r) {
  y << YAML::BeginMap << YAML::Key << "cpu" << YAML::Value << cpu_text(r.cpu_millis) << YAML::Key
    << "memory" << YAML::Value << memory_text(r.memory_bytes) << YAML::EndMap;
}

}  // namespace

void print_plan_yaml(std::ostream& out, const root::Plan& plan,
                     const config::ClusterConfig& config) {
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "config" << YAML::Value;
  config::emit_config(y, config);
  y << YAML::Key << "plan" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "quorum" << YAML::Value << plan.quorum;
  y << YAML::Key << "phases" << YAML::Value << YAML::BeginSeq;
  // Names and words as strings every YAML reader reads back as strings (a node may be "123").
  const auto field = [&y](const char* key, const std::string& text) {
    y << YAML::Key << key << YAML::Value;
    config::emit_text(y, text);
  };
  for (const auto& s : plan.phases) {
    y << YAML::BeginMap;
    field("phase", std::string(root::phase_name(s.phase)));
    field("summary", s.summary);
    y << YAML::EndMap;
  }
  y << YAML::EndSeq << YAML::Key << "vms" << YAML::Value << YAML::BeginSeq;
  for (const auto& vm : plan.vms) {
    y << YAML::BeginMap;
    field("name", vm.name);
    field("node", vm.node);
    field("role", std::string(role_name(vm.role)));
    y << YAML::Key << "resources" << YAML::Value;
    emit_plan_resources(y, vm.resources);
    y << YAML::EndMap;
  }
  y << YAML::EndSeq << YAML::Key << "orchestrators" << YAML::Value << YAML::BeginSeq;
  for (const auto& r : plan.replicas) {
    y << YAML::BeginMap;
    field("name", r.name);
    field("node", r.node);
    field("vm", r.vm);
    y << YAML::Key << "resources" << YAML::Value;
    emit_plan_resources(y, r.resources);
    y << YAML::EndMap;
  }
  y << YAML::EndSeq << YAML::Key << "capacity" << YAML::Value << YAML::BeginSeq;
  for (const auto& c : plan.capacity) {
    y << YAML::BeginMap;
    field("node", c.node);
    y << YAML::Key << "unallocated" << YAML::Value;
    emit_plan_resources(y, c.unallocated);
    y << YAML::Key << "free_for_apps" << YAML::Value;
    emit_plan_resources(y, c.app_free);
    y << YAML::EndMap;
  }
  y << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
  out << y.c_str() << "\n";
}

}  // namespace omni::cli
