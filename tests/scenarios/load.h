#pragma once
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "sim/scenario/parse.h"

namespace omni::sim::testing {

inline Scenario load_scenario(const std::string& path) {
  const FileReader read =
      [](const std::string& p) -> std::variant<std::string, config::Diagnostic> {
    std::ifstream in(p);
    if (!in) return config::Diagnostic{{p, 1, 1}, "cannot read"};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  auto text = read(path);
  auto parsed = parse_scenario(std::get<std::string>(text), path, read);
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&parsed))
    throw std::runtime_error(errors->front().to_string());
  return std::get<Scenario>(std::move(parsed));
}

inline std::vector<std::string> scenario_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator("scenarios"))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace omni::sim::testing
