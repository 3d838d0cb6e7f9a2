#include "mock/json_fields.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ismscode::mock {

using json = nlohmann::ordered_json;

std::string FormatNumber(double v);

FieldReader::FieldReader(const json& object, std::string path, std::string* error)
    : object_(object), path_(std::move(path)), error_(error) {
  if (ok() && !object_.is_object()) *error_ = path_ + ": expected an object";
}

bool FieldReader::Has(const char* name) const {
  return object_.is_object() && object_.contains(name) && !object_[name].is_null();
}

void FieldReader::Fail(const std::string& field_path, const std::string& message) {
  if (ok()) *error_ = field_path + ": " + message;
}

const json* FieldReader::Field(const char* name, bool required) {
  if (!ok()) return nullptr;
  if (!Has(name)) {
    if (required) Fail(PathOf(name), "is required");
    return nullptr;
  }
  return &object_[name];
}

void FieldReader::String(const char* name, std::string* out, bool required) {
  const json* f = Field(name, required);
  if (!f) return;
  if (!f->is_string()) return Fail(PathOf(name), "expected a string");
  *out = f->get<std::string>();
}

void FieldReader::Number(const char* name, double* out, double min, double max, bool required) {
  const json* f = Field(name, required);
  if (!f) return;
  if (!f->is_number()) return Fail(PathOf(name), "expected a number");
  const double v = f->get<double>();
  if (!std::isfinite(v) || v < min || v > max) {
    return Fail(PathOf(name), "must be between " + FormatNumber(min) + " and " + FormatNumber(max));
  }
  *out = v;
}

void FieldReader::Integer(const char* name, int64_t* out, int64_t min, int64_t max, bool required) {
  const json* f = Field(name, required);
  if (!f) return;
  if (!f->is_number_integer()) return Fail(PathOf(name), "expected an integer");
  // Unsigned values above INT64_MAX come back negative from get<int64_t>().
  if (f->is_number_unsigned() && f->get<uint64_t>() > static_cast<uint64_t>(max)) {
    return Fail(PathOf(name), "must be at most " + std::to_string(max));
  }
  const int64_t v = f->get<int64_t>();
  if (v < min || v > max) {
    return Fail(PathOf(name),
                "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  *out = v;
}

void FieldReader::Integer(const char* name, int* out, int min, int max, bool required) {
  int64_t v = *out;
  Integer(name, &v, min, max, required);
  *out = static_cast<int>(v);
}

void FieldReader::Bool(const char* name, bool* out) {
  const json* f = Field(name, false);
  if (!f) return;
  if (!f->is_boolean()) return Fail(PathOf(name), "expected true or false");
  *out = f->get<bool>();
}

void FieldReader::RejectUnknown(std::initializer_list<const char*> known) {
  if (!ok() || !object_.is_object()) return;
  for (const auto& item : object_.items()) {
    const std::string& key = item.key();  // a plain name: clang 14 cannot capture a binding
    const bool is_known =
        std::any_of(known.begin(), known.end(), [&](const char* k) { return key == k; });
    if (!is_known) {
      std::string names;
      for (const char* k : known) names += std::string(names.empty() ? "" : ", ") + k;
      return Fail(path_ + "." + key, "unknown field (known: " + names + ")");
    }
  }
}

std::string DescribeParseError(const std::string& text, const json::parse_error& e) {
  size_t line = 1, column = 1;
  const size_t end = std::min(e.byte == 0 ? 0 : e.byte - 1, text.size());
  for (size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  // nlohmann's message starts with "[json.exception.parse_error.101] parse error at ...".
  std::string what = e.what();
  const size_t colon = what.find(": ");
  if (colon != std::string::npos) what = what.substr(colon + 2);
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + what;
}

void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

}  // namespace ismscode::mock
