#pragma once
// Raft's safety properties (Raft paper, figure 3) and its liveness after faults heal, as
// simulator checkers. Each decision is a small class or pure function over plain data, so a
// unit test can show it fails on a bad input; the Checker wrappers feed it the live replicas.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/raft/log.h"
#include "sim/checker.h"
#include "tests/model/raft_props/raft_sim.h"

namespace omni::raft::props {

// Election safety: at most one leader per term, over the whole run.
class LeaderPerTerm {
 public:
  // "" when fine, else why not.
  std::string on_leader(Term term, const NodeId& node);

 private:
  std::map<Term, NodeId> leaders_;
};

// Log matching: if two logs hold an entry with the same index and term, the entries are equal
// and so are the logs up to it. Checked as: every (index, term) ever seen in any log names one
// entry (type, data) and one previous term, which by induction gives equal prefixes.
// Incremental: only entries whose term changed since a replica's last check are looked up.
class LogRegistry {
 public:
  std::string check(const NodeId& node, const RaftLog& log);

 private:
  struct Seen {
    int type = 0;
    std::string data;
    Term previous_term = 0;
    NodeId node;
  };
  // What each entry was at the last check. Data too: an entry rewritten with the same term and
  // other data must be looked at again, not skipped as already seen.
  struct Cache {
    Index first = 1;
    std::vector<Term> terms;
    std::vector<std::string> data;
  };
  struct KeyHash {
    std::size_t operator()(const std::pair<Index, Term>& key) const {
      return std::hash<Index>()(key.first * 0x9e3779b97f4a7c15ULL ^ key.second);
    }
  };
  std::unordered_map<std::pair<Index, Term>, Seen, KeyHash> seen_;
  std::map<NodeId, Cache> caches_;
};

// Leader append-only (Raft figure 3): a leader never overwrites or deletes entries in its log
// while it leads; it only appends (and compacts applied entries into a snapshot, which is not a
// deletion of what the log says). Fed a leader's log after each of its steps in one term.
class LeaderLog {
 public:
  // "" when fine, else why not. A new term, or not leading, starts over.
  std::string check(Term term, bool leading, const RaftLog& log);

 private:
  Term term_ = 0;
  Index first_ = 1;
  std::vector<std::pair<Term, std::string>> entries_;  // from first_
};

// Leader completeness: a leader of term T holds every entry committed before it was elected.
// `committed` is what any replica has applied; entries under the leader's snapshot are covered
// by it (a snapshot holds only applied entries), its boundary term must still match.
std::string leader_completeness_error(const std::map<Index, History::EntryId>& committed,
                                      const RaftLog& log);

// No acknowledged entry is lost: every entry acknowledged OK to the client is applied, with the
// same term and data, on a majority of the replicas (checked at the end, everyone up): of
// `voters` when given, else of the machines.
std::string lost_ack_error(const std::vector<History::Ack>& acks,
                           const std::vector<const ListMachine*>& machines, std::size_t voters = 0);

// The checkers, in the order they run after every event.
class ElectionSafetyChecker : public sim::Checker {
 public:
  ElectionSafetyChecker(const sim::Simulation* sim, std::size_t servers)
      : sim_(sim), servers_(servers) {}
  std::string name() const override { return "election safety"; }
  void check_safety(sim::CheckContext& context) override;

 private:
  const sim::Simulation* sim_;
  std::size_t servers_;
  LeaderPerTerm leaders_;
};

class LogMatchingChecker : public sim::Checker {
 public:
  LogMatchingChecker(const sim::Simulation* sim, std::size_t servers)
      : sim_(sim), servers_(servers) {}
  std::string name() const override { return "log matching"; }
  void check_safety(sim::CheckContext& context) override;

 private:
  const sim::Simulation* sim_;
  std::size_t servers_;
  LogRegistry registry_;
};

class LeaderAppendOnlyChecker : public sim::Checker {
 public:
  LeaderAppendOnlyChecker(const sim::Simulation* sim, std::size_t servers)
      : sim_(sim), servers_(servers) {}
  std::string name() const override { return "leader append-only"; }
  void check_safety(sim::CheckContext& context) override;

 private:
  const sim::Simulation* sim_;
  std::size_t servers_;
  std::map<NodeId, LeaderLog> leaders_;
};

class LeaderCompletenessChecker : public sim::Checker {
 public:
  LeaderCompletenessChecker(const sim::Simulation* sim, std::size_t servers, const History* history)
      : sim_(sim), servers_(servers), history_(history) {}
  std::string name() const override { return "leader completeness"; }
  void check_safety(sim::CheckContext& context) override;

 private:
  const sim::Simulation* sim_;
  std::size_t servers_;
  const History* history_;
  std::set<std::pair<Term, NodeId>> checked_;
};

class StateMachineSafetyChecker : public sim::Checker {
 public:
  explicit StateMachineSafetyChecker(const History* history) : history_(history) {}
  std::string name() const override { return "state machine safety"; }
  void check_safety(sim::CheckContext& context) override;

 private:
  const History* history_;
};

// A read-index read sees every write acknowledged before it was sent: its read index is at
// least that write's index (the client compares them as the answers come; this reports it).
class LinearizableReadsChecker : public sim::Checker {
 public:
  explicit LinearizableReadsChecker(const History* history) : history_(history) {}
  std::string name() const override { return "linearizable reads"; }
  void check_safety(sim::CheckContext& context) override;

 private:
  const History* history_;
};

// End of run: acknowledged entries kept on a majority, and liveness after the heal. `servers`
// processes are looked at; the majority is of `voters`, the cluster's size (a spare that joins
// and a voter that leaves keep it).
class DurabilityAndLivenessChecker : public sim::Checker {
 public:
  DurabilityAndLivenessChecker(std::size_t servers, std::size_t voters, const History* history,
                               Duration bound, Time healed_at)
      : servers_(servers),
        voters_(voters),
        history_(history),
        bound_(bound),
        healed_at_(healed_at) {}
  std::string name() const override { return "no acknowledged entry lost / liveness"; }
  void check_liveness(sim::CheckContext& context) override;
  void set_healed_at(Time at) { healed_at_ = at; }

 private:
  std::size_t servers_;
  std::size_t voters_;
  const History* history_;
  Duration bound_;
  Time healed_at_;
};

}  // namespace omni::raft::props
