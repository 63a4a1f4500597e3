#include "cli/cluster_commands.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>
#include <variant>

#include "cli/admin.h"
#include "cli/app.h"
#include "cli/archives.h"
#include "cli/file_io.h"
#include "cli/flags.h"
#include "model/config/parse.h"
#include "model/config/render.h"
#include "model/core/json.h"
#include "model/orchestrator/apps.h"
#include "model/root/plan.h"
#include "node/dashboard.h"

namespace omni::cli {
namespace po = boost::program_options;
namespace {

constexpr auto kAskFor = std::chrono::seconds(10);

// What a command prints, typed, so that -o json and -o yaml say the same thing.
struct Record;
using Value = std::variant<std::string, std::int64_t, bool, std::vector<Record>>;
struct Record {
  std::vector<std::pair<std::string, Value>> fields;
  Record& add(std::string key, Value value) {
    fields.emplace_back(std::move(key), std::move(value));
    return *this;
  }
};

void write_json(std::ostream& out, const Value& value);

void write_json(std::ostream& out, const Record& record) {
  out << "{";
  for (std::size_t i = 0; i < record.fields.size(); ++i) {
    out << (i ? "," : "") << json_quote(record.fields[i].first) << ":";
    write_json(out, record.fields[i].second);
  }
  out << "}";
}

void write_json(std::ostream& out, const Value& value) {
  if (const auto* text = std::get_if<std::string>(&value)) out << json_quote(*text);
  if (const auto* number = std::get_if<std::int64_t>(&value)) out << *number;
  if (const auto* flag = std::get_if<bool>(&value)) out << (*flag ? "true" : "false");
  if (const auto* list = std::get_if<std::vector<Record>>(&value)) {
    out << "[";
    for (std::size_t i = 0; i < list->size(); ++i) {
      out << (i ? "," : "");
      write_json(out, (*list)[i]);
    }
    out << "]";
  }
}

void write_yaml(YAML::Emitter& out, const Record& record) {
  out << YAML::BeginMap;
  for (const auto& [key, value] : record.fields) {
    out << YAML::Key << key << YAML::Value;
    if (const auto* text = std::get_if<std::string>(&value)) config::emit_text(out, *text);
    if (const auto* number = std::get_if<std::int64_t>(&value)) out << *number;
    if (const auto* flag = std::get_if<bool>(&value)) out << *flag;
    if (const auto* list = std::get_if<std::vector<Record>>(&value)) {
      out << YAML::BeginSeq;
      for (const auto& item : *list) write_yaml(out, item);
      out << YAML::EndSeq;
    }
  }
  out << YAML::EndMap;
}

// Columns padded to their widest cell, as kubectl prints them.
void write_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (widths.size() <= c) widths.push_back(0);
      widths[c] = std::max(widths[c], row[c].size());
    }
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c)
      out << (c + 1 < row.size()
                  ? std::string(row[c]) + std::string(widths[c] - row[c].size() + 3, ' ')
                  : row[c]);
    out << "\n";
  }
}

// Options every cluster command takes, parsed with the command's own.
struct Common {
  std::string cluster;
  std::string format = "table";
  std::vector<std::string> positional;
  std::string file;
  bool watch = false;  // -w (status, get) or -f (events): keep printing what changes
  int updates = 0;     // with watch: stop after this many prints; 0: until interrupted
};

// What a command's options take beyond the common ones.
enum class Takes { nothing, file, watch, follow };

std::optional<int> parse_common(const std::string& command, const char* usage,
                                const std::vector<std::string>& args, Takes takes, Common& common,
                                std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help")(
      "cluster", po::value<std::string>(), "the cluster (default: the only one in ~/.omni)")(
      "output,o", po::value<std::string>()->default_value("table"), "table, json or yaml");
  if (takes == Takes::file)
    options.add_options()("file,f", po::value<std::string>(), "the apps file");
  if (takes == Takes::watch)
    options.add_options()("watch,w", "print again each time it changes, until interrupted");
  if (takes == Takes::follow)
    options.add_options()("follow,f", "keep printing new events, until interrupted");
  if (takes == Takes::watch || takes == Takes::follow)
    options.add_options()("updates", po::value<int>(),
                          "with -w or -f: stop after N prints (scripts, tests)");
  po::options_description hidden;
  hidden.add_options()("words", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description words;
  words.add("words", -1);
  po::variables_map vm;
  try {
    store_flags(args, all, words, vm);
  } catch (const po::error& e) {
    err << "omni: " << command << ": " << e.what() << "; see omni " << command << " --help\n";
    return kExitBadInput;
  }
  if (vm.count("help")) {
    out << usage << options;
    return kExitOk;
  }
  if (vm.count("cluster")) common.cluster = vm["cluster"].as<std::string>();
  common.format = vm["output"].as<std::string>();
  if (common.format != "table" && common.format != "json" && common.format != "yaml") {
    err << "omni: " << command << ": unknown output format \"" << common.format
        << "\"; use table, json or yaml\n";
    return kExitBadInput;
  }
  if (vm.count("words")) common.positional = vm["words"].as<std::vector<std::string>>();
  if (takes == Takes::file && vm.count("file")) common.file = vm["file"].as<std::string>();
  common.watch = vm.count("watch") > 0 || vm.count("follow") > 0;
  if (vm.count("updates")) {
    common.updates = vm["updates"].as<int>();
    if (common.updates <= 0 || !common.watch) {
      err << "omni: " << command << ": --updates takes a count above 0, with "
          << (takes == Takes::follow ? "-f" : "-w") << "\n";
      return kExitBadInput;
    }
  }
  return std::nullopt;
}

// The leader's described status, or the exit code and message when there is none.
struct Connection {
  Credentials credentials;
  std::unique_ptr<AdminClient> client;
};

std::optional<int> connect(const std::string& command, const Common& common, Connection& c,
                           std::ostream& err) {
  if (std::string problem = load_credentials(home_dir(), common.cluster, c.credentials);
      !problem.empty()) {
    err << "omni: " << command << ": " << problem << "\n";
    return kExitFailure;
  }
  c.client = std::make_unique<AdminClient>(c.credentials);
  if (!c.client->problem().empty()) {
    err << "omni: " << command << ": " << c.client->problem() << "\n";
    return kExitFailure;
  }
  return std::nullopt;
}

std::string node_of(const std::string& director) {
  return director.substr(director.find(':') + 1);
}

struct Health {
  bool healthy = false;
  std::vector<std::string> problems;  // for a person, when not healthy
};

Health health_of(const v1::StatusReply& r) {
  Health h;
  if (!r.is_leader()) h.problems.push_back("no leader answered (" + r.plane() + ")");
  if (r.is_leader() && !r.quorum_healthy()) h.problems.push_back("the leader has no quorum");
  if (!r.handed_over()) h.problems.push_back("the cluster was not handed over yet");
  for (const auto& m : r.silent_members()) h.problems.push_back(m + " is silent");
  for (const auto& d : r.directors())
    if (d.controller_term() != r.term())
      h.problems.push_back(d.director() + " is not controlled by the leader");
  for (const auto& a : r.apps())
    if (a.running() < a.desired())
      h.problems.push_back("app " + a.name() + ": " + std::to_string(a.running()) + " of " +
                           std::to_string(a.desired()) + " replicas run");
  for (const auto& c : r.failing_containers()) h.problems.push_back(c + " keeps failing");
  h.healthy = h.problems.empty();
  return h;
}

Record status_record(const Credentials& c, const v1::StatusReply& r, const Health& h) {
  const std::set<std::string> silent(r.silent_members().begin(), r.silent_members().end());
  std::vector<Record> members, directors, apps, problems;
  for (const auto& voter : r.voters())
    members.push_back(Record().add("name", voter).add("healthy", silent.count(voter) == 0));
  for (const auto& d : r.directors())
    directors.push_back(Record()
                            .add("node", node_of(d.director()))
                            .add("controller_term", static_cast<std::int64_t>(d.controller_term()))
                            .add("desired_acked", d.desired_acked()));
  for (const auto& a : r.apps())
    apps.push_back(Record()
                       .add("name", a.name())
                       .add("desired", static_cast<std::int64_t>(a.desired()))
                       .add("running", static_cast<std::int64_t>(a.running())));
  for (const auto& p : h.problems) problems.push_back(Record().add("problem", p));
  return Record()
      .add("cluster", c.cluster)
      .add("healthy", h.healthy)
      .add("leader", std::string(r.is_leader() ? r.leader_hint() : ""))
      .add("term", static_cast<std::int64_t>(r.term()))
      .add("plane", r.plane())
      .add("members", members)
      .add("directors", directors)
      .add("apps", apps)
      .add("problems", problems);
}

void print_record(std::ostream& out, const std::string& format, const Record& record) {
  if (format == "json") {
    write_json(out, record);
    out << "\n";
  } else {
    YAML::Emitter yaml;
    write_yaml(yaml, record);
    out << yaml.c_str() << "\n";
  }
}

void print_status_table(std::ostream& out, const Credentials& c, const v1::StatusReply& r,
                        const Health& h) {
  out << "cluster " << c.cluster << ": " << (h.healthy ? "healthy" : "DEGRADED") << "\n";
  out << "leader  " << (r.is_leader() ? r.leader_hint() : "none") << " at term " << r.term() << " ("
      << r.plane() << ")\n\n";
  const std::set<std::string> silent(r.silent_members().begin(), r.silent_members().end());
  std::vector<std::vector<std::string>> rows{{"MEMBER", "HEALTHY"}};
  for (const auto& v : r.voters()) rows.push_back({v, silent.count(v) ? "no" : "yes"});
  write_table(out, rows);
  out << "\n";
  rows = {{"NODE", "CONTROLLED AT TERM", "CONTAINERS"}};
  for (const auto& d : r.directors())
    rows.push_back({node_of(d.director()), std::to_string(d.controller_term()),
                    std::to_string(d.running_containers_size())});
  write_table(out, rows);
  if (r.apps_size() > 0) {
    out << "\n";
    rows = {{"APP", "DESIRED", "RUNNING"}};
    for (const auto& a : r.apps())
      rows.push_back({a.name(), std::to_string(a.desired()), std::to_string(a.running())});
    write_table(out, rows);
  }
  for (const auto& p : h.problems) out << "\n! " << p;
  if (!h.problems.empty()) out << "\n";
  if (!r.advice().empty()) out << "advice: " << r.advice() << "\n";
}

constexpr const char* kStatusUsage =
    "Usage: omni status [-w] [--cluster NAME] [-o table|json|yaml]\n"
    "\n"
    "Ask the cluster's leader (as the admin, with ~/.omni/CLUSTER) for the plane, its members,\n"
    "the Directors it controls and the apps. Exit 0 healthy, 1 degraded or unreachable.\n"
    "With -w, print it again each time it changes (asked every second) until interrupted.\n"
    "\n"
    "Examples:\n"
    "  omni status\n"
    "  omni status -w\n"
    "  omni status -o json\n\n";

constexpr const char* kGetUsage =
    "Usage: omni get nodes|vms|containers|orchestrators|apps [-w] [--cluster NAME]\n"
    "       [-o table|json|yaml]\n"
    "\n"
    "List what the leader sees, as a table (or JSON, YAML). With -w, print it again each time\n"
    "it changes until interrupted.\n"
    "\n"
    "Examples:\n"
    "  omni get vms\n"
    "  omni get containers -w\n"
    "  omni get apps -o json\n\n";

constexpr const char* kDashboardUsage =
    "Usage: omni dashboard [--cluster NAME] [-o table|json|yaml]\n"
    "\n"
    "Print the URL of the cluster's dashboard: the leader's page (HTTPS, with its certificate\n"
    "from the cluster's CA) of the nodes, VMs, containers, apps, members, the leader and its\n"
    "term, each Director's controller and the recent events, updated every second. The URL\n"
    "carries the cluster's dashboard token; keep it as you keep ~/.omni. A browser trusts the\n"
    "page once the CA (~/.omni/CLUSTER/ca.crt) is imported, or after accepting its warning;\n"
    "the page follows a new leader by itself.\n"
    "\n"
    "Examples:\n"
    "  omni dashboard\n"
    "  chromium \"$(omni dashboard)\"\n\n";

constexpr const char* kEventsUsage =
    "Usage: omni events [-f] [--cluster NAME] [-o table|json|yaml]\n"
    "\n"
    "What the leader saw happen, oldest first, with the time of each: elections, members\n"
    "joining and leaving, Directors controlled, lost and recreated, VMs and containers going\n"
    "down and up, app replicas placed and moved. The leader keeps its last 256; a new leader\n"
    "tells what it saw itself. With -f, keep printing new ones (following a new leader) until\n"
    "interrupted. -o json prints one object a line.\n"
    "\n"
    "Examples:\n"
    "  omni events\n"
    "  omni events -f\n\n";

constexpr const char* kApplyUsage =
    "Usage: omni apply -f APPS.yaml [--cluster NAME]\n"
    "\n"
    "Create or change the apps of the file (its `apps:` list, as in a cluster config); the\n"
    "leader places their replicas and heals them. Exit 0 when every app was stored.\n"
    "\n"
    "Example:\n"
    "  omni apply -f examples/apps.yaml && omni get apps -w\n\n";

constexpr const char* kDeleteUsage =
    "Usage: omni delete app NAME [--cluster NAME]\n"
    "\n"
    "Delete the app; its replicas are stopped.\n"
    "\n"
    "Example:\n"
    "  omni delete app web\n\n";

// This machine's clock as a person reads it, to the second.
std::string clock_text(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm local{};
  ::localtime_r(&seconds, &local);
  char text[16];
  std::strftime(text, sizeof text, "%H:%M:%S", &local);
  return text;
}

std::string wall_clock_text() {
  return clock_text(std::chrono::system_clock::now());
}

// UTC, to the millisecond, for JSON and YAML.
std::string iso_text(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms.count() % 1000));
  return std::string(text) + millis;
}

// One answer of a command, as it is printed: its text and exit code.
struct Shown {
  std::string text;
  int code = kExitOk;
};

// Prints what `show` makes each time it differs from the last print, asking every second, as
// kubectl's -w: on a terminal the screen is redrawn; elsewhere each print follows the last, a
// table under a line with the time, JSON as one line, YAML as one document. Ends after
// common.updates prints (exiting with the last one's code), or when interrupted. An error
// ("omni: ...", a cluster that did not answer) goes to standard error and counts as a print:
// standard output stays the answers (JSON lines stay JSON).
int watch(const Common& common, const std::function<Shown()>& show, std::ostream& out,
          std::ostream& err) {
  const bool redraw = &out == &std::cout && ::isatty(STDOUT_FILENO) && common.format == "table";
  std::string last;
  int printed = 0;
  for (;;) {
    const Shown shown = show();
    if (printed == 0 || shown.text != last) {
      if (shown.text.starts_with("omni: ")) {
        err << shown.text << std::flush;
      } else {
        if (redraw) out << "\x1b[H\x1b[2J";
        if (common.format == "table")
          out << (printed > 0 && !redraw ? "\n" : "") << "at " << wall_clock_text() << "\n";
        if (common.format == "yaml") out << "---\n";
        out << shown.text << std::flush;
      }
      last = shown.text;
      if (++printed == common.updates) return shown.code;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

// A command's answer printed once (exit code with it) or watched.
int show_or_watch(const Common& common, const std::function<Shown()>& show, std::ostream& out,
                  std::ostream& err) {
  if (common.watch) return watch(common, show, out, err);
  const Shown shown = show();
  // A degraded status is an answer (standard output, exit 1); "omni: ..." is an error.
  (shown.text.starts_with("omni: ") ? err : out) << shown.text;
  return shown.code;
}

std::string unanswered(const std::string& command, const Connection& c) {
  return "omni: " + command + ": no Orchestrator of cluster " + c.credentials.cluster +
         " answered within " + std::to_string(kAskFor.count()) + " s\n";
}

// Asks through a connection of its own, closed before it returns: answers come back to one
// address per machine, and a command that watches must leave it to other commands between asks.
Shown ask(const std::string& command, const Common& common,
          const std::function<Shown(Connection&)>& show) {
  Connection c;
  std::ostringstream problem;
  if (connect(command, common, c, problem)) return {problem.str(), kExitFailure};
  return show(c);
}

// Commands that take no words besides their options.
std::optional<int> no_arguments(const std::string& command, const Common& common,
                                std::ostream& err) {
  if (common.positional.empty()) return std::nullopt;
  err << "omni: " << command << ": unexpected argument \"" << common.positional.front() << "\"\n";
  return kExitBadInput;
}

// The credentials a watching command will use, checked once before it starts.
std::optional<int> check_credentials(const std::string& command, const Common& common,
                                     std::ostream& err) {
  Credentials credentials;
  if (std::string problem = load_credentials(home_dir(), common.cluster, credentials);
      !problem.empty()) {
    err << "omni: " << command << ": " << problem << "\n";
    return kExitFailure;
  }
  return std::nullopt;
}

Shown show_status(const Common& common, Connection& c) {
  const auto reply = c.client->status(kAskFor);
  if (!reply) return {unanswered("status", c), kExitFailure};
  const Health h = health_of(*reply);
  std::ostringstream text;
  if (common.format == "table")
    print_status_table(text, c.credentials, *reply, h);
  else
    print_record(text, common.format, status_record(c.credentials, *reply, h));
  return {text.str(), h.healthy ? kExitOk : kExitFailure};
}

}  // namespace

int run_status(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Common common;
  if (auto done = parse_common("status", kStatusUsage, args, Takes::watch, common, out, err))
    return *done;
  if (auto bad = no_arguments("status", common, err)) return *bad;
  if (auto failed = check_credentials("status", common, err)) return *failed;
  return show_or_watch(
      common,
      [&] { return ask("status", common, [&](Connection& c) { return show_status(common, c); }); },
      out, err);
}

namespace {

Shown show_get(const std::string& kind, const Common& common, Connection& c) {
  const auto r = c.client->status(kAskFor);
  if (!r) return {unanswered("get", c), kExitFailure};
  if (!r->is_leader()) return {"omni: get: no leader (" + r->plane() + ")\n", kExitFailure};
  const std::set<std::string> silent(r->silent_members().begin(), r->silent_members().end());
  std::vector<std::vector<std::string>> rows;
  std::vector<Record> items;
  if (kind == "nodes") {
    rows.push_back({"NODE", "CONTROLLED", "DESIRED STATE", "CONTAINERS"});
    for (const auto& d : r->directors()) {
      const bool controlled = d.controller_term() == r->term();
      rows.push_back({node_of(d.director()), controlled ? "yes" : "no",
                      d.desired_acked() ? "acknowledged" : "pending",
                      std::to_string(d.running_containers_size())});
      items.push_back(Record()
                          .add("name", node_of(d.director()))
                          .add("controlled", controlled)
                          .add("desired_acked", d.desired_acked())
                          .add("last_rejection", d.last_rejection()));
    }
  } else if (kind == "vms") {
    // The Director VM answers when its Director is controlled; worker VMs as Directors report.
    rows.push_back({"VM", "NODE", "ROLE", "RUNNING", "AGENT"});
    for (const auto& d : r->directors()) {
      const std::string node = node_of(d.director());
      const bool up = d.controller_term() == r->term();
      const std::string own_vm = root::director_vm_name(c.credentials.cluster, node);
      rows.push_back({own_vm, node, "director", up ? "yes" : "unknown", "-"});
      items.push_back(Record()
                          .add("name", own_vm)
                          .add("node", node)
                          .add("role", std::string("director"))
                          .add("running", up));
      for (const auto& vm : d.vms()) {
        rows.push_back({vm.name(), node, "worker", vm.running() ? "yes" : "no",
                        vm.agent_ready() ? "ready" : "not ready"});
        items.push_back(Record()
                            .add("name", vm.name())
                            .add("node", node)
                            .add("role", std::string("worker"))
                            .add("running", vm.running())
                            .add("agent_ready", vm.agent_ready()));
      }
    }
  } else if (kind == "containers") {
    rows.push_back({"NODE", "CONTAINER"});
    for (const auto& d : r->directors())
      for (const auto& name : d.running_containers()) {
        rows.push_back({node_of(d.director()), name});
        items.push_back(Record().add("node", node_of(d.director())).add("name", name));
      }
  } else if (kind == "orchestrators") {
    rows.push_back({"NAME", "ROLE", "HEALTHY"});
    for (const auto& v : r->voters()) {
      const bool leads = v == r->leader_hint();
      rows.push_back({v, leads ? "leader" : "follower", silent.count(v) ? "no" : "yes"});
      items.push_back(
          Record().add("name", v).add("leader", leads).add("healthy", silent.count(v) == 0));
    }
  } else {
    rows.push_back({"APP", "IMAGE", "DESIRED", "PLACED", "RUNNING", "UNSCHEDULABLE"});
    for (const auto& a : r->apps()) {
      rows.push_back({a.name(), a.image(), std::to_string(a.desired()), std::to_string(a.placed()),
                      std::to_string(a.running()), a.unschedulable()});
      items.push_back(Record()
                          .add("name", a.name())
                          .add("image", a.image())
                          .add("desired", static_cast<std::int64_t>(a.desired()))
                          .add("placed", static_cast<std::int64_t>(a.placed()))
                          .add("running", static_cast<std::int64_t>(a.running()))
                          .add("unschedulable", a.unschedulable()));
    }
  }
  std::ostringstream text;
  if (common.format == "table")
    write_table(text, rows);
  else
    print_record(text, common.format, Record().add(kind, items));
  return {text.str(), kExitOk};
}

}  // namespace

int run_get(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Common common;
  if (auto done = parse_common("get", kGetUsage, args, Takes::watch, common, out, err))
    return *done;
  const std::set<std::string> kinds{"nodes", "vms", "containers", "orchestrators", "apps"};
  if (common.positional.size() != 1 || !kinds.count(common.positional.front())) {
    err << "omni: get: say what to get: nodes, vms, containers, orchestrators or apps\n";
    return kExitBadInput;
  }
  const std::string kind = common.positional.front();
  if (auto failed = check_credentials("get", common, err)) return *failed;
  return show_or_watch(
      common,
      [&] { return ask("get", common, [&](Connection& c) { return show_get(kind, common, c); }); },
      out, err);
}

int run_apply(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Common common;
  if (auto done = parse_common("apply", kApplyUsage, args, Takes::file, common, out, err))
    return *done;
  if (auto bad = no_arguments("apply", common, err)) return *bad;
  if (common.file.empty()) {
    err << "omni: apply: missing -f APPS.yaml\n";
    return kExitBadInput;
  }
  const auto text = read_text_file(common.file);
  if (const auto* d = std::get_if<config::Diagnostic>(&text)) {
    err << d->to_string() << "\n";
    return kExitBadInput;
  }
  auto parsed = config::parse_apps_file(std::get<std::string>(text), common.file);
  for (const auto& d : parsed.errors) err << d.to_string() << "\n";
  if (!parsed.config) return kExitBadInput;
  const auto problems = resolve_archives(parsed.config->apps, common.file);
  for (const auto& d : problems) err << d.to_string() << "\n";
  if (!problems.empty()) return kExitBadInput;
  Connection c;
  if (auto failed = connect("apply", common, c, err)) return *failed;
  int failures = 0;
  for (const auto& app : parsed.config->apps) {
    v1::StoreRequest put;
    put.mutable_put()->set_key(orchestrator::app_key(app.name));
    put.mutable_put()->set_value(orchestrator::to_app_spec(app).SerializeAsString());
    const auto reply = c.client->store(put, kAskFor);
    if (reply && reply->status() == v1::STORE_STATUS_OK) {
      out << "app " << app.name << " configured (revision " << reply->revision() << ")\n";
      continue;
    }
    ++failures;
    err << "omni: apply: app " << app.name << ": "
        << (reply ? reply->error().empty() ? v1::StoreStatus_Name(reply->status()) : reply->error()
                  : "no leader answered within " + std::to_string(kAskFor.count()) + " s")
        << "\n";
  }
  return failures == 0 ? kExitOk : kExitFailure;
}

int run_delete(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Common common;
  if (auto done = parse_common("delete", kDeleteUsage, args, Takes::nothing, common, out, err))
    return *done;
  if (common.positional.size() != 2 || common.positional[0] != "app" ||
      !config::is_valid_name(common.positional[1])) {
    err << "omni: delete: say `omni delete app NAME`\n";
    return kExitBadInput;
  }
  const std::string name = common.positional[1];
  Connection c;
  if (auto failed = connect("delete", common, c, err)) return *failed;
  v1::StoreRequest remove;
  remove.mutable_delete_()->set_key(orchestrator::app_key(name));
  int unanswered = 0;
  const auto reply = c.client->store(remove, kAskFor, &unanswered);
  // Not found after an attempt that got no answer: that attempt deleted it.
  if (reply && (reply->status() == v1::STORE_STATUS_OK ||
                (reply->status() == v1::STORE_STATUS_NOT_FOUND && unanswered > 0))) {
    out << "app " << name << " deleted\n";
    return kExitOk;
  }
  if (reply && reply->status() == v1::STORE_STATUS_NOT_FOUND) {
    err << "omni: delete: cluster " << c.credentials.cluster << " has no app " << name << "\n";
    return kExitFailure;
  }
  err << "omni: delete: app " << name << ": "
      << (reply ? reply->error() : std::string("no leader answered")) << "\n";
  return kExitFailure;
}

std::int64_t age_ms(std::int64_t now_ms, std::int64_t at_ms) {
  constexpr std::int64_t kCenturyMs = std::int64_t{100} * 366 * 24 * 3600 * 1000;
  std::int64_t age = 0;
  if (__builtin_sub_overflow(now_ms, at_ms, &age)) return at_ms > now_ms ? 0 : kCenturyMs;
  return std::clamp<std::int64_t>(age, 0, kCenturyMs);
}

namespace {

std::vector<ShownEvent> events_of(const v1::StatusReply& r) {
  const auto now = std::chrono::system_clock::now();
  std::vector<ShownEvent> events;
  for (const auto& e : r.events()) {
    const auto age = std::chrono::milliseconds(age_ms(r.now_ms(), e.at_ms()));
    events.push_back({e.seq(), now - age, e.kind(), e.text()});
  }
  return events;
}

void print_event(const Common& common, const std::string& seen_by, const ShownEvent& e,
                 std::ostream& out) {
  if (common.format == "table") {
    out << clock_text(e.at) << "  " << e.kind
        << std::string(e.kind.size() < 9 ? 9 - e.kind.size() : 0, ' ') << "  " << e.text << "\n";
    return;
  }
  const Record record = Record()
                            .add("time", iso_text(e.at))
                            .add("kind", e.kind)
                            .add("text", e.text)
                            .add("seen_by", seen_by);
  if (common.format == "json") {
    write_json(out, record);
    out << "\n";
    return;
  }
  YAML::Emitter yaml;
  yaml << YAML::BeginSeq;
  write_yaml(yaml, record);
  yaml << YAML::EndSeq;
  out << yaml.c_str() << "\n";
}

}  // namespace

std::vector<ShownEvent> fresh_events(const v1::StatusReply& r, const EventCursor& cursor) {
  std::vector<ShownEvent> fresh;
  const bool same_log =
      cursor.started && r.leader_hint() == cursor.leader && r.term() == cursor.term;
  for (auto& e : events_of(r))
    if (!cursor.started || (same_log ? e.seq > cursor.seq : e.at > cursor.at))
      fresh.push_back(std::move(e));
  return fresh;
}

int run_events(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Common common;
  if (auto done = parse_common("events", kEventsUsage, args, Takes::follow, common, out, err))
    return *done;
  if (auto bad = no_arguments("events", common, err)) return *bad;
  if (auto failed = check_credentials("events", common, err)) return *failed;
  EventCursor cursor;
  int printed = 0;
  for (;;) {
    std::optional<v1::StatusReply> r;
    const Shown asked = ask("events", common, [&](Connection& c) -> Shown {
      r = c.client->status(kAskFor);
      if (!r) return {unanswered("events", c), kExitFailure};
      if (!r->is_leader()) return {"omni: events: no leader (" + r->plane() + ")\n", kExitFailure};
      return {};
    });
    const std::string& problem = asked.text;
    if (!problem.empty() && !common.watch) {
      err << problem;
      return kExitFailure;
    }
    if (problem.empty()) {  // following, a cluster without a leader is asked again
      if (common.format == "table" && !cursor.started) out << "TIME      KIND       EVENT\n";
      if (common.format == "table" && cursor.started && r->leader_hint() != cursor.leader)
        out << "          (" << r->leader_hint() << " leads now; its events follow)\n";
      for (const auto& e : fresh_events(*r, cursor)) {
        print_event(common, r->leader_hint(), e, out);
        cursor.at = std::max(cursor.at, e.at);
        if (++printed == common.updates) {
          out.flush();
          return kExitOk;
        }
      }
      // The cursor's seq is the newest of this leader's log, whichever of its events printed.
      cursor.seq = r->events().empty() ? 0 : r->events().rbegin()->seq();
      cursor.leader = r->leader_hint();
      cursor.term = r->term();
      cursor.started = true;
      out.flush();
    }
    if (!common.watch) return kExitOk;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int run_dashboard(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Common common;
  if (auto done =
          parse_common("dashboard", kDashboardUsage, args, Takes::nothing, common, out, err))
    return *done;
  if (auto bad = no_arguments("dashboard", common, err)) return *bad;
  const Shown shown = ask("dashboard", common, [&](Connection& c) -> Shown {
    if (c.credentials.dashboard_token.empty())
      return {"omni: dashboard: cluster " + c.credentials.cluster + " has no dashboard token in " +
                  c.credentials.dir +
                  " (its init predates the dashboard: run omni init again to add it)\n",
              kExitFailure};
    const auto r = c.client->status(kAskFor);
    if (!r) return {unanswered("dashboard", c), kExitFailure};
    if (!r->is_leader()) return {"omni: dashboard: no leader (" + r->plane() + ")\n", kExitFailure};
    const auto member =
        std::find_if(c.credentials.orchestrators.begin(), c.credentials.orchestrators.end(),
                     [&](const auto& m) { return m.first == r->leader_hint(); });
    const std::string base =
        member == c.credentials.orchestrators.end() ? "" : node::dashboard_url_of(member->second);
    if (base.empty())
      return {"omni: dashboard: the leader " + r->leader_hint() +
                  " is not among the endpoints in " + c.credentials.dir + "/endpoints.yaml\n",
              kExitFailure};
    const std::string url = base + "/?token=" + c.credentials.dashboard_token;
    std::ostringstream text;
    if (common.format == "table")
      text << url << "\n";
    else
      print_record(text, common.format,
                   Record()
                       .add("url", url)
                       .add("leader", r->leader_hint())
                       .add("ca", c.credentials.dir + "/ca.crt"));
    return {text.str(), kExitOk};
  });
  (shown.text.starts_with("omni: ") ? err : out) << shown.text;
  return shown.code;
}

}  // namespace omni::cli
