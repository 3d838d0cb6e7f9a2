#pragma once

// A small app under test for the examples: a signup page and two JSON endpoints that
// text a code to a phone through an SMS provider's HTTP endpoint, as a real app does.
//
//   GET  /          the signup page (one HTML form, no framework)
//   POST /signup    {"phone": "+12125550142"} -> 200 {"status": "sent"}; the code goes out
//                   by SMS. 400 for a bad phone, 502 when the SMS provider refuses.
//   POST /verify    {"phone", "code"} -> 200 {"verified": true} or
//                   {"verified": false, "reason": "wrong_code" | "no_signup" | "expired" |
//                   "too_many_attempts"}
//   GET  /healthz   200 ok
//
// By default the provider is the mock's carrier endpoint (POST /_mock/v1/sms
// {"to", "from", "text"}); any endpoint taking that JSON works.

#include <memory>
#include <string>

namespace ismscode::examples {

struct SignupAppOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: the kernel picks one
  // Where codes are sent: POST with {"to", "from", "text"}.
  std::string sms_url = "http://127.0.0.1:7700/_mock/v1/sms";
  std::string sms_token;  // sent as "Authorization: Bearer <token>" when not empty
  std::string sender = "DemoApp";
  int code_ttl_seconds = 600;
  int max_attempts = 5;
};

class SignupApp {
 public:
  // Listens and serves on background threads; nullptr with `*error` set when it cannot.
  static std::unique_ptr<SignupApp> Start(const SignupAppOptions& options, std::string* error);
  ~SignupApp();  // Stop()

  int port() const;
  std::string url() const;  // http://host:port
  void Stop();

 private:
  struct Impl;
  explicit SignupApp(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ismscode::examples
