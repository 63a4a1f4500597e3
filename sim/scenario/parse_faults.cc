// The `faults:` list and `swarm:` of a scenario, and the targets they name.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "model/core/assert.h"
#include "sim/scenario/duration_text.h"
#include "sim/scenario/scenario_parser.h"

namespace omni::sim::detail {
namespace {

const std::vector<std::string> kFaultKinds{"partition",  "heal",      "crash",     "isolate",
                                           "clock_skew", "disk_fail", "power_off", "network",
                                           "apply",      "delete_app"};
const std::vector<std::string> kFaultKeys{
    "at",        "partition", "heal",  "crash",      "isolate",       "clock_skew", "disk_fail",
    "power_off", "network",   "apply", "delete_app", "restart_after", "direction"};
const std::vector<std::string> kClockSkewKeys{"target", "rate"};
const std::vector<std::string> kDiskFailKeys{"target", "mode"};
const std::vector<std::string> kNetworkFaultKeys{"drop", "duplicate", "reorder"};
const std::vector<std::string> kSwarmKeys{"until", "kinds"};
const std::vector<std::string> kSwarmKinds{"partition",  "isolate",   "crash",
                                           "drop",       "duplicate", "reorder",
                                           "clock_skew", "disk_fail", "power_off"};
const std::vector<std::string> kTargetKinds{"leader", "root", "orchestrator", "director",
                                            "agent",  "vm",   "node"};
constexpr std::size_t kMaxFaults = 10'000;

std::string target_rule() {
  return "use leader, root, orchestrator:N, director:NODE, agent:VM, vm:VM or node:NODE";
}

std::string swarm_kind_list() {
  std::string list;
  for (const auto& kind : kSwarmKinds) list += (list.empty() ? "" : ", ") + kind;
  return list;
}

}  // namespace

// An app the run will know: given in the cluster's `apps:` or added by an earlier `apply:`.
bool ScenarioParser::parse_apply(const YAML::Node& value, Fault& fault) {
  auto patch = config::parse_app_patch(value, in_);
  if (!patch) return false;
  const bool known =
      std::find(app_names_.begin(), app_names_.end(), patch->name) != app_names_.end();
  if (!known && !patch->image) {
    in_.error(value, "apply of a new app \"" + patch->name + "\" needs an \"image:\"");
    return false;
  }
  if (!known) app_names_.push_back(patch->name);
  fault.what = ApplyFault{std::move(*patch)};
  return true;
}

bool ScenarioParser::parse_delete_app(const YAML::Node& value, Fault& fault) {
  auto name = in_.scalar(value, "delete_app");
  if (!name) return false;
  if (!known_name(value, *name, "app", app_names_)) return false;
  // Gone from here on: an apply after it makes a new app, which needs an image (an apply without
  // one was taken and then dropped at run time with nothing said).
  std::erase(app_names_, *name);
  fault.what = DeleteAppFault{*name};
  return true;
}

void ScenarioParser::parse_faults(const YAML::Node& node, Scenario& scenario) {
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    in_.error(node,
              "faults must be a list of faults, each with \"at:\", got " + config::kind_of(node));
    return;
  }
  if (node.size() > kMaxFaults) {
    in_.error(node, "faults has " + std::to_string(node.size()) + " entries; at most " +
                        std::to_string(kMaxFaults) + " are allowed (use swarm: for many)");
    return;
  }
  std::optional<Duration> previous = Duration{0};  // known time of the previous fault
  for (const YAML::Node& entry : node) {
    auto fault = parse_fault(entry);
    if (!fault) continue;
    check_fault_order(entry, *fault, scenario.duration, previous);
    scenario.faults.push_back(std::move(*fault));
  }
}

std::optional<Fault> ScenarioParser::parse_fault(const YAML::Node& entry) {
  const bool keys_ok = in_.expect_map(entry, "a fault", kFaultKeys);
  if (!entry.IsMap()) return std::nullopt;
  Fault fault;
  fault.where = in_.where(entry);
  std::vector<std::string> kinds;
  for (const auto& kind : kFaultKinds)
    if (entry[kind]) kinds.push_back(kind);
  if (kinds.size() != 1) {
    if (keys_ok)
      in_.error(entry, kinds.empty() ? "a fault needs one of partition, heal, crash, isolate, "
                                       "clock_skew, disk_fail, power_off, network, apply or "
                                       "delete_app"
                                     : "a fault does one thing, but this one has \"" + kinds[0] +
                                           "\" and \"" + kinds[1] + "\"; split it into two faults");
    return std::nullopt;
  }
  bool ok = true;
  if (const YAML::Node at = entry["at"]) {
    auto time = fault_time(at);
    ok = time.has_value();
    if (time) fault.at = *time;
  } else {
    if (keys_ok) in_.error(entry, "a fault needs \"at:\" (like 90s, +20s or phase:takeover)");
    ok = false;
  }
  if (!parse_fault_kind(entry, kinds[0], fault)) ok = false;
  if (const YAML::Node restart = entry["restart_after"]) {
    if (kinds[0] != "crash" && kinds[0] != "power_off") {
      in_.error(restart, "restart_after goes with crash or power_off, not " + kinds[0]);
      ok = false;
    } else if (auto d = duration(restart, "restart_after")) {
      fault.restart_after = *d;
    } else {
      ok = false;
    }
  }
  if (const YAML::Node direction = entry["direction"]; direction && kinds[0] != "isolate") {
    in_.error(direction, "direction goes with isolate, not " + kinds[0]);
    ok = false;
  }
  if (!ok) return std::nullopt;
  return fault;
}

bool ScenarioParser::parse_fault_kind(const YAML::Node& entry, const std::string& kind,
                                      Fault& fault) {
  const YAML::Node value = entry[kind];
  if (kind == "partition") {
    auto p = partition(value);
    if (p) fault.what = std::move(*p);
    return p.has_value();
  }
  if (kind == "heal") {
    auto text = in_.scalar(value, "heal");
    if (text && *text != "all") in_.error(value, "heal must be \"all\", got \"" + *text + "\"");
    fault.what = HealFault{};
    return text && *text == "all";
  }
  if (kind == "crash") {
    auto t = target(value, "crash");
    if (t) fault.what = CrashFault{*t};
    return t.has_value();
  }
  if (kind == "isolate") {
    IsolateFault isolate;
    auto node = node_name(value, "isolate", true);
    if (node) isolate.node = *node;
    bool ok = node.has_value();
    if (const YAML::Node direction = entry["direction"]) {
      auto text = in_.scalar(direction, "direction");
      if (text && *text == "both")
        isolate.direction = Direction::both;
      else if (text && *text == "in")
        isolate.direction = Direction::in;
      else if (text && *text == "out")
        isolate.direction = Direction::out;
      else if (text)
        in_.error(direction, "direction must be both, in or out, got \"" + *text + "\"");
      ok = ok && text && (*text == "both" || *text == "in" || *text == "out");
    }
    fault.what = isolate;
    return ok;
  }
  if (kind == "clock_skew") {
    in_.expect_map(value, "clock_skew", kClockSkewKeys);
    if (!value.IsMap()) return false;
    ClockSkewFault skew;
    const YAML::Node t = value["target"];
    const YAML::Node rate = value["rate"];
    if (!t) in_.error(value, "clock_skew needs \"target:\" (like director:worker-03)");
    if (!rate) in_.error(value, "clock_skew needs \"rate:\" (like 1.05: 5% fast)");
    if (!t || !rate) return false;
    auto parsed_target = target(t, "clock_skew target");
    auto parsed_rate = clock_rate(rate, "clock_skew rate");
    if (!parsed_target || !parsed_rate) return false;
    skew.target = *parsed_target;
    skew.rate = *parsed_rate;
    fault.what = skew;
    return true;
  }
  if (kind == "disk_fail") {
    in_.expect_map(value, "disk_fail", kDiskFailKeys);
    if (!value.IsMap()) return false;
    DiskFailFault disk;
    const YAML::Node t = value["target"];
    if (!t) {
      in_.error(value, "disk_fail needs \"target:\" (like orchestrator:1)");
      return false;
    }
    auto parsed_target = target(t, "disk_fail target");
    if (!parsed_target) return false;
    disk.target = *parsed_target;
    if (const YAML::Node mode = value["mode"]) {
      auto text = in_.scalar(mode, "mode");
      if (!text) return false;
      if (*text == "lose_unsynced")
        disk.mode = DiskFailMode::lose_unsynced;
      else if (*text == "corrupt")
        disk.mode = DiskFailMode::corrupt;
      else if (*text == "eio")
        disk.mode = DiskFailMode::eio;
      else {
        in_.error(mode,
                  "disk_fail mode must be lose_unsynced, corrupt or eio, got \"" + *text + "\"");
        return false;
      }
    }
    fault.what = disk;
    return true;
  }
  if (kind == "power_off") {
    auto text = in_.scalar(value, "power_off");
    if (!text) return false;
    if (*text == "all") {
      fault.what = PowerOffFault{};
      return true;
    }
    auto node = node_name(value, "power_off", false);
    if (node) fault.what = PowerOffFault{*node};
    return node.has_value();
  }
  if (kind == "apply") return parse_apply(value, fault);
  if (kind == "delete_app") return parse_delete_app(value, fault);
  OMNI_ASSERT(kind == "network");
  in_.expect_map(value, "network", kNetworkFaultKeys);
  if (!value.IsMap()) return false;
  NetworkFault network;
  bool ok = true;
  if (const YAML::Node drop = value["drop"])
    ok = (network.drop = in_.probability(drop, "drop")) && ok;
  if (const YAML::Node dup = value["duplicate"])
    ok = (network.duplicate = in_.probability(dup, "duplicate")) && ok;
  if (const YAML::Node reorder = value["reorder"])
    ok = (network.reorder = in_.probability(reorder, "reorder")) && ok;
  if (ok && !network.drop && !network.duplicate && !network.reorder) {
    in_.error(value, "a network fault needs drop, duplicate or reorder");
    return false;
  }
  fault.what = network;
  return ok;
}

std::optional<FaultTime> ScenarioParser::fault_time(const YAML::Node& node) {
  auto text = in_.scalar(node, "at");
  if (!text) return std::nullopt;
  FaultTime time;
  if (text->rfind("phase:", 0) == 0) {
    time.kind = FaultTime::Kind::phase;
    auto named = phase_named(text->substr(6));
    if (!named) {
      std::vector<std::string> names;
      for (root::Phase p : root::kPhases) names.emplace_back(root::phase_name(p));
      std::string message = "unknown phase \"" + text->substr(6) + "\" in at";
      if (auto close = config::did_you_mean(text->substr(6), names))
        message += "; did you mean \"phase:" + *close + "\"?";
      in_.error(node, message);
      return std::nullopt;
    }
    time.phase = *named;
    return time;
  }
  const bool relative = !text->empty() && text->front() == '+';
  auto parsed = parse_duration(relative ? text->substr(1) : *text);
  if (auto* e = std::get_if<DurationError>(&parsed)) {
    in_.error(node, "at: " + e->message + " (or +20s after the previous fault, or phase:NAME)");
    return std::nullopt;
  }
  time.kind = relative ? FaultTime::Kind::relative : FaultTime::Kind::absolute;
  time.offset = std::get<Duration>(parsed);
  return time;
}

// Faults run in order: an absolute time before an earlier known time, or past the end of the
// run, is an error. After a phase-timed fault the times are unknown until the next absolute one.
void ScenarioParser::check_fault_order(const YAML::Node& entry, const Fault& fault,
                                       Duration run_duration, std::optional<Duration>& previous) {
  std::optional<Duration> at;
  switch (fault.at.kind) {
    case FaultTime::Kind::absolute:
      at = fault.at.offset;
      if (previous && *at < *previous)
        in_.error(entry["at"], "faults run in order, but this one (at " + format_duration(*at) +
                                   ") is before the previous one (at " +
                                   format_duration(*previous) + ")");
      break;
    case FaultTime::Kind::relative:
      if (previous) at = *previous + fault.at.offset;
      break;
    case FaultTime::Kind::phase:
      break;
  }
  if (at && *at > run_duration) {
    in_.error(entry["at"], "this fault is at " + format_duration(*at) +
                               ", after the run ends (duration " + format_duration(run_duration) +
                               ")");
    at.reset();  // later relative times are unknown: thousands of "+1000h" summed overflowed
  }
  previous = at;
}

std::optional<PartitionFault> ScenarioParser::partition(const YAML::Node& node) {
  if (node.IsSequence() && node.size() == 1) {
    in_.error(node, "a partition needs at least two groups; to cut one node off, use isolate");
    return std::nullopt;
  }
  if (!node.IsSequence() || node.size() == 0) {
    // A std::string first: "literal" + string made GCC 12's LTO warn of a memmove it imagines.
    in_.error(node, std::string("partition must be a list of groups of nodes, like [[worker-01], "
                                "[worker-02, worker-03]], got ") +
                        config::kind_of(node));
    return std::nullopt;
  }
  PartitionFault fault;
  std::set<std::string> placed;
  bool ok = true;
  for (const YAML::Node& group : node) {
    if (!group.IsSequence() || group.size() == 0) {
      in_.error(group, std::string("each partition group must be a non-empty list of nodes, got ") +
                           config::kind_of(group));
      ok = false;
      continue;
    }
    // Distinct nodes only: more members than the cluster has nodes is an error already, and
    // aliases made each fault of an 85 KB file of such lists take seconds to read.
    if (cluster_known_ && placed.size() + group.size() > node_names_.size() + 1) {
      in_.error(group, "the partition's groups name more nodes than the cluster has (" +
                           std::to_string(node_names_.size()) + ")");
      return std::nullopt;
    }
    std::vector<std::string> names;
    for (const YAML::Node& member : group) {
      auto name = node_name(member, "partition", true);
      if (!name) {
        ok = false;
      } else if (!placed.insert(*name).second) {
        in_.error(member, "node \"" + *name + "\" is in two partition groups; put it in one");
        ok = false;
      } else {
        names.push_back(*name);
      }
    }
    fault.groups.push_back(std::move(names));
  }
  if (!ok) return std::nullopt;
  return fault;
}

std::optional<Target> ScenarioParser::target(const YAML::Node& node, const std::string& what) {
  auto text = in_.scalar(node, what);
  if (!text) return std::nullopt;
  const auto colon = text->find(':');
  const std::string kind = text->substr(0, colon);
  const std::string name = colon == std::string::npos ? "" : text->substr(colon + 1);
  const auto at = std::find(kTargetKinds.begin(), kTargetKinds.end(), kind);
  if (at == kTargetKinds.end()) {
    std::string message = "unknown target \"" + *text + "\" in " + what;
    if (auto close = config::did_you_mean(kind, kTargetKinds))
      message += "; did you mean \"" + *close + "\"?";
    in_.error(node, message + "; " + target_rule());
    return std::nullopt;
  }
  Target t;
  t.kind = static_cast<Target::Kind>(at - kTargetKinds.begin());
  t.name = name;
  const bool needs_name = t.kind != Target::Kind::leader && t.kind != Target::Kind::root;
  if (needs_name && name.empty()) {
    in_.error(node,
              "target \"" + *text + "\" in " + what + " needs a name after ':'; " + target_rule());
    return std::nullopt;
  }
  if (!needs_name && colon != std::string::npos) {
    in_.error(node, "target \"" + *text + "\" in " + what + " takes no name; " + target_rule());
    return std::nullopt;
  }
  if (!check_target_name(node, t)) return std::nullopt;
  return t;
}

bool ScenarioParser::check_target_name(const YAML::Node& node, Target& t) {
  switch (t.kind) {
    case Target::Kind::leader:
    case Target::Kind::root:
      return true;
    case Target::Kind::orchestrator: {
      const bool digits =
          t.name.size() <= 2 &&
          std::all_of(t.name.begin(), t.name.end(), [](char c) { return c >= '0' && c <= '9'; });
      const int replica = digits ? std::stoi(t.name) : 0;
      if (cluster_known_ && (replica < 1 || replica > orchestrators_)) {
        in_.error(node, "orchestrator \"" + t.name +
                            "\" does not exist; the cluster has replicas 1 to " +
                            std::to_string(orchestrators_));
        return false;
      }
      if (!digits || replica < 1) {
        in_.error(node, "orchestrator:N needs a replica number from 1, got \"" + t.name + "\"");
        return false;
      }
      // As the replica is named: "03" was checked as 3 and then aimed at orchestrator:03, which
      // no process is, so the fault did nothing.
      t.name = std::to_string(replica);
      return true;
    }
    case Target::Kind::director:
    case Target::Kind::node:
      return known_name(node, t.name, "node", node_names_);
    case Target::Kind::agent:
      return known_name(node, t.name, "worker VM", worker_vm_names_);
    case Target::Kind::vm:
      return known_name(node, t.name, "VM", vm_names_);
  }
  return false;
}

std::optional<std::string> ScenarioParser::node_name(const YAML::Node& node,
                                                     const std::string& what, bool root_host_ok) {
  auto text = in_.scalar(node, what);
  if (!text) return std::nullopt;
  if (root_host_ok && *text == kRootHost) return text;
  std::vector<std::string> names = node_names_;
  if (root_host_ok) names.push_back(kRootHost);
  if (!known_name(node, *text, "node", names)) return std::nullopt;
  return text;
}

bool ScenarioParser::known_name(const YAML::Node& at, const std::string& name,
                                const std::string& what, const std::vector<std::string>& names) {
  if (!cluster_known_) return true;  // the cluster's own errors are already reported
  if (std::find(names.begin(), names.end(), name) != names.end()) return true;
  std::string message = "unknown " + what + " \"" + name + "\"";
  if (auto close = config::did_you_mean(name, names))
    message += "; did you mean \"" + *close + "\"?";
  else if (!names.empty() && names.size() <= 8) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    message += "; the cluster has " + list;
  }
  in_.error(at, message);
  return false;
}

void ScenarioParser::parse_swarm(const YAML::Node& node, Scenario& scenario) {
  in_.expect_map(node, "swarm", kSwarmKeys);
  if (!node.IsMap()) return;
  Swarm swarm;
  bool ok = true;
  if (const YAML::Node until = node["until"]) {
    auto d = duration(until, "swarm until");
    ok = d.has_value();
    if (d) swarm.until = *d;
    if (d && *d > scenario.duration) {
      in_.error(until, "swarm until " + format_duration(*d) + " is after the run ends (duration " +
                           format_duration(scenario.duration) + ")");
      ok = false;
    }
  } else {
    in_.error(node, "swarm needs \"until:\" (when the random faults stop, like 10m)");
    ok = false;
  }
  const YAML::Node kinds = node["kinds"];
  if (!kinds || (kinds.IsScalar() && kinds.Scalar() == "all")) {
    swarm.kinds = kSwarmKinds;
  } else if (!kinds.IsSequence()) {
    in_.error(kinds, "swarm kinds must be a list like [partition, crash] or \"all\", got " +
                         config::kind_of(kinds));
    ok = false;
  } else {
    for (const YAML::Node& kind : kinds) {
      auto text = in_.scalar(kind, "swarm kind");
      if (text && *text == "all") {
        swarm.kinds = kSwarmKinds;
        continue;
      }
      if (!text) {
        ok = false;
        continue;
      }
      if (std::find(kSwarmKinds.begin(), kSwarmKinds.end(), *text) == kSwarmKinds.end()) {
        std::string message = "unknown swarm kind \"" + *text + "\"";
        if (auto close = config::did_you_mean(*text, kSwarmKinds))
          message += "; did you mean \"" + *close + "\"?";
        in_.error(kind, message + "; use all or some of " + swarm_kind_list());
        ok = false;
        continue;
      }
      if (std::find(swarm.kinds.begin(), swarm.kinds.end(), *text) == swarm.kinds.end())
        swarm.kinds.push_back(*text);
    }
  }
  if (ok) scenario.swarm = std::move(swarm);
}

}  // namespace omni::sim::detail
