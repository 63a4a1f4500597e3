#include "model/config/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <optional>
#include <set>
#include <sstream>

#include "model/core/assert.h"

namespace omni::config {

std::string kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "\"" + node.Scalar() + "\"";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

Diagnostic diagnostic_from(const YAML::Exception& e, const std::string& file) {
  const bool has_mark = !e.mark.is_null();
  SourceLocation at{file, has_mark ? e.mark.line + 1 : 1, has_mark ? e.mark.column + 1 : 1};
  return Diagnostic{at, "invalid YAML: " + e.msg};
}

SourceLocation YamlReader::where(const YAML::Node& node) const {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return SourceLocation{file_, 1, 1};
  return SourceLocation{file_, mark.line + 1, mark.column + 1};
}

void YamlReader::error(const YAML::Node& at, std::string message) {
  error(where(at), std::move(message));
}

namespace {

// A message quotes what the file said, and is printed on one line of a person's terminal: a
// 10 MB value was echoed whole, and an escape sequence in a value reached the terminal.
std::string printable_message(const std::string& message) {
  constexpr std::size_t kMaxMessageBytes = 1000;
  std::size_t end = std::min(message.size(), kMaxMessageBytes);
  while (end > 0 && end < message.size() &&
         (static_cast<unsigned char>(message[end]) & 0xc0) == 0x80)
    --end;  // not inside a UTF-8 sequence
  std::string out;
  for (std::size_t i = 0; i < end; ++i) {
    const auto c = static_cast<unsigned char>(message[i]);
    const auto next = i + 1 < end ? static_cast<unsigned char>(message[i + 1]) : 0;
    if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {  // U+0080..U+009F: C1 controls (CSI)
      out += '?';
      ++i;
    } else {
      out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
    }
  }
  if (end < message.size()) out += "... (" + std::to_string(message.size() - end) + " bytes more)";
  OMNI_ASSERT(out.size() <= kMaxMessageBytes + 40);
  return out;
}

}  // namespace

void YamlReader::error(SourceLocation at, std::string message) {
  OMNI_ASSERT(!message.empty());
  if (errors_.size() >= kMaxDiagnostics) return;
  errors_.push_back(Diagnostic{std::move(at), printable_message(message)});
  OMNI_ASSERT(errors_.size() <= kMaxDiagnostics);
}

bool YamlReader::expect_map(const YAML::Node& node, std::string_view what,
                            const std::vector<std::string>& allowed) {
  OMNI_ASSERT(!allowed.empty());
  if (!node.IsMap()) {
    error(node, std::string(what) + " must be a mapping of keys to values, got " + kind_of(node));
    return false;
  }
  const std::size_t errors_before = errors_.size();
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      error(key, "keys of " + std::string(what) + " must be plain words, got " + kind_of(key));
      continue;
    }
    const std::string& name = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      if (full()) return false;  // nothing more is said: no message to build, however long
      std::string message = "unknown key \"" + name + "\" in " + std::string(what);
      if (auto close = did_you_mean(name, allowed)) message += "; did you mean \"" + *close + "\"?";
      error(key, message);
    } else if (!seen.insert(name).second) {
      error(key, "duplicate key \"" + name + "\" in " + std::string(what));
    }
  }
  return errors_.size() == errors_before;
}

std::optional<std::string> YamlReader::scalar(const YAML::Node& node, std::string_view what) {
  if (!node.IsScalar()) {
    error(node, std::string(what) + " must be a single value, got " + kind_of(node));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  if (over_value_bytes_) return std::nullopt;  // said once
  value_bytes_ += text.size();
  if (value_bytes_ > kMaxValueBytes) {
    over_value_bytes_ = true;
    error(node, "the file's values add up to more than " + std::to_string(kMaxValueBytes >> 20) +
                    " MiB (YAML aliases repeat a value in full each time)");
    return std::nullopt;
  }
  OMNI_ASSERT(value_bytes_ <= kMaxValueBytes);
  return text;
}

namespace {

// Sees only where each document starts: enough to tell a stream of one from a stream of more.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> start;
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

// Not YAML::LoadAll: on some malformed streams it returns empty documents forever (a fuzzed
// node config grew to gigabytes). The parser is asked for two documents at most.
YAML::Node load_one_document(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentStarts first;
  DocumentStarts second;
  if (parser.HandleNextDocument(first) && parser.HandleNextDocument(second) && second.start)
    throw YAML::ParserException(*second.start,
                                "a second YAML document (after ---): the file holds one");
  return YAML::Load(text);
}

std::optional<std::int64_t> YamlReader::integer(const YAML::Node& node, std::string_view what,
                                                std::int64_t min, std::int64_t max) {
  OMNI_ASSERT(min <= max);
  auto text = scalar(node, what);
  if (!text) return std::nullopt;
  const std::string range =
      "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  const bool digits = !text->empty() && text->size() <= 18 &&
                      std::all_of(text->begin() + (text->front() == '-' ? 1 : 0), text->end(),
                                  [](char c) { return c >= '0' && c <= '9'; }) &&
                      *text != "-";
  if (!digits) {
    error(node, std::string(what) + " must be " + range + ", got \"" + *text + "\"");
    return std::nullopt;
  }
  const std::int64_t value = std::stoll(*text);
  if (value < min || value > max) {
    error(node, std::string(what) + " must be " + range + ", got " + *text);
    return std::nullopt;
  }
  OMNI_ASSERT(value >= min && value <= max);
  return value;
}

std::optional<double> YamlReader::probability(const YAML::Node& node, std::string_view what) {
  auto text = scalar(node, what);
  if (!text) return std::nullopt;
  double value = 0;
  try {
    std::size_t used = 0;
    value = std::stod(*text, &used);
    if (used != text->size()) throw std::invalid_argument("trailing characters");
  } catch (const std::exception&) {
    error(node, std::string(what) + " must be a probability from 0 to 1, got \"" + *text + "\"");
    return std::nullopt;
  }
  if (!(value >= 0.0 && value <= 1.0)) {
    error(node, std::string(what) + " must be a probability from 0 to 1, got " + *text);
    return std::nullopt;
  }
  return value;
}

}  // namespace omni::config
