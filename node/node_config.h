#pragma once
// What `omni-node ROLE --config FILE` reads: who this process is, where it keeps its log, where
// it listens, where its peers are, and its TLS files. Every key is checked; a bad file is an
// error with the file, the key and what was expected, never a crash.
//
//   identity: orchestrator:1
//   args: [orchestrator, --replica=1, "--members=orchestrator:1,orchestrator:2,orchestrator:3"]
//   state_dir: /var/lib/omni/orchestrator-1
//   listen: 127.0.0.1:7101
//   peers: {orchestrator:2: 127.0.0.1:7102, orchestrator:3: 127.0.0.1:7103}
//   tls: {ca: /etc/omni/ca.crt, cert: /etc/omni/o1.crt, key: /etc/omni/o1.key}
//   metrics: 127.0.0.1:9101      # optional: Prometheus GET /metrics
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace omni::node {

struct NodeConfig {
  std::string role;  // orchestrator (root, director and agent come with their drivers)
  std::string identity;
  std::vector<std::string> args;  // the component's own arguments, as its container gets them
  std::string state_dir;
  std::string listen;
  std::map<std::string, std::string> peers;  // identity -> host:port
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string metrics;    // host:port for GET /metrics; empty: none
  bool log_json = false;  // --log-format json
};

// The config, or the reason it is not one ("FILE: key `listen`: expected host:port").
std::variant<NodeConfig, std::string> parse_node_config(const std::string& role,
                                                        const std::string& text,
                                                        const std::string& file);

}  // namespace omni::node
