#include "model/config/parse.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>

#include "model/config/quantity.h"
#include "model/config/resource_limits.h"
#include "model/config/yaml_reader.h"
#include "model/core/assert.h"

namespace omni::config {
namespace {

const std::vector<std::string> kTopKeys{"cluster", "nodes", "apps"};
const std::vector<std::string> kAppKeys{"name",     "image",     "archive", "args",
                                        "replicas", "resources", "spread"};
const std::vector<std::string> kClusterKeys{"name", "orchestrators", "director", "orchestrator"};
const std::vector<std::string> kNodeKeys{"name", "role", "resources", "hypervisor", "worker_vms"};
const std::vector<std::string> kResourceKeys{"cpu", "memory"};
const std::vector<std::string> kRoles{"worker"};

bool is_alnum_lower(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

void read_resources(const YAML::Node& node, const std::string& what, Resources& out,
                    YamlReader& in) {
  const bool keys_ok = in.expect_map(node, what, kResourceKeys);
  if (!node.IsMap()) return;
  const YAML::Node cpu = node["cpu"];
  const YAML::Node memory = node["memory"];
  if (!cpu && keys_ok) in.error(node, what + " needs \"cpu:\" (cores, like 8 or 500m)");
  if (!memory && keys_ok) in.error(node, what + " needs \"memory:\" (like 32Gi)");
  if (cpu) {
    if (auto text = in.scalar(cpu, "cpu")) {
      auto parsed = parse_cpu_millis(*text);
      if (auto* e = std::get_if<QuantityError>(&parsed))
        in.error(cpu, e->message);
      else if (std::get<std::int64_t>(parsed) > kMaxCpuMillis)
        in.error(cpu, "cpu " + std::string(*text) + " is more than Omni takes (at most " +
                          format_cpu_millis(kMaxCpuMillis) + " cores)");
      else
        out.cpu_millis = std::get<std::int64_t>(parsed);
    }
  }
  if (memory) {
    if (auto text = in.scalar(memory, "memory")) {
      auto parsed = parse_memory_bytes(*text);
      if (auto* e = std::get_if<QuantityError>(&parsed))
        in.error(memory, e->message);
      else if (std::get<std::int64_t>(parsed) > kMaxMemoryBytes)
        in.error(memory, "memory " + std::string(*text) + " is more than Omni takes (at most " +
                             format_memory_bytes(kMaxMemoryBytes) + ")");
      else
        out.memory_bytes = std::get<std::int64_t>(parsed);
    }
  }
}

// An OCI image reference as far as it matters here: non-empty, printable, no spaces.
bool is_valid_image(std::string_view image) {
  return !image.empty() && image.size() <= 255 &&
         std::all_of(image.begin(), image.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

class ConfigParser {
 public:
  explicit ConfigParser(const std::string& file) : in_(file) {}

  ConfigResult parse(const YAML::Node& root) {
    ClusterConfig config;
    if (root.IsNull()) {
      in_.error(root, "the config is empty; it needs at least a \"nodes:\" list");
    } else {
      const bool keys_ok = in_.expect_map(root, "the cluster config", kTopKeys);
      if (root.IsMap()) parse_top(root, config, keys_ok);
    }
    ConfigResult result;
    result.errors = in_.take_errors();
    if (result.errors.empty()) result.config = std::move(config);
    OMNI_ASSERT(result.config.has_value() != !result.errors.empty());
    return result;
  }

  // `apps:` alone, as `omni apply -f` takes it: the nodes are the cluster's already.
  ConfigResult parse_apps_only(const YAML::Node& root) {
    ClusterConfig config;
    config.nodes.clear();
    if (!root.IsMap() || !root["apps"]) {
      in_.error(root, "an apps file is a map with an \"apps:\" list");
    } else if (in_.expect_map(root, "the apps file", {"apps"})) {
      parse_apps(root["apps"], config);
    }
    ConfigResult result;
    result.errors = in_.take_errors();
    if (result.errors.empty()) result.config = std::move(config);
    OMNI_ASSERT(result.config.has_value() != !result.errors.empty());
    OMNI_ASSERT(!result.config || result.config->nodes.empty());
    return result;
  }

 private:
  // A misspelled key already has its message; "missing" errors that follow from it are noise.
  void parse_top(const YAML::Node& root, ClusterConfig& config, bool keys_ok) {
    OMNI_ASSERT(root.IsMap());
    const YAML::Node cluster = root["cluster"];
    std::optional<YAML::Node> orchestrators_node;
    if (cluster && !cluster.IsNull()) parse_cluster(cluster, config, orchestrators_node);
    const YAML::Node nodes = root["nodes"];
    if (!nodes) {
      if (keys_ok)
        in_.error(root, "missing \"nodes:\"; list at least one node with a name and resources");
      return;
    }
    parse_nodes(nodes, config);
    check_orchestrators(config, orchestrators_node);
    if (const YAML::Node apps = root["apps"]; apps && !apps.IsNull()) parse_apps(apps, config);
  }

  void parse_apps(const YAML::Node& apps, ClusterConfig& config) {
    if (!apps.IsSequence()) {
      in_.error(apps, "apps must be a list of applications, got " + kind_of(apps));
      return;
    }
    if (apps.size() > kMaxApps) {
      in_.error(apps, "at most " + std::to_string(kMaxApps) + " apps");
      return;
    }
    std::map<std::string, SourceLocation> first_seen;
    for (const YAML::Node& entry : apps) {
      AppConfig app;
      if (!parse_app(entry, app)) continue;
      auto [it, inserted] = first_seen.emplace(app.name, app.where);
      if (!inserted) {
        in_.error(entry["name"], "duplicate app name \"" + app.name + "\" (first defined at line " +
                                     std::to_string(it->second.line) + ")");
        continue;
      }
      config.apps.push_back(std::move(app));
    }
  }

  bool parse_app(const YAML::Node& entry, AppConfig& app) {
    auto patch = parse_app_patch(entry, in_);
    if (!patch) return false;
    if (!patch->image) {
      in_.error(entry, "app \"" + patch->name + "\" needs an \"image:\"");
      return false;
    }
    app = apply_patch(AppConfig{}, *patch);
    return true;
  }

  void parse_cluster(const YAML::Node& cluster, ClusterConfig& config,
                     std::optional<YAML::Node>& orchestrators_node) {
    in_.expect_map(cluster, "cluster", kClusterKeys);
    if (!cluster.IsMap()) return;
    if (const YAML::Node name = cluster["name"]) {
      if (auto text = in_.scalar(name, "cluster name")) {
        if (is_valid_name(*text)) {
          config.name = *text;
        } else {
          in_.error(name, "invalid cluster name \"" + *text + "\": " + name_rule());
        }
      }
    }
    if (const YAML::Node n = cluster["orchestrators"]) {
      orchestrators_node = n;
      if (auto count = in_.integer(n, "orchestrators", 1, kMaxOrchestrators)) {
        config.orchestrators = static_cast<int>(*count);
        if (*count % 2 == 0)
          in_.error(n,
                    "orchestrators must be odd (1, 3, 5 or 7) so a majority is well defined, got " +
                        std::to_string(*count));
      }
    }
    if (const YAML::Node d = cluster["director"])
      parse_resources(d, "director", config.director_vm);
    if (const YAML::Node o = cluster["orchestrator"])
      parse_resources(o, "orchestrator", config.orchestrator);
  }

  void parse_nodes(const YAML::Node& nodes, ClusterConfig& config) {
    if (!nodes.IsSequence()) {
      in_.error(nodes, "nodes must be a list of nodes, got " + kind_of(nodes));
      return;
    }
    if (nodes.size() == 0) {
      in_.error(nodes, "nodes is empty; list at least one node with a name and resources");
      return;
    }
    std::map<std::string, SourceLocation> first_seen;
    for (const YAML::Node& entry : nodes) {
      NodeConfig node;
      if (!parse_node(entry, node)) continue;
      auto [it, inserted] = first_seen.emplace(node.name, node.where);
      if (!inserted) {
        in_.error(entry["name"], "duplicate node name \"" + node.name +
                                     "\" (first defined at line " +
                                     std::to_string(it->second.line) + ")");
        continue;
      }
      config.nodes.push_back(std::move(node));
    }
    check_size(nodes, config.nodes);
  }

  void check_size(const YAML::Node& at, const std::vector<NodeConfig>& nodes) {
    std::int64_t worker_vms = 0;
    for (const NodeConfig& node : nodes) worker_vms += node.worker_vms;
    if (nodes.size() > kMaxNodes)
      in_.error(at, "at most " + std::to_string(kMaxNodes) + " nodes, got " +
                        std::to_string(nodes.size()));
    else if (worker_vms > kMaxWorkerVms)
      in_.error(at, "at most " + std::to_string(kMaxWorkerVms) +
                        " worker VMs in all (worker_vms summed over the nodes), got " +
                        std::to_string(worker_vms));
  }

  bool parse_node(const YAML::Node& entry, NodeConfig& node) {
    node.where = in_.where(entry);
    const bool keys_ok = in_.expect_map(entry, "a node", kNodeKeys);
    if (!entry.IsMap()) return false;
    bool ok = true;
    if (const YAML::Node name = entry["name"]) {
      auto text = in_.scalar(name, "node name");
      if (text && is_valid_name(*text)) {
        node.name = *text;
      } else if (text) {
        in_.error(name, "invalid node name \"" + *text + "\": " + name_rule());
        ok = false;
      } else {
        ok = false;
      }
    } else {
      if (keys_ok) in_.error(entry, "a node needs a \"name:\"");
      ok = false;
    }
    if (const YAML::Node role = entry["role"]) {
      auto text = in_.scalar(role, "role");
      if (text && std::find(kRoles.begin(), kRoles.end(), *text) == kRoles.end()) {
        in_.error(role, "unknown role \"" + *text + "\"; the only role is \"worker\"");
      } else if (text) {
        node.role = *text;
      }
    }
    if (const YAML::Node resources = entry["resources"]) {
      parse_resources(resources, "resources", node.resources);
    } else if (keys_ok) {
      in_.error(entry, "node \"" + node.name + "\" needs \"resources:\" with cpu and memory");
    }
    if (const YAML::Node hv = entry["hypervisor"]) {
      auto text = in_.scalar(hv, "hypervisor");
      if (text && is_valid_hypervisor(*text)) {
        node.hypervisor = *text;
      } else if (text && text->size() > kMaxHypervisorUriLength) {
        in_.error(hv, "a hypervisor URI is at most " + std::to_string(kMaxHypervisorUriLength) +
                          " characters, got " + std::to_string(text->size()));
      } else if (text) {
        in_.error(hv, "invalid hypervisor \"" + *text +
                          "\": use local or a libvirt URI such as qemu:///system, "
                          "qemu+ssh://HOST/system or test:///default");
      }
    }
    if (const YAML::Node vms = entry["worker_vms"]) {
      if (auto count = in_.integer(vms, "worker_vms", 1, kMaxWorkerVmsPerNode))
        node.worker_vms = static_cast<int>(*count);
    }
    return ok;
  }

  void parse_resources(const YAML::Node& node, const std::string& what, Resources& out) {
    read_resources(node, what, out, in_);
  }

  void check_orchestrators(ClusterConfig& config, const std::optional<YAML::Node>& given) {
    if (config.nodes.empty() || !in_.ok()) return;
    if (!given) {
      config.orchestrators = default_orchestrators(config.nodes.size());
      return;
    }
    if (static_cast<std::size_t>(config.orchestrators) > config.nodes.size()) {
      in_.error(*given, "orchestrators is " + std::to_string(config.orchestrators) +
                            " but there are only " + std::to_string(config.nodes.size()) +
                            " nodes; replicas go on distinct nodes, so use at most " +
                            std::to_string(default_orchestrators(config.nodes.size())));
    }
  }

  static std::string name_rule() {
    return "use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or "
           "digit";
  }

  YamlReader in_;
};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

// DNS-label rules, because names become VM, container and host names.
bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNodeNameLength) return false;
  if (!is_alnum_lower(name.front()) || !is_alnum_lower(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alnum_lower(c) || c == '-'; });
}

bool is_valid_app_name(std::string_view name) {
  return is_valid_name(name) && name != "orchestrator";
}

// "local", or a libvirt URI such as qemu:///system, qemu+ssh://host/system, test:///default.
bool is_valid_hypervisor(std::string_view uri) {
  if (uri == "local") return true;
  if (uri.size() > kMaxHypervisorUriLength) return false;
  const auto sep = uri.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  const std::string_view scheme = uri.substr(0, sep);
  const bool scheme_ok = std::all_of(scheme.begin(), scheme.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+';
  });
  // No spaces or control characters: a URI has none, and the name is printed to terminals.
  const bool printable = std::all_of(uri.begin(), uri.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
  });
  return scheme_ok && printable && (scheme.front() >= 'a' && scheme.front() <= 'z') &&
         uri.size() > sep + 3;
}

namespace {

std::string name_rule_text() {
  return "use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or "
         "digit";
}

std::optional<std::string> app_name(const YAML::Node& entry, YamlReader& in, bool keys_ok) {
  const YAML::Node name = entry["name"];
  if (!name) {
    if (keys_ok) in.error(entry, "an app needs a \"name:\"");
    return std::nullopt;
  }
  auto text = in.scalar(name, "app name");
  if (!text) return std::nullopt;
  if (*text == "orchestrator") {
    in.error(name,
             "an app cannot be named \"orchestrator\": its containers would take the names "
             "of the Orchestrator replicas'");
    return std::nullopt;
  }
  if (!is_valid_name(*text)) {
    in.error(name, "invalid app name \"" + *text + "\": " + name_rule_text());
    return std::nullopt;
  }
  return text;
}

std::optional<std::vector<std::string>> app_args(const YAML::Node& args, YamlReader& in) {
  if (!args.IsSequence()) {
    in.error(args, "args must be a list of strings, got " + kind_of(args));
    return std::nullopt;
  }
  if (args.size() > kMaxAppArgs) {
    in.error(args, "at most " + std::to_string(kMaxAppArgs) + " args");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const YAML::Node& arg : args) {
    auto text = in.scalar(arg, "an arg");
    if (!text) return std::nullopt;
    // A process's arguments end at a NUL: "a\0b" would run as "a", not as written.
    if (text->find('\0') != std::string::npos) {
      in.error(arg,
               "an arg cannot hold a NUL byte (\\0): a program would get only what is before it");
      return std::nullopt;
    }
    out.push_back(*text);
  }
  return out;
}

}  // namespace

std::optional<AppPatch> parse_app_patch(const YAML::Node& entry, YamlReader& in) {
  const std::size_t errors_before = in.error_count();
  const bool keys_ok = in.expect_map(entry, "an app", kAppKeys);
  if (!entry.IsMap()) return std::nullopt;
  AppPatch patch;
  patch.where = in.where(entry);
  auto name = app_name(entry, in, keys_ok);
  if (name) patch.name = *name;
  if (const YAML::Node image = entry["image"]) {
    auto text = in.scalar(image, "image");
    if (text && is_valid_image(*text))
      patch.image = *text;
    else if (text)
      in.error(image, "invalid image \"" + *text +
                          "\": an OCI reference like omni/demo-web or registry.example/web:1.2, "
                          "without spaces");
  }
  if (const YAML::Node archive = entry["archive"]) patch.archive = in.scalar(archive, "archive");
  if (const YAML::Node args = entry["args"]) patch.args = app_args(args, in);
  if (const YAML::Node replicas = entry["replicas"]) {
    if (auto count = in.integer(replicas, "replicas", 0, kMaxAppReplicas))
      patch.replicas = static_cast<int>(*count);
  }
  if (const YAML::Node resources = entry["resources"]) {
    Resources r{0, 0};
    read_resources(resources, "resources", r, in);
    patch.resources = r;
  }
  if (const YAML::Node spread = entry["spread"]) {
    auto text = in.scalar(spread, "spread");
    if (text && *text != "nodes" && *text != "none")
      in.error(spread, "spread must be \"nodes\" or \"none\", got \"" + *text + "\"");
    else if (text)
      patch.spread = *text == "nodes";
  }
  if (!name || in.error_count() != errors_before) return std::nullopt;
  return patch;
}

AppConfig apply_patch(AppConfig base, const AppPatch& patch) {
  base.name = patch.name;
  if (patch.image) base.image = *patch.image;
  if (patch.archive) base.archive = *patch.archive;
  if (patch.args) base.args = *patch.args;
  if (patch.replicas) base.replicas = *patch.replicas;
  if (patch.resources) base.resources = *patch.resources;
  if (patch.spread) base.spread = *patch.spread;
  if (patch.where.line > 0) base.where = patch.where;
  return base;
}

std::string Diagnostic::to_string() const {
  return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
         message;
}

std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  // No typo of a word of ours is this long, and an edit distance costs the product of the
  // lengths: 2,000 keys a million characters long (YAML aliases) took 33 s to suggest nothing.
  if (word.size() > kMaxSuggestedWordBytes) return std::nullopt;
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

namespace {

// The bytes of the UTF-8 character that starts at text[i], or 0 when none does: a stray or
// missing continuation byte, an overlong form, a surrogate (U+D800..DFFF) or past U+10FFFF
// (RFC 3629). Protobuf refuses such strings in what the config becomes, so the config must.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  OMNI_ASSERT(i < text.size());
  const auto byte = [&text](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  const std::size_t length = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (length == 0 || c == 0xc0 || c == 0xc1 || c > 0xf4 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k)
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  // The second byte's range for the leads that allow overlong forms, surrogates or values
  // past U+10FFFF (RFC 3629, section 4).
  const unsigned char second = byte(i + 1);
  if ((c == 0xe0 && second < 0xa0) || (c == 0xed && second > 0x9f) ||
      (c == 0xf0 && second < 0x90) || (c == 0xf4 && second > 0x8f))
    return 0;
  OMNI_ASSERT(length >= 2 && length <= 4);
  return length;
}

}  // namespace

std::optional<Diagnostic> check_utf8(std::string_view text, const std::string& file) {
  int line = 1;
  int column = 1;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", c);
      return Diagnostic{
          {file, line, column},
          std::string("the file is not valid UTF-8 (byte ") + hex + "); save it as UTF-8"};
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += length;
  }
  return std::nullopt;
}

ConfigResult parse_apps_file(std::string_view text, const std::string& file) {
  if (auto bad = check_utf8(text, file)) return ConfigResult{std::nullopt, {*bad}};
  try {
    return ConfigParser(file).parse_apps_only(load_one_document(std::string(text)));
  } catch (const YAML::Exception& e) {
    return ConfigResult{std::nullopt, {diagnostic_from(e, file)}};
  }
}

ConfigResult parse_cluster_config(const YAML::Node& root, const std::string& file) {
  return ConfigParser(file).parse(root);
}

ConfigResult parse_cluster_config(std::string_view text, const std::string& file) {
  if (auto bad = check_utf8(text, file)) return ConfigResult{std::nullopt, {*bad}};
  try {
    const YAML::Node root = load_one_document(std::string(text));
    return parse_cluster_config(root, file);
  } catch (const YAML::Exception& e) {
    return ConfigResult{std::nullopt, {diagnostic_from(e, file)}};
  }
}

}  // namespace omni::config
