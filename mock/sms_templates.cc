#include "mock/sms_templates.h"

#include <string_view>
#include <vector>

#include "mock/random.h"

namespace ismscode::mock {

namespace {

// How a template's code is drawn.
enum class Format {
  kDigits,      // 583920
  kDashed,      // 583-920 (digits split in two halves)
  kSpaced,      // 583 920
  kUpperAlnum,  // K7X2P9 (no 0/O, 1/I)
  kLowerAlnum,  // k7x2p9
};

struct Template {
  std::string_view from;
  std::string_view text;  // "{code}" marks where the code goes
  Format format;
  int length;
};

// Senders are brand short names or numbers from fictional ranges.
const std::vector<Template>& TemplatesFor(std::string_view service) {
  static const std::vector<Template> kWhatsapp = {
      {"WhatsApp",
       "Your WhatsApp code: {code}\n\nYou can also tap on this link to verify your phone: "
       "v.whatsapp.com/{code}\n\nDon't share this code with others",
       Format::kDashed, 6},
      {"WhatsApp",
       "<#> Tu código de WhatsApp es {code}\nNo compartas este código con nadie.\n4sgLq1p5sV6",
       Format::kDashed, 6},
      {"WhatsApp", "Ваш код WhatsApp: {code}. Никому не сообщайте этот код.", Format::kDashed, 6},
      {"WhatsApp",
       "WhatsApp code {code}. Requested at 14:32 on 12/03/2026 from +1 202-555-0147. Don't share "
       "it.",
       Format::kDashed, 6},
  };
  static const std::vector<Template> kTelegram = {
      {"Telegram",
       "Telegram code: {code}\n\nYou can also tap on this link to log "
       "in:\nhttps://t.me/login/{code}\n\nDo not give this code to anyone, even if they say they "
       "are from Telegram!",
       Format::kDigits, 5},
      {"Telegram",
       "Код подтверждения Telegram: {code}. Не сообщайте его никому, даже сотрудникам Telegram.",
       Format::kDigits, 5},
      {"Telegram", "Dein Telegram-Code lautet {code}. Gib diesen Code niemandem weiter.",
       Format::kDigits, 5},
      {"+447700900417",
       "Telegram: {code} is your login code. Login attempt at 09:15 from 2 devices in 2026.",
       Format::kDigits, 5},
  };
  static const std::vector<Template> kGoogle = {
      {"Google", "G-{code} is your Google verification code.", Format::kDigits, 6},
      {"Google", "G-{code} est votre code de validation Google.", Format::kDigits, 6},
      {"22000",
       "Your Google verification code is G-{code}. Don't share it; Google will never call you at "
       "1-650-555-0110 for it.",
       Format::kDigits, 6},
      {"Google", "G-{code} ist Ihr Bestätigungscode von Google. Gültig bis 23:59 Uhr.",
       Format::kDigits, 6},
  };
  static const std::vector<Template> kFacebook = {
      {"32665", "FB-{code} is your Facebook confirmation code", Format::kDigits, 5},
      {"Facebook", "{code} is your Facebook password reset code", Format::kDigits, 8},
      {"Facebook", "Use {code} to confirm your Facebook account. Sent 2026-03-21 19:58 UTC.",
       Format::kDigits, 6},
      {"32665", "Facebook: su código de confirmación es {code}. Válido por 10 minutos.",
       Format::kDigits, 6},
  };
  static const std::vector<Template> kInstagram = {
      {"Instagram", "Use {code} to verify your Instagram account.", Format::kSpaced, 6},
      {"Instagram", "{code} is your Instagram code. Don't share it.", Format::kSpaced, 6},
      {"Instagram", "Instagram: {code} ist dein Bestätigungscode. Teile ihn mit niemandem.",
       Format::kDigits, 6},
      {"+12025550163",
       "Your Instagram code is {code}. If you didn't request this, reply STOP or call +1 (212) "
       "555-0198 before 11:30 PM.",
       Format::kSpaced, 6},
  };
  static const std::vector<Template> kTwitter = {
      {"Twitter", "Your Twitter confirmation code is {code}.", Format::kLowerAlnum, 8},
      {"X", "{code} is your X verification code.", Format::kDigits, 6},
      {"40404",
       "Your X login code is {code}. Expires in 30 minutes. Reply HELP for help, STOP to cancel. "
       "Msg&data rates may apply. 2026 X Corp.",
       Format::kUpperAlnum, 6},
      {"X", "Votre code de vérification X est {code}.", Format::kLowerAlnum, 8},
  };
  static const std::vector<Template> kAmazon = {
      {"Amazon", "{code} is your Amazon OTP. Do not share it with anyone.", Format::kDigits, 6},
      {"Amazon",
       "Amazon: Your code is {code}. Didn't request it? Call 1-206-555-0142. Orders over $49.99 "
       "ship free in 2026.",
       Format::kDigits, 6},
      {"262966", "{code} ist dein Amazon-Einmalkennwort. Teile es niemandem mit.", Format::kDigits,
       6},
      {"Amazon", "Amazon security code: {code}. Valid until 18:45. Ref #2026-0321.",
       Format::kDigits, 6},
  };
  static const std::vector<Template> kGeneric = {
      {"Verify", "Your verification code is {code}", Format::kDigits, 6},
      {"+447700900123", "Code: {code}. It expires at 10:45. Do not share it.", Format::kDigits, 4},
      {"Verify", "Ihr Bestätigungscode lautet {code}.", Format::kDigits, 6},
      {"Verify",
       "{code} is your one-time passcode. Call 1-800-555-0199 if this wasn't you. (c) 2026",
       Format::kUpperAlnum, 6},
  };
  if (service == "whatsapp") return kWhatsapp;
  if (service == "telegram") return kTelegram;
  if (service == "google") return kGoogle;
  if (service == "facebook") return kFacebook;
  if (service == "instagram") return kInstagram;
  if (service == "twitter") return kTwitter;
  if (service == "amazon") return kAmazon;
  return kGeneric;
}

std::string DrawCode(Format format, int length, Random& random) {
  static constexpr std::string_view kDigits = "0123456789";
  static constexpr std::string_view kUpper = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  static constexpr std::string_view kLower = "abcdefghjkmnpqrstuvwxyz23456789";
  switch (format) {
    case Format::kDigits:
      return random.Chars(length, kDigits);
    case Format::kDashed:
    case Format::kSpaced: {
      const std::string d = random.Chars(length, kDigits);
      const size_t half = d.size() / 2;
      return d.substr(0, half) + (format == Format::kDashed ? "-" : " ") + d.substr(half);
    }
    case Format::kUpperAlnum:
    case Format::kLowerAlnum: {
      // Mixed like real alphanumeric codes: at least one letter and one digit, so that
      // a code never reads as a word ("HELP") or a plain number.
      const std::string_view alphabet = format == Format::kUpperAlnum ? kUpper : kLower;
      for (;;) {
        std::string code = random.Chars(length, alphabet);
        const bool digit = code.find_first_of("0123456789") != std::string::npos;
        const bool letter = code.find_first_not_of("0123456789") != std::string::npos;
        if (digit && letter) return code;
      }
    }
  }
  return {};
}

std::string Normalise(const std::string& raw) {
  std::string out;
  for (char c : raw) {
    if (c != '-' && c != ' ') out += c;
  }
  return out;
}

GeneratedSms Render(const Template& t, const std::string& raw_code) {
  std::string text(t.text);
  for (size_t pos = text.find("{code}"); pos != std::string::npos;
       pos = text.find("{code}", pos + raw_code.size())) {
    // A link carries the code without separators, as real services do.
    const bool in_link = pos > 0 && text[pos - 1] == '/';
    text.replace(pos, 6, in_link ? Normalise(raw_code) : raw_code);
  }
  return {std::string(t.from), std::move(text), Normalise(raw_code), raw_code};
}

}  // namespace

GeneratedSms GenerateSms(const std::string& service, Random& random) {
  const auto& templates = TemplatesFor(service);
  const Template& t = templates[random.Below(templates.size())];
  return Render(t, DrawCode(t.format, t.length, random));
}

GeneratedSms GenerateSmsWithCode(const std::string& service, const std::string& raw_code,
                                 Random& random) {
  const auto& templates = TemplatesFor(service);
  return Render(templates[random.Below(templates.size())], raw_code);
}

}  // namespace ismscode::mock
