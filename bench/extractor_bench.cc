// Code extraction: precision and recall on the shared corpus, and time against text
// size for texts built to be hard (many cue words, many numbers, much noise), to show
// that extraction stays linear in the text's length.
//
//   build/bench/extractor_bench [--corpus FILE]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "server/code_extractor.h"

using ismscode::gateway::CodeExtractor;

namespace {

CodeExtractor Default() { return *CodeExtractor::Create({}); }

void Corpus(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  const auto corpus = nlohmann::json::parse(buf.str(), nullptr, false);
  if (!corpus.is_object()) {
    std::printf("corpus: cannot read %s\n", path.c_str());
    return;
  }
  int with = 0, without = 0, right = 0, wrong = 0, missed = 0, invented = 0;
  const CodeExtractor e = Default();
  for (const auto& c : corpus["cases"]) {
    const auto got = e.Extract(c["text"].get<std::string>());
    if (c["code"].is_null()) {
      ++without;
      invented += got.has_value();
    } else {
      ++with;
      if (!got) {
        ++missed;
      } else if (got->code == c["code"].get<std::string>()) {
        ++right;
      } else {
        ++wrong;
      }
    }
  }
  const int claimed = right + wrong + invented;
  std::printf("corpus %s\n  %d SMS with a code, %d without\n", path.c_str(), with, without);
  std::printf("  right %d, wrong code %d, missed %d, code invented %d\n", right, wrong, missed,
              invented);
  std::printf("  precision %.3f, recall %.3f\n\n", claimed ? 1.0 * right / claimed : 1.0,
              with ? 1.0 * right / with : 1.0);
}

std::string Repeat(const std::string& unit, size_t bytes) {
  std::string out;
  while (out.size() < bytes) out += unit;
  return out;
}

void Timing() {
  const CodeExtractor e = Default();
  struct Shape {
    const char* name;
    std::string unit;
  };
  const std::vector<Shape> shapes = {
      {"cue words and codes", "Your code is 4821, verification code 583920. "},
      {"phone numbers", "Call +1 (212) 555-0198 or 1-206-555-0142. "},
      {"references", "Ref K-7788, order #123456, Bestellung 448812. "},
      {"digits only", "7777777777 "},
      {"words", "lorem ipsum dolor sit amet consectetur "},
  };
  std::printf("%-22s %10s %12s %12s\n", "text", "bytes", "time", "ns/byte");
  for (const Shape& shape : shapes) {
    for (size_t bytes : {10'000u, 100'000u, 300'000u, 1'000'000u}) {
      const std::string text = Repeat(shape.unit, bytes);
      const auto start = std::chrono::steady_clock::now();
      const auto got = e.Extract(text);
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("%-22s %10zu %10.2f ms %12.1f%s\n", shape.name, text.size(), s * 1e3,
                  s * 1e9 / text.size(), got ? "" : "  (no code)");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus = ISMSCODE_SMS_CORPUS;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--corpus") == 0) corpus = argv[++i];
  }
  Corpus(corpus);
  Timing();
  return 0;
}
