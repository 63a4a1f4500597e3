#pragma once
// Reading test files from the project root (ctest runs there) and the FileReader omni-sim uses.
#include <fstream>
#include <sstream>
#include <string>

#include "sim/cli/file_io.h"
#include "sim/scenario/parse.h"

namespace omni::sim::testing {

inline std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The reader omni-sim uses: a referenced file that never ends is its error, not the test's.
inline std::variant<std::string, config::Diagnostic> read_disk(const std::string& path) {
  return cli::read_text_file(path);
}

inline ScenarioResult parse_file(const std::string& path) {
  return parse_scenario(read(path), path, read_disk);
}

}  // namespace omni::sim::testing
