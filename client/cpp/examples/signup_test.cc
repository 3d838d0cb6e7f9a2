// A signup test against the demo app (examples/signup-app), as a QA engineer writes it:
// get a number, sign up with it in the app, read the code the app texted, verify.
//
// The app under test: $SIGNUP_APP_URL, or else the demo app started here, texting
// through the harness's mock. Numbers come from the gateway (see ismscode/harness/gtest.h:
// $ISMSCODE_HARNESS_ADDR, or the gateway and its mock in-process, scenario "app-sms",
// where numbers get no SMS but the app's).
#include <httplib.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "ismscode/harness/gtest.h"
#include "signup_app.h"

namespace {

using json = nlohmann::json;

class Signup : public ismscode::harness::HarnessTest {
 protected:
  void SetUp() override {
    HarnessTest::SetUp();
    const char* url = std::getenv("SIGNUP_APP_URL");
    if (url && *url) {
      app_url_ = url;
      return;
    }
    std::string error;
    app_ = ismscode::examples::SignupApp::Start(
        {.port = 0, .sms_url = mock_url() + "/_mock/v1/sms"}, &error);
    ASSERT_TRUE(app_) << error;
    app_url_ = app_->url();
  }

  json Post(const std::string& path, const json& body) {
    httplib::Client app(app_url_);
    auto r = app.Post(path, body.dump(), "application/json");
    return r ? json::parse(r->body, nullptr, false) : json();
  }

  std::unique_ptr<ismscode::examples::SignupApp> app_;
  std::string app_url_;
};

TEST_F(Signup, NewUserVerifiesTheirPhone) {
  auto number = AcquireNumber("US", "demoapp");
  ASSERT_EQ(Post("/signup", {{"phone", number.phone}})["status"], "sent");
  auto code = AwaitCode(number);
  EXPECT_EQ(Post("/verify", {{"phone", number.phone}, {"code", code.code}})["verified"], true);
}

TEST_F(Signup, AWrongCodeIsRefused) {
  auto number = AcquireNumber("GB", "demoapp");
  ASSERT_EQ(Post("/signup", {{"phone", number.phone}})["status"], "sent");
  auto code = AwaitCode(number, {.sender_pattern = "DemoApp"});
  const std::string wrong = code.code == "000000" ? "111111" : "000000";
  EXPECT_EQ(Post("/verify", {{"phone", number.phone}, {"code", wrong}})["reason"], "wrong_code");
  EXPECT_EQ(Post("/verify", {{"phone", number.phone}, {"code", code.code}})["verified"], true);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(
      new ismscode::harness::HarnessEnvironment({.scenario = "app-sms"}));
  return RUN_ALL_TESTS();
}
