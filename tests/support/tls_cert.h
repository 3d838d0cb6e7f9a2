#pragma once

#include <string>

namespace ismscode::testing {

// A throwaway self-signed certificate for 127.0.0.1 and localhost, written as PEM files
// into a fresh temporary directory that is removed with the object. Tests use it to
// serve HTTPS and to trust exactly that certificate on the client side.
class SelfSignedCert {
 public:
  SelfSignedCert();
  ~SelfSignedCert();
  SelfSignedCert(const SelfSignedCert&) = delete;
  SelfSignedCert& operator=(const SelfSignedCert&) = delete;

  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, cert_file_, key_file_;
};

}  // namespace ismscode::testing
