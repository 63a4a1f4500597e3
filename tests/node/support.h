#pragma once
// What the node tests share: a temporary directory removed after the test, a free loopback
// port, a cluster PKI whose failures end the test with OpenSSL's reason, and a way to start a
// process from a test that runs threads.
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "drivers/util/subprocess.h"
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

// The lowest port of the kernel's ephemeral range (outgoing connections take theirs from it).
inline int ephemeral_port_low() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  range >> low;
  return low;
}

// Whether a TCP socket can bind 127.0.0.1:port now.
inline bool port_bindable(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return bound;
}

// A TCP port on 127.0.0.1 that nothing holds right now and that no outgoing connection will
// take: it lies below the ephemeral range. A port the kernel picked for a bind to port 0 comes
// from that range, and once closed any connection (another test's, running beside this one, or a
// replica's own) could take it before the process it was meant for binds it; a replica that lost
// its port that way never joined (seen once in CI). Each call in a process gives a new port,
// from an offset of the pid, so that two test processes rarely probe the same ones.
inline int free_port() {
  constexpr int kLowest = 10000;
  const int highest = ephemeral_port_low() - 1;
  if (highest <= kLowest) throw std::runtime_error("the ephemeral port range starts too low");
  const int span = highest - kLowest + 1;
  static std::atomic<int> next{static_cast<int>(::getpid()) * 97};
  for (int tries = 0; tries < span; ++tries) {
    const int port = kLowest + next.fetch_add(1) % span;
    if (port_bindable(port)) return port;
  }
  throw std::runtime_error("no free port below the ephemeral range");
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

// Starts argv in the background, its stdout and stderr appended to `log`, and answers its pid.
// Through spawn_process, which calls nothing but async-signal-safe functions between fork and
// exec: a test holds gRPC's threads, and a child forked beside them that calls freopen or
// malloc can wait forever on a lock one of them held at the fork (POSIX allows nothing else
// there, and a sanitizer's allocator need not be reset in the child). CI once saw a replica that
// never wrote a line, its log empty at the end: the cause that fits, not caught in the act.
inline pid_t start_process(const std::vector<std::string>& argv, const std::string& log,
                           const std::vector<std::string>& env = {}) {
  drivers::SpawnOptions options;
  options.log_path = log;
  options.env = env;
  std::string error;
  const pid_t pid = drivers::spawn_process(argv, options, error);
  if (pid < 0) throw std::runtime_error(error);
  return pid;
}

}  // namespace omni::node::testing
