#include "server/code_extractor.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mock/random.h"
#include "mock/sms_templates.h"

namespace ismscode::gateway {
namespace {

nlohmann::json Corpus() {
  std::ifstream in(ISMSCODE_SMS_CORPUS);
  std::stringstream buf;
  buf << in.rdbuf();
  return nlohmann::json::parse(buf.str());
}

CodeExtractor Default(const std::string& service = "") {
  auto e = CodeExtractor::Create({.service = service});
  EXPECT_TRUE(e.ok()) << e.status();
  return *e;
}

TEST(CodeExtractor, CorpusOfRealisticMessagesAndTraps) {
  // Every case must come out exactly right; precision and recall are printed for the
  // record (a code where there is none, or the wrong code, costs precision).
  const nlohmann::json corpus = Corpus();
  ASSERT_GE(corpus["cases"].size(), 80u);
  int with_code = 0, without_code = 0, right = 0, wrong = 0, missed = 0, invented = 0;
  for (const auto& c : corpus["cases"]) {
    const std::string text = c["text"];
    const auto got = Default(c["service"]).Extract(text);
    if (c["code"].is_null()) {
      ++without_code;
      if (got) {
        ++invented;
        ADD_FAILURE() << "found \"" << got->raw_match << "\" (" << c["trap"] << ") in: " << text;
      }
      continue;
    }
    ++with_code;
    if (!got) {
      ++missed;
      ADD_FAILURE() << "no code found in: " << text;
    } else if (got->code == c["code"].get<std::string>() &&
               got->raw_match == c["raw"].get<std::string>()) {
      ++right;
    } else {
      ++wrong;
      ADD_FAILURE() << "found \"" << got->raw_match << "\" instead of \"" << c["raw"]
                    << "\" in: " << text;
    }
  }
  EXPECT_GE(without_code, 30);
  const double precision = right + wrong + invented ? 1.0 * right / (right + wrong + invented) : 1;
  const double recall = with_code ? 1.0 * right / with_code : 1;
  std::printf("corpus: %d with a code, %d without; precision %.3f, recall %.3f\n", with_code,
              without_code, precision, recall);
  ::testing::Test::RecordProperty("precision", std::to_string(precision));
  ::testing::Test::RecordProperty("recall", std::to_string(recall));
  EXPECT_EQ(wrong + missed + invented, 0);
}

// Every SMS the mock can generate is read back correctly: the two halves of the
// project agree on what a code is.
TEST(CodeExtractor, EverythingTheMockSends) {
  mock::Random random(2026);
  for (const char* service :
       {"whatsapp", "telegram", "google", "facebook", "instagram", "twitter", "amazon", "other"}) {
    const CodeExtractor extractor = Default(service);
    for (int i = 0; i < 200; ++i) {
      const mock::GeneratedSms sms = mock::GenerateSms(service, random);
      const auto got = extractor.Extract(sms.text);
      ASSERT_TRUE(got) << sms.text;
      EXPECT_EQ(got->code, sms.code) << sms.text;
      EXPECT_EQ(got->raw_match, sms.raw_code) << sms.text;
    }
  }
}

TEST(CodeExtractor, NothingToFind) {
  const CodeExtractor e = Default();
  EXPECT_FALSE(e.Extract(""));
  EXPECT_FALSE(e.Extract("Welcome to the service! Reply STOP to unsubscribe."));
  EXPECT_FALSE(e.Extract("Call +1 202-555-0147 at 14:30 on 12/03/2026, only $49.99"));
}

TEST(CodeExtractor, CallersPatternWins) {
  auto e = CodeExtractor::Create({.pattern = R"(PIN: ([\w-]+))"});
  ASSERT_TRUE(e.ok()) << e.status();
  auto got = e->Extract("Your code is 123456. PIN: ab-12");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->code, "ab12");
  EXPECT_EQ(got->raw_match, "ab-12");
  auto whole = CodeExtractor::Create({.pattern = R"(\d{3}-\d{3})"});
  EXPECT_EQ(whole->Extract("code 583-920")->code, "583920");
  EXPECT_FALSE(e->Extract("no pin here"));
}

TEST(CodeExtractor, LengthBoundsApply) {
  auto short_codes = CodeExtractor::Create({.min_length = 4, .max_length = 4});
  EXPECT_EQ(short_codes->Extract("Ref 123456, your code is 4321")->code, "4321");
  auto long_codes = CodeExtractor::Create({.min_length = 8, .max_length = 8});
  EXPECT_EQ(long_codes->Extract("Your code is 123456 or 20461937")->code, "20461937");
}

TEST(CodeExtractor, LengthBoundsApplyToACallersPatternToo) {
  // Found by code_extractor_fuzzer: a caller's pattern returned any length.
  auto e = CodeExtractor::Create({.pattern = R"(\d+)", .min_length = 6, .max_length = 6});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->Extract("Order 2046193712 shipped; code 583920")->code, "583920");
  EXPECT_FALSE(e->Extract("Order 2046193712 shipped"));
  auto tiny = CodeExtractor::Create({.pattern = "=", .min_length = 4, .max_length = 8});
  EXPECT_FALSE(tiny->Extract("a=b=c")) << "a one-character match is not a 4-8 character code";
}

TEST(CodeExtractor, BadPatternsAndBoundsAreErrors) {
  auto unclosed = CodeExtractor::Create({.pattern = "(unclosed"});
  ASSERT_FALSE(unclosed.ok());
  EXPECT_EQ(unclosed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unclosed.status().message().rfind("must be a valid RE2 expression (", 0), 0u)
      << unclosed.status();
  EXPECT_EQ(CodeExtractor::InvalidField(unclosed.status()), "code_pattern");
  // Backreferences are not RE2: refused rather than risking exponential time.
  EXPECT_FALSE(CodeExtractor::Create({.pattern = R"((\d)\1)"}).ok());
  auto zero = CodeExtractor::Create({.min_length = 0});
  EXPECT_FALSE(zero.ok());
  EXPECT_EQ(CodeExtractor::InvalidField(zero.status()), "min_code_length");
  EXPECT_FALSE(CodeExtractor::Create({.min_length = 9, .max_length = 8}).ok());
}

TEST(CodeExtractor, HostileInputStaysLinear) {
  // A classic catastrophic-backtracking pattern: RE2 answers in linear time.
  auto e = CodeExtractor::Create({.pattern = R"((a+)+$)"});
  ASSERT_TRUE(e.ok()) << e.status();
  const std::string text = std::string(100000, 'a') + "!";
  EXPECT_FALSE(e->Extract(text));
  EXPECT_FALSE(Default().Extract(std::string(200000, '7')));  // too long to be a code
}

TEST(CodeExtractor, TheSenderFilterIsCaseInsensitiveAndMatchesAnywhere) {
  auto e = CodeExtractor::Create({.sender_pattern = "whatsapp"});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->FromWanted("WhatsApp"));
  EXPECT_TRUE(e->FromWanted("WhatsApp Business"));
  EXPECT_FALSE(e->FromWanted("MyBank"));
  EXPECT_TRUE(Default().FromWanted("anyone")) << "no pattern: every sender";
  auto bad = CodeExtractor::Create({.sender_pattern = "(x"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(CodeExtractor::InvalidField(bad.status()), "sender_pattern");
}

TEST(CodeExtractor, CueWordsInsideOtherWordsDoNotCount) {
  const CodeExtractor e = Default();
  EXPECT_FALSE(e.Extract("Free shipping on order 55123 today")) << "'pin' in 'shipping'";
  EXPECT_FALSE(e.Extract("Your postcode area 4410 has a new store"));
  EXPECT_FALSE(e.Extract("Use your barcode 88123456 at the till"));
  EXPECT_EQ(e.Extract("583920")->code, "583920") << "a text that is only the code";
}

}  // namespace
}  // namespace ismscode::gateway
