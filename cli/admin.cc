#include "cli/admin.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "drivers/util/text_file.h"
#include "node/transport.h"

namespace omni::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A credentials file: absent (nullopt), or its text; unreadable, not a regular file (a FIFO
// would block, /dev/zero fill memory) or larger than any credential is `error`.
std::optional<std::string> slurp(const fs::path& path, std::string& error) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  drivers::TextFile file = drivers::read_regular_file(path.string());
  if (!file.error.empty()) {
    if (error.empty()) error = path.string() + ": " + file.error;
    return std::nullopt;
  }
  return std::move(file.text);
}

bool looks_like_pem(const std::string& text) {
  return text.find("-----BEGIN ") != std::string::npos;
}

// The one cluster under HOME/.omni, or why there is not exactly one.
std::string only_cluster(const fs::path& omni_dir, std::string& cluster) {
  std::vector<std::string> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(omni_dir, error))
    if (std::error_code unreadable; fs::exists(entry.path() / "endpoints.yaml", unreadable))
      found.push_back(entry.path().filename());
  if (found.size() == 1) {
    cluster = found.front();
    return {};
  }
  if (found.empty())
    return "no cluster credentials in " + omni_dir.string() + " (omni init writes them there)";
  std::string names;
  for (const auto& name : found) names += (names.empty() ? "" : ", ") + name;
  return "several clusters in " + omni_dir.string() + " (" + names + "); say which with --cluster";
}

}  // namespace

std::string home_dir(const std::string& given) {
  if (!given.empty()) return given;
  const char* home = std::getenv("HOME");
  return home != nullptr && *home != '\0' ? home : "/root";
}

std::string load_credentials(const std::string& home, const std::string& cluster,
                             Credentials& out) {
  const fs::path omni_dir = fs::path(home) / ".omni";
  out.cluster = cluster;
  if (out.cluster.empty())
    if (std::string problem = only_cluster(omni_dir, out.cluster); !problem.empty()) return problem;
  const fs::path dir = omni_dir / out.cluster;
  out.dir = dir.string();
  std::string error;
  const auto ca = slurp(dir / "ca.crt", error);
  const auto cert = slurp(dir / "admin.crt", error);
  const auto key = slurp(dir / "admin.key", error);
  const auto token = slurp(dir / "dashboard.token", error);
  const auto endpoints_text = slurp(dir / "endpoints.yaml", error);
  if (!error.empty()) return error;
  if (!ca || !cert || !key || !endpoints_text)
    return "no credentials for cluster " + out.cluster + " in " + out.dir +
           " (ca.crt, admin.crt, admin.key, endpoints.yaml; omni init writes them)";
  for (const auto& [name, pem] :
       {std::pair{"ca.crt", &*ca}, {"admin.crt", &*cert}, {"admin.key", &*key}})
    if (!looks_like_pem(*pem))
      return (dir / name).string() + " is not PEM (damaged? omni init writes it)";
  out.ca_pem = *ca;
  out.cert_pem = *cert;
  out.key_pem = *key;
  if (token) out.dashboard_token = token->substr(0, token->find('\n'));
  try {
    const YAML::Node endpoints = YAML::Load(*endpoints_text);
    out.admin_listen = endpoints["admin_listen"].as<std::string>("");
    if (const YAML::Node members = endpoints["orchestrators"]; members && members.IsMap())
      for (const auto& member : members)
        out.orchestrators.emplace_back(member.first.as<std::string>(),
                                       member.second.as<std::string>());
  } catch (const YAML::Exception& e) {
    return (dir / "endpoints.yaml").string() + ": " + e.msg;
  }
  if (out.admin_listen.empty() || out.orchestrators.empty())
    return (dir / "endpoints.yaml").string() + " names no admin_listen or no orchestrators";
  return {};
}

AdminClient::AdminClient(const Credentials& credentials) : credentials_(credentials) {
  std::random_device entropy;
  next_store_id_ = (std::uint64_t{entropy()} << 32 | entropy()) >> 1;  // far from wrapping
  // Answers come back to a fixed address: another omni command may hold it for a moment.
  const auto end = Clock::now() + std::chrono::seconds(5);
  do {
    transport_ = std::make_unique<node::GrpcTransport>(
        credentials.admin_listen, credentials.ca_pem,
        node::KeyPair{credentials.cert_pem, credentials.key_pem}, [this](Address, v1::Envelope e) {
          std::lock_guard lock(mutex_);
          inbox_.push_back(std::move(e));
          arrived_.notify_all();
        });
    if (transport_->listening()) break;
    transport_.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (Clock::now() < end);
  if (!transport_) {
    problem_ = "cannot listen on " + credentials.admin_listen +
               " for the cluster's answers (another omni command uses it, or the cluster's "
               "bridge is gone)";
    return;
  }
  for (const auto& [identity, at] : credentials.orchestrators) transport_->add_peer(identity, at);
}

// The transport goes first: its server threads deliver into inbox_ until it is stopped, and
// members are destroyed after the transport's only in the opposite order of their declaration.
AdminClient::~AdminClient() {
  transport_.reset();
}

std::string AdminClient::next_target(const std::string& hint) {
  for (const auto& [identity, at] : credentials_.orchestrators)
    if (identity == hint) return hint;
  return credentials_.orchestrators[round_robin_++ % credentials_.orchestrators.size()].first;
}

std::optional<v1::Envelope> AdminClient::ask(const std::string& to, v1::Envelope request,
                                             std::chrono::milliseconds wait) {
  const std::uint64_t seq = next_seq_++;
  request.set_seq(seq);
  {
    std::lock_guard lock(mutex_);
    inbox_.clear();
  }
  transport_->send("admin", to, request);
  std::unique_lock lock(mutex_);
  const auto end = Clock::now() + wait;
  while (true) {
    for (auto& e : inbox_)
      if (e.seq() == seq) return std::move(e);
    if (arrived_.wait_until(lock, end) == std::cv_status::timeout) return std::nullopt;
  }
}

std::optional<v1::StatusReply> AdminClient::status(std::chrono::milliseconds timeout) {
  if (!transport_) return std::nullopt;
  std::optional<v1::StatusReply> last;
  std::string hint;
  const auto end = Clock::now() + timeout;
  for (std::uint64_t nonce = 1; Clock::now() < end; ++nonce) {
    v1::Envelope request;
    request.mutable_status_request()->set_nonce(nonce);
    request.mutable_status_request()->set_describe(true);
    auto answer = ask(next_target(hint), request, std::chrono::milliseconds(700));
    hint.clear();
    if (!answer || !answer->has_status_reply()) continue;
    last = answer->status_reply();
    if (last->is_leader()) return last;
    hint = last->leader_hint();
  }
  return last;
}

std::optional<v1::StoreReply> AdminClient::store(v1::StoreRequest request,
                                                 std::chrono::milliseconds timeout,
                                                 int* unanswered) {
  if (unanswered) *unanswered = 0;
  if (!transport_) return std::nullopt;
  // The answers come back over the replicas' own connections to this address, which they make
  // again for each new command: a status round first opens them (and finds the leader), so the
  // write that follows is answered rather than lost and retried (a retried delete could find
  // its own effect).
  const auto leader = status(timeout);
  std::string hint = leader && leader->is_leader() ? leader->leader_hint() : std::string();
  const auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    const std::uint64_t id = next_store_id_++;
    request.set_id(id);
    v1::Envelope envelope;
    *envelope.mutable_store_request() = request;
    auto answer = ask(next_target(hint), envelope, std::chrono::milliseconds(1500));
    hint.clear();
    if (!answer || !answer->has_store_reply()) {
      if (unanswered) ++*unanswered;
      continue;
    }
    const v1::StoreReply& reply = answer->store_reply();
    if (reply.status() == v1::STORE_STATUS_NOT_LEADER ||
        reply.status() == v1::STORE_STATUS_UNAVAILABLE) {
      hint = reply.leader_hint();
      continue;
    }
    return reply;
  }
  return std::nullopt;
}

}  // namespace omni::cli
