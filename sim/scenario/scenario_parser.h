#pragma once
// The scenario parser's state, shared by parse.cc (the document, cluster, network, expect)
// and parse_faults.cc (faults, targets, swarm). Private to sim/scenario/.
#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "model/config/yaml_reader.h"
#include "sim/scenario/parse.h"

namespace omni::sim::detail {

inline const std::string kRootHost = "root-host";

class ScenarioParser {
 public:
  ScenarioParser(const std::string& file, const FileReader& read) : in_(file), read_(read) {}

  ScenarioResult parse(const YAML::Node& root);

 private:
  // parse.cc
  void parse_top(const YAML::Node& root, Scenario& scenario, bool keys_ok);
  void parse_cluster(const YAML::Node& node, Scenario& scenario);
  void learn_names(const config::ClusterConfig& cluster, const config::SourceLocation& at);
  void parse_network(const YAML::Node& node, NetworkSpec& network);
  void parse_timing(const YAML::Node& node, TimingSpec& timing);
  void parse_expect(const YAML::Node& node, Expectations& expect);
  void parse_counter(const YAML::Node& key, const YAML::Node& value, Expectations& expect);
  void parse_apps_running(const YAML::Node& value, Expectations& expect);
  void parse_infrastructure(const YAML::Node& node, Scenario& scenario);
  // parse_clients.cc
  void parse_clients(const YAML::Node& node, Scenario& scenario);
  std::optional<std::vector<ClientOp>> client_ops(const YAML::Node& node);
  std::optional<double> client_rate(const YAML::Node& node);
  std::optional<Duration> duration(const YAML::Node& node, const std::string& what);
  std::optional<DurationRange> range(const YAML::Node& node, const std::string& what);
  std::optional<root::Phase> phase(const YAML::Node& node, const std::string& what);
  std::optional<double> clock_rate(const YAML::Node& node, const std::string& what);

  // parse_faults.cc
  void parse_faults(const YAML::Node& node, Scenario& scenario);
  std::optional<Fault> parse_fault(const YAML::Node& entry);
  bool parse_fault_kind(const YAML::Node& entry, const std::string& kind, Fault& fault);
  std::optional<FaultTime> fault_time(const YAML::Node& node);
  void check_fault_order(const YAML::Node& entry, const Fault& fault, Duration run_duration,
                         std::optional<Duration>& previous);
  std::optional<PartitionFault> partition(const YAML::Node& node);
  std::optional<Target> target(const YAML::Node& node, const std::string& what);
  bool check_target_name(const YAML::Node& node, Target& target);
  // A node of the cluster (or the root's machine, when `root_host_ok`).
  std::optional<std::string> node_name(const YAML::Node& node, const std::string& what,
                                       bool root_host_ok);
  bool known_name(const YAML::Node& at, const std::string& name, const std::string& what,
                  const std::vector<std::string>& names);
  void parse_swarm(const YAML::Node& node, Scenario& scenario);
  bool parse_apply(const YAML::Node& value, Fault& fault);
  bool parse_delete_app(const YAML::Node& value, Fault& fault);

  config::YamlReader in_;
  const FileReader& read_;
  bool cluster_known_ = false;  // the names below are valid only when the cluster parsed
  std::vector<std::string> node_names_;
  std::vector<std::string> vm_names_;
  std::vector<std::string> worker_vm_names_;
  std::vector<config::Resources> node_resources_;  // by node, as declared
  int orchestrators_ = 0;
  std::vector<std::string> app_names_;  // the cluster's apps, then those `apply:` adds
};

}  // namespace omni::sim::detail
