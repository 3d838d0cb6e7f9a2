#include <cstdlib>

#include "ismscode/harness/detail/in_process.h"
#include "ismscode/harness/gtest.h"

namespace ismscode::harness {
namespace {

HarnessEnvironment* g_environment = nullptr;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

struct HarnessEnvironment::Impl {
  HarnessOptions options;
  std::string address, mock_url;
  std::unique_ptr<detail::InProcessGateway> in_process;
};

HarnessEnvironment::HarnessEnvironment(HarnessOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
HarnessEnvironment::~HarnessEnvironment() = default;

HarnessEnvironment* HarnessEnvironment::Get() { return g_environment; }
const std::string& HarnessEnvironment::gateway_address() const { return impl_->address; }
const std::string& HarnessEnvironment::mock_url() const { return impl_->mock_url; }
bool HarnessEnvironment::in_process() const { return impl_->in_process != nullptr; }

void HarnessEnvironment::SetUp() {
  Impl& m = *impl_;
  m.address = Env("ISMSCODE_HARNESS_ADDR");
  if (!m.address.empty()) {
    m.mock_url = Env("ISMSCODE_MOCK_URL");
    g_environment = this;
    return;
  }
  std::string name = m.options.scenario;
  if (name.empty()) name = Env("ISMSCODE_HARNESS_SCENARIO");
  if (name.empty()) name = "ci-fast";
  std::string error;
  m.in_process = detail::InProcessGateway::Start(name, m.options.poll_interval, &error);
  ASSERT_TRUE(m.in_process) << "ismscode harness: " << error;
  m.address = m.in_process->address();
  m.mock_url = m.in_process->mock_url();
  g_environment = this;
}

void HarnessEnvironment::TearDown() {
  g_environment = nullptr;
  impl_->in_process.reset();
}

const std::string& HarnessTest::mock_url() const {
  static const std::string kNone;
  return g_environment ? g_environment->mock_url() : kNone;
}

void HarnessTest::SetUp() {
  ASSERT_NE(g_environment, nullptr)
      << "ismscode harness: no HarnessEnvironment (link ismscode::harness_gtest_main or "
         "register one with ::testing::AddGlobalTestEnvironment)";
  ClientOptions options;
  options.address = g_environment->gateway_address();
  if (g_environment->in_process()) options.use_environment = false;
  if (!mock_url().empty()) {
    // An account of its own: parallel tests share no balance, stock charge or budget.
    account_key_ = "gtest-" + NewRequestId().substr(4, 12);  // 48 random bits
    std::string error;
    ASSERT_TRUE(detail::CreateMockAccount(mock_url(), account_key_, 1000, &error))
        << "ismscode harness: " << error;
    options.caller_key = account_key_;
  }
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  client_ = std::make_unique<Client>(std::move(*client));
}

Number HarnessTest::AcquireNumber(const std::string& country, const std::string& service,
                                  std::source_location where) {
  return AcquireNumber(AcquireRequest{.country = country, .service = service}, where);
}

Number HarnessTest::AcquireNumber(const AcquireRequest& request, std::source_location where) {
  if (!client_) {
    GTEST_MESSAGE_AT_(where.file_name(), where.line(), "ismscode harness: no client",
                      ::testing::TestPartResult::kFatalFailure);
    return {};
  }
  auto number = client_->Acquire(request);
  if (!number.ok()) {
    GTEST_MESSAGE_AT_(where.file_name(), where.line(),
                      ("AcquireNumber(" + request.country + ", " + request.service +
                       ") failed: " + number.error().ToString())
                          .c_str(),
                      ::testing::TestPartResult::kFatalFailure);
    return {};
  }
  return *number;
}

Code HarnessTest::AwaitCode(const Number& number, const AwaitOptions& options,
                            std::source_location where) {
  if (!client_ || number.id.empty()) {
    GTEST_MESSAGE_AT_(where.file_name(), where.line(),
                      "AwaitCode: no number (did AcquireNumber fail?)",
                      ::testing::TestPartResult::kFatalFailure);
    return {};
  }
  auto code = client_->AwaitCode(number.id, options);
  if (!code.ok()) {
    GTEST_MESSAGE_AT_(
        where.file_name(), where.line(),
        ("AwaitCode(" + number.phone + ") failed: " + code.error().ToString()).c_str(),
        ::testing::TestPartResult::kFatalFailure);
    return {};
  }
  return *code;
}

}  // namespace ismscode::harness
