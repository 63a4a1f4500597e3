// bench-plane-writes: write throughput and latency of the real plane, side by side with etcd.
//
// Three `omni-node orchestrator` replicas on loopback (mutual TLS, every write fdatasync'd by
// each replica's log) and three etcd members on loopback (its defaults: fsync on; clients over
// TLS with client certificates from the same CA, members among themselves over plain HTTP),
// in one run, on this machine. N clients each keep one put in flight against the leader for
// the given time; each put is a new key with a value of the given size. Prints writes per
// second and the median and p99 latency of each, and the command that made them.
//
//   bench-plane-writes [--clients N] [--seconds S] [--value-bytes B] [--etcd PATH]
//                      [--only omni|etcd]
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "drivers/util/subprocess.h"
#include "node/pki.h"
#include "node/transport.h"
#include "rpc.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using omni::node::KeyPair;

struct Options {
  int clients = 16;
  int seconds = 10;
  int value_bytes = 256;
  std::string etcd = "/usr/bin/etcd";
  std::string only;
};

struct Result {
  std::string system;
  std::uint64_t writes = 0;
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::uint64_t errors = 0;
};

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

KeyPair issued(const KeyPair& ca, const std::string& identity) {
  std::string error;
  auto pair = omni::node::issue(ca, identity, {}, error);
  if (!pair) throw std::runtime_error(error);
  return *pair;
}

void write_pair(const fs::path& dir, const std::string& name, const KeyPair& pair) {
  if (auto error = omni::node::write_key_pair(dir.string(), name, pair); !error.empty())
    throw std::runtime_error(error);
}

// Processes started here and stopped by PID, whatever happens.
class Processes {
 public:
  ~Processes() {
    for (const pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }
  // Through spawn_process: nothing but async-signal-safe calls between fork and exec, since
  // gRPC's threads may hold a lock at the fork.
  void start(const std::vector<std::string>& argv, const fs::path& log) {
    fs::remove(log);
    omni::drivers::SpawnOptions options;
    options.log_path = log.string();
    std::string error;
    const pid_t pid = omni::drivers::spawn_process(argv, options, error);
    if (pid < 0) throw std::runtime_error(error);
    pids_.push_back(pid);
  }

 private:
  std::vector<pid_t> pids_;
};

Result summarize(std::string system, std::vector<double> latencies_ms, double seconds,
                 std::uint64_t errors) {
  Result r{std::move(system), latencies_ms.size(), seconds, 0, 0, errors};
  if (latencies_ms.empty()) return r;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  r.p50_ms = latencies_ms[latencies_ms.size() / 2];
  r.p99_ms = latencies_ms[std::min(latencies_ms.size() - 1, latencies_ms.size() * 99 / 100)];
  return r;
}

// Runs `clients` threads, each calling `put(client, n)` until the time is up; a put answers
// whether it succeeded.
template <class Put>
Result drive(const std::string& system, const Options& o, const Put& put) {
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(o.clients));
  std::atomic<std::uint64_t> errors{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(o.seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c)
    threads.emplace_back([&, c] {
      for (std::uint64_t n = 0; Clock::now() < end; ++n) {
        const auto sent = Clock::now();
        if (!put(c, n)) {
          ++errors;
          continue;
        }
        latencies[static_cast<std::size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
      }
    });
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  return summarize(system, std::move(all), seconds, errors.load());
}

// Omni --------------------------------------------------------------------------------------

// One store client: its own identity and transport; one put in flight at a time.
class OmniClient {
 public:
  OmniClient(const std::string& identity, int port, const KeyPair& ca, const KeyPair& own)
      : identity_(identity),
        transport_("127.0.0.1:" + std::to_string(port), ca.cert_pem, own,
                   [this](omni::Address, omni::v1::Envelope e) { on_reply(std::move(e)); }) {}

  void add_replica(const std::string& identity, int port) {
    transport_.add_peer(identity, "127.0.0.1:" + std::to_string(port));
  }

  // A put of `key`; waits for its answer (up to 5 s). Follows the leader hint.
  bool put(const std::string& key, const std::string& value) {
    omni::v1::Envelope e;
    const std::uint64_t id = ++next_id_;
    e.set_seq(id);
    auto* request = e.mutable_store_request();
    request->set_id(id);
    request->mutable_put()->set_key(key);
    request->mutable_put()->set_value(value);
    transport_.send(identity_, leader_, e);
    std::unique_lock lock(mutex_);
    if (!answered_.wait_for(lock, std::chrono::seconds(5), [&] { return reply_id_ == id; })) {
      ++failures_["no answer within 5 s"];
      return false;
    }
    if (status_ == omni::v1::STORE_STATUS_NOT_LEADER && !hint_.empty()) leader_ = hint_;
    if (status_ != omni::v1::STORE_STATUS_OK)
      ++failures_[omni::v1::StoreStatus_Name(status_) + (error_.empty() ? "" : ": " + error_)];
    return status_ == omni::v1::STORE_STATUS_OK;
  }

  // Why puts failed, and how often (since forget_failures).
  std::map<std::string, int> failures() {
    std::lock_guard lock(mutex_);
    return failures_;
  }
  void forget_failures() {
    std::lock_guard lock(mutex_);
    failures_.clear();
  }

 private:
  void on_reply(omni::v1::Envelope e) {
    if (!e.has_store_reply()) return;
    std::lock_guard lock(mutex_);
    reply_id_ = e.store_reply().id();
    status_ = e.store_reply().status();
    error_ = e.store_reply().error();
    hint_ = e.store_reply().leader_hint();
    answered_.notify_all();
  }

  std::string identity_;
  omni::node::GrpcTransport transport_;
  std::string leader_ = "orchestrator:1";
  std::uint64_t next_id_ = 0;
  std::mutex mutex_;
  std::condition_variable answered_;
  std::uint64_t reply_id_ = 0;
  omni::v1::StoreStatus status_ = omni::v1::STORE_STATUS_UNSPECIFIED;
  std::string hint_;
  std::string error_;
  std::map<std::string, int> failures_;
};

Result run_omni(const Options& o, const fs::path& dir, const KeyPair& ca) {
  fs::create_directories(dir);
  write_pair(dir / "pki", "ca", ca);
  std::string members = "--members=orchestrator:1,orchestrator:2,orchestrator:3";
  std::map<int, int> port;
  for (int r = 1; r <= 3; ++r) port[r] = free_port();
  std::vector<int> client_port;
  for (int c = 0; c < o.clients; ++c) client_port.push_back(free_port());
  Processes processes;
  for (int r = 1; r <= 3; ++r) {
    const std::string name = "orchestrator-" + std::to_string(r);
    write_pair(dir / "pki", name, issued(ca, "orchestrator:" + std::to_string(r)));
    std::ofstream config(dir / (name + ".yaml"));
    config << "identity: orchestrator:" << r << "\nargs: [orchestrator, --replica=" << r << ", \""
           << members << "\"]\nstate_dir: " << (dir / name).string()
           << "\nlisten: 127.0.0.1:" << port[r] << "\npeers:\n";
    for (int p = 1; p <= 3; ++p)
      if (p != r) config << "  orchestrator:" << p << ": 127.0.0.1:" << port[p] << "\n";
    for (int c = 0; c < o.clients; ++c)
      config << "  client:" << c << ": 127.0.0.1:" << client_port[c] << "\n";
    config << "tls: {ca: " << (dir / "pki/ca.crt").string()
           << ", cert: " << (dir / "pki" / (name + ".crt")).string()
           << ", key: " << (dir / "pki" / (name + ".key")).string() << "}\n";
    config.close();
    processes.start({OMNI_NODE_BIN, "orchestrator", "--config", (dir / (name + ".yaml")).string()},
                    dir / (name + ".log"));
  }
  std::vector<std::unique_ptr<OmniClient>> clients;
  for (int c = 0; c < o.clients; ++c) {
    const std::string identity = "client:" + std::to_string(c);
    clients.push_back(
        std::make_unique<OmniClient>(identity, client_port[c], ca, issued(ca, identity)));
    for (int r = 1; r <= 3; ++r)
      clients.back()->add_replica("orchestrator:" + std::to_string(r), port[r]);
  }
  const std::string value(static_cast<std::size_t>(o.value_bytes), 'v');
  // Until a leader answers (every client learns it), then the measured run.
  for (const auto deadline = Clock::now() + std::chrono::seconds(30);;) {
    bool all = true;
    for (auto& client : clients) all = client->put("/bench/warmup", value) && all;
    if (all) break;
    if (Clock::now() > deadline) throw std::runtime_error("the omni plane elected no leader");
  }
  for (auto& client : clients) client->forget_failures();  // finding the leader is not a failure
  Result result = drive("omni (3 omni-node, mTLS)", o, [&](int c, std::uint64_t n) {
    return clients[static_cast<std::size_t>(c)]->put(
        "/bench/" + std::to_string(c) + "/" + std::to_string(n), value);
  });
  std::map<std::string, int> failures;
  for (auto& client : clients)
    for (const auto& [why, count] : client->failures()) failures[why] += count;
  for (const auto& [why, count] : failures)
    std::fprintf(stderr, "omni: %d puts failed: %s\n", count, why.c_str());
  return result;
}

// etcd --------------------------------------------------------------------------------------

Result run_etcd(const Options& o, const fs::path& dir, const KeyPair& ca) {
  fs::create_directories(dir);
  write_pair(dir / "pki", "ca", ca);
  std::map<int, int> client_port, peer_port;
  std::string cluster;
  for (int m = 1; m <= 3; ++m) {
    client_port[m] = free_port();
    peer_port[m] = free_port();
    cluster += (m > 1 ? "," : "") + ("etcd" + std::to_string(m)) +
               "=http://127.0.0.1:" + std::to_string(peer_port[m]);
  }
  Processes processes;
  for (int m = 1; m <= 3; ++m) {
    const std::string name = "etcd" + std::to_string(m);
    write_pair(dir / "pki", name, issued(ca, "etcd:" + std::to_string(m)));
    const std::string client_url = "https://127.0.0.1:" + std::to_string(client_port[m]);
    const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port[m]);
    processes.start({o.etcd,
                     "--name",
                     name,
                     "--data-dir",
                     (dir / name).string(),
                     "--listen-client-urls",
                     client_url,
                     "--advertise-client-urls",
                     client_url,
                     "--listen-peer-urls",
                     peer_url,
                     "--initial-advertise-peer-urls",
                     peer_url,
                     "--initial-cluster",
                     cluster,
                     "--initial-cluster-state",
                     "new",
                     "--initial-cluster-token",
                     "bench",
                     "--cert-file",
                     (dir / "pki" / (name + ".crt")).string(),
                     "--key-file",
                     (dir / "pki" / (name + ".key")).string(),
                     "--trusted-ca-file",
                     (dir / "pki/ca.crt").string(),
                     "--client-cert-auth",
                     "--logger",
                     "zap",
                     "--log-level",
                     "error"},
                    dir / (name + ".log"));
  }
  const KeyPair client = issued(ca, "client:etcd");
  const auto channel_to = [&](int m) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ca.cert_pem;
    tls.pem_cert_chain = client.cert_pem;
    tls.pem_private_key = client.key_pem;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(omni::node::tls_name("etcd:" + std::to_string(m)));
    args.SetInt("grpc.use_local_subchannel_pool", 1);  // one connection per client, as omni's
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(client_port[m]),
                                     grpc::SslCredentials(tls), args);
  };
  // The leader, as each member's status says it.
  int leader = 0;
  for (const auto deadline = Clock::now() + std::chrono::seconds(30); leader == 0;) {
    for (int m = 1; m <= 3 && leader == 0; ++m) {
      auto stub = etcdserverpb::Maintenance::NewStub(channel_to(m));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      etcdserverpb::StatusResponse status;
      if (stub->Status(&context, {}, &status).ok() && status.leader() != 0 &&
          status.leader() == status.header().member_id())
        leader = m;
    }
    if (leader == 0 && Clock::now() > deadline)
      throw std::runtime_error("etcd elected no leader (see " + (dir / "etcd1.log").string() + ")");
    if (leader == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> stubs;
  for (int c = 0; c < o.clients; ++c)
    stubs.push_back(etcdserverpb::KV::NewStub(channel_to(leader)));
  const std::string value(static_cast<std::size_t>(o.value_bytes), 'v');
  const auto put = [&](int c, const std::string& key) {
    etcdserverpb::PutRequest request;
    request.set_key(key);
    request.set_value(value);
    etcdserverpb::PutResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stubs[static_cast<std::size_t>(c)]->Put(&context, request, &response).ok();
  };
  for (int c = 0; c < o.clients; ++c)
    if (!put(c, "/bench/warmup")) throw std::runtime_error("etcd refused the warm-up put");
  return drive("etcd 3.4 (3 members, client TLS)", o, [&](int c, std::uint64_t n) {
    return put(c, "/bench/" + std::to_string(c) + "/" + std::to_string(n));
  });
}

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--clients" && has_value) {
      o.clients = std::atoi(argv[++i]);
    } else if (arg == "--seconds" && has_value) {
      o.seconds = std::atoi(argv[++i]);
    } else if (arg == "--value-bytes" && has_value) {
      o.value_bytes = std::atoi(argv[++i]);
    } else if (arg == "--etcd" && has_value) {
      o.etcd = argv[++i];
    } else if (arg == "--only" && has_value) {
      o.only = argv[++i];
    } else {
      return std::nullopt;
    }
  }
  if (o.clients < 1 || o.clients > 256 || o.seconds < 1 || o.value_bytes < 1 ||
      (o.only != "" && o.only != "omni" && o.only != "etcd"))
    return std::nullopt;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse(argc, argv);
  if (!options) {
    std::fprintf(stderr,
                 "usage: bench-plane-writes [--clients 1..256] [--seconds S] [--value-bytes B] "
                 "[--etcd PATH] [--only omni|etcd]\n");
    return 2;
  }
  const Options& o = *options;
  if (o.only != "omni" && !fs::exists(o.etcd)) {
    std::fprintf(stderr, "bench-plane-writes: no etcd at %s (apt install etcd-server)\n",
                 o.etcd.c_str());
    return 2;
  }
  char pattern[] = "/tmp/omni-bench-XXXXXX";
  const fs::path dir = ::mkdtemp(pattern);
  std::string error;
  const auto ca = omni::node::make_ca("bench", {}, error);
  if (!ca) {
    std::fprintf(stderr, "bench-plane-writes: %s\n", error.c_str());
    return 1;
  }
  std::vector<Result> results;
  try {
    if (o.only != "etcd") results.push_back(run_omni(o, dir / "omni", *ca));
    if (o.only != "omni") results.push_back(run_etcd(o, dir / "etcd", *ca));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-plane-writes: %s (logs under %s)\n", e.what(), dir.c_str());
    return 1;
  }
  std::printf("$");
  for (int i = 0; i < argc; ++i) std::printf(" %s", argv[i]);
  std::printf("\n%d clients, one put each in flight, %d-byte values, %d s, loopback\n", o.clients,
              o.value_bytes, o.seconds);
  std::printf("%-34s %10s %10s %10s %8s\n", "system", "writes/s", "p50 ms", "p99 ms", "errors");
  for (const auto& r : results)
    std::printf("%-34s %10.0f %10.2f %10.2f %8llu\n", r.system.c_str(),
                static_cast<double>(r.writes) / r.seconds, r.p50_ms, r.p99_ms,
                static_cast<unsigned long long>(r.errors));
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return 0;
}
