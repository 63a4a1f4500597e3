#include "tests/model/raft_props/checkers.h"

#include "model/core/assert.h"

namespace omni::raft::props {
namespace {

std::string quoted(const std::string& data) {
  return "'" + data + "'";
}

std::string describe(Index index, Term term, const std::string& data) {
  return "(index " + std::to_string(index) + ", term " + std::to_string(term) + ", data " +
         quoted(data) + ")";
}

// The replica stepped by the event just processed (replicas are the first processes added),
// or null when the event stepped something else or the replica went down in it.
const Replica* stepped_replica(const sim::Simulation* sim, std::size_t servers) {
  const auto id = sim->stepped_in_last_event();
  if (!id.has_value() || *id >= servers) return nullptr;
  return dynamic_cast<const Replica*>(sim->component(static_cast<std::size_t>(*id)));
}

}  // namespace

std::string LeaderPerTerm::on_leader(Term term, const NodeId& node) {
  auto [it, inserted] = leaders_.try_emplace(term, node);
  if (inserted || it->second == node) return "";
  return "two leaders in term " + std::to_string(term) + ": " + it->second + " and " + node;
}

std::string LogRegistry::check(const NodeId& node, const RaftLog& log) {
  Cache& cache = caches_[node];
  const Index first = log.first_index();
  const std::vector<v1::RaftEntry>& entries = log.entries();
  std::string error;
  for (std::size_t k = 0; k < entries.size() && error.empty(); ++k) {
    const v1::RaftEntry& entry = entries[k];
    const Index index = first + k;
    OMNI_ASSERT(entry.index() == index);
    const bool cached = index >= cache.first && index - cache.first < cache.terms.size() &&
                        cache.terms[index - cache.first] == entry.term() &&
                        cache.data[index - cache.first] == entry.data();
    if (cached) continue;
    const Term previous_term = k == 0 ? log.snapshot_term() : entries[k - 1].term();
    Seen now{static_cast<int>(entry.type()), entry.data(), previous_term, node};
    auto [it, inserted] = seen_.try_emplace({index, entry.term()}, now);
    if (inserted) continue;
    const Seen& before = it->second;
    if (before.type != now.type || before.data != now.data) {
      error = node + " holds " + describe(index, entry.term(), entry.data()) + " but " +
              before.node + " held data " + quoted(before.data) + " (type " +
              std::to_string(before.type) + " vs " + std::to_string(now.type) +
              ") at the same index and term";
    } else if (before.previous_term != now.previous_term) {
      error = node + " and " + before.node + " agree on (index " + std::to_string(index) +
              ", term " + std::to_string(entry.term()) + ") but not on the entry before it (term " +
              std::to_string(now.previous_term) + " vs " + std::to_string(before.previous_term) +
              "): their prefixes differ";
    }
  }
  cache.first = first;
  cache.terms.clear();
  cache.data.clear();
  for (const v1::RaftEntry& entry : entries) {
    cache.terms.push_back(entry.term());
    cache.data.push_back(entry.data());
  }
  return error;
}

std::string LeaderLog::check(Term term, bool leading, const RaftLog& log) {
  if (!leading || term != term_) {
    term_ = leading ? term : 0;
    entries_.clear();
    first_ = log.first_index();
  }
  std::string error;
  if (leading) {
    // What compaction took is no longer in the log; everything after it must be unchanged.
    for (Index index = std::max(first_, log.first_index());
         index < first_ + entries_.size() && error.empty(); ++index) {
      const auto& [was_term, was_data] = entries_[index - first_];
      if (index > log.last_index()) {
        error = "the leader of term " + std::to_string(term) + " deleted its entry " +
                describe(index, was_term, was_data) + ": its log ends at " +
                std::to_string(log.last_index());
      } else if (log.at(index).term() != was_term || log.at(index).data() != was_data) {
        error = "the leader of term " + std::to_string(term) + " overwrote its entry " +
                describe(index, was_term, was_data) + " with " +
                describe(index, log.at(index).term(), log.at(index).data());
      }
    }
    first_ = log.first_index();
    entries_.clear();
    for (const v1::RaftEntry& entry : log.entries())
      entries_.emplace_back(entry.term(), entry.data());
  }
  return error;
}

std::string leader_completeness_error(const std::map<Index, History::EntryId>& committed,
                                      const RaftLog& log) {
  if (log.snapshot_index() > 0) {
    auto it = committed.find(log.snapshot_index());
    if (it != committed.end() && it->second.term != log.snapshot_term()) {
      return "its snapshot ends at index " + std::to_string(log.snapshot_index()) + " term " +
             std::to_string(log.snapshot_term()) + " but the committed entry there has term " +
             std::to_string(it->second.term);
    }
  }
  for (auto it = committed.upper_bound(log.snapshot_index()); it != committed.end(); ++it) {
    const Index index = it->first;
    const History::EntryId& want = it->second;
    if (index > log.last_index()) {
      return "its log ends at " + std::to_string(log.last_index()) + " but " +
             describe(index, want.term, want.data) + " is committed";
    }
    const v1::RaftEntry& held = log.at(index);
    if (held.term() != want.term || held.data() != want.data) {
      return "it holds " + describe(index, held.term(), held.data()) + " where " +
             describe(index, want.term, want.data) + " is committed";
    }
  }
  return "";
}

std::string lost_ack_error(const std::vector<History::Ack>& acks,
                           const std::vector<const ListMachine*>& machines, std::size_t voters) {
  const std::size_t majority = (voters > 0 ? voters : machines.size()) / 2 + 1;
  for (const History::Ack& ack : acks) {
    std::size_t holders = 0;
    for (const ListMachine* machine : machines) {
      const ListMachine::Applied* applied = machine == nullptr ? nullptr : machine->find(ack.index);
      if (applied != nullptr && applied->term == ack.term && applied->data == ack.data) ++holders;
    }
    if (holders < majority) {
      return "request " + std::to_string(ack.request_id) + " was acknowledged OK at " +
             describe(ack.index, ack.term, ack.data) + " but only " + std::to_string(holders) +
             " of " + std::to_string(machines.size()) + " replicas applied it";
    }
  }
  return "";
}

void ElectionSafetyChecker::check_safety(sim::CheckContext& context) {
  const Replica* replica = stepped_replica(sim_, servers_);
  if (replica == nullptr || replica->raft().role() != Role::leader) return;
  const std::string error = leaders_.on_leader(replica->raft().term(), replica->raft().id());
  if (!error.empty()) context.fail(error, {replica->raft().id()});
}

void LogMatchingChecker::check_safety(sim::CheckContext& context) {
  const Replica* replica = stepped_replica(sim_, servers_);
  if (replica == nullptr) return;
  const std::string error = registry_.check(replica->raft().id(), replica->raft().log());
  if (!error.empty()) context.fail(error, {replica->raft().id()});
}

void LeaderAppendOnlyChecker::check_safety(sim::CheckContext& context) {
  const Replica* replica = stepped_replica(sim_, servers_);
  if (replica == nullptr) return;
  const Raft& raft = replica->raft();
  const std::string error =
      leaders_[raft.id()].check(raft.term(), raft.role() == Role::leader, raft.log());
  if (!error.empty()) context.fail(raft.id() + ": " + error, {raft.id()});
}

void LeaderCompletenessChecker::check_safety(sim::CheckContext& context) {
  const Replica* replica = stepped_replica(sim_, servers_);
  if (replica == nullptr || replica->raft().role() != Role::leader) return;
  const Raft& raft = replica->raft();
  if (!checked_.insert({raft.term(), raft.id()}).second) return;
  const std::string error = leader_completeness_error(history_->committed, raft.log());
  if (!error.empty()) {
    context.fail(
        raft.id() + " became leader of term " + std::to_string(raft.term()) + " but " + error,
        {raft.id()});
  }
}

void StateMachineSafetyChecker::check_safety(sim::CheckContext& context) {
  if (!history_->apply_conflict.empty()) {
    context.fail(history_->apply_conflict, history_->apply_conflict_nodes);
  }
}

void LinearizableReadsChecker::check_safety(sim::CheckContext& context) {
  if (!history_->stale_read.empty()) context.fail(history_->stale_read);
}

void DurabilityAndLivenessChecker::check_liveness(sim::CheckContext& context) {
  if (!history_->liveness_ack_at.has_value()) {
    context.fail("no proposal sent after every fault healed was committed within " +
                 std::to_string(bound_.count() / 1000000) + " ms");
    return;
  }
  const Duration took = *history_->liveness_ack_at - healed_at_;
  if (took > bound_) {
    context.fail("the first proposal after the heal committed after " +
                 std::to_string(took.count() / 1000000) + " ms, over the bound of " +
                 std::to_string(bound_.count() / 1000000) + " ms");
    return;
  }
  std::vector<const ListMachine*> machines;
  for (std::size_t i = 0; i < servers_; ++i) {
    const auto* replica = dynamic_cast<const Replica*>(context.component(i));
    machines.push_back(replica == nullptr ? nullptr : &replica->machine());
  }
  const std::string error = lost_ack_error(history_->acks, machines, voters_);
  if (!error.empty()) context.fail(error);
}

}  // namespace omni::raft::props
