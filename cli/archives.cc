#include "cli/archives.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>

namespace omni::cli {
namespace {

namespace fs = std::filesystem;

fs::path base_directory(const std::string& file) {
  std::error_code error;
  if (fs::is_regular_file(file, error)) return fs::absolute(fs::path(file), error).parent_path();
  return fs::current_path(error);
}

// Why `path` cannot be read as an archive, or empty.
std::string unreadable(const fs::path& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (status.type() == fs::file_type::not_found) return "no such file";
  if (error) return error.message();
  if (!fs::is_regular_file(status)) return "not a regular file";
  if (::access(path.c_str(), R_OK) != 0) return "not readable";
  return {};
}

}  // namespace

std::vector<config::Diagnostic> resolve_archives(std::vector<config::AppConfig>& apps,
                                                 const std::string& file) {
  std::vector<config::Diagnostic> problems;
  std::vector<std::string> resolved;
  const fs::path base = base_directory(file);
  for (const config::AppConfig& app : apps) {
    if (app.archive.empty()) {
      resolved.emplace_back();
      continue;
    }
    fs::path path(app.archive);
    if (path.is_relative()) path = base / path;
    path = path.lexically_normal();
    if (const std::string why = unreadable(path); !why.empty())
      problems.push_back({app.where, "app " + app.name + ": archive " + app.archive + " (" +
                                         path.string() + "): " + why});
    resolved.push_back(path.string());
  }
  if (!problems.empty()) return problems;
  for (std::size_t i = 0; i < apps.size(); ++i)
    if (!resolved[i].empty()) apps[i].archive = resolved[i];
  return problems;
}

}  // namespace omni::cli
