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

void MockMetrics::CountRequest(std::string_view endpoint, int status) {
  char status_text[12];
  const int n = std::snprintf(status_text, sizeof status_text, "%d", status);
  children_.Get(requests_, {{"endpoint", endpoint}, {"status", std::string_view(status_text, n)}})
      .Increment();
}

void MockMetrics::CountNumberIssued(const std::string& country, const std::string& service) {
  children_.Get(numbers_issued_, {{"country", country}, {"service", service}}).Increment();
}

void MockMetrics::CountSmsDelivered(const std::string& service) {
  children_.Get(sms_delivered_, {{"service", service}}).Increment();
}

void MockMetrics::CountFault(std::string_view kind) {
  children_.Get(faults_, {{"kind", kind}}).Increment();
}

std::string MockMetrics::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace ismscode::mock
