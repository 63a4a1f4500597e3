#pragma once
// A person's file read whole, for the parsers of both front ends (omni's cluster and apps
// files, omni-sim's scenarios and the files they name). Its own small library, outside model/
// (which does no I/O) and outside omni_drivers (which omni-sim does not link). Bounded: a path
// that never ends (`cluster: /dev/zero`) is an error, not the machine's memory. A pipe is read
// like a file, so `-f /dev/stdin` works.
#include <cstddef>
#include <istream>
#include <string>
#include <variant>

#include "model/config/parse.h"

namespace omni::drivers {

inline constexpr std::size_t kMaxTextFileBytes = std::size_t{16} << 20;

// The whole file, or a located diagnostic a person can act on (missing, a directory,
// unreadable, larger than kMaxTextFileBytes).
std::variant<std::string, config::Diagnostic> read_text_file(const std::string& path);

// What is left of a stream, or nothing once it passes max_bytes (one chunk of 64 KiB past it
// at most is held) or fails to read; `too_large` says which.
struct StreamText {
  std::string text;
  bool complete = false;
  bool too_large = false;
};
StreamText read_stream(std::istream& in, std::size_t max_bytes);

}  // namespace omni::drivers
