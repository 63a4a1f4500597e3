#pragma once
// The cluster's PKI, made with OpenSSL by the root's pki phase: one CA per cluster, one
// certificate per component with its identity ("director:worker-01", "orchestrator:2",
// "root:3", "admin") in the subject alternative name as the URI "omni:IDENTITY", and a client
// certificate for the admin. Keys are EC P-256. A peer's identity is read from its verified
// certificate, never from what it says in a message, so fencing cannot be spoofed.
#include <chrono>
#include <optional>
#include <string>

namespace omni::node {

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8, unencrypted: written 0600
};

struct Validity {
  std::chrono::seconds not_before_offset{-300};  // from now: a little clock skew is tolerated
  std::chrono::seconds lifetime{std::chrono::hours(24 * 365)};
};

// A self-signed CA for the cluster. Errors are OpenSSL's, for a person.
std::optional<KeyPair> make_ca(const std::string& cluster, const Validity& validity,
                               std::string& error);
// A certificate for `identity`, signed by `ca`, usable as a TLS server and client. It also names
// `ip_address` when one is given (IPv4 or IPv6): the address the dashboard is reached at, so a
// browser that trusts the CA trusts the page.
std::optional<KeyPair> issue(const KeyPair& ca, const std::string& identity,
                             const Validity& validity, std::string& error,
                             const std::string& ip_address = "");
// The DNS name a certificate also carries, for TLS's host name check: "orchestrator-2.omni".
std::string tls_name(const std::string& identity);
// The identity in a certificate's "omni:" URI, or nothing when it has none (or is not PEM).
std::optional<std::string> identity_of(const std::string& cert_pem);
// Empty when `cert_pem` chains to `ca_pem` and is valid now; OpenSSL's reason otherwise
// ("certificate has expired", "unable to get local issuer certificate").
std::string verify(const std::string& ca_pem, const std::string& cert_pem);

// Empty when `pair` can serve in the cluster of `ca_pem`: its key parses and is the key of its
// certificate, which the CA signed. Time is not checked: a node whose clock is off still starts
// (and says so in its peers' refusals) rather than refuse to run. A person's reason otherwise.
std::string key_pair_problem(const std::string& ca_pem, const KeyPair& pair);

// Writes DIR/NAME.crt (0644) and DIR/NAME.key (0600), creating DIR (0700). Empty on success.
std::string write_key_pair(const std::string& dir, const std::string& name, const KeyPair& pair);

}  // namespace omni::node
