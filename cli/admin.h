#pragma once
// The CLI as the cluster's admin: the credentials `omni init` left in ~/.omni/CLUSTER, and a
// client that asks the plane's leader over mutual TLS, following a follower's leader hint.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/proto/envelope.pb.h"

namespace omni::node {
class GrpcTransport;
}

namespace omni::cli {

struct Credentials {
  std::string cluster;
  std::string dir;  // ~/.omni/CLUSTER
  std::string ca_pem, cert_pem, key_pem;
  std::string admin_listen;  // where the plane's answers come back (host:port)
  std::vector<std::pair<std::string, std::string>> orchestrators;  // identity, host:port
  std::string dashboard_token;  // empty: this cluster's init made no dashboard
};

// `given`, or $HOME (or /root when it is unset): where ~/.omni is.
std::string home_dir(const std::string& given = {});

// `cluster` empty: the only cluster under HOME/.omni. Empty on success, else what is wrong.
std::string load_credentials(const std::string& home, const std::string& cluster, Credentials& out);

class AdminClient {
 public:
  explicit AdminClient(const Credentials& credentials);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // Empty when the client can talk; else why not (its answer address is taken).
  const std::string& problem() const { return problem_; }
  // The leader's answer, described; else the last follower's (no leader within `timeout`), or
  // nothing when no replica answered at all.
  std::optional<v1::StatusReply> status(std::chrono::milliseconds timeout);
  // The leader's answer to one store request; nothing when none came within `timeout`. A write
  // asked again after an attempt went unanswered may meet its own effect (a delete then finds
  // nothing): `unanswered` counts such attempts.
  std::optional<v1::StoreReply> store(v1::StoreRequest request, std::chrono::milliseconds timeout,
                                      int* unanswered = nullptr);

 private:
  std::optional<v1::Envelope> ask(const std::string& to, v1::Envelope request,
                                  std::chrono::milliseconds wait);
  std::string next_target(const std::string& hint);

  const Credentials& credentials_;
  std::unique_ptr<node::GrpcTransport> transport_;
  std::string problem_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<v1::Envelope> inbox_;
  std::uint64_t next_seq_ = 1;
  // Store request ids start at random: the replicas ignore an id they saw from "admin" lately
  // (a duplicate delivery), and every omni command is a new admin.
  std::uint64_t next_store_id_ = 0;
  std::size_t round_robin_ = 0;
};

}  // namespace omni::cli
