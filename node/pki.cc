#include "node/pki.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <tuple>
#include <utility>

#include "model/core/assert.h"

namespace omni::node {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreContext = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

constexpr const char* kUriPrefix = "omni:";

std::optional<KeyPair> failed(std::string& error, std::string why) {
  error = std::move(why);
  return std::nullopt;
}

std::string openssl_error(const std::string& what) {
  const unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return what + ": " + text;
}

Cert read_cert(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

Key read_key(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

std::string pem_of(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string pem_of(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

bool add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (!ext) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A fresh certificate for `key`: random serial, the validity window, CN = `name`.
Cert new_cert(EVP_PKEY* key, const std::string& name, const Validity& validity) {
  Cert cert(X509_new());
  if (!cert) return nullptr;
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return nullptr;
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  ASN1_INTEGER* asn1 = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  if (!asn1) return nullptr;
  X509_set_version(cert.get(), 2);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), validity.not_before_offset.count());
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  validity.not_before_offset.count() + validity.lifetime.count());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_pubkey(cert.get(), key);
  return cert;
}

}  // namespace

std::optional<KeyPair> make_ca(const std::string& cluster, const Validity& validity,
                               std::string& error) {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return failed(error, openssl_error("EC key"));
  Cert cert = new_cert(key.get(), "omni CA " + cluster, validity);
  if (!cert) return failed(error, openssl_error("CA certificate"));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  if (!add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash") ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    return failed(error, openssl_error("signing the CA"));
  return KeyPair{pem_of(cert.get()), pem_of(key.get())};
}

std::optional<KeyPair> issue(const KeyPair& ca, const std::string& identity,
                             const Validity& validity, std::string& error,
                             const std::string& ip_address) {
  OMNI_ASSERT(!identity.empty(), "a certificate names a component");
  Cert ca_cert = read_cert(ca.cert_pem);
  Key ca_key = read_key(ca.key_pem);
  if (!ca_cert || !ca_key) return failed(error, openssl_error("reading the CA"));
  Key key(EVP_EC_gen("P-256"));
  if (!key) return failed(error, openssl_error("EC key"));
  Cert cert = new_cert(key.get(), identity, validity);
  if (!cert) return failed(error, openssl_error("certificate"));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  if (!add_extension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_extension(cert.get(), ca_cert.get(), NID_key_usage,
                     "critical,digitalSignature,keyAgreement") ||
      !add_extension(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth") ||
      !add_extension(cert.get(), ca_cert.get(), NID_subject_alt_name,
                     std::string("URI:") + kUriPrefix + identity + ",DNS:" + tls_name(identity) +
                         (ip_address.empty() ? "" : ",IP:" + ip_address)) ||
      X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0)
    return failed(error, openssl_error("signing " + identity));
  return KeyPair{pem_of(cert.get()), pem_of(key.get())};
}

std::string tls_name(const std::string& identity) {
  std::string name = identity;
  for (char& c : name)
    if (c == ':') c = '-';
  return name + ".omni";
}

std::optional<std::string> identity_of(const std::string& cert_pem) {
  Cert cert = read_cert(cert_pem);
  if (!cert) return std::nullopt;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  if (!names) return std::nullopt;
  std::optional<std::string> identity;
  for (int i = 0; i < sk_GENERAL_NAME_num(names) && !identity; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const auto* data = ASN1_STRING_get0_data(name->d.uniformResourceIdentifier);
    const std::string uri(
        reinterpret_cast<const char*>(data),
        static_cast<std::size_t>(ASN1_STRING_length(name->d.uniformResourceIdentifier)));
    if (uri.rfind(kUriPrefix, 0) == 0 && uri.size() > std::strlen(kUriPrefix))
      identity = uri.substr(std::strlen(kUriPrefix));
  }
  GENERAL_NAMES_free(names);
  return identity;
}

namespace {

// Empty when `cert` chains to `ca` (checked with OpenSSL's `flags`), else OpenSSL's reason.
std::string chain_problem(X509* ca, X509* cert, unsigned long flags) {
  Store store(X509_STORE_new());
  StoreContext context(X509_STORE_CTX_new());
  if (!store || !context || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(context.get(), store.get(), cert, nullptr) != 1)
    return openssl_error("verifying");
  X509_STORE_CTX_set_flags(context.get(), flags);
  if (X509_verify_cert(context.get()) == 1) return {};
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(context.get()));
}

}  // namespace

std::string verify(const std::string& ca_pem, const std::string& cert_pem) {
  Cert ca = read_cert(ca_pem);
  Cert cert = read_cert(cert_pem);
  if (!ca || !cert) return "not a PEM certificate";
  return chain_problem(ca.get(), cert.get(), 0);
}

std::string key_pair_problem(const std::string& ca_pem, const KeyPair& pair) {
  Cert ca = read_cert(ca_pem);
  if (!ca) return "the CA certificate is not a PEM certificate";
  Cert cert = read_cert(pair.cert_pem);
  if (!cert) return "the certificate is not a PEM certificate";
  Key key = read_key(pair.key_pem);
  if (!key) return "the key is not a PEM private key";
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    return "the key is not the certificate's key";
  if (std::string problem = chain_problem(ca.get(), cert.get(), X509_V_FLAG_NO_CHECK_TIME);
      !problem.empty())
    return "the certificate does not chain to the CA: " + problem;
  return {};
}

std::string write_key_pair(const std::string& dir, const std::string& name, const KeyPair& pair) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return "mkdir " + dir + ": " + std::strerror(errno);
  for (const auto& [suffix, text, mode] :
       {std::tuple{".crt", &pair.cert_pem, 0644}, std::tuple{".key", &pair.key_pem, 0600}}) {
    const std::string path = dir + "/" + name + suffix;
    // Created with its final mode: a key is never readable by others, not even for a moment.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return "open " + path + ": " + std::strerror(errno);
    const bool written =
        ::write(fd, text->data(), text->size()) == static_cast<ssize_t>(text->size()) &&
        ::fchmod(fd, static_cast<mode_t>(mode)) == 0 && ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!written) return "write " + path + ": " + std::strerror(saved);
  }
  return {};
}

}  // namespace omni::node
