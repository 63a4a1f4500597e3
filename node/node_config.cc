#include "node/node_config.h"

#include <yaml-cpp/yaml.h>

#include <set>

namespace omni::node {
namespace {

const std::set<std::string> kRoles{"orchestrator"};
const std::set<std::string> kKeys{"identity", "args", "state_dir", "listen",
                                  "peers",    "tls",  "metrics"};

bool is_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= text.size()) return false;
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoi(port) <= 65535;
}

struct Reader {
  const std::string& file;
  std::string error;

  std::string text(const YAML::Node& node, const std::string& key) {
    if (!error.empty()) return {};
    if (!node || !node.IsScalar() || node.Scalar().empty()) {
      error = file + ": key `" + key + "`: expected a non-empty string";
      return {};
    }
    return node.Scalar();
  }
};

std::variant<NodeConfig, std::string> read(const std::string& role, const YAML::Node& root,
                                           const std::string& file);

}  // namespace

std::variant<NodeConfig, std::string> parse_node_config(const std::string& role,
                                                        const std::string& text,
                                                        const std::string& file) {
  if (!kRoles.count(role)) return "unknown role `" + role + "`; omni-node serves orchestrator";
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return file + ":" + std::to_string(e.mark.line + 1) + ": not YAML: " + e.msg;
  }
  try {
    return read(role, root, file);
  } catch (const YAML::Exception& e) {  // a shape yaml-cpp itself refuses to walk
    return file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg;
  }
}

namespace {

std::variant<NodeConfig, std::string> read(const std::string& role, const YAML::Node& root,
                                           const std::string& file) {
  if (!root.IsMap()) return file + ": expected a map of " + std::to_string(kKeys.size()) + " keys";
  for (const auto& entry : root) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "?";
    if (!kKeys.count(key)) return file + ": unknown key `" + key + "`";
  }
  NodeConfig c;
  c.role = role;
  Reader in{file, {}};
  c.identity = in.text(root["identity"], "identity");
  c.state_dir = in.text(root["state_dir"], "state_dir");
  c.listen = in.text(root["listen"], "listen");
  if (!in.error.empty()) return in.error;
  const YAML::Node tls = root["tls"];
  if (!tls || !tls.IsMap()) return file + ": key `tls`: expected {ca, cert, key}";
  for (const auto& entry : tls) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "?";
    if (key != "ca" && key != "cert" && key != "key")
      return file + ": unknown key `tls." + key + "`";
  }
  c.ca_file = in.text(tls["ca"], "tls.ca");
  c.cert_file = in.text(tls["cert"], "tls.cert");
  c.key_file = in.text(tls["key"], "tls.key");
  if (!in.error.empty()) return in.error;
  const YAML::Node args = root["args"];
  if (!args || !args.IsSequence()) return file + ": key `args`: expected a list of strings";
  for (const auto& arg : args) c.args.push_back(in.text(arg, "args"));
  if (!in.error.empty()) return in.error;
  const YAML::Node peers = root["peers"];
  if (!peers || !peers.IsMap())
    return file + ": key `peers`: expected a map of identity: host:port";
  for (const auto& peer : peers) {
    const std::string identity = in.text(peer.first, "peers");
    const std::string at = in.text(peer.second, "peers." + identity);
    if (in.error.empty() && !is_host_port(at))
      return file + ": key `peers." + identity + "`: expected host:port, got `" + at + "`";
    c.peers[identity] = at;
  }
  if (!in.error.empty()) return in.error;
  if (!is_host_port(c.listen))
    return file + ": key `listen`: expected host:port, got `" + c.listen + "`";
  if (root["metrics"]) {
    c.metrics = in.text(root["metrics"], "metrics");
    if (!in.error.empty()) return in.error;
    if (!is_host_port(c.metrics))
      return file + ": key `metrics`: expected host:port, got `" + c.metrics + "`";
  }
  return c;
}

}  // namespace
}  // namespace omni::node
