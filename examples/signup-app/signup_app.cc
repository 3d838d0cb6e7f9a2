#include "signup_app.h"

#include <httplib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

namespace ismscode::examples {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kPage = R"html(<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>DemoApp: sign up</title>
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}label,input,button{display:block;margin:.4em 0}#status{font-weight:bold}</style>
</head>
<body>
<h1>Sign up to DemoApp</h1>
<form id="signup-form">
  <label for="phone">Phone number</label>
  <input id="phone" name="phone" type="tel" placeholder="+12125550142" required>
  <button id="signup" type="submit">Text me a code</button>
</form>
<form id="verify-form" hidden>
  <label for="code">Code</label>
  <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
  <button id="verify" type="submit">Verify</button>
</form>
<p id="status" role="status"></p>
<script>
const status = document.getElementById('status');
async function post(path, body) {
  const r = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
                               body: JSON.stringify(body)});
  return r.json();
}
document.getElementById('signup-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await post('/signup', {phone: document.getElementById('phone').value});
  if (r.status === 'sent') {
    document.getElementById('verify-form').hidden = false;
    status.textContent = 'code sent';
  } else {
    status.textContent = 'error: ' + r.error;
  }
});
document.getElementById('verify-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await post('/verify', {phone: document.getElementById('phone').value,
                                   code: document.getElementById('code').value});
  status.textContent = r.verified ? 'verified' : 'not verified: ' + r.reason;
});
</script>
</body>
</html>
)html";

struct PendingSignup {
  std::string code;
  Clock::time_point expires;
  int attempts_left = 0;
};

// "+1 212 555-0142" -> "+12125550142"; empty when it is not an E.164 number.
std::string NormalizePhone(const std::string& text) {
  std::string phone;
  for (char c : text) {
    if (c != ' ' && c != '-' && c != '(' && c != ')') phone += c;
  }
  if (phone.size() < 8 || phone.size() > 16 || phone[0] != '+') return "";
  for (size_t i = 1; i < phone.size(); ++i) {
    if (phone[i] < '0' || phone[i] > '9') return "";
  }
  return phone;
}

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// The request's JSON object, or a 400 already written.
std::optional<json> ParseBody(const httplib::Request& req, httplib::Response& res) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) {
    Reply(res, 400, {{"error", "expected a JSON object"}});
    return std::nullopt;
  }
  return body;
}

std::string StringField(const json& body, const char* name) {
  auto it = body.find(name);
  return it != body.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

struct SignupApp::Impl {
  SignupAppOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;

  std::mutex mutex;
  std::map<std::string, PendingSignup> pending;  // by phone
  std::mt19937_64 random{std::random_device{}()};

  // Sends `text` to `phone` through the SMS provider; empty on success, else why not.
  std::string SendSms(const std::string& phone, const std::string& text, json* provider) {
    const std::string& url = options.sms_url;
    const size_t scheme_end = url.find("://");
    const size_t path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    if (scheme_end == std::string::npos || path_start == std::string::npos) {
      return "bad SMS provider URL";
    }
    httplib::Client client(url.substr(0, path_start));
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    httplib::Headers headers;
    if (!options.sms_token.empty()) {
      headers.emplace("Authorization", "Bearer " + options.sms_token);
    }
    const json body = {{"to", phone}, {"from", options.sender}, {"text", text}};
    auto r = client.Post(url.substr(path_start), headers, body.dump(), "application/json");
    if (!r) return "SMS provider unreachable: " + httplib::to_string(r.error());
    *provider = json::parse(r->body, nullptr, false);
    if (r->status / 100 != 2) {
      return "SMS provider answered " + std::to_string(r->status);
    }
    return "";
  }

  void Signup(const httplib::Request& req, httplib::Response& res) {
    auto body = ParseBody(req, res);
    if (!body) return;
    const std::string phone = NormalizePhone(StringField(*body, "phone"));
    if (phone.empty()) {
      return Reply(res, 400, {{"error", "phone must be a number in E.164 form, +12125550142"}});
    }
    // Stored before the SMS goes out: a reader as fast as the SMS finds it, and of two
    // signups for one phone the one whose SMS went last wins.
    std::string code;
    {
      std::lock_guard lock(mutex);
      code = std::to_string(100000 + random() % 900000);
      pending[phone] = {code, Clock::now() + std::chrono::seconds(options.code_ttl_seconds),
                        options.max_attempts};
    }
    json provider;
    const std::string failure =
        SendSms(phone,
                "Your " + options.sender + " verification code is " + code + ". It expires in " +
                    std::to_string(options.code_ttl_seconds / 60) + " minutes.",
                &provider);
    if (!failure.empty()) {
      {
        std::lock_guard lock(mutex);
        auto it = pending.find(phone);
        if (it != pending.end() && it->second.code == code) pending.erase(it);
      }
      json answer = {{"error", failure}};
      if (provider.is_object() && provider.contains("code")) {
        answer["provider_code"] = provider["code"];
      }
      return Reply(res, 502, answer);
    }
    Reply(res, 200, {{"status", "sent"}, {"phone", phone}});
  }

  void Verify(const httplib::Request& req, httplib::Response& res) {
    auto body = ParseBody(req, res);
    if (!body) return;
    const std::string phone = NormalizePhone(StringField(*body, "phone"));
    const std::string code = StringField(*body, "code");
    std::lock_guard lock(mutex);
    auto it = pending.find(phone);
    if (it == pending.end()) return Reply(res, 200, {{"verified", false}, {"reason", "no_signup"}});
    PendingSignup& p = it->second;
    if (Clock::now() >= p.expires) {
      pending.erase(it);
      return Reply(res, 200, {{"verified", false}, {"reason", "expired"}});
    }
    if (p.attempts_left <= 0) {
      return Reply(res, 200, {{"verified", false}, {"reason", "too_many_attempts"}});
    }
    --p.attempts_left;
    if (code != p.code) return Reply(res, 200, {{"verified", false}, {"reason", "wrong_code"}});
    pending.erase(it);
    Reply(res, 200, {{"verified", true}});
  }
};

SignupApp::SignupApp(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SignupApp::~SignupApp() { Stop(); }

std::unique_ptr<SignupApp> SignupApp::Start(const SignupAppOptions& options, std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  Impl* app = impl.get();
  httplib::Server& s = impl->server;
  s.set_payload_max_length(16 * 1024);
  s.set_tcp_nodelay(true);
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kPage, "text/html; charset=utf-8");
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Post("/signup",
         [app](const httplib::Request& req, httplib::Response& res) { app->Signup(req, res); });
  s.Post("/verify",
         [app](const httplib::Request& req, httplib::Response& res) { app->Verify(req, res); });

  if (options.port == 0) {
    impl->port = s.bind_to_any_port(options.host);
  } else {
    impl->port = s.bind_to_port(options.host, options.port) ? options.port : -1;
  }
  if (impl->port <= 0) {
    *error = "cannot listen on " + options.host + ":" + std::to_string(options.port);
    return nullptr;
  }
  impl->thread = std::thread([app] { app->server.listen_after_bind(); });
  // stop() before the server runs is lost; listen_after_bind failing never runs it.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!s.is_running() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!s.is_running()) {
    s.stop();
    impl->thread.join();
    *error = "the server did not start";
    return nullptr;
  }
  return std::unique_ptr<SignupApp>(new SignupApp(std::move(impl)));
}

int SignupApp::port() const { return impl_->port; }

std::string SignupApp::url() const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->port);
}

void SignupApp::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace ismscode::examples
