#include "sim/lincheck/history.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "model/core/assert.h"

namespace omni::lincheck {
namespace {

using nlohmann::json;

constexpr std::size_t kShownJsonChars = 40;  // of a bad field's value, in a message
// An event nests two deep (a cas pair); other fields are kept as they come, up to this deep.
constexpr std::size_t kMaxNesting = 64;

// Records only the first syntax error, with its column and what the parser expected.
class SyntaxErrorSax : public nlohmann::json_sax<json> {
 public:
  std::string message;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..."
    const std::string what = ex.what();
    const auto column = what.find("column ");
    message = column == std::string::npos ? what : what.substr(column);
    return false;
  }
};

std::string syntax_error(std::string_view line) {
  SyntaxErrorSax sax;
  json::sax_parse(line, &sax);
  return "not valid JSON (" + (sax.message.empty() ? "syntax error" : sax.message) +
         "); each line must be one JSON object";
}

// How deep a line's arrays and objects nest, counted on its text (brackets inside strings are
// not nesting). A deep line is refused before it is parsed: printing it back in an error
// recursed once a level and overflowed the stack on a line of a million '['.
std::size_t nesting_depth(std::string_view line) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : line) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string shown(const json& j) {
  std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kShownJsonChars) text = text.substr(0, kShownJsonChars) + "...";
  return text;
}

// The event's field names, to find one given twice: nlohmann keeps the last of them silently,
// and a line saying `"value": 1, ..., "value": 2` is not one event but a damaged one. Only the
// top level: the fields below are a cas pair or kept as they come.
json::parser_callback_t top_level_key_recorder(std::string& repeated) {
  return [&repeated, seen = std::set<std::string>{}](int depth, json::parse_event_t event,
                                                     json& parsed) mutable {
    if (event != json::parse_event_t::key || depth != 1 || !repeated.empty()) return true;
    std::string name = parsed.get<std::string>();
    if (seen.count(name)) repeated = shown(json(name));
    seen.insert(std::move(name));
    return true;
  };
}

std::optional<std::int64_t> as_int64(const json& j) {
  if (j.is_number_unsigned()) {
    const auto u = j.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (j.is_number_integer()) return j.get<std::int64_t>();
  return std::nullopt;
}

// null, an integer in int64's range, or a string.
std::optional<Value> as_value(const json& j) {
  if (j.is_null()) return Value{};
  if (j.is_string()) return Value{j.get<std::string>()};
  if (const auto n = as_int64(j)) return Value{*n};
  return std::nullopt;
}

std::string bad_value(std::string_view what, const json& j) {
  return std::string(what) +
         " must be null, an integer (a whole number within 64 bits) or a string; got " + shown(j);
}

std::optional<EventType> event_type_named(const std::string& name) {
  for (EventType t : {EventType::invoke, EventType::ok, EventType::fail, EventType::info})
    if (name_of(t) == name) return t;
  return std::nullopt;
}

std::optional<Function> function_named(const std::string& name) {
  for (Function f : {Function::read, Function::write, Function::cas})
    if (name_of(f) == name) return f;
  return std::nullopt;
}

std::string parse_value(const json& object, Event& e) {
  if (!object.contains("value")) return "missing \"value\" (null for a read's invoke)";
  const json& j = object["value"];
  if (e.f == Function::cas) {
    if (!j.is_array() || j.size() != 2)
      return "\"value\" of a cas must be a pair [expected, new]; got " + shown(j);
    const auto expected = as_value(j[0]);
    if (!expected) return bad_value("a cas's expected value", j[0]);
    const auto desired = as_value(j[1]);
    if (!desired) return bad_value("a cas's new value", j[1]);
    e.expected = *expected;
    e.desired = *desired;
    return {};
  }
  const auto value = as_value(j);
  if (e.f == Function::write && (!value || std::holds_alternative<std::monostate>(*value)))
    return "\"value\" of a write must be an integer (a whole number within 64 bits) or a "
           "string; got " +
           shown(j);
  if (!value) return bad_value("\"value\"", j);
  if (e.f == Function::read && e.type == EventType::invoke &&
      !std::holds_alternative<std::monostate>(*value))
    return "\"value\" of a read's invoke must be null (the value read goes on its completion); "
           "got " +
           shown(j);
  e.value = *value;
  return {};
}

// The event's own fields; the rules between events are HistoryValidator's.
std::string parse_event(const json& object, Event& e) {
  if (!object.is_object())
    return std::string("expected one JSON object per line, got ") + object.type_name();
  if (!object.contains("process")) return "missing \"process\" (an integer naming the client)";
  const auto process = as_int64(object["process"]);
  if (!process) return "\"process\" must be an integer; got " + shown(object["process"]);
  e.process = *process;

  if (!object.contains("type")) return "missing \"type\" (invoke, ok, fail or info)";
  const json& type = object["type"];
  const auto event_type =
      type.is_string() ? event_type_named(type.get<std::string>()) : std::optional<EventType>();
  if (!event_type) return "\"type\" must be invoke, ok, fail or info; got " + shown(type);
  e.type = *event_type;

  if (!object.contains("f")) return "missing \"f\" (read, write or cas)";
  const json& f = object["f"];
  const auto function = f.is_string() ? function_named(f.get<std::string>()) : std::nullopt;
  if (!function) return "\"f\" must be read, write or cas; got " + shown(f);
  e.f = *function;

  if (object.contains("key")) {
    const json& key = object["key"];
    if (!key.is_string())
      return "\"key\" must be a string (leave it out for a single register); got " + shown(key);
    e.key = key.get<std::string>();
  }
  if (std::string error = parse_value(object, e); !error.empty()) return error;
  if (object.contains("time_ns")) {
    const auto time = as_int64(object["time_ns"]);
    if (!time) return "\"time_ns\" must be an integer; got " + shown(object["time_ns"]);
    e.time_ns = *time;
  }
  return {};
}

std::string where(const Event& e, std::size_t index) {
  return e.line != 0 ? "line " + std::to_string(e.line) : "event #" + std::to_string(index + 1);
}

std::string key_text(const std::optional<std::string>& key) {
  return key ? "key " + json(*key).dump(-1, ' ', false, json::error_handler_t::replace) : "no key";
}

// The shape of the event's arguments, as built in code (the parser has checked its own).
std::string check_arguments(const Event& e) {
  const bool value_null = std::holds_alternative<std::monostate>(e.value);
  const bool cas_args_null = std::holds_alternative<std::monostate>(e.expected) &&
                             std::holds_alternative<std::monostate>(e.desired);
  switch (e.f) {
    case Function::read:
      if (e.type == EventType::invoke && !value_null) return "a read's invoke carries no value";
      return cas_args_null ? "" : "a read carries no [expected, new]";
    case Function::write:
      if (value_null) return "a write needs an integer or string value";
      return cas_args_null ? "" : "a write carries no [expected, new]";
    case Function::cas:
      return value_null ? "" : "a cas carries [expected, new], not a value";
  }
  return "unknown function";
}

std::string check_completion(const Event& e, const Event& invoke, const std::string& at) {
  const std::string process = "process " + std::to_string(e.process);
  if (e.f != invoke.f)
    return process + " completes a " + std::string(name_of(e.f)) + ", but its invoke (" + at +
           ") is a " + std::string(name_of(invoke.f));
  if (e.key != invoke.key)
    return process + " completes an operation on " + key_text(e.key) + ", but its invoke (" + at +
           ") is on " + key_text(invoke.key);
  if (e.f == Function::write && e.value != invoke.value)
    return process + " completes a write of " + value_text(e.value) + ", but its invoke (" + at +
           ") writes " + value_text(invoke.value);
  if (e.f == Function::cas && (e.expected != invoke.expected || e.desired != invoke.desired))
    return process + " completes a cas [" + value_text(e.expected) + ", " + value_text(e.desired) +
           "], but its invoke (" + at + ") is a cas [" + value_text(invoke.expected) + ", " +
           value_text(invoke.desired) + "]";
  return {};
}

}  // namespace

std::string_view name_of(EventType type) {
  switch (type) {
    case EventType::invoke:
      return "invoke";
    case EventType::ok:
      return "ok";
    case EventType::fail:
      return "fail";
    case EventType::info:
      return "info";
  }
  return "?";
}

std::string_view name_of(Function f) {
  switch (f) {
    case Function::read:
      return "read";
    case Function::write:
      return "write";
    case Function::cas:
      return "cas";
  }
  return "?";
}

std::string value_text(const Value& value) {
  if (const auto* n = std::get_if<std::int64_t>(&value)) return std::to_string(*n);
  if (const auto* s = std::get_if<std::string>(&value))
    return json(*s).dump(-1, ' ', false, json::error_handler_t::replace);
  return "null";
}

std::string to_json_line(const Event& e) {
  const auto to_json = [](const Value& v) -> nlohmann::ordered_json {
    if (const auto* n = std::get_if<std::int64_t>(&v)) return *n;
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    return nullptr;
  };
  nlohmann::ordered_json j;
  j["process"] = e.process;
  j["type"] = name_of(e.type);
  j["f"] = name_of(e.f);
  if (e.key) j["key"] = *e.key;
  if (e.f == Function::cas)
    j["value"] = nlohmann::ordered_json::array({to_json(e.expected), to_json(e.desired)});
  else
    j["value"] = to_json(e.value);
  if (e.time_ns) j["time_ns"] = *e.time_ns;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ParseResult parse_history(std::string_view text, std::string_view file_name) {
  ParseResult result;
  HistoryValidator validator;
  std::size_t line_number = 0;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t newline = text.find('\n', start);
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline;
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;

    Event e;
    e.line = line_number;
    if (nesting_depth(line) > kMaxNesting) {
      result.events.clear();
      result.error = std::string(file_name) + ":" + std::to_string(line_number) +
                     ": JSON nested more than " + std::to_string(kMaxNesting) +
                     " deep; an event is one flat object";
      return result;
    }
    std::string repeated_key;
    const json object =
        json::parse(line, top_level_key_recorder(repeated_key), /*allow_exceptions=*/false);
    std::string error;
    if (object.is_discarded())
      error = syntax_error(line);
    else if (!repeated_key.empty())
      error = repeated_key + " appears twice; each field is given once";
    else
      error = parse_event(object, e);
    if (error.empty()) error = validator.add(e);
    if (!error.empty()) {
      result.events.clear();
      result.error = std::string(file_name) + ":" + std::to_string(line_number) + ": " + error;
      return result;
    }
    result.events.push_back(std::move(e));
  }
  return result;
}

std::string HistoryValidator::add(const Event& e) {
  const std::size_t index = added_++;
  if (std::string error = check_arguments(e); !error.empty()) return error;
  if (e.time_ns) {
    if (last_time_ns_ && *e.time_ns < *last_time_ns_)
      return "time_ns " + std::to_string(*e.time_ns) + " is before " +
             std::to_string(*last_time_ns_) + " (" + last_time_where_ +
             "); events must be in real-time order, time never decreasing";
    last_time_ns_ = e.time_ns;
    last_time_where_ = where(e, index);
  }
  const std::string process = "process " + std::to_string(e.process);
  const auto found = outstanding_.find(e.process);
  if (e.type == EventType::invoke) {
    if (found != outstanding_.end())
      return process + " invokes a " + std::string(name_of(e.f)) + " while its " +
             std::string(name_of(found->second.invoke.f)) + " (" +
             where(found->second.invoke, found->second.index) +
             ") has no completion yet; a process has one operation at a time (a client that "
             "gives up continues as a new process)";
    outstanding_[e.process] = Outstanding{index, e};
    return {};
  }
  if (found == outstanding_.end())
    return process + " has a completion (" + std::string(name_of(e.type)) +
           ") but no operation outstanding; every completion follows its invoke";
  const std::string at = where(found->second.invoke, found->second.index);
  if (std::string error = check_completion(e, found->second.invoke, at); !error.empty())
    return error;
  outstanding_.erase(found);
  return {};
}

std::vector<Operation> match_operations(const std::vector<Event>& events) {
  std::vector<Operation> operations;
  std::map<std::int64_t, std::size_t> outstanding;  // process -> index in operations
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (e.type == EventType::invoke) {
      OMNI_ASSERT(!outstanding.contains(e.process), "two invokes of one process");
      outstanding[e.process] = operations.size();
      Operation op;
      op.process = e.process;
      op.f = e.f;
      op.key = e.key;
      op.value = e.value;
      op.expected = e.expected;
      op.desired = e.desired;
      op.invoke_index = i;
      op.invoke_line = e.line;
      operations.push_back(std::move(op));
      continue;
    }
    const auto found = outstanding.find(e.process);
    OMNI_ASSERT(found != outstanding.end(), "a completion without its invoke");
    Operation& op = operations[found->second];
    outstanding.erase(found);
    OMNI_ASSERT(op.f == e.f && op.key == e.key);
    op.result = e.type;
    if (e.f == Function::read) op.value = e.value;
    op.complete_index = i;
    op.complete_line = e.line;
  }
  return operations;
}

std::string call_text(const Operation& op) {
  switch (op.f) {
    case Function::read:
      return op.result == EventType::ok ? "read -> " + value_text(op.value) : "read";
    case Function::write:
      return "write " + value_text(op.value);
    case Function::cas:
      return "cas " + value_text(op.expected) + " -> " + value_text(op.desired);
  }
  return "?";
}

std::string result_text(const Operation& op) {
  if (!op.complete_index) return "info (no completion)";
  return std::string(name_of(op.result));
}

std::string position_text(const Operation& op) {
  const bool lines = op.invoke_line != 0;
  const std::size_t invoke = lines ? op.invoke_line : op.invoke_index + 1;
  if (!op.complete_index)
    return (lines ? "line " : "event ") + std::to_string(invoke) + ", no completion";
  const std::size_t complete = lines ? op.complete_line : *op.complete_index + 1;
  return (lines ? "lines " : "events ") + std::to_string(invoke) + "-" + std::to_string(complete);
}

}  // namespace omni::lincheck
