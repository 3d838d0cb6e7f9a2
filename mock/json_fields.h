#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/json_text.h"

namespace ismscode::mock {

// Reads the fields of one JSON object for a parser that reports the first problem with
// its full path ("offers[2].sms.delay.kind: expected one of ..."). Absent optional fields
// leave the output untouched. After the first error every call is a no-op.
class FieldReader {
 public:
  FieldReader(const nlohmann::ordered_json& object, std::string path, std::string* error);

  bool ok() const { return error_->empty(); }
  bool Has(const char* name) const;
  std::string PathOf(const char* name) const { return path_ + "." + name; }

  void String(const char* name, std::string* out, bool required = false);
  void Number(const char* name, double* out, double min, double max, bool required = false);
  void Integer(const char* name, int64_t* out, int64_t min, int64_t max, bool required = false);
  void Integer(const char* name, int* out, int min, int max, bool required = false);
  void Bool(const char* name, bool* out);
  // Fails on any field not in `known`: a typo in a scenario is an error, not a silent default.
  void RejectUnknown(std::initializer_list<const char*> known);
  void Fail(const std::string& field_path, const std::string& message);

 private:
  const nlohmann::ordered_json* Field(const char* name, bool required);

  const nlohmann::ordered_json& object_;
  std::string path_;
  std::string* error_;
};

// Turns a nlohmann parse error into "line L, column C: <reason>".
std::string DescribeParseError(const std::string& text,
                               const nlohmann::ordered_json::parse_error& e);

// Appends `text` as a JSON string literal (quotes included). For the hot paths, which
// build their few fixed-shape bodies by hand; `text` must be valid UTF-8 (it comes from
// templates or from parsed JSON).
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace ismscode::mock
