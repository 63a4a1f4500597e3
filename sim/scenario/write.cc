#include "sim/scenario/write.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>

#include "model/config/quantity.h"
#include "model/config/render.h"
#include "model/core/assert.h"

namespace omni::sim {
namespace {

// 17 significant digits: the double parses back to the same bits.
std::string exact_number(double value) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

std::string range_text(const DurationRange& range) {
  return exact_duration_text(range.min) + ".." + exact_duration_text(range.max);
}

std::string at_text(const FaultTime& at) {
  switch (at.kind) {
    case FaultTime::Kind::absolute:
      return exact_duration_text(at.offset);
    case FaultTime::Kind::relative: {
      std::string text = "+";  // appended: GCC 12 -O3 misreads "+" + string as overlapping
      text += exact_duration_text(at.offset);
      return text;
    }
    case FaultTime::Kind::phase: {
      std::string text = "phase:";
      text += root::phase_name(at.phase);
      return text;
    }
  }
  OMNI_ASSERT(false, "every fault time kind has a spelling");
  return "";
}

void emit_patch(YAML::Emitter& out, const config::AppPatch& patch) {
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << patch.name;
  if (patch.image) out << YAML::Key << "image" << YAML::Value << *patch.image;
  if (patch.archive) out << YAML::Key << "archive" << YAML::Value << *patch.archive;
  if (patch.args) {
    out << YAML::Key << "args" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& arg : *patch.args) out << YAML::DoubleQuoted << arg;
    out << YAML::EndSeq;
  }
  if (patch.replicas) out << YAML::Key << "replicas" << YAML::Value << *patch.replicas;
  if (patch.resources) {
    out << YAML::Key << "resources" << YAML::Value;
    config::emit_resources(out, *patch.resources);
  }
  if (patch.spread)
    out << YAML::Key << "spread" << YAML::Value << (*patch.spread ? "nodes" : "none");
  out << YAML::EndMap;
}

std::string disk_mode_text(DiskFailMode mode) {
  switch (mode) {
    case DiskFailMode::lose_unsynced:
      return "lose_unsynced";
    case DiskFailMode::corrupt:
      return "corrupt";
    case DiskFailMode::eio:
      return "eio";
  }
  return "";
}

std::string direction_text(Direction direction) {
  switch (direction) {
    case Direction::both:
      return "both";
    case Direction::in:
      return "in";
    case Direction::out:
      return "out";
  }
  return "";
}

// The fault's one kind key and its value (and `direction:` for isolate).
void emit_fault_kind(YAML::Emitter& out, const Fault& fault) {
  std::visit(
      [&](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, PartitionFault>) {
          out << YAML::Key << "partition" << YAML::Value << YAML::Flow << f.groups;
        } else if constexpr (std::is_same_v<T, HealFault>) {
          out << YAML::Key << "heal" << YAML::Value << "all";
        } else if constexpr (std::is_same_v<T, CrashFault>) {
          out << YAML::Key << "crash" << YAML::Value << target_text(f.target);
        } else if constexpr (std::is_same_v<T, IsolateFault>) {
          out << YAML::Key << "isolate" << YAML::Value << f.node;
          out << YAML::Key << "direction" << YAML::Value << direction_text(f.direction);
        } else if constexpr (std::is_same_v<T, ClockSkewFault>) {
          out << YAML::Key << "clock_skew" << YAML::Value << YAML::Flow << YAML::BeginMap
              << YAML::Key << "target" << YAML::Value << target_text(f.target) << YAML::Key
              << "rate" << YAML::Value << exact_number(f.rate) << YAML::EndMap;
        } else if constexpr (std::is_same_v<T, DiskFailFault>) {
          out << YAML::Key << "disk_fail" << YAML::Value << YAML::Flow << YAML::BeginMap
              << YAML::Key << "target" << YAML::Value << target_text(f.target) << YAML::Key
              << "mode" << YAML::Value << disk_mode_text(f.mode) << YAML::EndMap;
        } else if constexpr (std::is_same_v<T, PowerOffFault>) {
          out << YAML::Key << "power_off" << YAML::Value << (f.node.empty() ? "all" : f.node);
        } else if constexpr (std::is_same_v<T, NetworkFault>) {
          out << YAML::Key << "network" << YAML::Value << YAML::Flow << YAML::BeginMap;
          if (f.drop) out << YAML::Key << "drop" << YAML::Value << exact_number(*f.drop);
          if (f.duplicate)
            out << YAML::Key << "duplicate" << YAML::Value << exact_number(*f.duplicate);
          if (f.reorder) out << YAML::Key << "reorder" << YAML::Value << exact_number(*f.reorder);
          out << YAML::EndMap;
        } else if constexpr (std::is_same_v<T, ApplyFault>) {
          out << YAML::Key << "apply" << YAML::Value;
          emit_patch(out, f.patch);
        } else {
          static_assert(std::is_same_v<T, DeleteAppFault>);
          out << YAML::Key << "delete_app" << YAML::Value << f.app;
        }
      },
      fault.what);
}

void emit_faults(YAML::Emitter& out, const std::vector<Fault>& faults) {
  out << YAML::Key << "faults" << YAML::Value << YAML::BeginSeq;
  for (const Fault& fault : faults) {
    out << YAML::BeginMap << YAML::Key << "at" << YAML::Value << at_text(fault.at);
    emit_fault_kind(out, fault);
    if (fault.restart_after)
      out << YAML::Key << "restart_after" << YAML::Value
          << exact_duration_text(*fault.restart_after);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

void emit_network_and_timing(YAML::Emitter& out, const Scenario& scenario) {
  const NetworkSpec& n = scenario.network;
  out << YAML::Key << "network" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "latency" << YAML::Value << range_text(n.latency);
  out << YAML::Key << "drop" << YAML::Value << exact_number(n.drop);
  out << YAML::Key << "duplicate" << YAML::Value << exact_number(n.duplicate);
  out << YAML::Key << "reorder" << YAML::Value << exact_number(n.reorder);
  out << YAML::EndMap;
  out << YAML::Key << "timing" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "vm_boot" << YAML::Value << range_text(scenario.timing.vm_boot);
  out << YAML::Key << "container_start" << YAML::Value
      << range_text(scenario.timing.container_start);
  out << YAML::EndMap;
  if (scenario.hypervisor_capacity.empty()) return;
  out << YAML::Key << "infrastructure" << YAML::Value << YAML::BeginMap;
  for (const auto& [node, capacity] : scenario.hypervisor_capacity) {
    out << YAML::Key << node << YAML::Value;
    config::emit_resources(out, capacity);
  }
  out << YAML::EndMap;
}

void emit_swarm_and_clients(YAML::Emitter& out, const Scenario& scenario) {
  if (scenario.swarm) {
    out << YAML::Key << "swarm" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "until" << YAML::Value << exact_duration_text(scenario.swarm->until);
    out << YAML::Key << "kinds" << YAML::Value << YAML::Flow << scenario.swarm->kinds;
    out << YAML::EndMap;
  }
  if (!scenario.clients) return;
  const ClientsSpec& c = *scenario.clients;
  out << YAML::Key << "clients" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "count" << YAML::Value << c.count;
  out << YAML::Key << "keys" << YAML::Value << c.keys;
  out << YAML::Key << "ops" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const ClientOp op : c.ops)
    out << (op == ClientOp::read ? "read" : op == ClientOp::write ? "write" : "cas");
  out << YAML::EndSeq;
  out << YAML::Key << "rate" << YAML::Value << exact_number(c.ops_per_s) + "/s";
  out << YAML::Key << "timeout" << YAML::Value << exact_duration_text(c.timeout);
  out << YAML::EndMap;
}

void emit_expect(YAML::Emitter& out, const Scenario& scenario) {
  const Expectations& e = scenario.expect;
  out << YAML::Key << "expect" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "init" << YAML::Value << (e.init_complete ? "complete" : "fail");
  if (e.fail_phase)
    out << YAML::Key << "fail_phase" << YAML::Value << std::string(root::phase_name(*e.fail_phase));
  if (e.init_within)
    out << YAML::Key << "init_within" << YAML::Value << exact_duration_text(*e.init_within);
  if (e.converge_within)
    out << YAML::Key << "converge_within" << YAML::Value << exact_duration_text(*e.converge_within);
  for (const auto& c : e.counters)
    out << YAML::Key << c.counter << YAML::Value << c.op + " " + std::to_string(c.value);
  if (e.apps_running_all) out << YAML::Key << "apps_running" << YAML::Value << "all";
  if (e.apps_running) out << YAML::Key << "apps_running" << YAML::Value << *e.apps_running;
  if (scenario.clients)
    out << YAML::Key << "linearizable" << YAML::Value << (e.linearizable ? "true" : "false");
  out << YAML::EndMap;
}

}  // namespace

std::string fault_text(const Fault& fault) {
  YAML::Emitter out;
  out << YAML::Flow << YAML::BeginMap << YAML::Key << "at" << YAML::Value << at_text(fault.at);
  emit_fault_kind(out, fault);
  if (fault.restart_after)
    out << YAML::Key << "restart_after" << YAML::Value << exact_duration_text(*fault.restart_after);
  out << YAML::EndMap;
  return out.c_str();
}

std::string target_text(const Target& target) {
  switch (target.kind) {
    case Target::Kind::leader:
      return "leader";
    case Target::Kind::root:
      return "root";
    case Target::Kind::orchestrator:
      return "orchestrator:" + target.name;
    case Target::Kind::director:
      return "director:" + target.name;
    case Target::Kind::agent:
      return "agent:" + target.name;
    case Target::Kind::vm:
      return "vm:" + target.name;
    case Target::Kind::node:
      return "node:" + target.name;
  }
  OMNI_ASSERT(false, "every target kind has a spelling");
  return "";
}

std::string exact_duration_text(Duration duration) {
  OMNI_ASSERT(duration.count() >= 0, "scenario durations are not negative");
  const std::int64_t ns = duration.count();
  constexpr std::int64_t kNsPerS = 1'000'000'000;
  if (ns == 0) return "0";
  std::string text = std::to_string(ns / kNsPerS);
  if (ns % kNsPerS != 0) {
    char fraction[16];
    std::snprintf(fraction, sizeof fraction, "%09lld", static_cast<long long>(ns % kNsPerS));
    std::string digits = fraction;
    digits.erase(digits.find_last_not_of('0') + 1);
    text += "." + digits;
  }
  OMNI_ASSERT(!text.empty() && text.front() != '.');
  return text + "s";
}

std::string write_scenario_yaml(const Scenario& scenario) {
  OMNI_ASSERT(!scenario.cluster.nodes.empty(), "a parsed scenario has a cluster");
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << scenario.name;
  if (!scenario.description.empty())
    out << YAML::Key << "description" << YAML::Value << scenario.description;
  out << YAML::Key << "cluster" << YAML::Value;
  config::emit_config(out, scenario.cluster);
  out << YAML::Key << "seed" << YAML::Value << scenario.seed;
  out << YAML::Key << "duration" << YAML::Value << exact_duration_text(scenario.duration);
  emit_network_and_timing(out, scenario);
  if (!scenario.faults.empty()) emit_faults(out, scenario.faults);
  emit_swarm_and_clients(out, scenario);
  emit_expect(out, scenario);
  out << YAML::EndMap;
  OMNI_ASSERT(out.good(), out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace omni::sim
