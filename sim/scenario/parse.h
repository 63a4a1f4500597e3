#pragma once
// Parsing and validating a scenario file (docs/scenarios.md). Pure: files are read through a
// callback, so tests hand in text and the command line hands in the disk.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/config/parse.h"
#include "model/root/plan.h"
#include "sim/scenario/scenario.h"

namespace omni::sim {

// The whole file at `path`, or a diagnostic saying why not (missing, a directory, unreadable).
using FileReader =
    std::function<std::variant<std::string, config::Diagnostic>(const std::string& path)>;

using ScenarioResult = std::variant<Scenario, std::vector<config::Diagnostic>>;

// `file` names the scenario in messages and anchors a relative `cluster:` path. Every problem
// is a located diagnostic (top-level key by key, in document order within each; at most
// config::kMaxDiagnostics); never throws.
ScenarioResult parse_scenario(std::string_view text, const std::string& file,
                              const FileReader& read);

// "register" -> Phase::reg; the names of docs/scenarios.md.
std::optional<root::Phase> phase_named(std::string_view name);

}  // namespace omni::sim
