#pragma once
// What the node tests share: a temporary directory removed after the test, and a cluster PKI
// whose failures end the test with OpenSSL's reason.
#include <stdlib.h>

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
