#include "sim/lincheck/cli.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "drivers/util/text_file.h"
#include "sim/lincheck/generate.h"
#include "sim/lincheck/lincheck.h"

namespace omni::lincheck {
namespace {

constexpr const char* kUsage =
    "Usage: omni-lincheck [--json] [--max-states N] FILE\n"
    "       omni-lincheck --generate OPS [--keys K] [--processes P] [--info-percent X]\n"
    "                     [--seed S] [--violation unwritten|stale]\n"
    "       omni-lincheck --help\n"
    "\n"
    "Check that a history of register operations (one JSON object per line, format:\n"
    "docs/histories.md) is linearizable: that one order of its operations, each taking effect\n"
    "at an instant between its invoke and its completion, explains every result. Keys are\n"
    "independent registers. FILE - reads standard input.\n"
    "\n"
    "  --json            print the verdict as one JSON object\n"
    "  --max-states N    search states one key may use (default 2000000, ~260 MB)\n"
    "  --generate OPS    print a synthetic linearizable history of OPS operations instead\n"
    "                    (--keys 1, --processes 5, --info-percent 2, --seed 1 by default;\n"
    "                    --violation makes one read return a value nobody wrote, or one\n"
    "                    already overwritten)\n"
    "\n"
    "Exit codes: 0 linearizable; 1 not linearizable (the key and a minimal window of\n"
    "operations that cannot be ordered are printed); 2 malformed history (FILE:LINE: what is\n"
    "wrong), bad usage, unreadable file, or a history too hard to check within the limit.\n";

struct Args {
  std::optional<std::string> file;
  bool json = false;
  Limits limits;
  std::optional<std::uint64_t> generate;
  GenerateOptions generate_options;
  std::uint64_t seed = 1;
  // The first option given that only --generate reads, and the first only a check reads: either
  // in the other mode was silently ignored.
  std::optional<std::string> generator_only;
  std::optional<std::string> checker_only;
};

int bad_usage(std::ostream& err, const std::string& message) {
  err << "omni-lincheck: " << message << " (see omni-lincheck --help)\n";
  return kExitBadInput;
}

std::optional<std::uint64_t> whole_number(const std::string& text, std::uint64_t max) {
  std::uint64_t n = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || n > max)
    return std::nullopt;
  return n;
}

// An error message, or empty when args were understood.
std::string parse_args(const std::vector<std::string>& args, Args& a) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--json") {
      a.json = true;
      continue;
    }
    if (arg == "--violation") {
      if (!a.generator_only) a.generator_only = arg;
      const std::string kind = i + 1 < args.size() ? args[++i] : "";
      if (kind == "unwritten")
        a.generate_options.violation = GenerateOptions::Violation::unwritten_read;
      else if (kind == "stale")
        a.generate_options.violation = GenerateOptions::Violation::stale_read;
      else
        return "--violation takes unwritten or stale, got \"" + kind + "\"";
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-' && arg != "-") {
      struct Numeric {
        const char* flag;
        std::uint64_t min, max;
      };
      const Numeric numerics[] = {{"--max-states", 1, std::numeric_limits<std::uint32_t>::max()},
                                  // about 1 KiB of memory an operation: 5 GiB at most
                                  {"--generate", 0, 5'000'000},
                                  {"--keys", 1, 1'000'000},
                                  {"--processes", 1, 1'000'000},
                                  {"--info-percent", 0, 98},
                                  {"--seed", 0, std::numeric_limits<std::uint64_t>::max()}};
      const Numeric* numeric = nullptr;
      for (const Numeric& n : numerics)
        if (arg == n.flag) numeric = &n;
      if (numeric == nullptr) return "unknown option " + arg;
      if (i + 1 == args.size()) return arg + " needs a value";
      const auto n = whole_number(args[++i], numeric->max);
      if (!n || *n < numeric->min)
        return arg + " must be a whole number from " + std::to_string(numeric->min) + " to " +
               std::to_string(numeric->max) + ", got \"" + args[i] + "\"";
      const bool for_generator =
          arg == "--keys" || arg == "--processes" || arg == "--info-percent" || arg == "--seed";
      if (for_generator && !a.generator_only) a.generator_only = arg;
      if (arg == "--max-states" && !a.checker_only) a.checker_only = arg;
      if (arg == "--max-states") a.limits.max_states = *n;
      if (arg == "--generate") a.generate = *n;
      if (arg == "--keys") a.generate_options.keys = *n;
      if (arg == "--processes") a.generate_options.processes = *n;
      if (arg == "--info-percent") a.generate_options.info_percent = static_cast<std::uint32_t>(*n);
      if (arg == "--seed") a.seed = *n;
      continue;
    }
    if (a.file) return "one FILE only, got \"" + *a.file + "\" and \"" + arg + "\"";
    a.file = arg;
  }
  if (a.generate && a.file) return "--generate prints a history; it takes no FILE";
  if (!a.generate && !a.file) return "which history? give a FILE, or - for standard input";
  if (!a.generate && a.generator_only) return *a.generator_only + " goes with --generate";
  if (a.generate && a.checker_only) return *a.checker_only + " goes with a FILE to check";
  return {};
}

// About 3 million operations (a few GB once parsed); and a FILE that never ends (/dev/zero) must
// not take the machine's memory.
constexpr std::size_t kMaxHistoryBytes = std::size_t{256} << 20;

std::optional<std::string> read_all(const std::string& file, std::istream& in, std::ostream& err) {
  const std::string name = file == "-" ? "<stdin>" : file;
  std::ifstream stream;
  if (file != "-") {
    stream.open(file, std::ios::binary);
    if (!stream) {
      err << name << ": cannot read the file (" << std::strerror(errno) << ")\n";
      return std::nullopt;
    }
  }
  drivers::StreamText read = drivers::read_stream(file == "-" ? in : stream, kMaxHistoryBytes);
  if (read.too_large) {
    err << name << ": cannot read the file: it is larger than " << (kMaxHistoryBytes >> 20)
        << " MiB; check it in parts (keys are checked independently)\n";
    return std::nullopt;
  }
  if (!read.complete) {
    err << name << ": cannot read the file (is it a directory?)\n";
    return std::nullopt;
  }
  return std::move(read.text);
}

nlohmann::json value_json(const Value& value) {
  if (const auto* n = std::get_if<std::int64_t>(&value)) return *n;
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  return nullptr;
}

void print_json(std::ostream& out, const Verdict& v) {
  nlohmann::ordered_json j;
  j["linearizable"] = v.linearizable;
  j["operations"] = v.operations;
  j["keys"] = v.keys;
  j["states_explored"] = v.states_explored;
  if (!v.linearizable) {
    j["key"] = v.key;
    j["window"] = nlohmann::ordered_json::array();
    for (const Operation& op : v.window) {
      nlohmann::ordered_json o;
      o["process"] = op.process;
      o["f"] = name_of(op.f);
      o["type"] = op.complete_index ? name_of(op.result) : "info";
      o["value"] = op.f == Function::cas
                       ? nlohmann::json::array({value_json(op.expected), value_json(op.desired)})
                       : value_json(op.value);
      o["invoke_line"] = op.invoke_line;
      o["complete_line"] = op.complete_index ? nlohmann::json(op.complete_line) : nullptr;
      j["window"].push_back(std::move(o));
    }
    j["window_minimal"] = v.window_minimal;
  }
  out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

int check_file(const Args& a, std::istream& in, std::ostream& out, std::ostream& err) {
  const std::string name = *a.file == "-" ? "<stdin>" : *a.file;
  const std::optional<std::string> text = read_all(*a.file, in, err);
  if (!text) return kExitBadInput;
  const ParseResult parsed = parse_history(*text, name);
  if (!parsed.error.empty()) {
    err << parsed.error << "\n";
    return kExitBadInput;
  }
  const Verdict v = check_history(parsed.events, a.limits);
  if (v.exhausted) {
    err << name << ": " << v.report << "; raise --max-states to try harder\n";
    return kExitBadInput;
  }
  if (a.json)
    print_json(out, v);
  else
    out << v.report << "\n";
  return v.linearizable ? kExitLinearizable : kExitNotLinearizable;
}

}  // namespace

int run_lincheck_cli(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                     std::ostream& err) {
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      out << kUsage;
      return kExitLinearizable;
    }
  }
  Args a;
  if (const std::string error = parse_args(args, a); !error.empty()) return bad_usage(err, error);
  if (!a.generate) return check_file(a, in, out, err);
  a.generate_options.operations = *a.generate;
  for (const Event& e : generate_history(a.generate_options, a.seed))
    out << to_json_line(e) << "\n";
  return kExitLinearizable;
}

}  // namespace omni::lincheck
