#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace ismscode::bench {

// Throughput and latency percentiles of one load run.
struct LoadResult {
  double rps = 0, p50_us = 0, p99_us = 0;
  size_t errors = 0;
};

// Pools the latencies (us) recorded by each load thread over `seconds`.
inline LoadResult Summarise(const std::vector<std::vector<float>>& per_thread, double seconds,
                            size_t errors) {
  std::vector<float> all;
  for (const auto& l : per_thread) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  LoadResult r;
  r.rps = static_cast<double>(all.size()) / seconds;
  r.p50_us = all.empty() ? 0 : all[all.size() / 2];
  r.p99_us = all.empty() ? 0 : all[all.size() * 99 / 100];
  r.errors = errors;
  return r;
}

}  // namespace ismscode::bench
