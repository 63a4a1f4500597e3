#pragma once
// Reading test files from the project root (ctest runs there) and a FileReader over the disk.
#include <fstream>
#include <sstream>
#include <string>

#include "sim/scenario/parse.h"

namespace omni::sim::testing {

inline std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::variant<std::string, config::Diagnostic> read_disk(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return config::Diagnostic{{path, 1, 1}, "cannot read the file: no such file"};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline ScenarioResult parse_file(const std::string& path) {
  return parse_scenario(read(path), path, read_disk);
}

}  // namespace omni::sim::testing
