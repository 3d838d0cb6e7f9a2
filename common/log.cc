#include "common/log.h"

#include <chrono>
#include <iostream>

#include "common/json_text.h"
#include "common/time_format.h"

namespace ismscode {

void LogLine(const char* level, const char* msg, const nlohmann::ordered_json& fields) {
  nlohmann::ordered_json line = {
      {"ts", FormatRfc3339(std::chrono::system_clock::now())}, {"level", level}, {"msg", msg}};
  line.update(fields);
  std::cerr << SafeDump(line) << std::endl;
}

}  // namespace ismscode
