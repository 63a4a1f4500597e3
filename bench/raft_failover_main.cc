// Raft fail-over in the simulator (compare: Raft paper, figure 16), and the simulator's speed
// on a Raft workload.
//
// Fail-over: 5 servers, an election timeout range, a heartbeat, a one-way latency range (no
// loss), pre-vote and check-quorum on or off. Per trial: let a leader settle under steady
// proposals, wait a random point within a heartbeat interval, crash the leader, and measure
// simulated time until (a) another server is leader and (b) that leader has committed an entry
// of its term (it can serve writes). Prints min, median, p99, max (and mean) over the trials.
//
// Speed: 5 servers under steady proposals (one every 1 ms on average), no checkers; prints
// events per wall second and simulated seconds per wall second.
//
//   bench-raft-failover [trials=1000] [speed_simulated_seconds=60] [seed=1]
//       the default setting: 150..300 ms, heartbeat 50 ms, latency 0.1..0.5 ms, then speed
//   bench-raft-failover --timeout 150-155 [--heartbeat 75] [--latency 0.1-0.5] [--sync 14]
//       [--no-pre-vote] [--trials 1000] [--seed 1]     one setting, no speed run
//   bench-raft-failover --figure16 [--trials 1000] [--seed 1]
//       the Raft paper's figure 16, row by row: broadcast time about 15 ms (a LAN and a 14 ms
//       fsync), heartbeat half the minimum timeout, each range with and without pre-vote and
//       check-quorum, the paper's figures beside ours
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/core/assert.h"
#include "model/raft/raft_node.h"
#include "sim/simulation.h"

namespace {

using omni::Duration;
using omni::Time;
using omni::raft::NodeId;
using omni::raft::Role;

constexpr std::size_t kServers = 5;

class CountingMachine : public omni::raft::StateMachine {
 public:
  void apply(const omni::v1::RaftEntry& entry) override { applied_ += entry.data().size() > 0; }
  std::string snapshot() const override { return std::to_string(applied_); }
  void restore(const std::string& snapshot) override { applied_ = std::stoull(snapshot); }

 private:
  std::uint64_t applied_ = 0;
};

class Replica : public omni::Component {
 public:
  Replica(NodeId id, std::vector<NodeId> voters, const omni::raft::RaftConfig& config,
          omni::Rng rng)
      : node_(std::move(id), std::move(voters), config, rng, &machine_) {}
  void step(const omni::Input& input, omni::Outputs& out) override { node_.step(input, out); }
  const omni::raft::Raft& raft() const { return node_.raft(); }

 private:
  CountingMachine machine_;
  omni::raft::RaftNode node_;
};

// GCC 12 at -O3 inlines the Outputs vector's reallocation into push_back and reports the
// variant's other alternatives as "maybe uninitialized" while they are moved (a known false
// positive inside std::variant; see Raft::emit_wake).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Proposes to a random replica every ~period (no redirects: followers answer NOT_LEADER).
class Proposer : public omni::Component {
 public:
  Proposer(omni::Rng rng, std::vector<NodeId> replicas, Duration period)
      : rng_(rng), replicas_(std::move(replicas)), period_(period) {}
  void step(const omni::Input& input, omni::Outputs& out) override {
    if (std::holds_alternative<omni::Deliver>(input)) {
      const auto& reply = std::get<omni::Deliver>(input).envelope.raft().client_reply();
      if (reply.status() == omni::v1::RAFT_CLIENT_STATUS_NOT_LEADER) leader_ = reply.leader();
      return;
    }
    if (std::holds_alternative<omni::Tick>(input)) {
      omni::v1::Envelope envelope;
      auto* m = envelope.mutable_raft();
      m->set_type(omni::v1::RAFT_MESSAGE_TYPE_CLIENT_REQUEST);
      m->mutable_client_request()->set_request_id(++sent_);
      m->mutable_client_request()->set_type(omni::v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE);
      // Not "p" + std::to_string(...): GCC 12 at -O3 reports that as a -Wrestrict overlap.
      m->mutable_client_request()->set_data(std::to_string(sent_).insert(0, 1, 'p'));
      const NodeId to = leader_.empty() ? replicas_[rng_.below(replicas_.size())] : leader_;
      leader_.clear();  // re-learnt from the next NOT_LEADER; an OK keeps nothing
      out.push_back(omni::Send{to, std::move(envelope)});
    }
    out.push_back(omni::WakeAt{omni::now_of(input) + rng_.between(period_ / 2, period_ * 3 / 2)});
  }

 private:
  omni::Rng rng_;
  std::vector<NodeId> replicas_;
  Duration period_;
  NodeId leader_;
  std::uint64_t sent_ = 0;
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

std::vector<NodeId> voters() {
  std::vector<NodeId> ids;
  for (std::size_t i = 1; i <= kServers; ++i) ids.push_back(std::to_string(i).insert(0, 1, 'r'));
  return ids;
}

// The default setting's Raft: the election timeout the Raft paper recommends (150..300 ms) and
// a 50 ms heartbeat, not the product's defaults (1..2 s and 100 ms since 2026-12-05), so that
// its figures compare with the paper's and with older builds; --timeout and --heartbeat give the
// product's (1000-2000, 100).
omni::raft::RaftConfig paper_timing() {
  omni::raft::RaftConfig config;
  config.election_timeout_min = std::chrono::milliseconds(150);
  config.election_timeout_max = std::chrono::milliseconds(300);
  config.heartbeat_interval = std::chrono::milliseconds(50);
  return config;
}

// One fail-over setting: what Raft is configured with, and the network it runs on.
struct Setting {
  omni::raft::RaftConfig raft = paper_timing();
  Duration latency_min = std::chrono::microseconds(100);
  Duration latency_max = std::chrono::microseconds(500);
  Duration sync_latency{0};  // an fsync: replies that follow a synced persist wait for it
};

void add_cluster(omni::sim::Simulation& sim, Duration propose_period,
                 const omni::raft::RaftConfig& config) {
  const std::vector<NodeId> ids = voters();
  for (const NodeId& id : ids) {
    sim.add_process(id, [id, ids, config](omni::Rng rng) {
      return std::make_unique<Replica>(id, ids, config, rng);
    });
  }
  sim.add_process("client", [ids, propose_period](omni::Rng rng) {
    return std::make_unique<Proposer>(rng, ids, propose_period);
  });
}

const Replica* replica(const omni::sim::Simulation& sim, const NodeId& id) {
  return dynamic_cast<const Replica*>(sim.component(id));
}

// The leader of the highest term among up replicas, or "".
NodeId leader_of(const omni::sim::Simulation& sim) {
  NodeId best;
  omni::raft::Term best_term = 0;
  for (const NodeId& id : voters()) {
    const Replica* r = replica(sim, id);
    if (r != nullptr && r->raft().role() == Role::leader && r->raft().term() > best_term) {
      best = id;
      best_term = r->raft().term();
    }
  }
  return best;
}

bool committed_in_term(const Replica& r) {
  const auto& raft = r.raft();
  return raft.log().term_at(raft.commit_index()) == raft.term();
}

struct Trial {
  Duration elected;
  Duration committed;
};

omni::sim::NetworkConfig network_of(const Setting& setting) {
  return {.latency_min = setting.latency_min, .latency_max = setting.latency_max};
}

bool has_committed_leader(const omni::sim::Simulation& sim) {
  const NodeId leader = leader_of(sim);
  return !leader.empty() && committed_in_term(*replica(sim, leader));
}

// A trial that sees no new leader within this much simulated time is counted as given up: with
// no spread in the election timeout (150..150 ms) split votes can repeat for a long time.
constexpr Duration kGiveUp = std::chrono::seconds(60);

std::optional<Trial> failover_trial(std::uint64_t seed, const Setting& setting) {
  omni::sim::Simulation sim(omni::sim::SimConfig{
      .seed = seed, .network = network_of(setting), .sync_latency = setting.sync_latency});
  add_cluster(sim, std::chrono::milliseconds(10), setting.raft);
  // Settle: a leader that has committed in its term, then a random point in a heartbeat.
  const Duration poll = setting.raft.heartbeat_interval;
  sim.run_for(std::chrono::seconds(1));
  for (Duration waited{0}; waited < kGiveUp && !has_committed_leader(sim); waited += poll)
    sim.run_for(poll);
  if (!has_committed_leader(sim)) return std::nullopt;
  sim.run_for(sim.fault_rng().between(Duration{0}, setting.raft.heartbeat_interval));
  const NodeId old_leader = leader_of(sim);
  if (old_leader.empty()) return std::nullopt;  // deposed while we waited: counted as given up
  const omni::raft::Term old_term = replica(sim, old_leader)->raft().term();
  sim.crash(old_leader);
  const Time crashed_at = sim.now();
  std::optional<Duration> elected;
  // Event by event, so the times are exact.
  while (sim.now() < crashed_at + kGiveUp && sim.step()) {
    const NodeId leader = leader_of(sim);
    if (leader.empty() || leader == old_leader) continue;
    const Replica& r = *replica(sim, leader);
    if (r.raft().term() <= old_term) continue;
    if (!elected.has_value()) elected = sim.now() - crashed_at;
    if (committed_in_term(r)) return Trial{*elected, sim.now() - crashed_at};
  }
  return std::nullopt;
}

double ms(Duration d) {
  return static_cast<double>(d.count()) / 1e6;
}

struct Distribution {
  Duration min{0}, median{0}, p99{0}, max{0};
  double mean_ms = 0;
};

Distribution distribution_of(std::vector<Duration> values) {
  OMNI_ASSERT(!values.empty());
  std::sort(values.begin(), values.end());
  const auto at = [&](double q) {
    return values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5)];
  };
  double sum_ms = 0;
  for (const Duration d : values) sum_ms += ms(d);
  Distribution d{values.front(), at(0.5), at(0.99), values.back(),
                 sum_ms / static_cast<double>(values.size())};
  OMNI_ASSERT(d.min <= d.median && d.median <= d.p99 && d.p99 <= d.max);
  return d;
}

void print_distribution(const char* what, std::vector<Duration> values) {
  const Distribution d = distribution_of(std::move(values));
  std::printf("%-34s min %7.1f  median %7.1f  p99 %7.1f  max %7.1f  (ms)\n", what, ms(d.min),
              ms(d.median), ms(d.p99), ms(d.max));
}

struct Trials {
  std::vector<Duration> elected;
  std::vector<Duration> committed;
  std::uint64_t given_up = 0;
};

Trials run_trials(const Setting& setting, std::uint64_t trials, std::uint64_t seed) {
  Trials out;
  for (std::uint64_t t = 0; t < trials; ++t) {
    const auto trial = failover_trial(seed + t, setting);
    if (!trial) {
      ++out.given_up;
      continue;
    }
    out.elected.push_back(trial->elected);
    out.committed.push_back(trial->committed);
  }
  OMNI_ASSERT(out.elected.size() + out.given_up == trials);
  return out;
}

void speed(std::uint64_t simulated_s, std::uint64_t seed) {
  omni::sim::Simulation sim(omni::sim::SimConfig{.seed = seed, .network = network_of(Setting{})});
  add_cluster(sim, std::chrono::milliseconds(1), paper_timing());
  const auto wall_start = std::chrono::steady_clock::now();
  const auto status = sim.run_for(std::chrono::seconds(simulated_s));
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  OMNI_ASSERT(status == omni::sim::RunStatus::deadline);
  const auto& c = sim.counters();
  std::printf("speed: 5 servers, a proposal every ~1 ms, %llu simulated s, no checkers\n",
              static_cast<unsigned long long>(simulated_s));
  std::printf("  events %llu, messages delivered %llu, persists %llu, wall %.3f s\n",
              static_cast<unsigned long long>(c.events),
              static_cast<unsigned long long>(c.messages_delivered),
              static_cast<unsigned long long>(c.persists), wall_s);
  std::printf("  events per wall second          %.0f\n", static_cast<double>(c.events) / wall_s);
  std::printf("  simulated seconds per wall second %.1f\n",
              static_cast<double>(simulated_s) / wall_s);
}

std::uint64_t arg_or(int argc, char** argv, int index, std::uint64_t fallback) {
  return argc > index ? std::strtoull(argv[index], nullptr, 10) : fallback;
}

// The default setting, as before the flags: the printout docs/raft-figures.md shows.
int default_run(std::uint64_t trials, std::uint64_t speed_s, std::uint64_t seed) {
  const auto wall_start = std::chrono::steady_clock::now();
  const Trials t = run_trials(Setting{}, trials, seed);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::printf(
      "fail-over: 5 servers, election timeout 150..300 ms, heartbeat 50 ms, pre-vote,\n"
      "check-quorum, latency 0.1..0.5 ms; leader crashed; %llu trials (seeds %llu..%llu), "
      "wall %.1f s\n",
      static_cast<unsigned long long>(trials), static_cast<unsigned long long>(seed),
      static_cast<unsigned long long>(seed + trials - 1), wall_s);
  if (t.elected.empty()) {
    std::printf("no trial elected a new leader within %.0f s\n", ms(kGiveUp) / 1000);
    return 1;
  }
  print_distribution("crash -> new leader elected", t.elected);
  print_distribution("crash -> new leader committed", t.committed);
  const auto under = [&](Duration bound) {
    return std::count_if(t.elected.begin(), t.elected.end(),
                         [&](Duration d) { return d <= bound; });
  };
  std::printf("elected within 300 ms: %lld/%llu, within 1 s: %lld/%llu\n",
              static_cast<long long>(under(std::chrono::milliseconds(300))),
              static_cast<unsigned long long>(trials),
              static_cast<long long>(under(std::chrono::seconds(1))),
              static_cast<unsigned long long>(trials));
  speed(speed_s, seed);
  return 0;
}

// "150-155" or "0.1-0.5" (milliseconds) into a range; false when it is not one.
bool parse_range_ms(const std::string& text, Duration& low, Duration& high) {
  const auto dash = text.find('-');
  if (dash == std::string::npos) return false;
  char* end = nullptr;
  const double a = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + dash) return false;
  const double b = std::strtod(text.c_str() + dash + 1, &end);
  if (*end != '\0' || a < 0 || b < a || b > 1e6) return false;
  low = std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(a));
  high = std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(b));
  return true;
}

// The Raft paper's figure for a range (section 9.3) and whether a row of ours is no worse.
struct PaperFigure {
  const char* text;
  bool (*no_worse)(const Distribution&);
};

// The figure the paper gives for `s`'s range, or nothing.
std::optional<PaperFigure> paper_figure(const Setting& s) {
  const auto range = [&](int low, int high) {
    return s.raft.election_timeout_min == std::chrono::milliseconds(low) &&
           s.raft.election_timeout_max == std::chrono::milliseconds(high);
  };
  if (range(150, 155))
    return PaperFigure{"median 287", [](const Distribution& d) { return ms(d.median) <= 287; }};
  if (range(150, 200))
    return PaperFigure{"max 513", [](const Distribution& d) { return ms(d.max) <= 513; }};
  if (range(12, 24))
    return PaperFigure{"mean 35, max 152",
                       [](const Distribution& d) { return d.mean_ms <= 35 && ms(d.max) <= 152; }};
  return std::nullopt;
}

// True when the paper gives no figure for the row, or ours is no worse than it.
bool no_worse_than_paper(const Setting& s, const Trials& t) {
  const auto paper = paper_figure(s);
  if (!paper) return true;
  return !t.elected.empty() && paper->no_worse(distribution_of(t.elected));
}

void print_header() {
  std::printf("%-22s  %7s %7s %7s %8s %7s  %5s  %-17s\n", "timeout", "min", "median", "p99", "max",
              "mean", "gave", "paper (ms)");
}

void print_row(const Setting& s, const Trials& t) {
  char label[64];
  std::snprintf(label, sizeof label, "%3.0f-%-3.0f ms %s", ms(s.raft.election_timeout_min),
                ms(s.raft.election_timeout_max), s.raft.pre_vote ? "pre-vote+cq" : "plain      ");
  if (t.elected.empty()) {
    std::printf("%s  no trial elected within %.0f s\n", label, ms(kGiveUp) / 1000);
    return;
  }
  const Distribution d = distribution_of(t.elected);
  const auto paper = paper_figure(s);
  std::printf("%s  %7.1f %7.1f %7.1f %8.1f %7.1f  %5llu  %-17s %s\n", label, ms(d.min),
              ms(d.median), ms(d.p99), ms(d.max), d.mean_ms,
              static_cast<unsigned long long>(t.given_up), paper ? paper->text : "",
              !paper ? "" : (no_worse_than_paper(s, t) ? "no worse" : "WORSE"));
}

// Where the paper's broadcast time of about 15 ms goes: to the network (a one-way latency of
// 6..9 ms), or to the disk (a LAN and a 14 ms fsync, which a vote and an append wait for).
enum class Broadcast { network, fsync };

Setting paper_setting(int timeout_min_ms, int timeout_max_ms, bool pre_vote_and_check_quorum,
                      Broadcast broadcast) {
  Setting s;
  s.raft.election_timeout_min = std::chrono::milliseconds(timeout_min_ms);
  s.raft.election_timeout_max = std::chrono::milliseconds(timeout_max_ms);
  // "which was half of the minimum election timeout for all tests"
  s.raft.heartbeat_interval = s.raft.election_timeout_min / 2;
  s.raft.pre_vote = pre_vote_and_check_quorum;
  s.raft.check_quorum = pre_vote_and_check_quorum;
  if (broadcast == Broadcast::network) {
    s.latency_min = std::chrono::milliseconds(6);
    s.latency_max = std::chrono::milliseconds(9);
  } else {
    s.latency_min = std::chrono::microseconds(100);
    s.latency_max = std::chrono::microseconds(500);
    s.sync_latency = std::chrono::milliseconds(14);
  }
  return s;
}

// One table: every range, with and without pre-vote and check-quorum. True when no row is
// worse than the paper's figure for it.
bool figure16_table(Broadcast broadcast, std::uint64_t trials, std::uint64_t seed) {
  std::printf("\nbroadcast about 15 ms: %s\n", broadcast == Broadcast::network
                                                   ? "one-way latency 6..9 ms, instant fsync"
                                                   : "latency 0.1..0.5 ms, a 14 ms fsync");
  print_header();
  const std::pair<int, int> ranges[] = {{150, 150}, {150, 151}, {150, 155}, {150, 175},
                                        {150, 200}, {150, 300}, {12, 24}};
  bool all_no_worse = true;
  for (const bool safeguards : {true, false}) {
    for (const auto& [low, high] : ranges) {
      const Setting s = paper_setting(low, high, safeguards, broadcast);
      const Trials t = run_trials(s, trials, seed);
      print_row(s, t);
      all_no_worse = all_no_worse && no_worse_than_paper(s, t);
    }
  }
  return all_no_worse;
}

int figure16(std::uint64_t trials, std::uint64_t seed) {
  std::printf(
      "Raft paper, figure 16: 5 servers, heartbeat half the minimum timeout, the leader crashed "
      "at a\nrandom point within a heartbeat, a proposal every ~10 ms; %llu trials a row (seeds "
      "%llu..%llu);\ncrash -> new leader elected, in ms; `gave`: trials without a new leader "
      "in 60 s\n",
      static_cast<unsigned long long>(trials), static_cast<unsigned long long>(seed),
      static_cast<unsigned long long>(seed + trials - 1));
  const bool network = figure16_table(Broadcast::network, trials, seed);
  const bool fsync = figure16_table(Broadcast::fsync, trials, seed);
  std::printf("\n%s\n", network && fsync ? "no row is worse than the paper's figure for it"
                                         : "some row is worse than the paper's figure for it");
  return 0;
}

int one_setting(const Setting& s, std::uint64_t trials, std::uint64_t seed) {
  const Trials t = run_trials(s, trials, seed);
  print_header();
  print_row(s, t);
  if (!t.committed.empty()) print_distribution("crash -> new leader committed", t.committed);
  return t.elected.empty() ? 1 : 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench-raft-failover [trials [speed_seconds [seed]]]\n"
               "       bench-raft-failover --timeout MIN-MAX [--heartbeat MS] [--latency MIN-MAX]\n"
               "                           [--sync MS] [--no-pre-vote] [--trials N] [--seed N]\n"
               "       bench-raft-failover --figure16 [--trials N] [--seed N]\n"
               "(times in milliseconds)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] != '-') {
    const std::uint64_t trials = arg_or(argc, argv, 1, 1000);
    const std::uint64_t speed_s = arg_or(argc, argv, 2, 60);
    const std::uint64_t seed = arg_or(argc, argv, 3, 1);
    if (trials == 0 || speed_s == 0) return usage();
    return default_run(trials, speed_s, seed);
  }
  Setting setting;
  bool figure = false, timeout_given = false, heartbeat_given = false;
  std::uint64_t trials = 1000, seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--figure16") {
      figure = true;
    } else if (arg == "--no-pre-vote") {
      setting.raft.pre_vote = setting.raft.check_quorum = false;
    } else if (arg == "--timeout" && has_value) {
      if (!parse_range_ms(argv[++i], setting.raft.election_timeout_min,
                          setting.raft.election_timeout_max))
        return usage();
      timeout_given = true;
    } else if (arg == "--latency" && has_value) {
      if (!parse_range_ms(argv[++i], setting.latency_min, setting.latency_max)) return usage();
    } else if (arg == "--sync" && has_value) {
      const double sync_ms = std::strtod(argv[++i], nullptr);
      if (sync_ms < 0 || sync_ms > 1e6) return usage();
      setting.sync_latency =
          std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(sync_ms));
    } else if (arg == "--heartbeat" && has_value) {
      const double heartbeat_ms = std::strtod(argv[++i], nullptr);
      if (heartbeat_ms <= 0 || heartbeat_ms > 1e6) return usage();
      setting.raft.heartbeat_interval = std::chrono::duration_cast<Duration>(
          std::chrono::duration<double, std::milli>(heartbeat_ms));
      heartbeat_given = true;
    } else if ((arg == "--trials" || arg == "--seed") && has_value) {
      char* end = nullptr;
      const std::uint64_t value = std::strtoull(argv[++i], &end, 10);
      if (*end != '\0' || (arg == "--trials" && (value == 0 || value > 1000000))) return usage();
      (arg == "--trials" ? trials : seed) = value;
    } else {
      return usage();
    }
  }
  if (figure) return figure16(trials, seed);
  if (!timeout_given) return usage();
  if (!heartbeat_given) setting.raft.heartbeat_interval = setting.raft.election_timeout_min / 2;
  if (setting.raft.election_timeout_min <= setting.raft.heartbeat_interval) return usage();
  return one_setting(setting, trials, seed);
}
