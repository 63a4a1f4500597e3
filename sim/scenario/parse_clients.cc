// The `clients:` block of a scenario: how many users of the plane's resource store, the
// registers they share, their mix of operations, their rate and their patience.
#include <algorithm>
#include <charconv>

#include "model/core/assert.h"
#include "sim/scenario/scenario_parser.h"

namespace omni::sim::detail {
namespace {

const std::vector<std::string> kClientsKeys{"count", "keys", "ops", "rate", "timeout"};
const std::vector<std::pair<std::string, ClientOp>> kClientOps{
    {"read", ClientOp::read}, {"write", ClientOp::write}, {"cas", ClientOp::cas}};
constexpr int kMaxClients = 100;
constexpr int kMaxKeys = 1000;
constexpr double kMaxOpsPerS = 1000;
// One in the longest scenario (1000h): a rarer one never fires, and its mean gap in nanoseconds
// would not fit the 64 bits of a duration.
constexpr double kMinOpsPerS = 1.0 / (1000 * 3600);

// "20/s", "90/m", "3/h" as operations per second.
std::optional<double> ops_per_s(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  double count = 0;
  const char* first = text.data();
  const char* last = text.data() + slash;
  const auto [end, error] = std::from_chars(first, last, count);
  if (error != std::errc{} || end != last || !(count > 0)) return std::nullopt;
  const std::string_view unit = text.substr(slash + 1);
  if (unit == "s") return count;
  if (unit == "m") return count / 60;
  if (unit == "h") return count / 3600;
  return std::nullopt;
}

}  // namespace

void ScenarioParser::parse_clients(const YAML::Node& node, Scenario& scenario) {
  in_.expect_map(node, "clients", kClientsKeys);
  if (!node.IsMap()) return;
  ClientsSpec clients;
  bool ok = true;
  if (const YAML::Node count = node["count"]) {
    const auto value = in_.integer(count, "clients count", 1, kMaxClients);
    ok = ok && value.has_value();
    clients.count = static_cast<int>(value.value_or(0));
  } else {
    in_.error(node, "clients needs \"count:\" (how many concurrent clients, like 5)");
    ok = false;
  }
  if (const YAML::Node keys = node["keys"]) {
    const auto value = in_.integer(keys, "clients keys", 1, kMaxKeys);
    ok = ok && value.has_value();
    clients.keys = static_cast<int>(value.value_or(1));
  }
  if (const YAML::Node ops = node["ops"]) {
    const auto value = client_ops(ops);
    ok = ok && value.has_value();
    if (value) clients.ops = *value;
  }
  if (const YAML::Node rate = node["rate"]) {
    const auto value = client_rate(rate);
    ok = ok && value.has_value();
    if (value) clients.ops_per_s = *value;
  }
  if (const YAML::Node timeout = node["timeout"]) {
    const auto value = duration(timeout, "clients timeout");
    if (value && *value <= Duration{0}) in_.error(timeout, "clients timeout must be above 0");
    ok = ok && value && *value > Duration{0};
    if (value) clients.timeout = *value;
  }
  OMNI_ASSERT(!ok || (clients.count >= 1 && !clients.ops.empty()));
  if (ok) scenario.clients = clients;
}

std::optional<std::vector<ClientOp>> ScenarioParser::client_ops(const YAML::Node& node) {
  if (!node.IsSequence() || node.size() == 0) {
    in_.error(node,
              "clients ops must be a list like [read, write, cas], got " + config::kind_of(node));
    return std::nullopt;
  }
  std::vector<ClientOp> ops;
  for (const YAML::Node& entry : node) {
    const auto text = in_.scalar(entry, "clients op");
    if (!text) return std::nullopt;
    const auto known = std::find_if(kClientOps.begin(), kClientOps.end(),
                                    [&](const auto& op) { return op.first == *text; });
    if (known == kClientOps.end()) {
      in_.error(entry, "unknown clients op \"" + *text + "\"; use read, write and cas");
      return std::nullopt;
    }
    if (std::find(ops.begin(), ops.end(), known->second) != ops.end()) {
      in_.error(entry, "clients op \"" + *text + "\" is listed twice");
      return std::nullopt;
    }
    ops.push_back(known->second);
  }
  OMNI_ASSERT(!ops.empty() && ops.size() <= kClientOps.size());
  return ops;
}

std::optional<double> ScenarioParser::client_rate(const YAML::Node& node) {
  const auto text = in_.scalar(node, "clients rate");
  if (!text) return std::nullopt;
  const auto rate = ops_per_s(*text);
  if (!rate || *rate > kMaxOpsPerS || *rate < kMinOpsPerS) {
    in_.error(node,
              "clients rate must be operations per client and time, like 20/s or 90/m "
              "(at most 1000/s, at least 1 in 1000h), got \"" +
                  *text + "\"");
    return std::nullopt;
  }
  return rate;
}

}  // namespace omni::sim::detail
