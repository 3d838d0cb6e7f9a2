#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "common/metric_children.h"

namespace ismscode::mock {

// The mock's own Prometheus metrics, served on GET /metrics. Names and labels live here
// and in METRICS.md, nowhere else. Labels never carry keys, phone numbers or ids.
//
//   ismscode_mock_requests_total{endpoint, status}     every HTTP request answered
//   ismscode_mock_numbers_issued_total{country, service}
//   ismscode_mock_sms_delivered_total{service}         SMS that became visible
//   ismscode_mock_faults_injected_total{kind}
//   ismscode_mock_numbers_active                        numbers not yet expired
class MockMetrics {
 public:
  MockMetrics();

  void CountRequest(std::string_view endpoint, int status);
  void CountNumberIssued(const std::string& country, const std::string& service);
  void CountSmsDelivered(const std::string& service);
  void CountFault(std::string_view kind);
  void SetActiveNumbers(double n) { active_numbers_.Set(n); }

  // The Prometheus text exposition format.
  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& numbers_issued_;
  prometheus::Family<prometheus::Counter>& sms_delivered_;
  prometheus::Family<prometheus::Counter>& faults_;
  prometheus::Gauge& active_numbers_;
  MetricChildren children_;
};

}  // namespace ismscode::mock
