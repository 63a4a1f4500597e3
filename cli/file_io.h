#pragma once
#include <string>
#include <variant>

#include "drivers/util/text_file.h"
#include "model/config/parse.h"

namespace omni::cli {

// A config or apps file, or its error located at the file for the parsers' diagnostics.
inline std::variant<std::string, config::Diagnostic> read_text_file(const std::string& path) {
  drivers::TextFile file = drivers::read_text_file(path);
  if (!file.error.empty()) return config::Diagnostic{{path, 1, 1}, std::move(file.error)};
  return std::move(file.text);
}

}  // namespace omni::cli
