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
  std::size_t error_count() const { return errors_.size(); }
  std::vector<Diagnostic> take_errors() { return std::move(errors_); }
  const std::string& file() const { return file_; }

  // A mapping whose keys are all in `allowed` and none repeated; reports and returns false
  // otherwise (unknown keys get a did-you-mean).
  bool expect_map(const YAML::Node& node, std::string_view what,
                  const std::vector<std::string>& allowed);
  std::optional<std::string> scalar(const YAML::Node& node, std::string_view what);
  std::optional<std::int64_t> integer(const YAML::Node& node, std::string_view what,
                                      std::int64_t min, std::int64_t max);
  std::optional<double> probability(const YAML::Node& node, std::string_view what);

 private:
  std::string file_;
  std::vector<Diagnostic> errors_;
};

// The kind of a node in words, for "expected X, got Y".
std::string kind_of(const YAML::Node& node);

// yaml-cpp's own exceptions as one located diagnostic.
Diagnostic diagnostic_from(const YAML::Exception& e, const std::string& file);

}  // namespace omni::config
