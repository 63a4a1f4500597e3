#pragma once
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "sim/scenario/parse.h"

namespace omni::sim::testing {

// A std::function, as the parser takes it. The result is built in place: GCC 12 at -O3 warns
// (maybe-uninitialized) about a Diagnostic returned straight into the variant.
inline const FileReader& read_file() {
  static const FileReader read =
      [](const std::string& p) -> std::variant<std::string, config::Diagnostic> {
    std::variant<std::string, config::Diagnostic> result;
    std::ifstream in(p);
    if (!in) {
      result.emplace<config::Diagnostic>().where = {p, 1, 1};
      std::get<config::Diagnostic>(result).message = "cannot read";
      return result;
    }
    std::ostringstream text;
    text << in.rdbuf();
    result = text.str();
    return result;
  };
  return read;
}

// A scenario written in a test, read as if it were scenarios/inline.yaml.
inline Scenario parse_scenario_text(const std::string& text,
                                    const std::string& path = "scenarios/inline.yaml") {
  auto parsed = parse_scenario(text, path, read_file());
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&parsed))
    throw std::runtime_error(errors->front().to_string());
  return std::get<Scenario>(std::move(parsed));
}

inline Scenario load_scenario(const std::string& path) {
  return parse_scenario_text(std::get<std::string>(read_file()(path)), path);
}

inline std::vector<std::string> scenario_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator("scenarios"))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace omni::sim::testing
