#pragma once
// Reading typed values out of yaml-cpp nodes with located, human messages. Shared by the
// cluster config and the scenario format so both report errors the same way.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config/parse.h"

namespace omni::config {

class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  SourceLocation where(const YAML::Node& node) const;
  void error(const YAML::Node& at, std::string message);
  void error(SourceLocation at, std::string message);
  bool ok() const { return errors_.empty(); }
  // As many errors as a file reports (kMaxDiagnostics): later ones are not said.
  bool full() const { return errors_.size() >= kMaxDiagnostics; }
  std::size_t error_count() const { return errors_.size(); }
  std::vector<Diagnostic> take_errors() { return std::move(errors_); }
  const std::string& file() const { return file_; }

  // A mapping whose keys are all in `allowed` and none repeated; reports and returns false
  // otherwise (unknown keys get a did-you-mean).
  bool expect_map(const YAML::Node& node, std::string_view what,
                  const std::vector<std::string>& allowed);
  // A single value. All the values read from one file add up to at most kMaxValueBytes: aliases
  // repeat a value in full each time (`*a` a thousand times over a 16 KiB value is 16 MB).
  std::optional<std::string> scalar(const YAML::Node& node, std::string_view what);
  static constexpr std::size_t kMaxValueBytes = std::size_t{16} << 20;
  std::optional<std::int64_t> integer(const YAML::Node& node, std::string_view what,
                                      std::int64_t min, std::int64_t max);
  std::optional<double> probability(const YAML::Node& node, std::string_view what);

 private:
  std::string file_;
  std::vector<Diagnostic> errors_;
  std::size_t value_bytes_ = 0;
  bool over_value_bytes_ = false;
};

// The one document of a config or scenario. yaml-cpp's Load keeps the first document of a
// stream and drops the rest without a word; a second one throws YAML::ParserException at it.
YAML::Node load_one_document(const std::string& text);

// The kind of a node in words, for "expected X, got Y".
std::string kind_of(const YAML::Node& node);

// yaml-cpp's own exceptions as one located diagnostic.
Diagnostic diagnostic_from(const YAML::Exception& e, const std::string& file);

}  // namespace omni::config
