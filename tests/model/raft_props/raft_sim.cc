#include "tests/model/raft_props/raft_sim.h"

#include <algorithm>

#include "model/core/assert.h"
#include "tests/model/raft_props/checkers.h"

namespace omni::raft::props {

// ListMachine -------------------------------------------------------------------------------

void ListMachine::apply(const v1::RaftEntry& entry) {
  OMNI_ASSERT(applied_.empty() || applied_.back().index < entry.index(), "applies in log order");
  applied_.push_back({entry.index(), entry.term(), entry.data()});
}

std::string ListMachine::snapshot() const {
  v1::RaftConfState encoded;  // any repeated-string message serves as a list encoding
  for (const Applied& item : applied_) {
    encoded.add_voters(std::to_string(item.index) + "/" + std::to_string(item.term) + "/" +
                       item.data);
  }
  return encoded.SerializeAsString();
}

void ListMachine::restore(const std::string& snapshot) {
  if (restores_) ++*restores_;
  v1::RaftConfState decoded;
  OMNI_ASSERT(decoded.ParseFromString(snapshot), "a snapshot this machine wrote");
  applied_.clear();
  for (const std::string& item : decoded.voters()) {
    const std::size_t a = item.find('/');
    const std::size_t b = item.find('/', a + 1);
    OMNI_ASSERT(a != std::string::npos && b != std::string::npos);
    applied_.push_back({std::stoull(item.substr(0, a)), std::stoull(item.substr(a + 1, b - a - 1)),
                        item.substr(b + 1)});
  }
}

const ListMachine::Applied* ListMachine::find(Index index) const {
  auto it = std::lower_bound(applied_.begin(), applied_.end(), index,
                             [](const Applied& item, Index at) { return item.index < at; });
  return it != applied_.end() && it->index == index ? &*it : nullptr;
}

// History -----------------------------------------------------------------------------------

void History::on_apply(const NodeId& node, const v1::RaftEntry& entry) {
  EntryId id{entry.term(), static_cast<int>(entry.type()), entry.data()};
  auto [it, inserted] = committed.try_emplace(entry.index(), id);
  if (inserted || it->second == id || !apply_conflict.empty()) return;
  apply_conflict = node + " applied (index " + std::to_string(entry.index()) + ", term " +
                   std::to_string(entry.term()) + ", data '" + entry.data() + "') but (term " +
                   std::to_string(it->second.term) + ", data '" + it->second.data +
                   "') was applied there before";
  apply_conflict_nodes = {node};
}

// Replica -----------------------------------------------------------------------------------

Replica::Replica(NodeId id, std::vector<NodeId> voters, RaftConfig config, Rng rng,
                 History* history)
    : node_(std::move(id), std::move(voters), config, rng, &machine_), history_(history) {
  machine_.count_restores_in(&history->snapshot_restores);
  node_.set_apply_observer([history](const NodeId& node, const v1::RaftEntry& entry) {
    history->on_apply(node, entry);
  });
}

void Replica::step(const Input& input, Outputs& out) {
  node_.step(input, out);
  if (std::holds_alternative<Start>(input) && node_.raft().recovering()) {
    history_->recovering_starts += 1;
  }
}

// Client ------------------------------------------------------------------------------------

Client::Client(Rng rng, std::vector<NodeId> replicas, std::vector<NodeId> spares, Duration period,
               History* history, bool re_add)
    : rng_(rng),
      replicas_(std::move(replicas)),
      membership_steps_(re_add ? 5 : 3),
      period_(period),
      history_(history) {
  OMNI_ASSERT(!replicas_.empty() && period_ > 0ns);
  voters_ = replicas_;
  if (!spares.empty()) spare_ = spares.front();
  replicas_.insert(replicas_.end(), spares.begin(), spares.end());
  OMNI_ASSERT(replicas_.size() == voters_.size() + spares.size());
}

bool Client::next_membership_step(Request& request, v1::RaftClientRequest& r) {
  if (spare_.empty() || membership_step_ >= membership_steps_) return false;
  // Steps 0, 1, 2: add the spare, promote it, remove a first voter; 3, 4: add the removed voter
  // back and promote it.
  const NodeId& server = membership_step_ < 3 ? spare_ : removed_;
  switch (membership_step_ % 3) {
    case 0:
      request.type = v1::RAFT_CLIENT_REQUEST_TYPE_ADD_LEARNER;
      request.node = server;
      break;
    case 1:
      request.type = v1::RAFT_CLIENT_REQUEST_TYPE_PROMOTE_VOTER;  // refused until caught up
      request.node = server;
      break;
    default:
      request.type = v1::RAFT_CLIENT_REQUEST_TYPE_REMOVE_SERVER;
      request.node = voters_[rng_.below(voters_.size())];
  }
  r.set_node(request.node);
  OMNI_ASSERT(!request.node.empty() && membership_step_ < membership_steps_);
  return true;
}

void Client::step(const Input& input, Outputs& out) {
  if (const auto* deliver = std::get_if<Deliver>(&input)) {
    const v1::RaftMessage& m = deliver->envelope.raft();
    if (m.type() != v1::RAFT_MESSAGE_TYPE_CLIENT_REPLY) return;
    const v1::RaftClientReply& reply = m.client_reply();
    auto it = inflight_.find(reply.request_id());
    if (it == inflight_.end()) return;  // forgotten, or a duplicate
    if (reply.status() == v1::RAFT_CLIENT_STATUS_OK) on_ok(reply, it->second, deliver->now);
    inflight_.erase(it);
    on_reply(reply, out);
    return;
  }
  if (std::holds_alternative<Start>(input) || std::holds_alternative<Tick>(input)) {
    if (std::holds_alternative<Tick>(input) && !history_->proposals_stopped) send_request(out);
    out.push_back(WakeAt{now_of(input) + rng_.between(period_ / 2, period_ * 3 / 2)});
  }
}

void Client::on_ok(const v1::RaftClientReply& reply, const Request& request, Time now) {
  switch (request.type) {
    case v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE:
      history_->acks.push_back({reply.index(), reply.term(), request.data, reply.request_id()});
      highest_acked_ = std::max(highest_acked_, reply.index());
      if (reply.request_id() >= history_->liveness_request_id &&
          !history_->liveness_ack_at.has_value()) {
        history_->liveness_ack_at = now;  // the client's clock is never skewed
      }
      break;
    case v1::RAFT_CLIENT_REQUEST_TYPE_READ_INDEX:
      ++history_->reads;
      if (reply.index() < request.acked_before && history_->stale_read.empty()) {
        history_->stale_read = "read " + std::to_string(reply.request_id()) + " got read index " +
                               std::to_string(reply.index()) + " (term " +
                               std::to_string(reply.term()) + ") but the write at index " +
                               std::to_string(request.acked_before) +
                               " was acknowledged before the read was sent";
      }
      break;
    case v1::RAFT_CLIENT_REQUEST_TYPE_TRANSFER_LEADERSHIP:
      ++history_->transfers;
      break;
    default:  // a membership step: the next one follows (a repeated step is refused or a no-op)
      ++history_->membership_changes;
      if (request.step == 2 && removed_.empty()) removed_ = request.node;
      membership_step_ = std::max(membership_step_, request.step + 1);
      break;
  }
}

void Client::send_request(Outputs& out) {
  NodeId to = leader_hint_.empty() ? replicas_[rng_.below(replicas_.size())] : leader_hint_;
  const std::uint64_t request_id = next_request_id_++;
  const std::uint64_t draw = rng_.below(20);
  // Reads go to any replica, as a client spreading its reads would: whichever believes it leads
  // answers, so a deposed leader that still believes it is asked too.
  if (draw < 5) to = replicas_[rng_.below(replicas_.size())];
  Request request;
  v1::Envelope envelope;
  v1::RaftMessage* m = envelope.mutable_raft();
  m->set_type(v1::RAFT_MESSAGE_TYPE_CLIENT_REQUEST);
  v1::RaftClientRequest* r = m->mutable_client_request();
  r->set_request_id(request_id);
  if (draw < 5) {
    request.type = v1::RAFT_CLIENT_REQUEST_TYPE_READ_INDEX;
    request.acked_before = highest_acked_;
  } else if (draw == 5) {
    request.type = v1::RAFT_CLIENT_REQUEST_TYPE_TRANSFER_LEADERSHIP;
    r->set_node(replicas_[rng_.below(replicas_.size())]);
  } else if ((draw == 6 || draw == 7) && next_membership_step(request, *r)) {
    request.step = membership_step_;
  } else {
    request.data = "c" + std::to_string(request_id);
    r->set_data(request.data);
  }
  r->set_type(request.type);
  while (inflight_.size() >= kInflightMax) inflight_.erase(inflight_.begin());
  inflight_[request_id] = std::move(request);
  out.push_back(Send{to, std::move(envelope)});
  OMNI_ASSERT(inflight_.size() <= kInflightMax);
}

void Client::on_reply(const v1::RaftClientReply& reply, Outputs& out) {
  (void)out;
  if (reply.status() == v1::RAFT_CLIENT_STATUS_NOT_LEADER) {
    // Follow the hint when there is one; otherwise try a random replica next time.
    const bool known =
        std::find(replicas_.begin(), replicas_.end(), reply.leader()) != replicas_.end();
    leader_hint_ = known ? reply.leader() : NodeId{};
  } else if (reply.status() != v1::RAFT_CLIENT_STATUS_OK) {
    leader_hint_.clear();  // rejected, dropped, unknown: the hint may be stale
  }
}

// Cluster and runs --------------------------------------------------------------------------

void add_cluster(sim::Simulation& sim, const RaftSimOptions& options, History* history) {
  std::vector<NodeId> voters;
  std::vector<NodeId> spares;
  for (std::size_t i = 0; i < options.servers; ++i) voters.push_back(replica_name(i));
  for (std::size_t i = options.servers; i < all_servers(options); ++i)
    spares.push_back(replica_name(i));
  for (const NodeId& id : voters) {
    sim.add_process(id, [id, voters, config = options.raft, history](Rng rng) {
      return std::make_unique<Replica>(id, voters, config, rng, history);
    });
  }
  for (const NodeId& id : spares) {  // outside the cluster until the client adds them
    sim.add_process(id, [id, config = options.raft, history](Rng rng) {
      return std::make_unique<Replica>(id, std::vector<NodeId>{}, config, rng, history);
    });
  }
  sim.add_process(kClient, [voters, spares, period = options.propose_period, history,
                            re_add = options.re_add_removed](Rng rng) {
    return std::make_unique<Client>(rng, voters, spares, period, history, re_add);
  });
  const std::size_t all = all_servers(options);
  sim.add_checker(std::make_unique<ElectionSafetyChecker>(&sim, all));
  if (options.check_leader_append_only)
    sim.add_checker(std::make_unique<LeaderAppendOnlyChecker>(&sim, all));
  sim.add_checker(std::make_unique<LogMatchingChecker>(&sim, all));
  sim.add_checker(std::make_unique<LeaderCompletenessChecker>(&sim, all, history));
  sim.add_checker(std::make_unique<StateMachineSafetyChecker>(history));
  sim.add_checker(std::make_unique<LinearizableReadsChecker>(history));
}

const Replica* replica_of(const sim::Simulation& sim, std::size_t index) {
  return dynamic_cast<const Replica*>(sim.component(replica_name(index)));
}

namespace {

// Every fault undone: links healed, network lossless, clocks at rate 1, disks working, and
// every replica that is down started again.
void heal_everything(sim::Simulation& sim, const RaftSimOptions& options) {
  sim.heal();
  sim.set_network(options.network);
  for (std::size_t i = 0; i < all_servers(options); ++i) {
    const NodeId id = replica_name(i);
    sim.clear_disk_failures(id);
    sim.set_clock_rate(id, 1.0);
    if (!sim.is_up(id)) sim.restart(id, 0ns);
  }
}

// A leader that a majority of the replicas follow in its term.
bool has_settled_leader(const sim::Simulation& sim, std::size_t servers) {
  for (std::size_t i = 0; i < servers; ++i) {
    const Replica* leader = replica_of(sim, i);
    if (leader == nullptr || leader->raft().role() != Role::leader) continue;
    std::size_t followers = 0;
    for (std::size_t j = 0; j < servers; ++j) {
      const Replica* other = replica_of(sim, j);
      if (other != nullptr && other->raft().term() == leader->raft().term() &&
          other->raft().leader() == leader->raft().id()) {
        ++followers;
      }
    }
    if (followers >= servers / 2 + 1) return true;
  }
  return false;
}

}  // namespace

RunResult run_schedule(const RaftSimOptions& options, const Schedule& schedule) {
  History history;  // outlives the simulation: components point at it
  RunResult result;
  {
    sim::Simulation sim(sim::SimConfig{
        .seed = schedule.seed, .network = options.network, .record_events = options.record_events});
    add_cluster(sim, options, &history);
    const std::size_t servers = all_servers(options);
    for (const Fault& fault : schedule.faults) {
      sim.at(time_from_ns(0) + std::chrono::milliseconds(fault.at_ms),
             [fault, servers](sim::Simulation& s) { apply_fault(s, fault, servers); });
    }
    const Time healed_at = time_from_ns(0) + options.fault_window;
    auto liveness = std::make_unique<DurabilityAndLivenessChecker>(
        servers, options.servers, &history, options.liveness_bound, healed_at);
    sim.add_checker(std::move(liveness));

    sim.run_until(healed_at);
    if (!sim.violation()) {
      heal_everything(sim, options);
      const auto* client = dynamic_cast<const Client*>(sim.component(kClient));
      OMNI_ASSERT(client != nullptr, "the client never crashes");
      history.liveness_request_id = client->next_request_id();
      // Steps of 5 ms until a proposal sent after the heal commits, or the bound passes.
      const Time deadline = healed_at + options.liveness_bound;
      while (!sim.violation() && !history.liveness_ack_at.has_value() && sim.now() < deadline) {
        sim.run_for(std::chrono::milliseconds(5));
        if (!result.leader_after_heal.has_value() && has_settled_leader(sim, servers)) {
          result.leader_after_heal = sim.now() - healed_at;
        }
      }
      if (history.liveness_ack_at.has_value()) {
        result.liveness_after_heal = *history.liveness_ack_at - healed_at;
      }
      history.proposals_stopped = true;
      if (!sim.violation()) sim.run_for(options.settle);
      if (!sim.violation()) sim.check_liveness();
    }
    result.violation = sim.violation();
    result.trace_hash = sim.trace_hash();
    result.events = sim.counters().events;
  }
  result.acks = history.acks.size();
  result.recovering_starts = history.recovering_starts;
  result.snapshot_restores = history.snapshot_restores;
  result.reads = history.reads;
  result.transfers = history.transfers;
  result.membership_changes = history.membership_changes;
  return result;
}

}  // namespace omni::raft::props
