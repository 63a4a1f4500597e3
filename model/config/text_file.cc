#include "model/config/text_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "model/core/assert.h"

namespace omni::config {

std::variant<std::string, Diagnostic> read_text_file(const std::string& path) {
  const SourceLocation at{path, 1, 1};
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    return Diagnostic{at, "cannot read the file: no such file"};
  if (std::filesystem::is_directory(status))
    return Diagnostic{at, "cannot read the file: it is a directory; give a YAML file"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return Diagnostic{at, std::string("cannot read the file: ") + std::strerror(errno)};
  std::string text;
  char chunk[1 << 16];
  // Reading stops one chunk past the limit at most: that tells a file at the limit from a
  // larger one without holding more.
  while (in && text.size() <= kMaxTextFileBytes) {
    in.read(chunk, sizeof chunk);
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return Diagnostic{at, "cannot read the file: read error"};
  if (text.size() > kMaxTextFileBytes)
    return Diagnostic{at, "cannot read the file: it is larger than " +
                              std::to_string(kMaxTextFileBytes >> 20) +
                              " MiB, more than any config or scenario needs"};
  OMNI_ASSERT(in.eof(), "a file read whole ends at its end");
  return text;
}

}  // namespace omni::config
