#pragma once
// Operation histories (docs/histories.md): what clients of a register store asked and saw,
// after Jepsen's history model, one JSON object per line. The events, their parser and
// writer, the rules a well-formed history follows, and operations (an invoke matched with its
// completion).
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace omni::lincheck {

// A register value: JSON null (the key does not exist), an integer, or a string.
using Value = std::variant<std::monostate, std::int64_t, std::string>;

enum class EventType { invoke, ok, fail, info };
enum class Function { read, write, cas };

struct Event {
  std::int64_t process = 0;
  EventType type = EventType::invoke;
  Function f = Function::read;
  std::optional<std::string> key;  // absent: the history's single unnamed register
  Value value;                     // write: written; read: read (null on invoke); unused for cas
  Value expected, desired;         // cas only: [expected, new]
  std::optional<std::int64_t> time_ns;
  std::size_t line = 0;  // 1-based line of the file it was parsed from; 0 when built in code
};

std::string_view name_of(EventType type);
std::string_view name_of(Function f);
// The value as JSON: null, 3, "v7".
std::string value_text(const Value& value);

// One line, no newline, fields in the order process, type, f, key, value, time_ns (`line` is
// not written). Strings that are not valid UTF-8 are written with U+FFFD in place of bad bytes.
std::string to_json_line(const Event& e);

struct ParseResult {
  std::vector<Event> events;
  std::string error;  // "FILE:LINE: what is wrong" when not empty; events is then empty
};

// Every line a JSON object; blank lines are skipped; unknown fields are ignored. Stops at the
// first problem. Never throws on bad input.
ParseResult parse_history(std::string_view text, std::string_view file_name);

// The rules a history follows beyond each event's own fields, checked one event at a time in
// history order: time_ns never decreases; a process has at most one operation outstanding; a
// completion matches its invoke's f, key and arguments. The parser and the checker share it.
class HistoryValidator {
 public:
  // Empty when the event may come next; otherwise what is wrong (without a location).
  std::string add(const Event& e);

 private:
  struct Outstanding {
    std::size_t index = 0;
    Event invoke;
  };
  std::map<std::int64_t, Outstanding> outstanding_;  // by process
  std::optional<std::int64_t> last_time_ns_;
  std::string last_time_where_;  // "line 4" or "event #4"
  std::size_t added_ = 0;
};

// An invoke matched with its process's next completion.
struct Operation {
  std::int64_t process = 0;
  Function f = Function::read;
  std::optional<std::string> key;
  EventType result = EventType::info;         // ok, fail or info; info also when no completion came
  Value value;                                // write: written; read: read (meaningful when ok)
  Value expected, desired;                    // cas
  std::size_t invoke_index = 0;               // in the event list
  std::optional<std::size_t> complete_index;  // absent: the history ended first
  std::size_t invoke_line = 0;                // 1-based; 0 when not parsed from a file
  std::size_t complete_line = 0;              // 0 when absent or not parsed from a file
};

// The operations of a well-formed history (see HistoryValidator), in invoke order.
std::vector<Operation> match_operations(const std::vector<Event>& events);

// "read -> 3", "write \"v7\"", "cas 2 -> 4".
std::string call_text(const Operation& op);
// "ok", "fail", "info", "info (no completion)".
std::string result_text(const Operation& op);
// "lines 2-5", "line 2, no completion"; "events 2-5" when the history was built in code.
std::string position_text(const Operation& op);

}  // namespace omni::lincheck
