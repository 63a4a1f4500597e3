#include "node/components.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "model/agent/agent.h"
#include "model/director/director.h"
#include "model/orchestrator/orchestrator.h"

namespace omni::node {
namespace {

// --key=value flags; a leading bare word (the role, as a container's args start) is skipped.
struct Flags {
  std::map<std::string, std::string> values;
  std::string problem;

  Flags(const std::vector<std::string>& args, const std::vector<std::string>& known) {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (i == 0 && arg.rfind("--", 0) != 0) continue;
      const auto eq = arg.find('=');
      const std::string key = arg.substr(0, eq);
      if (arg.rfind("--", 0) != 0 || eq == std::string::npos ||
          std::find(known.begin(), known.end(), key) == known.end()) {
        problem = "unknown argument `" + arg + "`";
        return;
      }
      values[key] = arg.substr(eq + 1);
    }
  }

  std::string text(const std::string& key) {
    const auto it = values.find(key);
    if (problem.empty() && (it == values.end() || it->second.empty()))
      problem = "missing " + key + "=...";
    return it == values.end() ? std::string() : it->second;
  }

  std::int64_t number(const std::string& key, bool required = true) {
    if (!required && !values.count(key)) return 0;
    const std::string value = text(key);
    std::int64_t n = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (problem.empty() && (error != std::errc() || end != value.data() + value.size() || n <= 0))
      problem = key + " must be a positive whole number, got `" + value + "`";
    return n;
  }
};

std::unique_ptr<Component> make_orchestrator(const std::vector<std::string>& args,
                                             const std::string& identity, std::uint64_t seed,
                                             std::string& error) {
  const auto config = orchestrator::Orchestrator::from_args(args);
  if (!config) {
    error = "args do not make an Orchestrator (need --replica=N and --members=... or --join)";
    return nullptr;
  }
  if (config->self != identity) {
    error = "args make " + config->self + ", but the identity is " + identity;
    return nullptr;
  }
  return std::make_unique<orchestrator::Orchestrator>(*config, Rng{seed});
}

std::unique_ptr<Component> make_director(const std::vector<std::string>& args,
                                         const std::string& identity, std::string& error) {
  Flags flags(args, {"--node", "--own-vm", "--cpu-millis", "--memory-bytes",
                     "--director-vm-cpu-millis", "--director-vm-memory-bytes", "--root"});
  director::DirectorConfig c;
  c.node = flags.text("--node");
  c.own_vm = flags.text("--own-vm");
  c.capacity = {flags.number("--cpu-millis"), flags.number("--memory-bytes")};
  c.director_vm = {flags.number("--director-vm-cpu-millis", false),
                   flags.number("--director-vm-memory-bytes", false)};
  if (flags.values.count("--root")) c.root = flags.text("--root");
  if (flags.problem.empty() && director::director_address(c.node) != identity)
    flags.problem =
        "args make " + director::director_address(c.node) + ", but the identity is " + identity;
  if (flags.problem.empty() && (c.director_vm.cpu_millis > c.capacity.cpu_millis ||
                                c.director_vm.memory_bytes > c.capacity.memory_bytes))
    flags.problem = "the Director's own VM is larger than the node";
  if (!flags.problem.empty()) {
    error = "director: " + flags.problem;
    return nullptr;
  }
  return std::make_unique<director::Director>(c);
}

std::unique_ptr<Component> make_agent(const std::vector<std::string>& args,
                                      const std::string& identity, std::string& error) {
  Flags flags(args, {"--vm", "--director", "--cpu-millis", "--memory-bytes"});
  agent::AgentConfig c;
  c.vm = flags.text("--vm");
  c.director = flags.text("--director");
  c.capacity = {flags.number("--cpu-millis"), flags.number("--memory-bytes")};
  if (flags.problem.empty() && c.director.rfind("director:", 0) != 0)
    flags.problem = "--director must be director:NODE, got `" + c.director + "`";
  if (flags.problem.empty() && director::agent_address(c.vm) != identity)
    flags.problem =
        "args make " + director::agent_address(c.vm) + ", but the identity is " + identity;
  if (!flags.problem.empty()) {
    error = "agent: " + flags.problem;
    return nullptr;
  }
  return std::make_unique<agent::Agent>(c);
}

}  // namespace

std::string identity_of_args(const std::string& role, const std::vector<std::string>& args) {
  const std::map<std::string, std::pair<std::string, std::string>> naming{
      {"orchestrator", {"--replica=", "orchestrator:"}},
      {"director", {"--node=", "director:"}},
      {"agent", {"--vm=", "agent:"}}};
  const auto it = naming.find(role);
  if (it == naming.end()) return {};
  const auto& [flag, prefix] = it->second;
  for (const auto& arg : args)
    if (arg.rfind(flag, 0) == 0 && arg.size() > flag.size())
      return prefix + arg.substr(flag.size());
  return {};
}

std::unique_ptr<Component> make_component(const std::string& role,
                                          const std::vector<std::string>& args,
                                          const std::string& identity, std::uint64_t seed,
                                          std::string& error) {
  if (role == "orchestrator") return make_orchestrator(args, identity, seed, error);
  if (role == "director") return make_director(args, identity, error);
  if (role == "agent") return make_agent(args, identity, error);
  error = "omni-node has no role `" + role + "`";
  return nullptr;
}

}  // namespace omni::node
