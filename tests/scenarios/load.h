#pragma once
#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "sim/cli/file_io.h"
#include "sim/scenario/parse.h"

namespace omni::sim::testing {

// A scenario written in a test, read as if it were scenarios/inline.yaml.
inline Scenario parse_scenario_text(const std::string& text,
                                    const std::string& path = "scenarios/inline.yaml") {
  auto parsed = parse_scenario(text, path, cli::read_text_file);
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&parsed))
    throw std::runtime_error(errors->front().to_string());
  return std::get<Scenario>(std::move(parsed));
}

inline Scenario load_scenario(const std::string& path) {
  auto text = cli::read_text_file(path);
  if (auto* d = std::get_if<config::Diagnostic>(&text)) throw std::runtime_error(d->to_string());
  return parse_scenario_text(std::get<std::string>(text), path);
}

// Each node in turn is cut off from the other two (the clients on root-host reach both sides):
// with RunOptions::testing_leaders_read_locally, a leader cut off keeps answering reads from a
// state the new leader's writes have left behind.
inline constexpr const char* kStaleReadsScenario = R"(name: stale-reads
cluster: ../examples/cluster-3node.yaml
duration: 10m
clients: {count: 5, keys: 1, ops: [read, write], rate: 20/s, timeout: 1s}
faults:
  - {at: phase:done, partition: [[worker-01], [worker-02, worker-03]]}
  - {at: +20s, heal: all}
  - {at: +10s, partition: [[worker-02], [worker-01, worker-03]]}
  - {at: +20s, heal: all}
  - {at: +10s, partition: [[worker-03], [worker-01, worker-02]]}
  - {at: +20s, heal: all}
expect: {init: complete}
)";

inline std::vector<std::string> scenario_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator("scenarios"))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace omni::sim::testing
