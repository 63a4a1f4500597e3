#include "drivers/util/text_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace omni::drivers {

using config::Diagnostic;
using config::SourceLocation;

StreamText read_stream(std::istream& in, std::size_t max_bytes) {
  StreamText out;
  std::string chunk(std::size_t{1} << 16, '\0');
  // Reading stops one chunk past the limit at most: that tells a file at the limit from a
  // larger one without holding more.
  while (in && out.text.size() <= max_bytes) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    out.text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
  }
  out.too_large = out.text.size() > max_bytes;
  out.complete = !out.too_large && !in.bad() && in.eof();
  if (!out.complete) out.text.clear();
  return out;
}

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
  StreamText read = read_stream(in, kMaxTextFileBytes);
  if (read.too_large)
    return Diagnostic{at, "cannot read the file: it is larger than " +
                              std::to_string(kMaxTextFileBytes >> 20) +
                              " MiB, more than any config or scenario needs"};
  if (!read.complete) return Diagnostic{at, "cannot read the file: read error"};
  return std::move(read.text);
}

}  // namespace omni::drivers
