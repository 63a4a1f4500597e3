#pragma once
// A person's file read whole, for the parsers of both front ends (omni's cluster and apps
// files, omni-sim's scenarios and the files they name). Bounded: a path that never ends
// (`cluster: /dev/zero`) is an error, not the machine's memory. A pipe is read like a file, so
// `-f /dev/stdin` works.
#include <cstddef>
#include <string>
#include <variant>

#include "model/config/parse.h"

namespace omni::config {

inline constexpr std::size_t kMaxTextFileBytes = std::size_t{16} << 20;

// The whole file, or a located diagnostic a person can act on (missing, a directory,
// unreadable, larger than kMaxTextFileBytes).
std::variant<std::string, Diagnostic> read_text_file(const std::string& path);

}  // namespace omni::config
