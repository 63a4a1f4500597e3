#pragma once
// A person's file read whole, for the parsers of both front ends (omni's cluster and apps
// files, omni-sim's scenarios and the files they name). Its own small library, outside model/
// (which does no I/O) and outside omni_drivers (which omni-sim does not link). Bounded: a path
// that never ends (`cluster: /dev/zero`) is an error, not the machine's memory. A pipe is read
// like a file, so `-f /dev/stdin` works.
#include <cstddef>
#include <istream>
#include <string>

namespace omni::drivers {

inline constexpr std::size_t kMaxTextFileBytes = std::size_t{16} << 20;

// The whole file, or why not in words a person can act on (missing, a directory, unreadable,
// larger than kMaxTextFileBytes); the callers add where (a config's Diagnostic, a log line).
struct TextFile {
  std::string text;
  std::string error;  // empty: `text` is the whole file
};
TextFile read_text_file(const std::string& path);

// The same for files that must be regular files (keys, certificates, tokens): a FIFO would
// block the reader until someone writes to it, a device would be read to the limit.
TextFile read_regular_file(const std::string& path);

// What is left of a stream, or nothing once it passes max_bytes (one chunk of 64 KiB past it
// at most is held) or fails to read; `too_large` says which.
struct StreamText {
  std::string text;
  bool complete = false;
  bool too_large = false;
};
StreamText read_stream(std::istream& in, std::size_t max_bytes);

}  // namespace omni::drivers
