// ismsctl as people and scripts use it: through plain pipes (output, --json, exit codes,
// one-line advice) and through a real terminal (a pty) for the live progress line.
// Against the gateway with its mock in-process; each test has its own mock account.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "ismscode/harness/detail/in_process.h"
#include "ismscode/harness/gtest.h"
#include "tests/support/subprocess.h"

namespace ismscode::harness {
namespace {

using json = nlohmann::json;

struct Outcome {
  int rc = -1;
  std::string out, err;
};

class Ismsctl : public HarnessTest {
 protected:
  void SetUp() override {
    HarnessTest::SetUp();
    key_file_ = ::testing::TempDir() + "ismsctl-key-" + account_key();
    std::ofstream(key_file_) << account_key() << "\n";
  }
  void TearDown() override { std::remove(key_file_.c_str()); }

  std::vector<std::string> Argv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {
        ISMSCTL_BINARY,      "--addr",  HarnessEnvironment::Get()->gateway_address(),
        "--caller-key-file", key_file_, "--mock-url",
        mock_url()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // Through pipes: not a terminal.
  Outcome Pipe(const std::vector<std::string>& args) const {
    testing::Subprocess p(Argv(args));
    Outcome r;
    r.out = p.ReadAllStdout();
    while (auto line = p.ReadStderrLine(60)) r.err += *line + "\n";
    r.rc = p.Wait();
    return r;
  }

  // Through a pseudo-terminal: stdout and stderr are the terminal.
  Outcome Terminal(const std::vector<std::string>& args, unsigned short columns = 200) const {
    std::vector<std::string> argv = Argv(args);
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    int master = -1;
    winsize size{.ws_row = 24, .ws_col = columns};
    const pid_t pid = forkpty(&master, nullptr, nullptr, &size);
    if (pid == 0) {
      execv(cargs[0], cargs.data());
      _exit(127);
    }
    Outcome r;
    char buf[4096];
    for (;;) {
      pollfd p{master, POLLIN, 0};
      if (poll(&p, 1, 60'000) <= 0) {  // a hung ismsctl fails the test, not the suite
        ADD_FAILURE() << "ismsctl wrote nothing for 60 s: " << r.out;
        kill(pid, SIGKILL);
        break;
      }
      const ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break;
      r.out.append(buf, n);
    }
    close(master);
    int status = 0;
    waitpid(pid, &status, 0);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
  }

  json Mock(const std::vector<std::string>& args) const {
    std::vector<std::string> a = {"--json", "mock"};
    a.insert(a.end(), args.begin(), args.end());
    Outcome r = Pipe(a);
    EXPECT_EQ(r.rc, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  // A number bought through ismsctl, as its JSON.
  json Acquire(const std::string& country, const std::string& service) const {
    Outcome r = Pipe({"--json", "acquire", "-c", country, "-s", service});
    EXPECT_EQ(r.rc, 0) << r.err;
    json number = json::parse(r.out, nullptr, false);
    return number.is_object() ? number : json{{"id", "none"}, {"phone", "none"}};
  }

  std::string key_file_;
};

TEST_F(Ismsctl, ListsAsLinesAndAsJson) {
  Outcome plain = Pipe({"countries"});
  ASSERT_EQ(plain.rc, 0) << plain.err;
  EXPECT_NE(plain.out.find("US  +1  United States\n"), std::string::npos) << plain.out;
  Outcome machine = Pipe({"--json", "services"});
  ASSERT_EQ(machine.rc, 0) << machine.err;
  const json services = json::parse(machine.out)["services"];
  EXPECT_NE(std::find(services.begin(), services.end(), "whatsapp"), services.end());
}

TEST_F(Ismsctl, AcquireThenAwaitPrintsTheCodeAlone) {
  Outcome acquired = Pipe({"--json", "acquire", "-c", "US", "-s", "whatsapp"});
  ASSERT_EQ(acquired.rc, 0) << acquired.err;
  const json number = json::parse(acquired.out);
  EXPECT_EQ(number["event"], "number");
  EXPECT_EQ(number["country"], "US");
  Outcome awaited = Pipe({"await", number["id"], "--timeout", "60s"});
  ASSERT_EQ(awaited.rc, 0) << awaited.err;
  ASSERT_FALSE(awaited.out.empty());
  EXPECT_TRUE(std::regex_match(awaited.out, std::regex("[0-9A-Z]{4,8}\n")))
      << "stdout is the code and a newline: " << awaited.out;
  EXPECT_NE(awaited.err.find("ismsctl: from "), std::string::npos) << awaited.err;
}

TEST_F(Ismsctl, VerifyPrintsTheNumberFirstThenTheCode) {
  Outcome r = Pipe({"verify", "--country", "US", "--service", "whatsapp", "--timeout", "60s"});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream lines(r.out);
  std::string phone, code;
  std::getline(lines, phone);
  std::getline(lines, code);
  EXPECT_EQ(phone.rfind("+1", 0), 0u) << r.out;
  EXPECT_TRUE(std::regex_match(code, std::regex("[0-9A-Z]{4,8}"))) << r.out;
  EXPECT_NE(r.err.find("Type it into the app under test"), std::string::npos) << r.err;
}

TEST_F(Ismsctl, JsonStreamsEveryEventOfAWait) {
  const json number = Acquire("US", "whatsapp");
  Outcome r =
      Pipe({"--json", "await", number["id"], "--timeout", "4s", "--pattern", "never (\\d{12})"});
  EXPECT_EQ(r.rc, 3);
  std::istringstream lines(r.out);
  std::vector<json> events;
  for (std::string line; std::getline(lines, line);) events.push_back(json::parse(line));
  ASSERT_GE(events.size(), 2u) << r.out;
  EXPECT_EQ(events.front()["event"], "waiting");
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const json& e) {
    return e["event"] == "waiting" && e["polls"].get<int>() >= 1;
  })) << r.out;
  EXPECT_EQ(events.back()["event"], "error");
  EXPECT_EQ(events.back()["reason"], "CODE_WAIT_TIMEOUT");
}

// Each documented exit code, with one line on stderr saying what to do.
TEST_F(Ismsctl, ExitCodesAndAdvice) {
  auto one_line = [](const Outcome& r) {
    return std::count(r.err.begin(), r.err.end(), '\n') == 1;
  };
  Outcome usage = Pipe({"acquire", "--country", "US"});
  EXPECT_EQ(usage.rc, 2);
  EXPECT_NE(usage.err.find("--service"), std::string::npos) << usage.err;
  EXPECT_TRUE(one_line(usage)) << usage.err;

  Outcome negative = Pipe({"await", "num_x", "--timeout", "-5s"});
  EXPECT_EQ(negative.rc, 2) << negative.err;

  Outcome unknown = Pipe({"acquire", "-c", "US", "-s", "no-such-service"});
  EXPECT_EQ(unknown.rc, 2);
  EXPECT_NE(unknown.err.find("INVALID_SERVICE"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("ismsctl services"), std::string::npos) << unknown.err;

  Mock({"fault", "no_numbers_available", "--key", account_key(), "--count", "1"});
  Outcome stock = Pipe({"acquire", "-c", "US", "-s", "whatsapp"});
  EXPECT_EQ(stock.rc, 5);
  EXPECT_NE(stock.err.find("NO_NUMBERS_AVAILABLE"), std::string::npos) << stock.err;
  EXPECT_NE(stock.err.find("--fallback"), std::string::npos) << stock.err;
  EXPECT_TRUE(one_line(stock)) << stock.err;

  Mock({"balance", account_key(), "0"});
  Outcome balance = Pipe({"acquire", "-c", "US", "-s", "whatsapp"});
  EXPECT_EQ(balance.rc, 6) << balance.err;
  Mock({"balance", account_key(), "100"});

  Outcome missing = Pipe({"await", "num_nope", "--timeout", "1s"});
  EXPECT_EQ(missing.rc, 10) << missing.err;

  const json number = Acquire("US", "telegram");
  Outcome timeout =
      Pipe({"await", number["id"], "--timeout", "4s", "--pattern", "never (\\d{12})"});
  EXPECT_EQ(timeout.rc, 3) << timeout.err;
  EXPECT_NE(timeout.err.find("CODE_WAIT_TIMEOUT"), std::string::npos) << timeout.err;

  Outcome down = Pipe({"--addr", "127.0.0.1:1", "countries"});
  EXPECT_EQ(down.rc, 8) << down.err;
  EXPECT_NE(down.err.find("ISMSCODE_HARNESS_ADDR"), std::string::npos) << down.err;
  EXPECT_TRUE(one_line(down)) << down.err;

  Outcome mock_down = Pipe({"--mock-url", "http://127.0.0.1:1", "mock", "accounts"});
  EXPECT_EQ(mock_down.rc, 8) << mock_down.err;

  // A purchase whose answer was lost: exit 9, and the id to repeat it with.
  Mock({"fault", "reset", "--key", account_key(), "--count", "1", "--endpoint", "numbers.request",
        "--phase", "after"});
  Outcome lost = Pipe({"acquire", "-c", "US", "-s", "whatsapp"});
  EXPECT_EQ(lost.rc, 9) << lost.err;
  EXPECT_TRUE(std::regex_search(lost.err, std::regex("\\[request_id=req-[0-9a-f]{32}\\]")))
      << lost.err;
  EXPECT_NE(lost.err.find("same --request-id"), std::string::npos) << lost.err;

  // A caller key the upstream does not know.
  const std::string stranger = ::testing::TempDir() + "ismsctl-stranger-" + account_key();
  std::ofstream(stranger) << "not-an-account-key\n";
  Outcome refused = Pipe({"--caller-key-file", stranger, "acquire", "-c", "US", "-s", "whatsapp"});
  std::remove(stranger.c_str());
  EXPECT_EQ(refused.rc, 11) << refused.err;
  EXPECT_EQ(refused.err.find("not-an-account-key"), std::string::npos) << "no key in output";

  // Last: a 429 pauses this key for a second.
  Mock({"fault", "rate_limit_exceeded", "--key", account_key(), "--count", "1", "--endpoint",
        "numbers.request"});
  Outcome limited = Pipe({"acquire", "-c", "US", "-s", "whatsapp"});
  EXPECT_EQ(limited.rc, 7) << limited.err;
  EXPECT_NE(limited.err.find("retry after"), std::string::npos) << limited.err;
}

// On a terminal, the wait shows one line redrawn in place: elapsed, polls, next poll,
// time to expiry.
TEST_F(Ismsctl, ProgressOnATerminal) {
  const json number = Acquire("US", "whatsapp");
  Outcome r = Terminal({"await", number["id"], "--timeout", "4s", "--pattern", "never (\\d{12})"});
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_NE(r.out.find("\r\033[K"), std::string::npos) << "redrawn in place";
  EXPECT_NE(r.out.find("waiting for a code to " + number["id"].get<std::string>()),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" elapsed"), std::string::npos);
  EXPECT_TRUE(std::regex_search(r.out, std::regex("[0-9]+ polls? · next poll in "))) << r.out;
  EXPECT_NE(r.out.find("next poll in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("expires in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CODE_WAIT_TIMEOUT"), std::string::npos);

  // Through pipes the same wait gives plain lines instead.
  Outcome plain = Pipe({"await", number["id"], "--timeout", "4s", "--pattern", "never (\\d{12})"});
  EXPECT_EQ(plain.out, "");
  EXPECT_EQ(plain.err.find("\033"), std::string::npos) << plain.err;
  EXPECT_NE(plain.err.find("waiting: "), std::string::npos) << plain.err;
}

// On a narrow terminal the line is cut, never wrapped (a wrapped line leaves a new row
// behind at every redraw).
TEST_F(Ismsctl, ProgressLineFitsANarrowTerminal) {
  const json number = Acquire("US", "whatsapp");
  Outcome r = Terminal({"await", number["id"], "--timeout", "2s", "--pattern", "never (\\d{12})"},
                       /*columns=*/40);
  EXPECT_EQ(r.rc, 3) << r.out;
  size_t redraws = 0;
  for (size_t at = r.out.find("\r\033[K"); at != std::string::npos;
       at = r.out.find("\r\033[K", at + 1)) {
    const size_t start = at + 4;
    const size_t end = std::min(r.out.find('\r', start), r.out.find('\n', start));
    std::string segment = r.out.substr(start, end == std::string::npos ? end : end - start);
    if (segment.rfind("ismsctl:", 0) == 0) continue;  // the final message, after the line
    size_t columns = 0;
    for (unsigned char c : segment) columns += (c & 0xC0) != 0x80;
    EXPECT_LE(columns, 39u) << segment;
    ++redraws;
  }
  EXPECT_GT(redraws, 0u) << r.out;
}

// Ctrl-C during a wait cancels it: exit 130, promptly.
TEST_F(Ismsctl, InterruptCancelsTheWait) {
  const json number = Acquire("US", "whatsapp");
  testing::Subprocess p(
      Argv({"await", number["id"], "--timeout", "120s", "--pattern", "never (\\d{12})"}));
  auto first = p.ReadStderrLine(60);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->rfind("waiting: ", 0), 0u) << *first;
  p.Signal(SIGINT);
  EXPECT_EQ(p.Wait(), 130);
}

// Global options may follow the command.
TEST_F(Ismsctl, GlobalOptionsAfterTheCommand) {
  Outcome r = Pipe({"services", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(json::parse(r.out, nullptr, false).contains("services")) << r.out;
}

TEST_F(Ismsctl, MockCommandsForManualQa) {
  const json account = Mock({"account", "--balance", "5"});
  EXPECT_EQ(account["account"]["balance"], 5);
  const json number = Acquire("GB", "telegram");
  const json sent =
      Mock({"sms", "--to", number["phone"], "--text", "Your code is 8642", "--from", "Manual"});
  EXPECT_EQ(sent["sms"]["number_id"], number["id"]);
  Outcome code = Pipe({"await", number["id"], "--sender", "Manual", "--timeout", "30s"});
  EXPECT_EQ(code.out, "8642\n") << code.err;
  const json journal = Mock({"journal", "--key", account_key(), "--limit", "50"});
  EXPECT_FALSE(journal["entries"].empty());
  EXPECT_TRUE(Mock({"clock"}).contains("now"));
  EXPECT_TRUE(Mock({"faults"}).contains("faults"));
}

TEST_F(Ismsctl, HelpOnEveryCommand) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"countries", "--help"},
                                        {"services", "--help"},
                                        {"acquire", "--help"},
                                        {"await", "--help"},
                                        {"verify", "--help"},
                                        {"mock", "--help"},
                                        {"mock", "sms", "--help"},
                                        {"mock", "fault", "--help"}}) {
    Outcome r = Pipe(args);
    EXPECT_EQ(r.rc, 0) << args.back();
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace ismscode::harness
