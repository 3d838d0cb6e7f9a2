#include "mock/metrics.h"

#include <prometheus/text_serializer.h>

#include <cstdio>
#include <sstream>

namespace ismscode::mock {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

MockMetrics::MockMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("ismscode_mock_requests_total")
                    .Help("HTTP requests answered by the mock, by endpoint and status code")
                    .Register(*registry_)),
      numbers_issued_(BuildCounter()
                          .Name("ismscode_mock_numbers_issued_total")
                          .Help("Numbers handed out by POST /numbers/request")
                          .Register(*registry_)),
      sms_delivered_(BuildCounter()
                         .Name("ismscode_mock_sms_delivered_total")
                         .Help("SMS that became visible on GET /numbers/:id/sms")
                         .Register(*registry_)),
      faults_(BuildCounter()
                  .Name("ismscode_mock_faults_injected_total")
                  .Help("Injected faults that fired, by kind")
                  .Register(*registry_)),
      active_numbers_(BuildGauge()
                          .Name("ismscode_mock_numbers_active")
                          .Help("Numbers whose reservation has not expired")
                          .Register(*registry_)
                          .Add({})) {}

prometheus::Counter& MockMetrics::Get(prometheus::Family<prometheus::Counter>& family,
                                      Labels labels) {
  // The cache key lives in a reused per-thread buffer: no allocation once warm.
  thread_local std::string key;
  // The family's address (not its bytes) tells families with equal labels apart.
  const void* family_id = &family;
  key.assign(reinterpret_cast<const char*>(&family_id), sizeof family_id);
  for (const auto& [name, value] : labels) {
    key += '\x1f';
    key += value;
  }
  std::lock_guard lock(cache_mutex_);
  auto it = cache_.find(std::string_view(key));
  if (it == cache_.end()) {
    std::map<std::string, std::string> label_map;
    for (const auto& [name, value] : labels) label_map.emplace(name, value);
    it = cache_.emplace(key, &family.Add(label_map)).first;
  }
  return *it->second;
}

void MockMetrics::CountRequest(std::string_view endpoint, int status) {
  char status_text[12];
  const int n = std::snprintf(status_text, sizeof status_text, "%d", status);
  Get(requests_, {{"endpoint", endpoint}, {"status", std::string_view(status_text, n)}})
      .Increment();
}

void MockMetrics::CountNumberIssued(const std::string& country, const std::string& service) {
  Get(numbers_issued_, {{"country", country}, {"service", service}}).Increment();
}

void MockMetrics::CountSmsDelivered(const std::string& service) {
  Get(sms_delivered_, {{"service", service}}).Increment();
}

void MockMetrics::CountFault(std::string_view kind) { Get(faults_, {{"kind", kind}}).Increment(); }

std::string MockMetrics::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace ismscode::mock
