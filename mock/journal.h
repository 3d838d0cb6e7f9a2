#pragma once

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>

#include "mock/clock.h"

namespace ismscode::mock {

// One REST request as the mock saw it.
struct JournalEntry {
  int64_t seq = 0;
  TimePoint at;
  std::string method, path, endpoint;
  std::string key;  // kept to filter by; shown only as a masked hint
  std::string country, service, number_id;
  int status = 0;
  std::string error_code;  // the body's "code" for errors
  std::string fault;       // the injected fault's kind, if one fired
};

// A bounded, ordered record of REST requests (oldest dropped first). Not thread-safe.
class Journal {
 public:
  explicit Journal(size_t capacity) : capacity_(capacity) {}

  void Append(JournalEntry entry);
  void Clear();
  // Entries with seq > after_seq, matching `key` when non-empty, at most `limit`, oldest
  // first, as JSON with keys masked.
  nlohmann::ordered_json Query(int64_t after_seq, const std::string& key, size_t limit) const;
  int64_t last_seq() const { return next_seq_ - 1; }

 private:
  size_t capacity_;
  std::deque<JournalEntry> entries_;
  int64_t next_seq_ = 1;
};

// "sk_live_abcdef" -> "sk_l…": enough to tell keys apart, never the key itself.
std::string MaskKey(const std::string& key);

}  // namespace ismscode::mock
