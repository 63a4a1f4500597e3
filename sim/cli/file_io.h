#pragma once
#include <string>
#include <variant>

#include "model/config/parse.h"

namespace omni::sim::cli {

// The whole file, or a located diagnostic a person can act on (missing, a directory, unreadable).
std::variant<std::string, config::Diagnostic> read_text_file(const std::string& path);

}  // namespace omni::sim::cli
