#include "sim/scenario/parse.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>

#include "model/config/quantity.h"
#include "model/config/render.h"
#include "model/core/assert.h"
#include "sim/scenario/duration_text.h"
#include "sim/scenario/scenario_parser.h"
#include "sim/skewed_clock.h"

namespace omni::sim {
namespace detail {
namespace {

const std::vector<std::string> kTopKeys{"name",     "description", "cluster",        "seed",
                                        "duration", "network",     "timing",         "faults",
                                        "swarm",    "expect",      "infrastructure", "clients"};
const std::vector<std::string> kNetworkKeys{"latency", "drop", "duplicate", "reorder"};
const std::vector<std::string> kTimingKeys{"vm_boot", "container_start"};
const std::vector<std::string> kExpectKeys{
    "init", "fail_phase", "init_within", "converge_within", "apps_running", "linearizable"};
const std::vector<std::string> kResourceKeys{"cpu", "memory"};
const std::vector<std::string> kComparisons{">=", "<=", "==", "!=", ">", "<"};

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) {
    if (!text.empty()) text += ", ";
    text += w;
  }
  return text;
}

std::string phase_list() {
  std::string names;
  for (root::Phase p : root::kPhases) {
    if (!names.empty()) names += ' ';
    names += root::phase_name(p);
  }
  return names;
}

std::string relative_to(const std::string& scenario_file, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (std::filesystem::path(scenario_file).parent_path() / p).lexically_normal().string();
}

}  // namespace

ScenarioResult ScenarioParser::parse(const YAML::Node& root) {
  Scenario scenario;
  scenario.file = in_.file();
  if (root.IsNull()) {
    in_.error(root, "the scenario is empty; it needs at least \"name:\" and \"cluster:\"");
  } else {
    const bool keys_ok = in_.expect_map(root, "the scenario", kTopKeys);
    if (root.IsMap()) parse_top(root, scenario, keys_ok);
  }
  std::vector<config::Diagnostic> errors = in_.take_errors();
  if (!errors.empty()) return errors;
  return scenario;
}

void ScenarioParser::parse_top(const YAML::Node& root, Scenario& scenario, bool keys_ok) {
  OMNI_ASSERT(root.IsMap());
  if (const YAML::Node name = root["name"]) {
    if (auto text = in_.scalar(name, "name")) {
      if (text->empty()) in_.error(name, "name is empty; give the scenario a short name");
      scenario.name = *text;
    }
  } else if (keys_ok) {
    in_.error(root, "missing \"name:\"; give the scenario a short name");
  }
  if (const YAML::Node description = root["description"]) {
    if (auto text = in_.scalar(description, "description")) scenario.description = *text;
  }
  if (const YAML::Node cluster = root["cluster"]) {
    parse_cluster(cluster, scenario);
  } else if (keys_ok) {
    in_.error(root,
              "missing \"cluster:\"; give a cluster config file (relative to this file) or an "
              "inline cluster config");
  }
  if (const YAML::Node seed = root["seed"]) {
    if (auto value = in_.integer(seed, "seed", 0, static_cast<std::int64_t>(kMaxSeed)))
      scenario.seed = static_cast<std::uint64_t>(*value);
  }
  if (const YAML::Node d = root["duration"]) {
    if (auto value = duration(d, "duration")) {
      if (*value <= Duration{0}) in_.error(d, "duration must be longer than 0, like 15m");
      scenario.duration = *value;
    }
  }
  if (const YAML::Node network = root["network"]) parse_network(network, scenario.network);
  if (const YAML::Node timing = root["timing"]) parse_timing(timing, scenario.timing);
  if (const YAML::Node infrastructure = root["infrastructure"])
    parse_infrastructure(infrastructure, scenario);
  if (const YAML::Node faults = root["faults"]) parse_faults(faults, scenario);
  if (const YAML::Node swarm = root["swarm"]) parse_swarm(swarm, scenario);
  if (const YAML::Node clients = root["clients"]) parse_clients(clients, scenario);
  if (const YAML::Node expect = root["expect"]) parse_expect(expect, scenario.expect);
  if (const YAML::Node expect = root["expect"];
      expect && expect.IsMap() && expect["linearizable"] && !scenario.clients)
    in_.error(expect["linearizable"],
              "linearizable needs a \"clients:\" block: without "
              "clients there is no history to check");
}

void ScenarioParser::parse_cluster(const YAML::Node& node, Scenario& scenario) {
  config::ConfigResult result;
  if (node.IsMap()) {
    result = config::parse_cluster_config(node, in_.file());
    if (result.config) scenario.cluster_yaml = config::render_yaml(*result.config);
  } else {
    auto path = in_.scalar(node, "cluster");
    if (!path) return;
    if (path->empty()) {
      in_.error(node, "cluster is empty; give a cluster config file or an inline config");
      return;
    }
    const std::string resolved = relative_to(in_.file(), *path);
    auto text = read_(resolved);
    if (auto* d = std::get_if<config::Diagnostic>(&text)) {
      in_.error(node, "cluster file \"" + resolved + "\": " + d->message);
      return;
    }
    scenario.cluster_yaml = std::get<std::string>(text);
    result = config::parse_cluster_config(scenario.cluster_yaml, resolved);
  }
  for (auto& d : result.errors) in_.error(d.where, d.message);
  if (!result.config) return;
  scenario.cluster = *result.config;
  learn_names(scenario.cluster, in_.where(node));
}

// The names faults may target; a cluster whose plan does not fit is an error of the scenario.
void ScenarioParser::learn_names(const config::ClusterConfig& cluster,
                                 const config::SourceLocation& at) {
  auto plan = root::make_plan(cluster);
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&plan)) {
    for (auto& d : *errors) in_.error(d.where.line > 0 ? d.where : at, d.message);
    return;
  }
  for (const auto& node : cluster.nodes) {
    node_names_.push_back(node.name);
    node_resources_.push_back(node.resources);
  }
  for (const auto& vm : std::get<root::Plan>(plan).vms) {
    vm_names_.push_back(vm.name);
    if (vm.role == root::VmRole::worker) worker_vm_names_.push_back(vm.name);
  }
  orchestrators_ = cluster.orchestrators;
  for (const auto& app : cluster.apps) app_names_.push_back(app.name);
  cluster_known_ = true;
}

void ScenarioParser::parse_network(const YAML::Node& node, NetworkSpec& network) {
  in_.expect_map(node, "network", kNetworkKeys);
  if (!node.IsMap()) return;
  if (const YAML::Node latency = node["latency"]) {
    if (auto value = range(latency, "latency")) network.latency = *value;
  }
  if (const YAML::Node drop = node["drop"]) {
    if (auto p = in_.probability(drop, "drop")) network.drop = *p;
  }
  if (const YAML::Node duplicate = node["duplicate"]) {
    if (auto p = in_.probability(duplicate, "duplicate")) network.duplicate = *p;
  }
  if (const YAML::Node reorder = node["reorder"]) {
    if (auto p = in_.probability(reorder, "reorder")) network.reorder = *p;
  }
}

void ScenarioParser::parse_timing(const YAML::Node& node, TimingSpec& timing) {
  in_.expect_map(node, "timing", kTimingKeys);
  if (!node.IsMap()) return;
  if (const YAML::Node vm_boot = node["vm_boot"]) {
    if (auto value = range(vm_boot, "vm_boot")) timing.vm_boot = *value;
  }
  if (const YAML::Node start = node["container_start"]) {
    if (auto value = range(start, "container_start")) timing.container_start = *value;
  }
}

void ScenarioParser::parse_expect(const YAML::Node& node, Expectations& expect) {
  if (!node.IsMap()) {
    in_.error(node, "expect must be a mapping of keys to values, got " + config::kind_of(node));
    return;
  }
  std::vector<std::string> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      in_.error(key, "keys of expect must be plain words, got " + config::kind_of(key));
      continue;
    }
    if (std::find(seen.begin(), seen.end(), key.Scalar()) != seen.end()) {
      in_.error(key, "duplicate key \"" + key.Scalar() + "\" in expect");
      continue;
    }
    seen.push_back(key.Scalar());
    const std::string& name = key.Scalar();
    const YAML::Node& value = entry.second;
    if (name == "init") {
      auto text = in_.scalar(value, "init");
      if (text && *text != "complete" && *text != "fail")
        in_.error(value, "init must be \"complete\" or \"fail\", got \"" + *text + "\"");
      else if (text)
        expect.init_complete = *text == "complete";
    } else if (name == "fail_phase") {
      expect.fail_phase = phase(value, "fail_phase");
    } else if (name == "init_within") {
      expect.init_within = duration(value, "init_within");
    } else if (name == "converge_within") {
      expect.converge_within = duration(value, "converge_within");
    } else if (name == "apps_running") {
      parse_apps_running(value, expect);
    } else if (name == "linearizable") {
      auto text = in_.scalar(value, "linearizable");
      if (text && *text != "true" && *text != "false")
        in_.error(value, "linearizable must be true or false, got \"" + *text + "\"");
      else if (text)
        expect.linearizable = *text == "true";
    } else {
      parse_counter(key, value, expect);
    }
  }
  if (expect.fail_phase && expect.init_complete) {
    in_.error(node["fail_phase"], "fail_phase needs \"init: fail\" (init is expected to complete)");
  }
}

void ScenarioParser::parse_apps_running(const YAML::Node& value, Expectations& expect) {
  auto text = in_.scalar(value, "apps_running");
  if (!text) return;
  if (*text == "all") {
    expect.apps_running_all = true;
    return;
  }
  expect.apps_running = in_.integer(value, "apps_running (all or a number)", 0, 10'000'000);
}

// `leader_changes: ">= 1"`; a plain number means "==". A key close to a fixed one is a typo.
void ScenarioParser::parse_counter(const YAML::Node& key, const YAML::Node& value,
                                   Expectations& expect) {
  const std::string& name = key.Scalar();
  if (std::find(kRunCounters.begin(), kRunCounters.end(), name) == kRunCounters.end()) {
    std::vector<std::string> known = kExpectKeys;
    known.insert(known.end(), kRunCounters.begin(), kRunCounters.end());
    std::string message = "unknown key \"" + name + "\" in expect";
    if (auto close = config::did_you_mean(name, known)) {
      message += "; did you mean \"" + *close + "\"?";
    } else {
      message += "; expect takes " + joined(known);
    }
    in_.error(key, message);
    return;
  }
  auto text = in_.scalar(value, name);
  if (!text) return;
  CounterExpectation counter{name, "==", 0};
  std::string_view rest = *text;
  for (const auto& op : kComparisons) {
    if (rest.substr(0, op.size()) == op) {
      counter.op = op;
      rest.remove_prefix(op.size());
      break;
    }
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const bool digits =
      !rest.empty() && rest.size() <= 18 &&
      std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    in_.error(value, name +
                         " must be a comparison like \">= 1\" (>=, <=, ==, !=, >, < and a "
                         "whole number), got \"" +
                         *text + "\"");
    return;
  }
  counter.value = std::stoll(std::string(rest));
  expect.counters.push_back(counter);
}

void ScenarioParser::parse_infrastructure(const YAML::Node& node, Scenario& scenario) {
  if (!node.IsMap()) {
    in_.error(node, "infrastructure must be a mapping of node names to {cpu, memory}, got " +
                        config::kind_of(node));
    return;
  }
  for (const auto& entry : node) {
    auto name = node_name(entry.first, "infrastructure", false);
    in_.expect_map(entry.second, "infrastructure of a node", kResourceKeys);
    if (!name || !entry.second.IsMap()) continue;
    if (scenario.hypervisor_capacity.count(*name)) {
      in_.error(entry.first, "duplicate node \"" + *name + "\" in infrastructure");
      continue;
    }
    config::Resources capacity;
    const auto at = std::find(node_names_.begin(), node_names_.end(), *name);
    if (at != node_names_.end()) capacity = node_resources_[at - node_names_.begin()];
    if (const YAML::Node cpu = entry.second["cpu"]) {
      auto text = in_.scalar(cpu, "cpu");
      auto parsed = config::parse_cpu_millis(text.value_or(""));
      if (auto* e = std::get_if<config::QuantityError>(&parsed); e && text)
        in_.error(cpu, e->message);
      if (auto* v = std::get_if<std::int64_t>(&parsed)) capacity.cpu_millis = *v;
    }
    if (const YAML::Node memory = entry.second["memory"]) {
      auto text = in_.scalar(memory, "memory");
      auto parsed = config::parse_memory_bytes(text.value_or(""));
      if (auto* e = std::get_if<config::QuantityError>(&parsed); e && text)
        in_.error(memory, e->message);
      if (auto* v = std::get_if<std::int64_t>(&parsed)) capacity.memory_bytes = *v;
    }
    scenario.hypervisor_capacity[*name] = capacity;
  }
}

std::optional<Duration> ScenarioParser::duration(const YAML::Node& node, const std::string& what) {
  auto text = in_.scalar(node, what);
  if (!text) return std::nullopt;
  auto parsed = parse_duration(*text);
  if (auto* e = std::get_if<DurationError>(&parsed)) {
    in_.error(node, what + ": " + e->message);
    return std::nullopt;
  }
  return std::get<Duration>(parsed);
}

std::optional<DurationRange> ScenarioParser::range(const YAML::Node& node,
                                                   const std::string& what) {
  auto text = in_.scalar(node, what);
  if (!text) return std::nullopt;
  auto parsed = parse_duration_range(*text);
  if (auto* e = std::get_if<DurationError>(&parsed)) {
    in_.error(node, what + ": " + e->message);
    return std::nullopt;
  }
  return std::get<DurationRange>(parsed);
}

std::optional<root::Phase> ScenarioParser::phase(const YAML::Node& node, const std::string& what) {
  auto text = in_.scalar(node, what);
  if (!text) return std::nullopt;
  if (auto p = phase_named(*text)) return p;
  std::vector<std::string> names;
  for (root::Phase p : root::kPhases) names.emplace_back(root::phase_name(p));
  std::string message = "unknown phase \"" + *text + "\" in " + what;
  if (auto close = config::did_you_mean(*text, names))
    message += "; did you mean \"" + *close + "\"?";
  in_.error(node, message + " (phases: " + phase_list() + ")");
  return std::nullopt;
}

std::optional<double> ScenarioParser::clock_rate(const YAML::Node& node, const std::string& what) {
  auto text = in_.scalar(node, what);
  if (!text) return std::nullopt;
  double value = 0;
  try {
    std::size_t used = 0;
    value = std::stod(*text, &used);
    if (used != text->size()) throw std::invalid_argument("trailing characters");
  } catch (const std::exception&) {
    value = -1;
  }
  // What the simulated clock can run at; a rate it cannot was an assertion in the run.
  if (!(value >= kMinClockRate && value <= kMaxClockRate)) {
    in_.error(node, what + " must be a number from 0.01 to 100, like 1.05, got \"" + *text + "\"");
    return std::nullopt;
  }
  return value;
}

}  // namespace detail

std::optional<root::Phase> phase_named(std::string_view name) {
  for (root::Phase p : root::kPhases)
    if (root::phase_name(p) == name) return p;
  return std::nullopt;
}

namespace {

// Built by push_back rather than from an initializer list: GCC 12 at -O3 reports the list's
// copy of a Diagnostic as "maybe uninitialized" (a false positive).
ScenarioResult one_error(config::Diagnostic diagnostic) {
  std::vector<config::Diagnostic> errors;
  errors.push_back(std::move(diagnostic));
  return errors;
}

}  // namespace

ScenarioResult parse_scenario(std::string_view text, const std::string& file,
                              const FileReader& read) {
  if (auto bad = config::check_utf8(text, file)) return one_error(std::move(*bad));
  try {
    const YAML::Node root = config::load_one_document(std::string(text));
    return detail::ScenarioParser(file, read).parse(root);
  } catch (const YAML::Exception& e) {
    return one_error(config::diagnostic_from(e, file));
  } catch (const std::exception& e) {
    config::Diagnostic diagnostic;
    diagnostic.where = {file, 1, 1};
    diagnostic.message = "cannot read the scenario: ";
    diagnostic.message += e.what();
    return one_error(std::move(diagnostic));
  }
}

}  // namespace omni::sim
