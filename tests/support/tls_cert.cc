#include "tests/support/tls_cert.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace ismscode::testing {

namespace {
void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("SelfSignedCert: ") + what);
}
}  // namespace

SelfSignedCert::SelfSignedCert() {
  char tmpl[] = "/tmp/ismscode-tls-XXXXXX";
  Check(mkdtemp(tmpl) != nullptr, "mkdtemp");
  dir_ = tmpl;
  cert_file_ = dir_ + "/cert.pem";
  key_file_ = dir_ + "/key.pem";

  EVP_PKEY* key = EVP_EC_gen("P-256");
  Check(key != nullptr, "key generation");
  X509* x509 = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509), -60);
  X509_gmtime_adj(X509_getm_notAfter(x509), 24L * 3600);
  X509_set_pubkey(x509, key);
  X509_NAME* name = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x509, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x509, x509, nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  Check(san != nullptr, "subjectAltName");
  X509_add_ext(x509, san, -1);
  X509_EXTENSION_free(san);
  X509_EXTENSION* bc =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
  X509_add_ext(x509, bc, -1);
  X509_EXTENSION_free(bc);
  Check(X509_sign(x509, key, EVP_sha256()) > 0, "sign");

  FILE* f = std::fopen(cert_file_.c_str(), "w");
  Check(f && PEM_write_X509(f, x509), "write certificate");
  std::fclose(f);
  f = std::fopen(key_file_.c_str(), "w");
  Check(f && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr), "write key");
  std::fclose(f);
  X509_free(x509);
  EVP_PKEY_free(key);
}

SelfSignedCert::~SelfSignedCert() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace ismscode::testing
