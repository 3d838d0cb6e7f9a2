#include "mock/sms_templates.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "mock/random.h"

namespace ismscode::mock {
namespace {

const char* kServices[] = {"whatsapp",  "telegram", "google", "facebook",
                           "instagram", "twitter",  "amazon", "some-new-app"};

TEST(SmsTemplates, TheRawCodeIsInTheTextAndNormalisesToTheCode) {
  Random random(11);
  for (const char* service : kServices) {
    for (int i = 0; i < 50; ++i) {
      const GeneratedSms sms = GenerateSms(service, random);
      EXPECT_NE(sms.text.find(sms.raw_code), std::string::npos) << sms.text;
      EXPECT_FALSE(sms.from.empty());
      std::string normalised;
      for (char c : sms.raw_code) {
        if (c != '-' && c != ' ') normalised += c;
      }
      EXPECT_EQ(sms.code, normalised);
      EXPECT_TRUE(std::regex_match(sms.code, std::regex("[A-Za-z0-9]{4,8}"))) << sms.code;
    }
  }
}

TEST(SmsTemplates, FormatsAreVariedAndRealistic) {
  Random random(5);
  std::set<std::string> shapes;
  bool has_trap = false, non_ascii = false;
  for (const char* service : kServices) {
    for (int i = 0; i < 40; ++i) {
      const GeneratedSms sms = GenerateSms(service, random);
      std::string shape;
      for (char c : sms.raw_code)
        shape += std::isdigit(static_cast<unsigned char>(c))   ? 'd'
                 : std::isalpha(static_cast<unsigned char>(c)) ? 'a'
                                                               : c;
      shapes.insert(shape);
      if (std::regex_search(sms.text, std::regex(R"(\d{1,2}:\d{2}|20\d\d|555-01\d\d|\$\d)"))) {
        has_trap = true;
      }
      for (unsigned char c : sms.text) non_ascii |= c >= 0x80;
    }
  }
  EXPECT_TRUE(shapes.contains("ddd-ddd")) << "583-920";
  EXPECT_TRUE(shapes.contains("ddd ddd")) << "583 920";
  EXPECT_TRUE(shapes.contains("ddddd")) << "58392";
  EXPECT_TRUE(shapes.contains("dddddd"));
  bool alnum = false;
  for (const auto& s : shapes) alnum |= s.find('a') != std::string::npos;
  EXPECT_TRUE(alnum) << "alphanumeric codes";
  EXPECT_TRUE(has_trap) << "texts with times, years, phone numbers or prices";
  EXPECT_TRUE(non_ascii) << "other languages";
}

TEST(SmsTemplates, GoogleCodesCarryTheirPrefix) {
  Random random(1);
  const GeneratedSms sms = GenerateSms("google", random);
  EXPECT_NE(sms.text.find("G-" + sms.raw_code), std::string::npos) << sms.text;
}

TEST(SmsTemplates, GivenCodeIsUsed) {
  Random random(1);
  const GeneratedSms sms = GenerateSmsWithCode("whatsapp", "123-456", random);
  EXPECT_EQ(sms.code, "123456");
  EXPECT_NE(sms.text.find("123-456"), std::string::npos);
}

}  // namespace
}  // namespace ismscode::mock
