// Real `omni-node orchestrator` processes on loopback, with the cluster's PKI: they elect a
// leader and commit; a SIGKILLed leader is followed by another; a SIGSTOPped leader that comes
// back is fenced by the newer term; every log is intact afterwards. An admin client asks them
// for status over the same mutual-TLS wire.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "node/durable_log.h"
#include "node/host.h"
#include "node/pki.h"
#include "node/transport.h"
#include "sim/cluster/store_client.h"
#include "sim/lincheck/lincheck.h"
#include "tests/node/support.h"

namespace omni::node {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using testing::issued;
using testing::new_ca;

void must_write(const fs::path& dir, const std::string& name, const KeyPair& pair) {
  const std::string error = write_key_pair(dir.string(), name, pair);
  if (!error.empty()) throw std::runtime_error(error);
}

struct Status {
  bool is_leader = false;
  std::uint64_t term = 0;
  bool quorum_healthy = false;
};

// N replicas, each an omni-node process, and an admin that asks them for status. `clients`
// store clients (identities client:1..) get a port each in every replica's peer book.
class Cluster {
 public:
  explicit Cluster(int n, int clients = 0) : n_(n) {
    char pattern[] = "/tmp/omni-nodes-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    ca_ = new_ca("t");
    must_write(dir_ / "pki", "ca", ca_);
    std::string members = "--members=";
    for (int r = 1; r <= n_; ++r) {
      ports_[r] = testing::free_port();
      metrics_ports_[r] = testing::free_port();
      members += (r > 1 ? "," : "") + name(r);
    }
    admin_port_ = testing::free_port();
    for (int i = 1; i <= clients; ++i) client_ports_[client_name(i)] = testing::free_port();
    admin_ = std::make_unique<GrpcTransport>(
        "127.0.0.1:" + std::to_string(admin_port_), ca_.cert_pem, issued(ca_, "admin"),
        [this](Address from, v1::Envelope e) { on_reply(from, e); });
    for (int r = 1; r <= n_; ++r) {
      const std::string file = "replica-" + std::to_string(r);
      must_write(dir_ / "pki", file, issued(ca_, name(r)));
      std::ofstream config(dir_ / (file + ".yaml"));
      config << "identity: " << name(r) << "\nargs: [orchestrator, --replica=" << r << ", \""
             << members << "\"]\nstate_dir: " << (dir_ / file).string()
             << "\nlisten: 127.0.0.1:" << ports_[r] << "\nmetrics: 127.0.0.1:" << metrics_ports_[r]
             << "\npeers:\n";
      for (int p = 1; p <= n_; ++p)
        if (p != r) config << "  " << name(p) << ": 127.0.0.1:" << ports_[p] << "\n";
      for (const auto& [client, port] : client_ports_)
        config << "  " << client << ": 127.0.0.1:" << port << "\n";
      config << "  admin: 127.0.0.1:" << admin_port_
             << "\ntls: {ca: " << (dir_ / "pki/ca.crt").string()
             << ", cert: " << (dir_ / "pki" / (file + ".crt")).string()
             << ", key: " << (dir_ / "pki" / (file + ".key")).string() << "}\n";
      admin_->add_peer(name(r), "127.0.0.1:" + std::to_string(ports_[r]));
      start(r);
    }
  }
  ~Cluster() {
    for (auto& [r, pid] : pids_) stop(r, SIGKILL);
    admin_.reset();
    fs::remove_all(dir_);
  }

  static std::string name(int r) { return "orchestrator:" + std::to_string(r); }
  static std::string client_name(int i) { return "client:" + std::to_string(i); }
  int client_port(int i) const { return client_ports_.at(client_name(i)); }
  const KeyPair& ca() const { return ca_; }
  const fs::path& dir() const { return dir_; }

  void start(int r) {
    const std::string file = "replica-" + std::to_string(r);
    pids_[r] = testing::start_process(
        {OMNI_NODE_BIN, "orchestrator", "--config", (dir_ / (file + ".yaml")).string()},
        (dir_ / (file + ".out")).string());
  }
  // Stops replica r with `signal` and reaps it (SIGSTOP: only stops it).
  pid_t pid(int r) const { return pids_.at(r); }
  void stop(int r, int signal) {
    const auto it = pids_.find(r);
    if (it == pids_.end()) return;
    ::kill(it->second, signal);
    if (signal == SIGSTOP) return;
    if (signal == SIGCONT) return;
    int status = 0;
    ::waitpid(it->second, &status, 0);
    pids_.erase(it);
  }
  bool running(int r) const { return pids_.count(r) > 0; }
  // Still alive (not exited or killed by a crash), without waiting.
  bool alive(int r) {
    const auto it = pids_.find(r);
    int status = 0;
    return it != pids_.end() && ::waitpid(it->second, &status, WNOHANG) == 0;
  }
  int port(int r) const { return ports_.at(r); }
  // Messages the admin could not hand to a replica's stream.
  std::uint64_t admin_failed() const { return admin_->counters().failed.load(); }
  // GET /metrics from replica r: the whole HTTP answer, or empty.
  std::string scrape(int r, const std::string& target = "/metrics") const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(metrics_ports_.at(r)));
    std::string answer;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      const std::string request = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
      (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      char buffer[4096];
      for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return answer;
  }

  // Asks every running replica; the answers that came within a second.
  std::map<int, Status> status() {
    {
      std::lock_guard lock(mutex_);
      replies_.clear();
    }
    ++nonce_;
    for (int r = 1; r <= n_; ++r) {
      v1::Envelope e;
      e.set_seq(nonce_);
      e.mutable_status_request()->set_nonce(nonce_);
      admin_->send("admin", name(r), e);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::lock_guard lock(mutex_);
    return replies_;
  }
  // The replica that leads with a committed round trip, waiting up to `limit`.
  std::optional<std::pair<int, std::uint64_t>> leader(std::chrono::seconds limit,
                                                      std::uint64_t above_term = 0) {
    for (const auto end = Clock::now() + limit; Clock::now() < end;)
      for (const auto& [r, s] : status())
        if (s.is_leader && s.quorum_healthy && s.term > above_term) return std::pair{r, s.term};
    return std::nullopt;
  }
  // Waits up to `limit` until every started replica has answered a status request; says which
  // never did, with the end of their output ("" when all did).
  std::string silent_replicas(std::chrono::seconds limit) {
    std::set<int> heard;
    for (const auto end = Clock::now() + limit; heard.size() < pids_.size() && Clock::now() < end;)
      for (const auto& [r, s] : status()) heard.insert(r);
    std::string text;
    for (const auto& [r, pid] : pids_)
      if (!heard.count(r)) {
        text += name(r) + " never answered; the end of its output:\n" + output_end(r) + "\n";
      }
    return text;
  }
  std::string log_dir(int r) const { return (dir_ / ("replica-" + std::to_string(r))).string(); }
  std::string output(int r) const {
    std::ifstream in(dir_ / ("replica-" + std::to_string(r) + ".out"));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  // The last 3,000 bytes of replica r's output, for a failure message.
  std::string output_end(int r) const {
    const std::string said = output(r);
    return said.substr(said.size() - std::min<std::size_t>(said.size(), 3000));
  }

 private:
  void on_reply(const Address& from, const v1::Envelope& e) {
    if (!e.has_status_reply() || e.status_reply().nonce() != nonce_) return;
    const int r = std::stoi(from.substr(from.find(':') + 1));
    std::lock_guard lock(mutex_);
    replies_[r] = Status{e.status_reply().is_leader(), e.status_reply().term(),
                         e.status_reply().quorum_healthy()};
  }

  int n_;
  fs::path dir_;
  KeyPair ca_;
  std::map<int, int> ports_;
  std::map<int, int> metrics_ports_;
  int admin_port_ = 0;
  std::map<std::string, int> client_ports_;
  std::unique_ptr<GrpcTransport> admin_;
  std::map<int, pid_t> pids_;
  std::mutex mutex_;
  std::map<int, Status> replies_;
  std::atomic<std::uint64_t> nonce_{0};
};

// "orchestrator:R leader|follower term T [committed]; ...", for failure messages.
std::string describe(const std::map<int, Status>& answers) {
  std::string text;
  for (const auto& [r, s] : answers)
    text += Cluster::name(r) + (s.is_leader ? " leader" : " follower") + " term " +
            std::to_string(s.term) + (s.quorum_healthy ? " committed" : "") + "; ";
  return text.empty() ? "no replica answered" : text;
}

void expect_logs_intact(const Cluster& c, int n) {
  for (int r = 1; r <= n; ++r) {
    Replay replay;
    LogError error;
    auto log = DurableLog::open(c.log_dir(r), replay, error);
    ASSERT_TRUE(log.has_value()) << error.message;
    EXPECT_EQ(replay.problem, "") << Cluster::name(r);
    EXPECT_FALSE(replay.records.empty())
        << Cluster::name(r) << " wrote its term and log; the end of its output:\n"
        << c.output_end(r);
  }
}

TEST(OrchestratorProcesses, ThreeElectCommitAndFollowASigkilledLeader) {
  Cluster c(3);
  const auto first = c.leader(std::chrono::seconds(20));
  ASSERT_TRUE(first.has_value()) << c.output(1);
  ASSERT_EQ(c.silent_replicas(std::chrono::seconds(10)), "");
  const auto killed_at = Clock::now();
  c.stop(first->first, SIGKILL);
  const auto second = c.leader(std::chrono::seconds(20), first->second);
  ASSERT_TRUE(second.has_value()) << "no new leader after the leader was killed";
  EXPECT_NE(second->first, first->first);
  EXPECT_LT(Clock::now() - killed_at, std::chrono::seconds(15));
  for (int r = 1; r <= 3; ++r) c.stop(r, SIGTERM);
  expect_logs_intact(c, 3);
}

TEST(OrchestratorProcesses, FiveFenceAStoppedLeaderThatComesBack) {
  Cluster c(5);
  const auto first = c.leader(std::chrono::seconds(20));
  ASSERT_TRUE(first.has_value()) << c.output(1);
  ASSERT_EQ(c.silent_replicas(std::chrono::seconds(10)), "");
  const std::uint64_t failed_before = c.admin_failed();
  c.stop(first->first, SIGSTOP);
  const auto second = c.leader(std::chrono::seconds(20), first->second);
  ASSERT_TRUE(second.has_value()) << "no new leader while the old one was stopped";
  // Its kernel still takes bytes, but it answers no ping: the admin gives its stream up (and
  // opens a new one later) instead of writing into it for as long as TCP would allow.
  for (const auto end = Clock::now() + std::chrono::seconds(15);
       c.admin_failed() == failed_before && Clock::now() < end;)
    c.status();
  EXPECT_GT(c.admin_failed(), failed_before) << "a stopped peer's stream was never given up";
  c.stop(first->first, SIGCONT);
  // The old leader hears the newer term and follows: only one leader answers with a commit.
  std::map<int, Status> after;
  for (const auto end = Clock::now() + std::chrono::seconds(10); Clock::now() < end;) {
    after = c.status();
    // Deposed by check-quorum first, perhaps, then told the newer term by the new leader.
    if (after.count(first->first) && !after[first->first].is_leader &&
        after[first->first].term >= second->second)
      break;
  }
  ASSERT_TRUE(after.count(first->first)) << "the resumed replica answers; " << describe(after);
  EXPECT_FALSE(after[first->first].is_leader) << describe(after);
  EXPECT_GE(after[first->first].term, second->second) << describe(after);
  // The answers are gathered over a second, so a loaded machine may show a leader of the next
  // term beside the last one; two that lead with a commit in one term would be two leaders.
  std::map<std::uint64_t, int> committed_leaders_by_term;
  for (const auto& [r, s] : after)
    committed_leaders_by_term[s.term] += s.is_leader && s.quorum_healthy;
  for (const auto& [term, leaders] : committed_leaders_by_term)
    EXPECT_LE(leaders, 1) << "term " << term << ": " << describe(after);
  for (int r = 1; r <= 5; ++r) c.stop(r, SIGTERM);
  expect_logs_intact(c, 5);
}

// Store clients on real hosts: the simulator's StoreClient, each with its own mutual-TLS
// identity and transport, all stepped on one loop thread so their history is in real-time order.
class StoreClients {
 public:
  StoreClients(Cluster& cluster, const sim::ClientsSpec& spec) {
    std::vector<Address> replicas;
    for (int r = 1; r <= 3; ++r) replicas.push_back(Cluster::name(r));
    for (int i = 1; i <= spec.count; ++i) {
      const Address self = Cluster::client_name(i);
      auto transport = std::make_unique<GrpcTransport>(
          "127.0.0.1:" + std::to_string(cluster.client_port(i)), cluster.ca().cert_pem,
          issued(cluster.ca(), self), [this, i](Address from, v1::Envelope e) {
            hosts_.at(static_cast<std::size_t>(i - 1))->deliver(std::move(from), std::move(e));
          });
      for (int r = 1; r <= 3; ++r)
        transport->add_peer(Cluster::name(r), "127.0.0.1:" + std::to_string(cluster.port(r)));
      Replay replay;
      LogError error;
      auto log = DurableLog::open((cluster.dir() / self).string(), replay, error);
      if (!log) throw std::runtime_error(error.message);
      auto client =
          std::make_unique<sim::StoreClient>(i - 1, replicas, spec, Rng(1000 + i), history_);
      hosts_.push_back(std::make_unique<Host>(io_, self, std::move(client), std::move(*log),
                                              std::vector<std::string>{}, *transport,
                                              [](const DriverOp&) { return DriverResult{}; }));
      transports_.push_back(std::move(transport));
    }
  }
  ~StoreClients() { stop(); }
  void start() {
    for (auto& host : hosts_) boost::asio::post(io_, [h = host.get()] { h->start(); });
    loop_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }
  // The history, once the loop has stopped.
  const std::vector<lincheck::Event>& stop() {
    if (loop_.joinable()) {
      io_.stop();
      loop_.join();
    }
    return history_.events;
  }

 private:
  boost::asio::io_context io_;
  sim::HistorySink history_;
  // Transports go first: one may still deliver to a host until it is gone.
  std::vector<std::unique_ptr<Host>> hosts_;
  std::vector<std::unique_ptr<GrpcTransport>> transports_;
  std::thread loop_;
};

std::size_t count_ok(const std::vector<lincheck::Event>& history, lincheck::Function f) {
  return static_cast<std::size_t>(std::count_if(
      history.begin(), history.end(),
      [f](const lincheck::Event& e) { return e.type == lincheck::EventType::ok && e.f == f; }));
}

// Three clients read, write and compare-and-set two registers while the leader is SIGKILLed and
// comes back; what they saw, checked by the linearizability checker, is one register each.
TEST(OrchestratorProcesses, StoreClientsThroughALeaderKillSeeALinearizableStore) {
  Cluster c(3, 3);
  const auto first = c.leader(std::chrono::seconds(20));
  ASSERT_TRUE(first.has_value()) << c.output(1);
  ASSERT_EQ(c.silent_replicas(std::chrono::seconds(10)), "");
  sim::ClientsSpec spec;
  spec.count = 3;
  spec.keys = 2;
  spec.ops_per_s = 20;
  // Past an election (1 to 2 s) and a round trip: an operation caught by the kill can still
  // end ok or fail at the new leader, not only as `info`.
  spec.timeout = std::chrono::seconds(3);
  StoreClients clients(c, spec);
  clients.start();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  c.stop(first->first, SIGKILL);
  ASSERT_TRUE(c.leader(std::chrono::seconds(20), first->second).has_value());
  c.start(first->first);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  const auto& history = clients.stop();
  const lincheck::Verdict verdict = lincheck::check_history(history);
  EXPECT_TRUE(verdict.linearizable) << verdict.report;
  EXPECT_FALSE(verdict.exhausted);
  // Enough happened for the check to mean something: writes and cas took effect, reads saw them.
  EXPECT_GE(count_ok(history, lincheck::Function::write), 20u);
  EXPECT_GE(count_ok(history, lincheck::Function::read), 20u);
  EXPECT_GE(count_ok(history, lincheck::Function::cas), 5u);
  for (int r = 1; r <= 3; ++r) c.stop(r, SIGTERM);
}

// A certificate that is not the identity's is refused before anything starts, said as one JSON
// object per line with --log-format json, and the exit code is 2.
TEST(OrchestratorProcesses, AWrongCertificateStopsTheStartWithAJsonLogLine) {
  char pattern[] = "/tmp/omni-wrong-XXXXXX";
  const fs::path dir = ::mkdtemp(pattern);
  const KeyPair ca = new_ca("t");
  must_write(dir, "ca", ca);
  must_write(dir, "other", issued(ca, "orchestrator:2"));
  std::ofstream(dir / "o1.yaml") << "identity: orchestrator:1\n"
                                    "args: [orchestrator, --replica=1, --members=orchestrator:1]\n"
                                    "state_dir: "
                                 << (dir / "state").string()
                                 << "\nlisten: 127.0.0.1:0\npeers: {}\ntls: {ca: "
                                 << (dir / "ca.crt").string()
                                 << ", cert: " << (dir / "other.crt").string()
                                 << ", key: " << (dir / "other.key").string() << "}\n";
  const pid_t pid = testing::start_process({OMNI_NODE_BIN, "orchestrator", "--config",
                                            (dir / "o1.yaml").string(), "--log-format", "json"},
                                           (dir / "out").string());
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::ifstream in(dir / "out");
  const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(out.find("{\"identity\":\"orchestrator:1\",\"event\":\"the certificate "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("is not for orchestrator:1\"}\n"), std::string::npos) << out;
  fs::remove_all(dir);
}

// The value of `name` in a Prometheus text answer, or -1.
double sample(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + "{");
  if (at == std::string::npos) return -1;
  const auto space = text.find("} ", at);
  return std::stod(text.substr(space + 2));
}

// Every replica serves Prometheus metrics: one says it leads, all agree on the term, and each
// has committed and written its log.
// A node raises its soft limit on open files to the hard one: gRPC stops accepting for good after
// an accept() that ran out of descriptors, and 1,024 connections (a container's old limit) were
// enough to leave a replica deaf until restarted. Started here under a soft limit of 256.
TEST(OrchestratorProcesses, ANodeRaisesItsOpenFilesLimitToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  rlimit low = before;
  low.rlim_cur = std::min<rlim_t>(256, before.rlim_max);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::optional<Cluster> c;
  c.emplace(3);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &before), 0);  // only the nodes start under it
  ASSERT_TRUE(c->leader(std::chrono::seconds(20)).has_value()) << c->output(1);
  std::ifstream limits("/proc/" + std::to_string(c->pid(1)) + "/limits");
  std::string line;
  while (std::getline(limits, line) && line.rfind("Max open files", 0) != 0) {
  }
  std::istringstream fields(line.substr(std::string("Max open files").size()));
  std::string soft, hard;
  fields >> soft >> hard;
  ASSERT_FALSE(hard.empty()) << line;
  const rlim_t expected =
      hard == "unlimited" ? rlim_t{1} << 20 : std::min<rlim_t>(std::stoull(hard), rlim_t{1} << 20);
  EXPECT_EQ(soft, std::to_string(expected)) << line;
}

TEST(OrchestratorProcesses, EveryReplicaServesItsMetrics) {
  Cluster c(3);
  const auto leader = c.leader(std::chrono::seconds(20));
  ASSERT_TRUE(leader.has_value()) << c.output(1);
  double leaders = 0;
  for (int r = 1; r <= 3; ++r) {
    const std::string text = c.scrape(r);
    ASSERT_NE(text.find("200 OK"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE omni_raft_term gauge"), std::string::npos) << text;
    EXPECT_NE(text.find("omni_raft_term{identity=\"" + Cluster::name(r) + "\"}"), std::string::npos)
        << text;
    leaders += sample(text, "omni_raft_is_leader");
    EXPECT_GE(sample(text, "omni_raft_term"), static_cast<double>(leader->second));
    EXPECT_GT(sample(text, "omni_raft_commit_index"), 0) << Cluster::name(r);
    EXPECT_GT(sample(text, "omni_host_persists_total"), 0) << Cluster::name(r);
    EXPECT_GT(sample(text, "omni_messages_in_total"), 0) << Cluster::name(r);
  }
  EXPECT_EQ(leaders, 1);
  EXPECT_NE(c.scrape(1, "/nothing").find("404"), std::string::npos);
}

// Opens a TCP connection to 127.0.0.1:port, writes `bytes` and closes it.
void throw_at(int port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
    (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  ::close(fd);
}

// Random bytes, truncated TLS records and an HTTP/2 preface followed by noise, on every
// replica's listening socket: no replica crashes, and the plane still commits.
TEST(OrchestratorProcesses, GarbageOnTheListeningSocketsNeverCrashesAReplica) {
  Cluster c(3);
  ASSERT_TRUE(c.leader(std::chrono::seconds(20)).has_value()) << c.output(1);
  std::uint64_t state = 0x9e3779b97f4a7c15ULL;  // a fixed sequence: the same run every time
  const auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const std::string tls_hello_prefix("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  const std::string http2_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  for (int r = 1; r <= 3; ++r)
    for (int i = 0; i < 150; ++i) {
      std::string noise(next() % 2048, '\0');
      for (char& ch : noise) ch = static_cast<char>(next());
      const std::string prefixes[] = {"", tls_hello_prefix, http2_preface};
      throw_at(c.port(r), prefixes[i % 3] + noise);
    }
  for (int r = 1; r <= 3; ++r) EXPECT_TRUE(c.alive(r)) << Cluster::name(r) << c.output(r);
  EXPECT_TRUE(c.leader(std::chrono::seconds(20)).has_value()) << "the plane still commits";
}

// `omni-node pki` with an empty identity, or a flag it does not know taken for one: an error
// that says so, exit 2, and no CA written (an empty identity used to abort after the CA).
TEST(OmniNodePki, AnIdentityThatIsNotOneIsRefusedBeforeAnythingIsWritten) {
  const testing::TempDir dir;
  const fs::path out = dir.path / "pki";
  for (const std::string bad : {"", "--bogus"}) {
    const auto result = drivers::run_command(
        {OMNI_NODE_BIN, "pki", "--cluster", "c", "--out", out.string(), "root", bad});
    EXPECT_EQ(result.exit_code, 2) << result.output;
    EXPECT_NE(result.output.find("is not an identity"), std::string::npos) << result.output;
    EXPECT_FALSE(fs::exists(out / "ca.crt")) << "identity \"" << bad << "\"";
  }
  const auto good = drivers::run_command(
      {OMNI_NODE_BIN, "pki", "--cluster", "c", "--out", out.string(), "root", "orchestrator:1"});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_TRUE(fs::exists(out / "orchestrator-1.crt")) << good.output;
}

// Files omni-node reads are bounded, and keys and certificates must be regular files: a config
// or plan naming /dev/zero was read until memory ran out, a FIFO would block the node forever.
TEST(OmniNodeFiles, ADeviceOrAFifoIsRefusedWithItsName) {
  const testing::TempDir dir;
  const auto config =
      drivers::run_command({OMNI_NODE_BIN, "orchestrator", "--config", "/dev/zero"});
  EXPECT_EQ(config.exit_code, 2) << config.output;
  EXPECT_NE(config.output.find("/dev/zero: cannot read the file: it is larger than 16 MiB"),
            std::string::npos)
      << config.output;
  const auto plan = drivers::run_command(
      {OMNI_NODE_BIN, "pki", "--plan", "/dev/zero", "--out", (dir.path / "pki").string()});
  EXPECT_EQ(plan.exit_code, 2) << plan.output;
  EXPECT_NE(plan.output.find("larger than 16 MiB"), std::string::npos) << plan.output;
  ASSERT_EQ(::mkfifo((dir.path / "ca.crt").c_str(), 0600), 0);
  const fs::path node_yaml = dir.path / "orchestrator.yaml";
  std::ofstream(node_yaml) << "identity: orchestrator:1\nstate_dir: state\nlisten: 127.0.0.1:0\n"
                           << "peers: {admin: 127.0.0.1:2}\n"
                           << "tls: {ca: ca.crt, cert: o.crt, key: o.key}\n";
  const auto fifo =
      drivers::run_command({OMNI_NODE_BIN, "orchestrator", "--config", node_yaml.string()});
  EXPECT_EQ(fifo.exit_code, 2) << fifo.output;
  EXPECT_NE(fifo.output.find("ca.crt: cannot read the file: it is not a regular file"),
            std::string::npos)
      << fifo.output;
}

// TLS files that cannot work are refused at start with the reason, before the node opens its
// log or drivers: gRPC only said "cannot listen", and a certificate of another cluster started
// a node every peer refused.
TEST(OmniNodeFiles, TlsFilesThatCannotWorkAreRefusedWithTheReason) {
  const testing::TempDir dir;
  std::string error;
  const auto ca = make_ca("c", {}, error);
  const auto other_ca = make_ca("other", {}, error);
  ASSERT_TRUE(ca && other_ca) << error;
  const auto mine = issue(*ca, "orchestrator:1", {}, error);
  const auto another = issue(*ca, "orchestrator:1", {}, error);
  ASSERT_TRUE(mine && another) << error;
  const fs::path node_yaml = dir.path / "orchestrator.yaml";
  std::ofstream(node_yaml) << "identity: orchestrator:1\nstate_dir: state\nlisten: 127.0.0.1:0\n"
                           << "peers: {admin: 127.0.0.1:2}\n"
                           << "tls: {ca: ca.crt, cert: o.crt, key: o.key}\n";
  const auto start_with = [&](const std::string& ca_pem, const KeyPair& pair) {
    std::ofstream(dir.path / "ca.crt") << ca_pem;
    std::ofstream(dir.path / "o.crt") << pair.cert_pem;
    std::ofstream(dir.path / "o.key") << pair.key_pem;
    return drivers::run_command({OMNI_NODE_BIN, "orchestrator", "--config", node_yaml.string()});
  };
  const auto mismatched = start_with(ca->cert_pem, KeyPair{mine->cert_pem, another->key_pem});
  EXPECT_EQ(mismatched.exit_code, 2) << mismatched.output;
  EXPECT_NE(mismatched.output.find("the key is not the certificate's key"), std::string::npos)
      << mismatched.output;
  const auto foreign = start_with(other_ca->cert_pem, *mine);
  EXPECT_EQ(foreign.exit_code, 2) << foreign.output;
  EXPECT_NE(foreign.output.find("the certificate does not chain to the CA"), std::string::npos)
      << foreign.output;
  const auto garbled = start_with(ca->cert_pem, KeyPair{mine->cert_pem, "-----BEGIN junk"});
  EXPECT_EQ(garbled.exit_code, 2) << garbled.output;
  EXPECT_NE(garbled.output.find("the key is not a PEM private key"), std::string::npos)
      << garbled.output;
  EXPECT_FALSE(fs::exists(dir.path / "state" / "log")) << "the log was opened before TLS";
}

}  // namespace
}  // namespace omni::node
