#pragma once
// Parsing and validating a cluster config. Pure: the caller reads the file; this sees text.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/config/cluster_config.h"

namespace YAML {
class Node;
}

namespace omni::config {

struct Diagnostic {
  SourceLocation where;
  std::string message;
  // "FILE:LINE:COLUMN: message", the one line a person reads.
  std::string to_string() const;
};

struct ConfigResult {
  std::optional<ClusterConfig> config;  // set exactly when errors is empty
  // Section by section (cluster, nodes, apps), in document order within each; at most
  // kMaxDiagnostics.
  std::vector<Diagnostic> errors;
};

inline constexpr std::size_t kMaxDiagnostics = 20;

// `file` names the source in messages only.
ConfigResult parse_cluster_config(std::string_view text, const std::string& file);

// An `apps:` file (`omni apply -f`): the result's config has the apps and no nodes.
ConfigResult parse_apps_file(std::string_view text, const std::string& file);

// The rules the parser applies, for typed input that never was YAML (a hand-over).
bool is_valid_name(std::string_view name);  // a DNS label: names become host names
// A valid name other than "orchestrator", whose containers would take the replicas' names.
bool is_valid_app_name(std::string_view name);
bool is_valid_hypervisor(std::string_view uri);  // "local" or a libvirt URI
// For a config embedded in another document (a scenario's inline `cluster:`).
ConfigResult parse_cluster_config(const YAML::Node& root, const std::string& file);

// An app's fields as written, each optional: an `apps:` entry (which must give `image`), or a
// scenario's `apply:` (which changes only what it names).
struct AppPatch {
  std::string name;
  std::optional<std::string> image;
  std::optional<std::string> archive;
  std::optional<std::vector<std::string>> args;
  std::optional<int> replicas;
  std::optional<Resources> resources;
  std::optional<bool> spread;
  SourceLocation where;
};
class YamlReader;
// Reports errors to `in`; nothing when the entry is not a sound patch.
std::optional<AppPatch> parse_app_patch(const YAML::Node& entry, YamlReader& in);
// The patch applied over `base` (for a new app, `base` is the defaults with the patch's name).
AppConfig apply_patch(AppConfig base, const AppPatch& patch);

// Text checks every YAML document of ours needs before yaml-cpp sees it: valid UTF-8, not empty.
std::optional<Diagnostic> check_utf8(std::string_view text, const std::string& file);

// The closest of `candidates` to `word`, if close enough to be a likely typo (none for a word
// longer than kMaxSuggestedWordBytes).
inline constexpr std::size_t kMaxSuggestedWordBytes = 64;
std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::vector<std::string>& candidates);

}  // namespace omni::config
