// Every case under tests/conformance/cases, through the C++ client's public API against
// a real mock and gateways started by the launcher (tests/conformance/harness). The
// case format is tests/conformance/README.md and case.schema.json.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "common/time_format.h"
#include "ismscode/harness/client.h"
#include "tests/support/harness_process.h"

namespace ismscode::harness {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// --- The launcher, once for the whole run. -----------------------------------------

testing::HarnessProcess* g_harness = nullptr;

class HarnessEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    std::string error;
    std::vector<std::string> args = {"--frozen-clock", "--bin-dir", ISMSCODE_BUILD_DIR};
    // ISMSCODE_CONFORMANCE_FLEET=1: every case across a two-replica fleet with Redis.
    if (const char* fleet = std::getenv("ISMSCODE_CONFORMANCE_FLEET"); fleet && *fleet == '1') {
      args.push_back("--fleet");
    }
    harness_ = std::make_unique<testing::HarnessProcess>(args, &error);
    ASSERT_TRUE(error.empty()) << error;
    g_harness = harness_.get();
  }
  void TearDown() override {
    g_harness = nullptr;
    harness_.reset();
  }

 private:
  std::unique_ptr<testing::HarnessProcess> harness_;
};

const json& Addresses() { return g_harness->addresses(); }

// --- Variables: "${key}", "${n1.id}", "${s1.sms.received_at}". ----------------------

class Vars {
 public:
  void Set(const std::string& name, json value) { vars_[name] = std::move(value); }

  // `value` with every "${...}" replaced; a string that is one reference keeps the
  // referenced value's type.
  json Substitute(const json& value) const {
    if (value.is_object()) {
      json out = json::object();
      for (auto& [k, v] : value.items()) out[k] = Substitute(v);
      return out;
    }
    if (value.is_array()) {
      json out = json::array();
      for (const auto& v : value) out.push_back(Substitute(v));
      return out;
    }
    if (!value.is_string()) return value;
    const std::string s = value.get<std::string>();
    if (s.size() > 3 && s.rfind("${", 0) == 0 && s.find("${", 2) == std::string::npos &&
        s.back() == '}') {
      return Lookup(s.substr(2, s.size() - 3));
    }
    std::string out;
    for (size_t i = 0; i < s.size();) {
      const size_t start = s.find("${", i);
      if (start == std::string::npos) {
        out += s.substr(i);
        break;
      }
      const size_t end = s.find('}', start);
      if (end == std::string::npos) {
        ADD_FAILURE() << "unterminated ${ in " << s;
        out += s.substr(i);
        break;
      }
      out += s.substr(i, start - i);
      const json v = Lookup(s.substr(start + 2, end - start - 2));
      out += v.is_string() ? v.get<std::string>() : v.dump();
      i = end + 1;
    }
    return out;
  }

 private:
  json Lookup(const std::string& path) const {
    std::string name = path.substr(0, path.find('.'));
    auto it = vars_.find(name);
    if (it == vars_.end()) {
      ADD_FAILURE() << "unknown variable ${" << path << "}";
      return nullptr;
    }
    json v = it->second;
    for (size_t dot = path.find('.'); dot != std::string::npos;) {
      const size_t next = path.find('.', dot + 1);
      const std::string part =
          path.substr(dot + 1, next == std::string::npos ? next : next - dot - 1);
      if (v.is_array()) {
        v = v.at(std::stoul(part));
      } else if (v.is_object() && v.contains(part)) {
        v = v[part];
      } else {
        ADD_FAILURE() << "${" << path << "}: no '" << part << "' in " << v.dump();
        return nullptr;
      }
      dot = next;
    }
    return v;
  }

  std::map<std::string, json> vars_;
};

// --- Converting the client's results to the case format's JSON. ---------------------

std::string Rfc3339(Timestamp t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(ms % 1000));
  return out;
}

json ToJson(const Number& n) {
  return {{"id", n.id},
          {"phone", n.phone},
          {"country", n.country},
          {"service", n.service},
          {"expires_at", Rfc3339(n.expires_at)},
          {"attempts", n.attempts},
          {"replayed", n.replayed},
          {"request_id", n.request_id}};
}

json ToJson(const Code& c) {
  return {{"code", c.code},
          {"raw_match", c.raw_match},
          {"from", c.sms.from},
          {"text", c.sms.text},
          {"received_at", Rfc3339(c.sms.received_at)}};
}

json ToJson(const Error& e) {
  json bad = json::array();
  for (const auto& f : e.bad_fields) bad.push_back(f.field);
  return {{"grpc_code", e.grpc_code_name},
          {"reason", e.reason_name},
          {"message", e.message},
          {"retry_info", e.retry_delay.has_value()},
          {"bad_fields", bad},
          {"metadata", e.metadata}};
}

// --- Expectations. -------------------------------------------------------------------

// Every field of `expected` is in `actual` with the same value: objects recursively,
// arrays element by element (same length), scalars exactly.
void ExpectSubset(const json& expected, const json& actual, const std::string& where) {
  if (expected.is_object() && actual.is_object()) {
    for (auto& [k, v] : expected.items()) {
      if (!actual.contains(k)) {
        ADD_FAILURE() << where << "." << k << ": missing in " << actual.dump();
        continue;
      }
      ExpectSubset(v, actual[k], where + "." + k);
    }
    return;
  }
  if (expected.is_array() && actual.is_array()) {
    if (expected.size() != actual.size()) {
      ADD_FAILURE() << where << ": expected " << expected.size() << " elements, got "
                    << actual.dump();
      return;
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      ExpectSubset(expected[i], actual[i], where + "[" + std::to_string(i) + "]");
    }
    return;
  }
  EXPECT_EQ(expected, actual) << where;
}

void CheckError(const json& expected, const json& actual, const std::string& where) {
  for (auto& [k, v] : expected.items()) {
    if (k == "message_contains") {
      EXPECT_NE(actual["message"].get<std::string>().find(v.get<std::string>()), std::string::npos)
          << where << ": message " << actual["message"] << " lacks " << v;
    } else if (k == "bad_fields") {
      std::set<std::string> want(v.begin(), v.end()), got(actual[k].begin(), actual[k].end());
      EXPECT_EQ(want, got) << where << ".bad_fields";
    } else if (k == "metadata") {
      ExpectSubset(v, actual[k], where + ".metadata");
    } else {
      EXPECT_EQ(v, actual[k]) << where << "." << k << " (error: " << actual.dump() << ")";
    }
  }
}

// --- Running one case. --------------------------------------------------------------

class CaseRunner {
 public:
  CaseRunner(const json& c, const std::string& run_id) : case_(c) {
    const json& a = Addresses();
    mock_ = std::make_unique<httplib::Client>(a["mock"].get<std::string>());
    key_ = "case-" + run_id;
    vars_.Set("key", key_);
    vars_.Set("run", run_id);
    vars_.Set("gateway_key", a["gateway_key"]);
  }

  void Run() {
    json account = {{"key", key_}, {"balance", 100}, {"rate_limit", "off"}};
    if (case_.contains("account")) {
      for (auto& [k, v] : case_["account"].items()) account[k] = v;
    }
    Mock({{"method", "POST"}, {"path", "accounts"}, {"body", account}, {"status", 201}}, "account");
    for (const json& call : case_.value("setup", json::array())) Mock(call, "setup");
    int i = 0;
    for (const json& step : case_["steps"]) {
      const std::string where = "step " + std::to_string(i++);
      SCOPED_TRACE(where + ": " + step.dump());
      Step(step, where);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }

 private:
  // A control-API call: {"method", "path" (under /_mock/v1/), "body"?, "status"?}.
  json Mock(const json& raw, const std::string& where) {
    const json call = vars_.Substitute(raw);
    const std::string method = call.value("method", "POST");
    const std::string path = "/_mock/v1/" + call["path"].get<std::string>();
    const std::string body = call.contains("body") ? call["body"].dump() : "";
    httplib::Result r = method == "GET"      ? mock_->Get(path)
                        : method == "DELETE" ? mock_->Delete(path)
                        : method == "PATCH"  ? mock_->Patch(path, body, "application/json")
                        : method == "PUT"    ? mock_->Put(path, body, "application/json")
                                             : mock_->Post(path, body, "application/json");
    if (!r) {
      ADD_FAILURE() << where << ": mock " << method << " " << path << " failed";
      return nullptr;
    }
    if (call.contains("status")) {
      EXPECT_EQ(r->status, call["status"].get<int>()) << where << ": " << path << " " << r->body;
    } else {
      EXPECT_EQ(r->status / 100, 2) << where << ": " << path << " " << r->body;
    }
    return json::parse(r->body, nullptr, false);
  }

  Result<Client> ClientFor(const json& step) {
    const json& a = Addresses();
    ClientOptions o;
    o.address = a["grpc"];
    o.token = a["token"];
    o.caller_key = key_;
    bool main = true;
    if (step.contains("client")) {
      const json c = vars_.Substitute(step["client"]);
      main = !c.contains("gateway") || c["gateway"] == "main";
      if (c.contains("gateway") && c["gateway"] == "no_caller_keys") {
        o.address = a["grpc_no_caller_keys"];
        o.token.clear();
        o.caller_key.clear();
      }
      if (c.contains("gateway") && c["gateway"] == "drain") {
        o.address = a["grpc_drain"];
        o.token.clear();
      }
      if (c.contains("gateway") && c["gateway"] == "state_down") {
        o.address = a["grpc_state_down"];
        o.token.clear();
      }
      if (c.contains("token")) o.token = c["token"].is_null() ? "" : c["token"].get<std::string>();
      if (c.contains("caller_key")) {
        o.caller_key = c["caller_key"].is_null() ? "" : c["caller_key"].get<std::string>();
      }
    }
    // A fleet (the launcher's --fleet): every other step on the main gateway goes to its
    // peer, so that a number bought on one replica is awaited, replayed or refused on the
    // other.
    if (main && a.contains("grpc_peer") && main_steps_++ % 2 == 1) o.address = a["grpc_peer"];
    o.use_environment = false;  // null in a case means none
    return Client::Connect(o);
  }

  void Step(const json& raw_step, const std::string& where) {
    // The schema check runs separately; a runner must not pass a step it cannot read.
    static const std::set<std::string> kKnown = {"list_countries", "list_services", "acquire",
                                                 "await",          "during",        "mock",
                                                 "client",         "save",          "expect"};
    for (auto& [k, v] : raw_step.items()) {
      ASSERT_TRUE(kKnown.contains(k)) << where << ": unknown step field '" << k << "'";
    }
    ASSERT_TRUE(!raw_step.contains("during") || raw_step.contains("await"))
        << where << ": 'during' belongs to an await step";
    if (raw_step.contains("mock")) {
      json body = Mock(raw_step["mock"], where);
      if (raw_step.contains("expect")) {
        ExpectSubset(vars_.Substitute(raw_step["expect"]), body, where);
      }
      if (raw_step.contains("save")) vars_.Set(raw_step["save"], body);
      return;
    }
    auto client = ClientFor(raw_step);
    ASSERT_TRUE(client.ok()) << client.error().ToString();
    json result;
    std::optional<Error> error;
    int heartbeats = 0;
    if (raw_step.contains("list_countries")) {
      auto r = client->ListCountries();
      if (r.ok()) {
        json codes = json::array();
        for (const auto& c : *r) codes.push_back(c.code);
        result = {{"countries", codes}};
      } else {
        error = r.error();
      }
    } else if (raw_step.contains("list_services")) {
      auto r = client->ListServices();
      if (r.ok())
        result = {{"services", *r}};
      else
        error = r.error();
    } else if (raw_step.contains("acquire")) {
      const json a = vars_.Substitute(raw_step["acquire"]);
      AcquireRequest req;
      req.country = a.value("country", "");
      req.service = a.value("service", "");
      req.fallback_countries = a.value("fallback_countries", std::vector<std::string>{});
      req.request_id = a.value("request_id", "");
      req.max_wait = std::chrono::milliseconds(a.value("max_wait_ms", 0));
      req.deadline = std::chrono::milliseconds(a.value("deadline_ms", 0));
      auto r = client->Acquire(req);
      if (r.ok())
        result = ToJson(*r);
      else
        error = r.error();
    } else if (raw_step.contains("await")) {
      const json a = vars_.Substitute(raw_step["await"]);
      AwaitOptions o;
      o.timeout = std::chrono::milliseconds(a.value("timeout_ms", 0));
      o.code_pattern = a.value("code_pattern", "");
      o.sender_pattern = a.value("sender_pattern", "");
      o.min_code_length = a.value("min_code_length", 0);
      o.max_code_length = a.value("max_code_length", 0);
      for (auto [field, into] : {std::pair{"received_after", &o.received_after},
                                 std::pair{"sms_sent_at", &o.sms_sent_at}}) {
        if (!a.contains(field)) continue;
        *into = ParseRfc3339(a[field].get<std::string>());
        EXPECT_TRUE(into->has_value()) << field << " is not a timestamp: " << a[field];
      }
      const int cancel_after = a.value("cancel_after_heartbeats", 0);
      Cancellation cancellation;
      o.cancellation = cancellation;
      const json during = raw_step.value("during", json::array());
      size_t hooks_fired = 0;
      bool cancelled = false;
      o.on_heartbeat = [&](const Heartbeat&) {
        ++heartbeats;
        for (const json& d : during) {
          if (d["after_heartbeats"].get<int>() == heartbeats) {
            if (d.contains("harness")) {
              EXPECT_TRUE(g_harness->Send(d["harness"])) << where << ": launcher gone";
            } else {
              Mock(d["mock"], where + " during");
            }
            ++hooks_fired;
          }
        }
        if (cancel_after > 0 && heartbeats == cancel_after) {
          cancellation.Cancel();
          cancelled = true;
        }
      };
      // A hook that never ran means the case checked less than it says.
      struct CheckHooks {
        const size_t& fired;
        size_t wanted;
        const bool& cancelled;
        bool want_cancel;
        std::string where;
        ~CheckHooks() {
          EXPECT_EQ(fired, wanted) << where << ": 'during' calls that ran (the stream ended first)";
          EXPECT_EQ(cancelled, want_cancel) << where << ": cancel_after_heartbeats never reached";
        }
      } check_hooks{hooks_fired, during.size(), cancelled, cancel_after > 0, where};
      const std::string id = a.value("number_id", "");
      if (a.value("follow", false)) {
        auto r = client->AwaitCodes(id, o);
        if (r.ok()) {
          result = {{"codes", json::array()}};
          for (const auto& c : *r) result["codes"].push_back(ToJson(c));
        } else {
          error = r.error();
        }
      } else {
        auto r = client->AwaitCode(id, o);
        if (r.ok())
          result = ToJson(*r);
        else
          error = r.error();
      }
    } else {
      FAIL() << where << ": no step kind in " << raw_step.dump();
    }

    const json expect = vars_.Substitute(raw_step.value("expect", json::object()));
    if (expect.contains("error")) {
      ASSERT_TRUE(error.has_value()) << where << ": expected an error, got " << result.dump();
      CheckError(expect["error"], ToJson(*error), where);
    } else {
      ASSERT_FALSE(error.has_value()) << where << ": " << error->ToString();
      if (expect.contains("ok")) ExpectSubset(expect["ok"], result, where);
      if (raw_step.contains("save")) vars_.Set(raw_step["save"], result);
    }
    if (expect.contains("min_heartbeats")) {
      EXPECT_GE(heartbeats, expect["min_heartbeats"].get<int>()) << where;
    }
  }

  const json& case_;
  std::unique_ptr<httplib::Client> mock_;
  std::string key_;
  Vars vars_;
  int main_steps_ = 0;  // steps on the main gateway so far (a fleet alternates them)
};

std::vector<std::string> CaseFiles() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(ISMSCODE_CONFORMANCE_CASES)) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string RunId(const std::string& stem) {
  static std::mt19937_64 random{std::random_device{}()};
  char suffix[12];
  snprintf(suffix, sizeof suffix, "%08llx", static_cast<unsigned long long>(random() & 0xffffffff));
  return stem + "-" + suffix;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, Case) {
  std::ifstream in(GetParam());
  const json c = json::parse(in, nullptr, false);
  ASSERT_TRUE(c.is_object()) << GetParam() << " is not JSON";
  ASSERT_NE(g_harness, nullptr);
  CaseRunner(c, RunId(fs::path(GetParam()).stem().string())).Run();
}

INSTANTIATE_TEST_SUITE_P(Cases, Conformance, ::testing::ValuesIn(CaseFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = fs::path(info.param).stem().string();
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace ismscode::harness

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new ismscode::harness::HarnessEnvironment);
  return RUN_ALL_TESTS();
}
