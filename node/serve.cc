#include "node/serve.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "model/orchestrator/orchestrator.h"
#include "node/durable_log.h"
#include "node/host.h"
#include "node/metrics.h"
#include "node/transport.h"

namespace omni::node {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string json_escaped(const std::string& text) {
  std::string out;
  for (const char ch : text) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char code[8];
      std::snprintf(code, sizeof code, "\\u%04x", ch);
      out += code;
    } else {
      out += ch;
    }
  }
  return out;
}

// One line per event, to stderr: what a person reading a journal needs, or (--log-format json)
// one JSON object a log pipeline can take apart.
void log_line(const NodeConfig& c, const std::string& text) {
  if (c.log_json)
    std::fprintf(stderr, "{\"identity\":\"%s\",\"event\":\"%s\"}\n",
                 json_escaped(c.identity).c_str(), json_escaped(text).c_str());
  else
    std::fprintf(stderr, "omni-node %s: %s\n", c.identity.c_str(), text.c_str());
  std::fflush(stderr);
}

std::unique_ptr<Component> component_of(const NodeConfig& c, std::string& error) {
  const auto config = orchestrator::Orchestrator::from_args(c.args);
  if (!config) {
    error = "args do not make an Orchestrator (need --replica=N and --members=... or --join)";
    return nullptr;
  }
  if (config->self != c.identity) {
    error = "args make " + config->self + ", but the identity is " + c.identity;
    return nullptr;
  }
  std::random_device entropy;  // the model's randomness is seeded here, once, from the host
  const std::uint64_t seed = (std::uint64_t{entropy()} << 32) | entropy();
  return std::make_unique<orchestrator::Orchestrator>(*config, Rng{seed});
}

DriverResult no_driver(const DriverOp&) {
  DriverResult r;
  r.status = DriverStatus::unavailable;
  r.message = "this omni-node has no driver";
  return r;
}

// What a person watching the plane graphs: Raft's state, the loop's work, the wire's losses.
std::string render_metrics(const NodeConfig& c, const Host& host, const GrpcTransport& transport) {
  const auto& o = static_cast<const orchestrator::Orchestrator&>(host.component());
  const HostCounters& h = host.counters();
  const TransportCounters& t = transport.counters();
  const auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  return exposition(
      c.identity,
      {
          {"omni_raft_term", "gauge", "The Raft term this replica is in.", d(o.term())},
          {"omni_raft_is_leader", "gauge", "1 while this replica leads.",
           o.is_leader() ? 1.0 : 0.0},
          {"omni_raft_commit_index", "gauge", "The highest log index known committed.",
           d(o.node().raft().commit_index())},
          {"omni_host_steps_total", "counter", "Inputs the component stepped.", d(h.steps)},
          {"omni_host_persists_total", "counter", "Records written to the log.", d(h.persists)},
          {"omni_host_persist_seconds_total", "counter", "Time spent writing and syncing the log.",
           h.persist_seconds},
          {"omni_host_driver_calls_total", "counter", "Driver operations started.",
           d(h.driver_calls)},
          {"omni_host_driver_seconds_total", "counter", "Time driver operations took.",
           h.driver_seconds},
          {"omni_messages_out_total", "counter", "Messages the component sent.", d(h.sends)},
          {"omni_messages_delivered_total", "counter", "Messages a peer took.", d(t.sent.load())},
          {"omni_messages_in_total", "counter", "Messages received from verified peers.",
           d(t.received.load())},
          {"omni_messages_failed_total", "counter", "Messages a peer did not take (down, refused).",
           d(t.failed.load())},
          {"omni_messages_dropped_total", "counter",
           "Messages dropped before sending (unknown peer, full queue).",
           d(t.dropped_unknown_peer.load() + t.dropped_queue_full.load())},
          {"omni_connections_refused_total", "counter",
           "Calls from peers without an identity of this cluster.", d(t.refused.load())},
      });
}

}  // namespace

int serve(const NodeConfig& c) {
  const auto ca = read_file(c.ca_file);
  const auto cert = read_file(c.cert_file);
  const auto key = read_file(c.key_file);
  if (!ca || !cert || !key) {
    log_line(c, "cannot read the TLS files " + c.ca_file + ", " + c.cert_file + ", " + c.key_file);
    return 2;
  }
  if (identity_of(*cert) != c.identity) {
    log_line(c, "the certificate " + c.cert_file + " is not for " + c.identity);
    return 2;
  }
  std::string error;
  std::unique_ptr<Component> component = component_of(c, error);
  if (!component) {
    log_line(c, error);
    return 2;
  }
  Replay replay;
  LogError log_error;
  auto log = DurableLog::open(c.state_dir, replay, log_error);
  if (!log) {
    log_line(c, "cannot open its log: " + log_error.message);
    return 1;
  }
  if (!replay.problem.empty())
    log_line(c, "log " + log->path() + ": cut " + std::to_string(replay.cut_bytes) +
                    " bytes: " + replay.problem);
  log_line(c, "replayed " + std::to_string(replay.records.size()) + " records");

  boost::asio::io_context io;
  std::atomic<Host*> host_ptr{nullptr};
  // Deliveries hop onto the loop before they touch the host: the loop runs only while it lives.
  GrpcTransport transport(c.listen, *ca, KeyPair{*cert, *key}, [&](Address from, v1::Envelope e) {
    boost::asio::post(io, [&host_ptr, from = std::move(from), e = std::move(e)]() mutable {
      if (Host* h = host_ptr.load()) h->deliver(std::move(from), std::move(e));
    });
  });
  if (!transport.listening()) {
    log_line(c, "cannot listen on " + c.listen);
    return 2;
  }
  for (const auto& [identity, at] : c.peers) transport.add_peer(identity, at);
  Host host(io, c.identity, std::move(component), std::move(*log), std::move(replay.records),
            transport, no_driver);
  int exit_code = 0;
  host.set_on_stop([&] {
    if (host.failure()) {
      log_line(c, "stopped: " + host.failure()->message);
      exit_code = 1;
    }
    io.stop();
  });
  // One line when what a person watches changes: leader or follower, and the term.
  std::pair<bool, std::uint64_t> seen{false, 0};
  host.set_after_step([&](const Component& stepped) {
    const auto& o = static_cast<const orchestrator::Orchestrator&>(stepped);
    const std::pair now{o.is_leader(), o.term()};
    if (now == seen) return;
    seen = now;
    log_line(
        c, std::string(now.first ? "leads" : "follows") + " at term " + std::to_string(now.second));
  });
  host_ptr.store(&host);
  std::optional<MetricsServer> metrics;
  if (!c.metrics.empty()) {
    metrics.emplace(io, c.metrics, [&] { return render_metrics(c, host, transport); });
    if (!metrics->listening()) {
      log_line(c, "cannot serve metrics on " + c.metrics);
      return 2;
    }
    log_line(c, "metrics on port " + std::to_string(metrics->port()));
  }
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int signal) {
    log_line(c, "stopping on signal " + std::to_string(signal));
    io.stop();
  });
  log_line(c, "listening on port " + std::to_string(transport.port()));
  host.start();
  io.run();
  host_ptr.store(nullptr);
  return exit_code;
}

}  // namespace omni::node
