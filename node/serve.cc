#include "node/serve.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "drivers/container/containerd_driver.h"
#include "drivers/container/process_runtime.h"
#include "drivers/util/text_file.h"
#include "drivers/vm/libvirt_driver.h"
#include "drivers/vm/local_provider.h"
#include "model/agent/agent.h"
#include "model/config/parse.h"
#include "model/core/assert.h"
#include "model/core/json.h"
#include "model/director/director.h"
#include "model/orchestrator/orchestrator.h"
#include "model/root/root.h"
#include "node/components.h"
#include "node/dashboard.h"
#include "node/driver_bridge.h"
#include "node/durable_log.h"
#include "node/host.h"
#include "node/metrics.h"
#include "node/transport.h"

namespace omni::node {
namespace {

// Bounded, and regular files only: a config or key path naming /dev/zero or a FIFO is an error,
// not the node's memory or a read that never returns.
std::optional<std::string> read_file(const std::string& path, std::string& error) {
  drivers::TextFile file = drivers::read_regular_file(path);
  if (!file.error.empty()) {
    error = path + ": " + file.error;
    return std::nullopt;
  }
  return std::move(file.text);
}

// One line per event, to stderr: what a person reading a journal needs, or (--log-format json)
// one JSON object a log pipeline can take apart.
void log_line(const NodeConfig& c, const std::string& text) {
  std::FILE* to = c.log_path.empty() ? stderr : std::fopen(c.log_path.c_str(), "a");
  if (to == nullptr) to = stderr;
  if (c.log_json)
    std::fprintf(to, "{\"identity\":%s,\"event\":%s}\n", json_quote(c.identity).c_str(),
                 json_quote(text).c_str());
  else
    std::fprintf(to, "omni-node %s: %s\n", c.identity.c_str(), text.c_str());
  if (to == stderr)
    std::fflush(stderr);
  else
    std::fclose(to);
}

// A refused call is logged with its reason, once per caller and reason a minute: a peer that
// retries every second must not flood the journal.
class RefusalLog {
 public:
  explicit RefusalLog(const NodeConfig& c) : c_(c) {}
  void refused(const std::string& claimed, const std::string& reason) {
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mutex_);
      if (last_logged_.size() >= 1024) last_logged_.clear();  // strangers choose what they claim
      auto& last = last_logged_[claimed + "\n" + reason];
      if (last.time_since_epoch().count() != 0 && now - last < std::chrono::minutes(1)) return;
      last = now;
    }
    // Both may carry what the caller chose: a name with a newline or an escape sequence would
    // forge a line of the log or reach a terminal.
    log_line(c_, "refused a call from " +
                     (claimed.empty() ? "a caller without an identity" : printable(claimed)) +
                     ": " + printable(reason, 512));
  }

 private:
  const NodeConfig& c_;
  std::mutex mutex_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_logged_;
};

}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : text.substr(0, max_bytes)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

namespace {

// The root creates the cluster its config file describes; the file was checked before (omni
// init) but is read again here, so a bad one is an error, never a crash.
std::unique_ptr<Component> root_of(const NodeConfig& c, std::string& error) {
  const auto text = read_file(c.cluster_file, error);
  if (!text) {
    error = "cannot read the cluster config " + error;
    return nullptr;
  }
  auto parsed = config::parse_cluster_config(*text, c.cluster_file);
  if (!parsed.config) {
    error = parsed.errors.empty() ? "bad cluster config" : parsed.errors.front().to_string();
    return nullptr;
  }
  if (const auto planned = root::make_plan(*parsed.config);
      std::holds_alternative<std::vector<config::Diagnostic>>(planned)) {
    error = std::get<std::vector<config::Diagnostic>>(planned).front().to_string();
    return nullptr;
  }
  root::RootConfig rc;
  rc.self = c.identity;
  rc.cluster = std::move(*parsed.config);
  rc.orchestrator_image = c.orchestrator_image;
  return std::make_unique<root::Root>(std::move(rc));
}

std::unique_ptr<Component> component_of(const NodeConfig& c, std::string& error) {
  if (c.role == "root") return root_of(c, error);
  std::random_device entropy;  // the model's randomness is seeded here, once, from the host
  const std::uint64_t seed = (std::uint64_t{entropy()} << 32) | entropy();
  return make_component(c.role, c.args, c.identity, seed, error);
}

// The root's progress goes to a person, not to a peer; everything else to the wire.
class ProgressTap final : public Transport {
 public:
  ProgressTap(Transport& wire, std::function<void(const v1::Progress&)> on_progress)
      : wire_(wire), on_progress_(std::move(on_progress)) {}
  void send(const Address& from, const Address& to, const v1::Envelope& envelope) override {
    if (to != root::kProgressAddress) return wire_.send(from, to, envelope);
    if (envelope.has_progress()) on_progress_(envelope.progress());
  }

 private:
  Transport& wire_;
  std::function<void(const v1::Progress&)> on_progress_;
};

// What a role drives: a Director its hypervisor, an Agent its container runtime.
struct Drivers {
  std::unique_ptr<drivers::VmDriver> vms;
  drivers::LocalProvider* local = nullptr;  // vms, when it is the local provider
  std::unique_ptr<drivers::ContainerDriver> containers;
};

std::unique_ptr<drivers::VmDriver> open_vms(const VmsConfig& v, drivers::LocalProvider*& local,
                                            std::string& error) {
  if (v.provider == "libvirt") {
    drivers::LibvirtOptions options;
    options.uri = v.uri;
    options.bridge = v.nic_bridge;
    options.domain_type = v.domain_type;
    options.state_dir = v.state_dir;
    auto connected = drivers::LibvirtDriver::connect(options);
    if (!connected.ok()) error = connected.result.message;
    return std::move(connected.value);
  }
  drivers::LocalOptions options;
  options.id = v.id;
  options.state_dir = v.state_dir;
  options.subnet_prefix = v.subnet;
  if (v.capacity.cpu_millis > 0) options.capacity = v.capacity;
  auto provider = std::make_unique<drivers::LocalProvider>(options);
  local = provider.get();
  return provider;
}

std::unique_ptr<drivers::ContainerDriver> open_containers(const ContainersConfig& c,
                                                          std::string& error) {
  if (c.runtime == "process") {
    drivers::ProcessRuntimeOptions options;
    options.state_dir = c.state_dir;
    return std::make_unique<drivers::ProcessRuntime>(options);
  }
  drivers::ContainerdOptions options;
  options.socket_path = c.socket;
  options.log_dir = c.log_dir;
  options.host_access_commands = c.host_access;
  // In a local sandbox the containerd is the machine's: the sandbox's init is told where the
  // sandbox is (drivers/vm/local_provider.h), and its containers go there.
  const auto env = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value ? value : "");
  };
  options.scope = c.scope.empty() ? env("OMNI_VM_NAME") : c.scope;
  options.network_namespace_path = env("OMNI_VM_NETNS");
  options.cgroup_parent = env("OMNI_VM_CGROUP");
  auto connected = drivers::ContainerdDriver::connect(options);
  if (!connected.ok()) error = connected.result.message;
  return std::move(connected.value);
}

std::optional<Drivers> open_drivers(const NodeConfig& c, std::string& error) {
  Drivers d;
  if (c.vms) d.vms = open_vms(*c.vms, d.local, error);
  if (c.containers) d.containers = open_containers(*c.containers, error);
  if (!error.empty()) return std::nullopt;
  return d;
}

DriverResult no_driver(const std::string& what) {
  DriverResult r;
  r.status = DriverStatus::unavailable;
  r.message = "this omni-node drives no " + what;
  return r;
}

// The Agents of a Director's worker VMs listen on their VM's address (the driver knows it) at
// the plan's port: the peer book follows the VMs as they are made, with no discovery service.
void learn_agent_addresses(drivers::VmDriver& vms, const VmsConfig& v, GrpcTransport& transport) {
  for (const auto& [vm, address] : vm_addresses(vms, v.bridge))
    transport.add_peer(director::agent_address(vm), address + ":" + std::to_string(v.agent_port));
}

// Runs on the host's workers: each op through its bridge.
DriverRunner runner_of(const NodeConfig& c, Drivers& d, GrpcTransport& transport) {
  return [&c, &d, &transport](const DriverOp& op) {
    if (const auto* vm = std::get_if<VmOp>(&op)) {
      if (!d.vms) return no_driver("VMs");
      DriverResult result = execute_vm_op(*d.vms, *vm, c.vms->bridge);
      if (vm->kind == VmOpKind::list || vm->kind == VmOpKind::create)
        learn_agent_addresses(*d.vms, *c.vms, transport);
      return result;
    }
    if (!d.containers) return no_driver("containers");
    return execute_container_op(*d.containers, std::get<ContainerOp>(op), c.containers->bridge);
  };
}

// What the role adds to the host's figures.
std::vector<Metric> role_metrics(const Component& component) {
  const auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  if (const auto* o = dynamic_cast<const orchestrator::Orchestrator*>(&component))
    return {
        {"omni_raft_term", "gauge", "The Raft term this replica is in.", d(o->term())},
        {"omni_raft_is_leader", "gauge", "1 while this replica leads.", o->is_leader() ? 1.0 : 0.0},
        {"omni_raft_commit_index", "gauge", "The highest log index known committed.",
         d(o->node().raft().commit_index())}};
  if (const auto* dir = dynamic_cast<const director::Director*>(&component))
    return {{"omni_director_fence_term", "gauge", "The term of the fence this Director holds.",
             d(dir->accepted().term)},
            {"omni_director_vms_desired", "gauge", "Worker VMs its controller wants.",
             d(dir->desired_vms().size())},
            {"omni_director_vms_running", "gauge", "Worker VMs that run.",
             d(dir->running_vms().size())}};
  if (const auto* a = dynamic_cast<const agent::Agent*>(&component)) {
    std::uint64_t running = 0;
    for (const auto& [name, state] : a->containers()) running += state.running ? 1 : 0;
    return {{"omni_agent_containers_desired", "gauge", "Containers its Director wants.",
             d(a->desired().size())},
            {"omni_agent_containers_running", "gauge", "Containers that run.", d(running)}};
  }
  return {};
}

// What a person watching a node graphs: the role's state, the loop's work, the wire's losses.
std::string render_metrics(const NodeConfig& c, const Host& host, const GrpcTransport& transport) {
  const HostCounters& h = host.counters();
  const TransportCounters& t = transport.counters();
  const auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  std::vector<Metric> metrics = role_metrics(host.component());
  const std::vector<Metric> common{
      {"omni_host_steps_total", "counter", "Inputs the component stepped.", d(h.steps)},
      {"omni_host_persists_total", "counter", "Records written to the log.", d(h.persists)},
      {"omni_host_syncs_total", "counter", "fdatasyncs of the log (one per batch of records).",
       d(h.syncs)},
      {"omni_host_persist_seconds_total", "counter", "Time spent writing and syncing the log.",
       h.persist_seconds},
      {"omni_host_driver_calls_total", "counter", "Driver operations started.", d(h.driver_calls)},
      {"omni_host_driver_seconds_total", "counter", "Time driver operations took.",
       h.driver_seconds},
      {"omni_messages_out_total", "counter", "Messages the component sent.", d(h.sends)},
      {"omni_messages_delivered_total", "counter", "Messages written to a peer's stream.",
       d(t.sent.load())},
      {"omni_messages_in_total", "counter", "Messages received from verified peers.",
       d(t.received.load())},
      {"omni_messages_failed_total", "counter", "Messages a peer did not take (down, refused).",
       d(t.failed.load())},
      {"omni_messages_dropped_total", "counter",
       "Messages dropped before sending (unknown peer, full queue).",
       d(t.dropped_unknown_peer.load() + t.dropped_queue_full.load())},
      {"omni_connections_refused_total", "counter",
       "Calls from peers without a valid identity of this cluster.", d(t.refused.load())},
      {"omni_messages_inbox_full_total", "counter",
       "Messages received and dropped: those waiting to be stepped held their limit.",
       d(host.inbox_budget() ? host.inbox_budget()->dropped() : 0)},
  };
  metrics.insert(metrics.end(), common.begin(), common.end());
  return exposition(c.identity, metrics);
}

// One line when what a person watches changes: who leads, who controls, what runs.
std::string summary_of(const Component& component) {
  if (const auto* o = dynamic_cast<const orchestrator::Orchestrator*>(&component))
    return std::string(o->is_leader() ? "leads" : "follows") + " at term " +
           std::to_string(o->term());
  if (const auto* r = dynamic_cast<const root::Root*>(&component))
    return std::string("phase ") + std::string(root::phase_name(r->phase())) +
           (r->failed() ? " (failed: " + r->failure() + ")" : "");
  if (const auto* dir = dynamic_cast<const director::Director*>(&component))
    return "controlled by " + (dir->controller().empty() ? "nobody" : dir->controller()) +
           " at era " + std::to_string(dir->accepted().era) + " term " +
           std::to_string(dir->accepted().term) + "; " + std::to_string(dir->running_vms().size()) +
           " of " + std::to_string(dir->desired_vms().size()) + " worker VMs run";
  if (const auto* a = dynamic_cast<const agent::Agent*>(&component)) {
    std::size_t running = 0;
    for (const auto& [name, state] : a->containers()) running += state.running ? 1 : 0;
    return std::to_string(running) + " of " + std::to_string(a->desired().size()) +
           " containers run";
  }
  return {};
}

// What this replica's dashboard answers: the members' dashboards from their Raft addresses,
// and the status `omni status` gets.
DashboardView dashboard_view(const NodeConfig& c, const Component& component) {
  const auto* o = dynamic_cast<const orchestrator::Orchestrator*>(&component);
  OMNI_ASSERT(o != nullptr, "only an orchestrator serves a dashboard");
  std::map<std::string, std::string> urls;
  for (const auto& [peer, address] : c.peers)
    if (peer.starts_with("orchestrator:")) urls[peer] = dashboard_url_of(address);
  const v1::StatusReply status = o->described_status();
  const auto leader = urls.find(status.leader_hint());
  return DashboardView{status.is_leader(), leader == urls.end() ? std::string() : leader->second,
                       dashboard_json(c.identity, urls, status)};
}

}  // namespace

int serve(const NodeConfig& c, const ServeHooks& hooks) {
  std::string tls_error;
  const auto ca = read_file(c.ca_file, tls_error);
  const auto cert = ca ? read_file(c.cert_file, tls_error) : std::nullopt;
  const auto key = cert ? read_file(c.key_file, tls_error) : std::nullopt;
  if (!key) {
    log_line(c, "a TLS file: " + tls_error);
    return 2;
  }
  if (identity_of(*cert) != c.identity) {
    log_line(c, "the certificate " + c.cert_file + " is not for " + c.identity);
    return 2;
  }
  if (const std::string problem = key_pair_problem(*ca, KeyPair{*cert, *key}); !problem.empty()) {
    log_line(c, "TLS files " + c.ca_file + ", " + c.cert_file + ", " + c.key_file + ": " + problem);
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
    log_line(c, "log " + log->path() + ": cut " + std::to_string(replay.cut_bytes) + " bytes, " +
                    std::to_string(replay.damaged_records) +
                    " damaged records handed on: " + replay.problem);
  log_line(c, "replayed " + std::to_string(replay.records.size()) + " records");

  std::string driver_error;
  std::optional<Drivers> driven = open_drivers(c, driver_error);
  if (!driven) {
    log_line(c, "cannot reach its driver: " + driver_error);
    return 1;
  }
  if (driven->local) {
    log_line(c, std::string("VMs are local sandboxes under ") + c.vms->state_dir +
                    (driven->local->isolated() ? ", each in its own network namespace"
                                               : ": plain processes on loopback (not root)"));
    if (const auto prepared = driven->local->prepare_network(); !drivers::is_ok(prepared)) {
      log_line(c, "cannot make the sandboxes' network: " + prepared.message);
      return 1;
    }
    // A Director brings back its own node's workers after a power loss; the root starts none.
    if (c.role == "director") {
      const auto started =
          driven->local->start_autostart(c.vms->bridge.cluster, c.vms->bridge.node);
      for (const auto& name : started.value) log_line(c, "autostarted sandbox " + name);
      if (!started.ok()) log_line(c, "autostart: " + started.result.message);
    }
  }

  boost::asio::io_context io;
  std::atomic<Host*> host_ptr{nullptr};
  // Deliveries hop onto the loop before they touch the host: the loop runs only while it lives.
  RefusalLog refusals(c);
  InboxBudget inbox;  // what waits to be stepped is bounded, however fast peers send
  GrpcTransport transport(
      c.listen, *ca, KeyPair{*cert, *key},
      [&](Address from, v1::Envelope e) {
        const std::size_t bytes = InboxBudget::cost_of(e);
        if (!inbox.admit(bytes)) return;
        boost::asio::post(
            io, [&host_ptr, &inbox, bytes, from = std::move(from), e = std::move(e)]() mutable {
              if (Host* h = host_ptr.load())
                h->deliver(std::move(from), std::move(e), bytes);
              else
                inbox.release(bytes);
            });
      },
      1024,
      [&refusals](const std::string& claimed, const std::string& reason) {
        refusals.refused(claimed, reason);
      });
  if (!transport.listening()) {
    log_line(c, "cannot listen on " + c.listen);
    return 2;
  }
  for (const auto& [identity, at] : c.peers) transport.add_peer(identity, at);
  if (driven->vms) learn_agent_addresses(*driven->vms, *c.vms, transport);
  ProgressTap wire(
      transport, hooks.on_progress ? hooks.on_progress : [&c](const v1::Progress& p) {
        log_line(c, "[" + p.phase() + "] " + p.detail());
      });
  Host host(io, c.identity, std::move(component), std::move(*log), std::move(replay.records), wire,
            runner_of(c, *driven, transport));
  int exit_code = 0;
  host.set_on_stop([&] {
    if (host.failure()) {
      log_line(c, "stopped: " + host.failure()->message);
      exit_code = 1;
    }
    if (const auto* r = dynamic_cast<const root::Root*>(&host.component()); r && r->failed())
      exit_code = 1;
    io.stop();
  });
  std::string seen;
  host.set_after_step([&](const Component& stepped) {
    std::string now = summary_of(stepped);
    if (now == seen) return;
    seen = std::move(now);
    log_line(c, seen);
  });
  host.set_inbox_budget(&inbox);
  host_ptr.store(&host);
  std::optional<MetricsServer> metrics;
  if (!c.metrics.empty()) {
    metrics.emplace(io, c.metrics, [&] { return render_metrics(c, host, transport); });
    if (!metrics->listening()) {
      log_line(c, "cannot serve metrics: " + metrics->problem());
      return 2;
    }
    log_line(c, "metrics on port " + std::to_string(metrics->port()));
  }
  std::optional<DashboardServer> dashboard;
  if (!c.dashboard.empty()) {
    dashboard.emplace(io, c.dashboard, KeyPair{*cert, *key}, c.dashboard_token,
                      [&] { return dashboard_view(c, host.component()); });
    if (!dashboard->listening()) {
      log_line(c, "cannot serve the dashboard: " + dashboard->problem());
      return 2;
    }
    log_line(c, "dashboard on port " + std::to_string(dashboard->port()));
  }
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int signal) {
    log_line(c, "stopping on signal " + std::to_string(signal));
    if (c.role == "root") exit_code = 1;  // a root stopped before its Exit did not finish
    io.stop();
  });
  log_line(c, "listening on port " + std::to_string(transport.port()));
  host.start();
  io.run();
  host_ptr.store(nullptr);
  return exit_code;
}

}  // namespace omni::node
