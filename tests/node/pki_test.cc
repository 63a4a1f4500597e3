// The cluster's PKI: identities in certificates, chains to the cluster's CA, expiry, key files.
#include "node/pki.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/node/support.h"

namespace omni::node {
namespace {

using testing::issued;
using testing::new_ca;

TEST(Pki, EachComponentsIdentityIsInItsCertificate) {
  const KeyPair ca = new_ca("demo");
  for (const std::string identity : {"director:worker-01", "orchestrator:2", "root:3", "admin",
                                     "agent:demo-worker-01-worker-1"}) {
    const KeyPair pair = issued(ca, identity);
    EXPECT_EQ(identity_of(pair.cert_pem), identity);
    EXPECT_EQ(verify(ca.cert_pem, pair.cert_pem), "") << identity;
  }
  EXPECT_EQ(identity_of(ca.cert_pem), std::nullopt) << "the CA is nobody";
  EXPECT_EQ(identity_of("not a certificate"), std::nullopt);
}

TEST(Pki, ACertificateFromAnotherCaOrExpiredIsRefusedWithTheReason) {
  const KeyPair ca = new_ca("demo");
  const KeyPair other = new_ca("other");
  const KeyPair stranger = issued(other, "orchestrator:1");
  EXPECT_EQ(verify(ca.cert_pem, stranger.cert_pem), "unable to get local issuer certificate");
  Validity past;
  past.not_before_offset = std::chrono::hours(-48);
  past.lifetime = std::chrono::hours(24);
  const KeyPair expired = issued(ca, "orchestrator:1", past);
  EXPECT_EQ(verify(ca.cert_pem, expired.cert_pem), "certificate has expired");
  EXPECT_NE(verify(ca.cert_pem, "garbage"), "");
}

TEST(Pki, KeysAreWrittenReadableByTheOwnerOnly) {
  char pattern[] = "/tmp/omni-pki-XXXXXX";
  const std::string dir = std::string(::mkdtemp(pattern)) + "/pki";
  const KeyPair ca = new_ca("demo");
  ASSERT_EQ(write_key_pair(dir, "ca", ca), "");
  struct stat key {};
  struct stat cert {};
  struct stat folder {};
  ASSERT_EQ(::stat((dir + "/ca.key").c_str(), &key), 0);
  ASSERT_EQ(::stat((dir + "/ca.crt").c_str(), &cert), 0);
  ASSERT_EQ(::stat(dir.c_str(), &folder), 0);
  EXPECT_EQ(key.st_mode & 0777, 0600u);
  EXPECT_EQ(cert.st_mode & 0777, 0644u);
  EXPECT_EQ(folder.st_mode & 0777, 0700u);
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

}  // namespace
}  // namespace omni::node
