#include "sim/cli/file_io.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace omni::sim::cli {

std::variant<std::string, config::Diagnostic> read_text_file(const std::string& path) {
  const config::SourceLocation at{path, 1, 1};
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    return config::Diagnostic{at, "cannot read the file: no such file"};
  if (std::filesystem::is_directory(status))
    return config::Diagnostic{at, "cannot read the file: it is a directory; give a YAML file"};
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return config::Diagnostic{at, std::string("cannot read the file: ") + std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return config::Diagnostic{at, "cannot read the file: read error"};
  return text.str();
}

}  // namespace omni::sim::cli
