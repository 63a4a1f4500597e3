#include "sim/cli/sim_cli.h"

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <optional>

#include "sim/cli/file_io.h"
#include "sim/cli/seed_report.h"
#include "sim/cli/seed_runner.h"
#include "sim/lincheck/history.h"
#include "sim/report/chrome_trace.h"
#include "sim/report/html_report.h"
#include "sim/report/mermaid.h"
#include "sim/scenario/parse.h"
#include "sim/scenario/write.h"
#include "sim/shrink/shrink.h"

namespace omni::sim::cli {
namespace po = boost::program_options;
namespace {

constexpr const char* kUsage =
    "Usage: omni-sim [--help] run FILE [--seed N | --seeds A..B] [--jobs J] [--json]\n"
    "                [--trace OUT.json] [--mermaid OUT.md] [--history OUT.jsonl]\n"
    "                [--report OUT.html]\n"
    "       omni-sim shrink FILE [--seed N] [-o OUT.yaml]\n"
    "\n"
    "Run a scenario (format: docs/scenarios.md) in the deterministic simulator, once per seed, and "
    "check\n"
    "every invariant and the scenario's expectations. One line per seed: seed, verdict, init\n"
    "time, events, messages, leader changes, trace hash. The same file, seed and build give the\n"
    "same trace hash every time. A failed seed prints the command that replays it.\n"
    "\n"
    "shrink reduces the faults of a failing seed to a minimal set that still fails, and writes\n"
    "it as a scenario that replays the failure.\n"
    "\n"
    "Exit codes: 0 every seed passed, 1 some seed failed, 2 bad input.\n";

constexpr const char* kShrinkUsage =
    "Usage: omni-sim shrink FILE [--seed N] [-o OUT.yaml]\n"
    "\n"
    "Runs seed N of the scenario (without --seed, the scenario's own), which must fail, and\n"
    "replays the faults it fired (scripted and drawn by the swarm) as a script. Delta debugging\n"
    "then takes faults away for as long as the run still fails the same way (the same invariant,\n"
    "or an unmet expectation), until no single fault can go: first a swarm fault together with\n"
    "the heal that undoes it, then fault by fault. The minimal set is written as a scenario\n"
    "without a swarm (the cluster inline, the seed pinned), which is read back and run once more\n"
    "to show it replays.\n"
    "\n"
    "Exit codes: 0 shrunk and written, 1 nothing to shrink (the seed passes, or its faults do not\n"
    "fail as a script) or the written file did not replay, 2 bad input.\n"
    "\n";

constexpr const char* kRunUsage =
    "Usage: omni-sim run FILE [--seed N | --seeds A..B] [--jobs J] [--json]\n"
    "                [--trace OUT.json] [--mermaid OUT.md] [--history OUT.jsonl]\n"
    "                [--report OUT.html]\n"
    "\n"
    "Without --seed or --seeds the scenario's own seed (default 1) runs. --trace, --mermaid,\n"
    "--history and --report describe the first seed: it is run again with every event recorded.\n"
    "--report writes one self-contained HTML page: the components' timeline with faults as\n"
    "bands and the phases, the invariant checks, the leader's events and the client history\n"
    "with any window that cannot be linearized marked (open it in a browser). --history\n"
    "writes what the scenario's clients did (docs/histories.md); every seed's history is checked\n"
    "for linearizability whether or not it is written.\n"
    "\n";

struct RunArgs {
  std::string file;
  std::vector<std::uint64_t> seeds;
  int jobs = 1;
  bool json = false;
  std::optional<std::string> trace_path;
  std::optional<std::string> mermaid_path;
  std::optional<std::string> history_path;
  std::optional<std::string> report_path;
};

int bad_input(std::ostream& err, const std::string& message) {
  err << "omni-sim: " << message << "\n";
  return kExitBadInput;
}

// A whole number from 0 to kMaxSeed, digits only.
std::optional<std::uint64_t> parse_seed(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoull(text);  // 18 digits: at most kMaxSeed
}

std::string seed_rule(const std::string& flag, const std::string& text) {
  return flag + " must be a whole number from 0 to " + std::to_string(kMaxSeed) + ", got \"" +
         text + "\"";
}

// "A..B" into the seeds A, A+1, .., B; a message on error.
std::variant<std::vector<std::uint64_t>, std::string> parse_seed_range(const std::string& text) {
  const auto dots = text.find("..");
  const auto low = dots == std::string::npos ? std::nullopt : parse_seed(text.substr(0, dots));
  const auto high = dots == std::string::npos ? std::nullopt : parse_seed(text.substr(dots + 2));
  if (!low || !high)
    return "--seeds must be A..B with whole numbers A <= B up to " + std::to_string(kMaxSeed) +
           ", like 1..100, got \"" + text + "\"";
  if (*low > *high)
    return "--seeds " + text + ": the first seed is above the last; write it as LOW..HIGH";
  if (*high - *low >= kMaxSeedsPerRun)
    return "--seeds " + text + " is more than " + std::to_string(kMaxSeedsPerRun) +
           " seeds; split the range";
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t s = *low;; ++s) {
    seeds.push_back(s);
    if (s == *high) break;
  }
  return seeds;
}

po::options_description run_options() {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help")(
      "seed", po::value<std::string>(), "run this one seed")("seeds", po::value<std::string>(),
                                                             "run seeds A..B (inclusive)")(
      "jobs,j", po::value<std::string>()->default_value("1"), "run J seeds at a time, on threads")(
      "json", "print one JSON object per seed instead of a line of text")(
      "trace", po::value<std::string>(),
      "write the first seed's Chrome trace JSON (Perfetto) here")(
      "mermaid", po::value<std::string>(),
      "write the first seed as a mermaid sequence diagram here")(
      "history", po::value<std::string>(),
      "write the first seed's client history (JSON lines, docs/histories.md) here")(
      "report", po::value<std::string>(), "write the first seed's report (one HTML page) here")(
      "file", po::value<std::string>(), "the scenario (YAML)");
  return options;
}

// Flags into RunArgs (seeds still unset when neither --seed nor --seeds is given).
std::variant<RunArgs, std::string> read_flags(const po::variables_map& vm) {
  RunArgs args;
  if (!vm.count("file")) return std::string("run: missing FILE (the scenario)");
  args.file = vm["file"].as<std::string>();
  if (vm.count("seed") && vm.count("seeds"))
    return std::string("run: give --seed or --seeds, not both");
  if (vm.count("seed")) {
    auto seed = parse_seed(vm["seed"].as<std::string>());
    if (!seed) return seed_rule("--seed", vm["seed"].as<std::string>());
    args.seeds = {*seed};
  }
  if (vm.count("seeds")) {
    auto seeds = parse_seed_range(vm["seeds"].as<std::string>());
    if (auto* message = std::get_if<std::string>(&seeds)) return *message;
    args.seeds = std::get<std::vector<std::uint64_t>>(std::move(seeds));
  }
  const auto jobs = parse_seed(vm["jobs"].as<std::string>());  // digits, bounded below
  if (!jobs || *jobs < 1 || *jobs > kMaxJobs)
    return "--jobs must be a whole number from 1 to " + std::to_string(kMaxJobs) + ", got \"" +
           vm["jobs"].as<std::string>() + "\"";
  args.jobs = static_cast<int>(*jobs);
  args.json = vm.count("json") > 0;
  if (vm.count("trace")) args.trace_path = vm["trace"].as<std::string>();
  if (vm.count("mermaid")) args.mermaid_path = vm["mermaid"].as<std::string>();
  if (vm.count("history")) args.history_path = vm["history"].as<std::string>();
  if (vm.count("report")) args.report_path = vm["report"].as<std::string>();
  return args;
}

std::optional<Scenario> load_scenario(const std::string& path, std::ostream& err) {
  auto text = read_text_file(path);
  if (auto* d = std::get_if<config::Diagnostic>(&text)) {
    err << d->to_string() << "\n";
    return std::nullopt;
  }
  auto parsed = parse_scenario(std::get<std::string>(text), path, read_text_file);
  if (auto* errors = std::get_if<std::vector<config::Diagnostic>>(&parsed)) {
    for (const auto& d : *errors) err << d.to_string() << "\n";
    return std::nullopt;
  }
  return std::get<Scenario>(std::move(parsed));
}

// Two outputs to one file (or to the scenario itself) would write over each other, and the run
// would say it wrote both.
std::optional<std::string> outputs_problem(const std::string& scenario,
                                           const std::vector<std::string>& outputs) {
  namespace fs = std::filesystem;
  const auto same = [](const std::string& a, const std::string& b) {
    std::error_code error_a;
    std::error_code error_b;
    if (fs::equivalent(a, b, error_a)) return true;  // both exist: links included
    const auto path_a = fs::weakly_canonical(a, error_a);
    const auto path_b = fs::weakly_canonical(b, error_b);
    return !error_a && !error_b && path_a == path_b;
  };
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (same(outputs[i], scenario))
      return "\"" + outputs[i] + "\" is the scenario itself; write elsewhere";
    for (std::size_t j = 0; j < i; ++j)
      if (same(outputs[i], outputs[j]))
        return "\"" + outputs[i] + "\" is named for two outputs; give each its own file";
  }
  return std::nullopt;
}

// What was written reached the file: a full disk (or /dev/full) is an error, not "wrote".
bool written_whole(std::ofstream& file, const std::string& path, std::ostream& err) {
  file.flush();
  if (file) return true;
  err << "omni-sim: writing \"" << path << "\" failed (is the disk full?)\n";
  return false;
}

// Says "wrote WHAT" once the file has it whole.
bool tell_written(std::ofstream& file, const std::string& path, const std::string& what,
                  std::ostream& err) {
  if (!written_whole(file, path, err)) return false;
  err << "omni-sim: wrote " << what << "\n";
  return true;
}

// Output files are opened before any run, so a bad path costs nothing.
bool open_output(const std::optional<std::string>& path, std::ofstream& file, std::ostream& err) {
  if (!path) return true;
  file.open(*path, std::ios::binary | std::ios::trunc);
  if (file) return true;
  err << "omni-sim: cannot write \"" << *path << "\"; check the directory exists and is writable\n";
  return false;
}

// --trace / --mermaid / --history: the first seed again, every event kept. False when the rerun
// does not reproduce the first run's hash (the simulation is not deterministic: a bug).
struct ReportFiles {
  std::ofstream trace;
  std::ofstream mermaid;
  std::ofstream history;
  std::ofstream report;
};

bool write_reports(const Scenario& scenario, const RunArgs& args, std::uint64_t first_hash,
                   ReportFiles& files, const Runner& runner, std::ostream& err) {
  const std::uint64_t seed = args.seeds.front();
  RunOptions options;
  options.record_events = args.trace_path || args.mermaid_path || args.report_path;
  options.record_history = args.history_path || (args.report_path && scenario.clients);
  const RunResult recorded = runner(scenario, seed, options);
  std::ofstream& trace = files.trace;
  std::ofstream& mermaid = files.mermaid;
  bool whole = true;
  const std::string of_seed = " of seed " + std::to_string(seed) + " to ";
  if (args.trace_path) {
    write_chrome_trace(recorded, trace);
    whole = tell_written(
                trace, *args.trace_path,
                "the trace" + of_seed + *args.trace_path + " (open it in https://ui.perfetto.dev)",
                err) &&
            whole;
  }
  if (args.mermaid_path) {
    write_mermaid(recorded, mermaid);
    whole = tell_written(mermaid, *args.mermaid_path, "the diagram" + of_seed + *args.mermaid_path,
                         err) &&
            whole;
  }
  if (args.history_path) {
    for (const auto& event : recorded.history)
      files.history << lincheck::to_json_line(event) << '\n';
    whole = tell_written(files.history, *args.history_path,
                         "the client history of seed " + std::to_string(seed) + " (" +
                             std::to_string(recorded.history.size()) + " events) to " +
                             *args.history_path,
                         err) &&
            whole;
  }
  if (args.report_path) {
    write_html_report(scenario, recorded, files.report);
    whole =
        tell_written(files.report, *args.report_path,
                     "the report" + of_seed + *args.report_path + " (open it in a browser)", err) &&
        whole;
  }
  if (!whole) return false;
  if (recorded.trace_hash == first_hash) return true;
  err << "omni-sim: seed " << seed << " gave trace hash " << hash_text(recorded.trace_hash)
      << " when recorded but " << hash_text(first_hash)
      << " before: the run is not deterministic\n";
  return false;
}

// A command's flags, FILE positional, into `vm`; an exit code when the command is done already
// (--help, or flags that do not parse).
std::optional<int> parse_command(const std::vector<std::string>& argv, const std::string& command,
                                 const po::options_description& options, const char* usage,
                                 po::variables_map& vm, std::ostream& out, std::ostream& err) {
  po::positional_options_description positional;
  positional.add("file", 1);
  try {
    // A flag is spelled out: `--tr` wrote a trace, where `omni` refuses a word it does not know.
    const int style =
        po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(
        po::command_line_parser(argv).options(options).positional(positional).style(style).run(),
        vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return bad_input(err, command + ": " + e.what() + "; see omni-sim " + command + " --help");
  }
  if (!vm.count("help")) return std::nullopt;
  out << usage << options;
  return kExitOk;
}

int run_command(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err,
                const Runner& runner) {
  po::variables_map vm;
  if (auto done = parse_command(argv, "run", run_options(), kRunUsage, vm, out, err)) return *done;
  auto flags = read_flags(vm);
  if (auto* message = std::get_if<std::string>(&flags)) return bad_input(err, *message);
  RunArgs args = std::get<RunArgs>(std::move(flags));
  const auto scenario = load_scenario(args.file, err);
  if (!scenario) return kExitBadInput;
  if (args.seeds.empty()) args.seeds = {scenario->seed};
  if (args.history_path && !scenario->clients)
    return bad_input(err, "--history: " + args.file +
                              " has no \"clients:\" block, so there is no history to write");
  std::vector<std::string> outputs;
  for (const auto* path :
       {&args.trace_path, &args.mermaid_path, &args.history_path, &args.report_path})
    if (*path) outputs.push_back(**path);
  if (auto problem = outputs_problem(args.file, outputs)) return bad_input(err, *problem);
  ReportFiles files;
  if (!open_output(args.trace_path, files.trace, err) ||
      !open_output(args.mermaid_path, files.mermaid, err) ||
      !open_output(args.history_path, files.history, err) ||
      !open_output(args.report_path, files.report, err))
    return kExitBadInput;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  std::uint64_t first_hash = 0;
  run_seeds(*scenario, args.seeds, args.jobs, runner, [&](RunResult&& result) {
    if (passed + failed == 0) first_hash = result.trace_hash;
    (result.passed ? passed : failed) += 1;
    if (args.json)
      print_seed_json(out, result, args.file);
    else
      print_seed_text(out, result, args.file);
    out.flush();
  });
  if ((args.trace_path || args.mermaid_path || args.history_path || args.report_path) &&
      !write_reports(*scenario, args, first_hash, files, runner, err))
    failed += 1;
  if (args.json)
    out << "{\"passed\":" << passed << ",\"failed\":" << failed << "}\n";
  else
    out << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? kExitOk : kExitFailure;
}

po::options_description shrink_options() {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help")("seed", po::value<std::string>(),
                                                    "the failing seed (default: the scenario's)")(
      "output,o", po::value<std::string>(),
      "where to write the minimal scenario (default: NAME-seed-N-shrunk.yaml here)")(
      "file", po::value<std::string>(), "the scenario (YAML)");
  return options;
}

// The scenario's name as part of a file name here: anything but letters, digits, '.', '_' and
// '-' (a '/' would write elsewhere) becomes '-', and it is cut to 100 characters.
std::string file_name_part(const std::string& name) {
  std::string part;
  for (const char c : name.substr(0, 100)) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || (c == '.' && !part.empty());
    part += safe ? c : '-';
  }
  return part.empty() ? std::string("scenario") : part;
}

// Checked before a shrink that may take minutes: the file's directory exists, and what is there
// already is a file (the result is renamed onto it: /dev/null would be replaced).
std::optional<std::string> directory_problem(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(path).parent_path();
  std::error_code error;
  if (!parent.empty() && !fs::is_directory(parent, error))
    return "cannot write \"" + path + "\": " + parent.string() + " is not a directory";
  const auto status = fs::symlink_status(path, error);
  if (fs::exists(status) && !fs::is_regular_file(status))
    return "cannot write \"" + path + "\": it is there and not a regular file";
  return std::nullopt;
}

// Written beside `path` and renamed onto it once whole: a failure leaves what was there.
std::optional<std::string> write_whole_file(const std::string& path, const std::string& text) {
  const std::string partial = path + ".partial";
  {
    std::ofstream file(partial, std::ios::binary | std::ios::trunc);
    file << text;
    file.flush();
    if (!file) {
      std::error_code ignored;
      std::filesystem::remove(partial, ignored);
      return "cannot write \"" + partial + "\" (is the directory writable, the disk full?)";
    }
  }
  std::error_code error;
  std::filesystem::rename(partial, path, error);
  if (!error) return std::nullopt;
  std::filesystem::remove(partial, error);
  return "cannot write \"" + path + "\": " + error.message();
}

// The written file, read back and run: it must fail as the shrunk run did, with its hash.
bool replays(const std::string& path, const ShrinkResult& shrunk, const Runner& runner,
             std::ostream& out, std::ostream& err) {
  const auto reread = load_scenario(path, err);
  if (!reread) {
    err << "omni-sim: the file just written does not read back as a scenario (a bug)\n";
    return false;
  }
  const RunResult again = runner(*reread, reread->seed, RunOptions{});
  if (failure_signature(again) != shrunk.signature ||
      again.trace_hash != shrunk.minimal_run.trace_hash) {
    err << "omni-sim: " << path << " does not replay the shrunk run: it gives "
        << (again.passed ? std::string("a pass") : failure_signature(again)) << " with trace hash "
        << hash_text(again.trace_hash) << ", not " << hash_text(shrunk.minimal_run.trace_hash)
        << " (a bug)\n";
    return false;
  }
  out << "replays: omni-sim run " << path << "  (" << shrunk.signature << ", trace hash "
      << hash_text(again.trace_hash) << ")\n";
  return true;
}

int shrink_command(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err,
                   const Runner& runner) {
  po::variables_map vm;
  if (auto done = parse_command(argv, "shrink", shrink_options(), kShrinkUsage, vm, out, err))
    return *done;
  if (!vm.count("file")) return bad_input(err, "shrink: missing FILE (the scenario)");
  const std::string file = vm["file"].as<std::string>();
  std::optional<std::uint64_t> seed;
  if (vm.count("seed")) {
    seed = parse_seed(vm["seed"].as<std::string>());
    if (!seed) return bad_input(err, seed_rule("--seed", vm["seed"].as<std::string>()));
  }
  const auto scenario = load_scenario(file, err);
  if (!scenario) return kExitBadInput;
  if (!seed) seed = scenario->seed;
  const std::string path = vm.count("output") ? vm["output"].as<std::string>()
                                              : file_name_part(scenario->name) + "-seed-" +
                                                    std::to_string(*seed) + "-shrunk.yaml";
  if (auto problem = outputs_problem(file, {path})) return bad_input(err, "shrink: " + *problem);
  if (auto problem = directory_problem(path)) return bad_input(err, "shrink: " + *problem);
  const ShrinkResult shrunk =
      shrink_run(*scenario, *seed, runner, RunOptions{}, [&](const std::string& line) {
        out << "shrink: " << line << "\n" << std::flush;
      });
  if (shrunk.refused) {  // nothing was written: a file of that name is left as it was
    err << "omni-sim: " << *shrunk.refused << "\n";
    return kExitFailure;
  }
  Scenario minimal = *shrunk.minimal;
  minimal.name = scenario->name + "-seed-" + std::to_string(*seed) + "-shrunk";
  minimal.description = "Written by omni-sim shrink from " + file + ", seed " +
                        std::to_string(*seed) + ": " + std::to_string(shrunk.faults_kept) +
                        " of the " + std::to_string(shrunk.faults_fired) +
                        " faults that fired still make it fail with " + shrunk.signature + ".";
  if (auto problem = write_whole_file(path, write_scenario_yaml(minimal))) {
    err << "omni-sim: shrink: " << *problem << "\n";
    return kExitFailure;
  }
  out << "shrink: " << shrunk.faults_kept << " of " << shrunk.faults_fired << " faults still fail ("
      << shrunk.runs << " runs); wrote " << path << "\n";
  if (shrunk.minimal_run.violation)
    out << "  " << shrunk.minimal_run.violation->to_string() << "\n";
  for (const auto& failure : shrunk.minimal_run.expectation_failures)
    out << "  expectation not met: " << failure << "\n";
  return replays(path, shrunk, runner, out, err) ? kExitOk : kExitFailure;
}

}  // namespace

int run_sim_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                const Runner& runner) {
  if (args.empty()) {
    err << kUsage;
    return kExitBadInput;
  }
  const std::string& command = args.front();
  if (command == "--help" || command == "-h" || command == "help") {
    out << kUsage;
    return kExitOk;
  }
  if (command == "run") return run_command({args.begin() + 1, args.end()}, out, err, runner);
  if (command == "shrink") return shrink_command({args.begin() + 1, args.end()}, out, err, runner);
  return bad_input(err, "unknown command \"" + command + "\"; see omni-sim --help");
}

}  // namespace omni::sim::cli
