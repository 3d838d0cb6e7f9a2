#include "mock/request_framer.h"

#include <algorithm>
#include <cctype>

#include "mock/route_util.h"

namespace ismscode::mock {

using route::EqualsIgnoreCase;
using route::Trim;

namespace {

constexpr size_t kMaxRequestLine = 8192;  // as cpp-httplib's URI limit: longer gets 414
constexpr size_t kMaxChunkSizeLine = 64;  // hex size + a short extension
// Chunked data already joined is dropped from the receive buffer past this much.
constexpr size_t kCompactAfter = 64 * 1024;

bool IsTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A line without its "\n" or "\r\n".
std::string_view WithoutEol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool ValidRequestLine(std::string_view line) {
  const size_t sp1 = line.find(' ');
  if (sp1 == 0 || sp1 == std::string_view::npos) return false;
  for (size_t i = 0; i < sp1; ++i) {
    if (!IsTokenChar(line[i])) return false;
  }
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
  for (size_t i = sp1 + 1; i < sp2; ++i) {
    const unsigned char c = line[i];
    if (c <= 0x20 || c == 0x7f) return false;
  }
  const std::string_view version = line.substr(sp2 + 1);
  return version == "HTTP/1.1" || version == "HTTP/1.0";
}

}  // namespace

RequestFramer::State RequestFramer::Feed(std::string_view bytes) {
  buffer_.append(bytes);
  if (state_ != State::kNeedMore) return state_;
  return Step();
}

void RequestFramer::ReleaseIfLarge(std::string& s) {
  if (s.capacity() > kKeepCapacity) {
    std::string().swap(s);
  } else {
    s.clear();
  }
}

void RequestFramer::Release() {
  std::string().swap(buffer_);
  std::string().swap(request_);
  std::string().swap(body_);
  scan_ = body_start_ = searched_ = 0;
}

bool RequestFramer::TakeContinue() {
  const bool take = continue_pending_ && state_ == State::kNeedMore;
  continue_pending_ = false;
  return take;
}

RequestFramer::State RequestFramer::Reset() {
  const size_t consumed = state_ == State::kComplete ? scan_ : buffer_.size();
  buffer_.erase(0, consumed);
  // A large request's memory goes with it: an idle keep-alive connection keeps little.
  ReleaseIfLarge(request_);
  ReleaseIfLarge(body_);
  if (buffer_.capacity() > kKeepCapacity && buffer_.size() <= kKeepCapacity) {
    std::string(buffer_).swap(buffer_);
  }
  state_ = State::kNeedMore;
  phase_ = Phase::kHead;
  failure_ = {};
  scan_ = body_start_ = searched_ = 0;
  body_length_ = chunk_left_ = 0;
  trailer_bytes_ = fields_ = 0;
  continue_pending_ = false;
  return buffer_.empty() ? state_ : Step();
}

RequestFramer::State RequestFramer::Fail(int status, const char* code, const char* reason) {
  failure_ = {status, code, reason};
  state_ = State::kFailed;
  return state_;
}

size_t RequestFramer::NextLineEnd() {
  // A partial line is not searched again when more of it comes.
  const size_t nl = buffer_.find('\n', std::max(scan_, searched_));
  if (nl == std::string::npos) {
    searched_ = buffer_.size();
    return nl;
  }
  searched_ = nl + 1;
  return nl + 1;
}

size_t RequestFramer::LineEnd(size_t from) const {
  const size_t nl = buffer_.find('\n', from);
  return nl == std::string::npos ? nl : nl + 1;
}

RequestFramer::State RequestFramer::Step() {
  for (;;) {
    switch (phase_) {
      case Phase::kHead: {
        // Empty lines before a request are ignored (RFC 9112 2.2): some clients send a
        // CRLF after a body.
        if (scan_ == 0) {
          const size_t first = buffer_.find_first_not_of("\r\n");
          if (first == std::string::npos) {
            buffer_.clear();
            searched_ = 0;
            return state_;
          }
          buffer_.erase(0, first);
          searched_ = 0;
        }
        // The head ends at the first empty line; scan_ is the start of the line not yet
        // seen whole, so each byte is looked at once.
        for (;;) {
          const size_t end = NextLineEnd();
          if (end == std::string::npos) break;
          const std::string_view line =
              WithoutEol(std::string_view(buffer_).substr(scan_, end - scan_));
          if (scan_ == 0 && end > kMaxRequestLine) {
            return Fail(414, "uri_too_long", "The request URI is too long.");
          }
          if (end > limits_.max_head_bytes) {
            return Fail(431, "request_header_fields_too_large",
                        "The request headers are too large.");
          }
          if (line.empty()) return ParseHead(end);
          scan_ = end;
          if (++fields_ > limits_.max_headers + 1) {  // + the request line
            return Fail(431, "request_header_fields_too_large", "Too many request headers.");
          }
        }
        if (scan_ == 0 && buffer_.size() > kMaxRequestLine) {
          return Fail(414, "uri_too_long", "The request URI is too long.");
        }
        if (buffer_.size() > limits_.max_head_bytes) {
          return Fail(431, "request_header_fields_too_large", "The request headers are too large.");
        }
        return state_;
      }
      case Phase::kFixedBody:
        if (buffer_.size() - body_start_ < body_length_) return state_;
        return FinishRequest(body_start_ + body_length_,
                             std::string_view(buffer_).substr(body_start_, body_length_));
      case Phase::kChunkSize: {
        const size_t end = NextLineEnd();
        if (end == std::string::npos) {
          if (buffer_.size() - scan_ > kMaxChunkSizeLine) {
            return Fail(400, "bad_request", "A chunk size line is too long.");
          }
          return state_;
        }
        if (end - scan_ > kMaxChunkSizeLine) {
          return Fail(400, "bad_request", "A chunk size line is too long.");
        }
        const std::string_view line =
            WithoutEol(std::string_view(buffer_).substr(scan_, end - scan_));
        uint64_t size = 0;
        size_t i = 0, digits = 0;
        for (; i < line.size() && std::isxdigit(static_cast<unsigned char>(line[i])); ++i) {
          if (size == 0 && line[i] == '0') continue;  // leading zeros say nothing
          if (++digits > 15)
            return Fail(413, "payload_too_large", "The request body is too large.");
          const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
          size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        const std::string_view rest = line.substr(i);
        if (i == 0 || !(rest.empty() || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t')) {
          return Fail(400, "bad_request", "A chunk size is not hexadecimal.");
        }
        scan_ = end;
        if (size == 0) {
          phase_ = Phase::kTrailers;
          fields_ = 0;
          continue;
        }
        if (size > limits_.max_body_bytes - body_.size()) {
          return Fail(413, "payload_too_large", "The request body is too large.");
        }
        chunk_left_ = size;
        phase_ = Phase::kChunkData;
        continue;
      }
      case Phase::kChunkData: {
        const size_t take = std::min<uint64_t>(chunk_left_, buffer_.size() - scan_);
        body_.append(buffer_, scan_, take);
        scan_ += take;
        chunk_left_ -= take;
        if (scan_ > kCompactAfter) {
          buffer_.erase(0, scan_);
          scan_ = searched_ = 0;
        }
        if (chunk_left_ > 0) return state_;
        phase_ = Phase::kChunkDataEnd;
        continue;
      }
      case Phase::kChunkDataEnd: {
        const std::string_view rest = std::string_view(buffer_).substr(scan_);
        if (rest.starts_with("\n")) {
          scan_ += 1;
        } else if (rest.starts_with("\r\n")) {
          scan_ += 2;
        } else if (rest.empty() || rest == "\r") {
          return state_;
        } else {
          return Fail(400, "bad_request", "A chunk does not end with CRLF.");
        }
        phase_ = Phase::kChunkSize;
        continue;
      }
      case Phase::kTrailers: {
        const size_t end = NextLineEnd();
        if (end == std::string::npos) {
          if (trailer_bytes_ + buffer_.size() - scan_ > limits_.max_head_bytes) {
            return Fail(431, "request_header_fields_too_large",
                        "The request trailers are too large.");
          }
          return state_;
        }
        const std::string_view line =
            WithoutEol(std::string_view(buffer_).substr(scan_, end - scan_));
        trailer_bytes_ += end - scan_;
        scan_ = end;
        if (line.empty()) return FinishRequest(end, body_);  // trailers are dropped
        if (trailer_bytes_ > limits_.max_head_bytes || ++fields_ > limits_.max_headers) {
          return Fail(431, "request_header_fields_too_large",
                      "The request trailers are too large.");
        }
        continue;
      }
    }
  }
}

RequestFramer::State RequestFramer::ParseHead(size_t head_end) {
  // The head is whole and within its limits; check its syntax and framing, and copy it
  // into request_ without the headers that framing replaces.
  const std::string_view head = std::string_view(buffer_).substr(0, head_end);
  size_t pos = LineEnd(0);
  const std::string_view request_line = WithoutEol(head.substr(0, pos));
  if (!ValidRequestLine(request_line)) {
    return Fail(400, "bad_request", "The request line is malformed.");
  }
  request_.assign(request_line);
  request_ += "\r\n";
  bool has_length = false, chunked = false, expect_continue = false;
  uint64_t length = 0;
  while (pos < head_end) {
    const size_t end = LineEnd(pos);
    const std::string_view line = WithoutEol(head.substr(pos, end - pos));
    pos = end;
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') {
      return Fail(400, "bad_request", "Folded header lines are not accepted.");
    }
    const size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      return Fail(400, "bad_request", "A header line has no name.");
    }
    const std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTokenChar)) {
      return Fail(400, "bad_request", "A header name is malformed.");
    }
    const std::string_view value = Trim(line.substr(colon + 1));
    if (value.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
      return Fail(400, "bad_request", "A header value is malformed.");
    }
    if (EqualsIgnoreCase(name, "Content-Length")) {
      if (value.empty() ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return Fail(400, "bad_request", "Content-Length is not a non-negative integer.");
      }
      uint64_t parsed = 0;
      const std::string_view digits =
          value.substr(std::min(value.find_first_not_of('0'), value.size()));
      const bool too_large = digits.size() > 18;  // leading zeros say nothing
      for (char c : digits) parsed = too_large ? 0 : parsed * 10 + static_cast<uint64_t>(c - '0');
      if (too_large || parsed > limits_.max_body_bytes) {
        return Fail(413, "payload_too_large", "The request body is too large.");
      }
      if (has_length && parsed != length) {
        return Fail(400, "bad_request", "Content-Length is given twice, differently.");
      }
      has_length = true;
      length = parsed;
      continue;
    }
    if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
      if (chunked || !EqualsIgnoreCase(value, "chunked")) {
        return Fail(501, "not_implemented", "Only the chunked transfer coding is supported.");
      }
      chunked = true;
      continue;
    }
    if (EqualsIgnoreCase(name, "Expect")) {
      expect_continue = EqualsIgnoreCase(value, "100-continue");
      continue;
    }
    request_.append(line);
    request_ += "\r\n";
  }
  if (has_length && chunked) {
    return Fail(400, "bad_request", "Content-Length and Transfer-Encoding are both given.");
  }
  scan_ = body_start_ = head_end;
  if (chunked) {
    phase_ = Phase::kChunkSize;
  } else {
    phase_ = Phase::kFixedBody;
    body_length_ = length;
  }
  continue_pending_ = expect_continue && (chunked || length > 0);
  return Step();
}

RequestFramer::State RequestFramer::FinishRequest(size_t end, std::string_view body) {
  request_ += "Content-Length: ";
  request_ += std::to_string(body.size());
  request_ += "\r\n\r\n";
  request_ += body;
  ReleaseIfLarge(body_);
  scan_ = end;
  state_ = State::kComplete;
  return state_;
}

}  // namespace ismscode::mock
