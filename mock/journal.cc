#include "mock/journal.h"

namespace ismscode::mock {

using json = nlohmann::ordered_json;

std::string MaskKey(const std::string& key) {
  if (key.empty()) return "";
  if (key.size() < 12) return "…";
  return key.substr(0, 4) + "…";
}

void Journal::Append(JournalEntry entry) {
  if (capacity_ == 0) return;
  entry.seq = next_seq_++;
  if (entries_.size() == capacity_) entries_.pop_front();
  entries_.push_back(std::move(entry));
}

void Journal::Clear() {
  entries_.clear();
  next_seq_ = 1;
}

json Journal::Query(int64_t after_seq, const std::string& key, size_t limit) const {
  json out = json::array();
  for (const JournalEntry& e : entries_) {
    if (out.size() >= limit) break;
    if (e.seq <= after_seq || (!key.empty() && e.key != key)) continue;
    json j = {{"seq", e.seq},      {"at", FormatRfc3339(e.at)}, {"method", e.method},
              {"path", e.path},    {"endpoint", e.endpoint},    {"key", MaskKey(e.key)},
              {"status", e.status}};
    if (!e.country.empty()) j["country"] = e.country;
    if (!e.service.empty()) j["service"] = e.service;
    if (!e.number_id.empty()) j["number_id"] = e.number_id;
    if (!e.error_code.empty()) j["code"] = e.error_code;
    if (!e.fault.empty()) j["fault"] = e.fault;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace ismscode::mock
