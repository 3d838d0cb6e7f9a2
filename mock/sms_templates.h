#pragma once

#include <string>

namespace ismscode::mock {

class Random;

// One generated verification SMS.
struct GeneratedSms {
  std::string from;
  std::string text;
  std::string code;      // what a correct extractor returns: "583-920" -> "583920"
  std::string raw_code;  // the code as it appears in the text
};

// Renders a realistic SMS for `service` with a fresh code. Each service has several
// templates: its real-world code format (583-920, G-583920, 58392, alphanumerics),
// other languages, and texts that also carry phone numbers, times, years and prices,
// so that code extraction downstream is tested against what providers really send.
// Unknown services get generic templates.
GeneratedSms GenerateSms(const std::string& service, Random& random);

// The same template and code format as GenerateSms but with the given code (resends
// that repeat the code, or a control-API injection that names the code).
GeneratedSms GenerateSmsWithCode(const std::string& service, const std::string& raw_code,
                                 Random& random);

}  // namespace ismscode::mock
