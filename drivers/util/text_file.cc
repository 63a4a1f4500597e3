#include "drivers/util/text_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace omni::drivers {

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

namespace {

TextFile failed(std::string why) {
  return TextFile{{}, "cannot read the file: " + std::move(why)};
}

TextFile read_file(const std::string& path, bool regular_only) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return failed("no such file");
  if (std::filesystem::is_directory(status)) return failed("it is a directory");
  if (regular_only && !std::filesystem::is_regular_file(status))
    return failed("it is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return failed(std::strerror(errno));
  StreamText read = read_stream(in, kMaxTextFileBytes);
  if (read.too_large)
    return failed("it is larger than " + std::to_string(kMaxTextFileBytes >> 20) + " MiB");
  if (!read.complete) return failed("read error");
  return TextFile{std::move(read.text), {}};
}

}  // namespace

TextFile read_text_file(const std::string& path) {
  return read_file(path, false);
}

TextFile read_regular_file(const std::string& path) {
  return read_file(path, true);
}

}  // namespace omni::drivers
