#pragma once
// What the node tests share: a temporary directory removed after the test, a free loopback
// port, and a cluster PKI whose failures end the test with OpenSSL's reason.
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "node/pki.h"

namespace omni::node::testing {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char pattern[] = "/tmp/omni-node-test-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// A TCP port on 127.0.0.1 that nothing listens on right now.
inline int free_port() {
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

inline KeyPair new_ca(const std::string& cluster) {
  std::string error;
  auto ca = make_ca(cluster, {}, error);
  if (!ca) throw std::runtime_error(error);
  return *ca;
}

inline KeyPair issued(const KeyPair& ca, const std::string& identity, Validity validity = {}) {
  std::string error;
  auto pair = issue(ca, identity, validity, error);
  if (!pair) throw std::runtime_error(error);
  return *pair;
}

}  // namespace omni::node::testing
