#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ismscode::mock {

// Bounds on one HTTP request, whatever its framing.
struct FramingLimits {
  size_t max_head_bytes = 16 * 1024;  // request line + headers (and a chunked body's trailers)
  size_t max_headers = 100;           // header fields
  size_t max_body_bytes = 1 << 20;    // after de-chunking
};

// Finds where one HTTP/1.1 request ends in the bytes a connection has sent, before any
// handler sees it, and enforces FramingLimits on the way: the head's size and field
// count, the body's size however it is framed (Content-Length or chunked), and the
// framing rules that keep a request unambiguous (one valid Content-Length, not both
// framings, no other transfer coding).
//
// Feed bytes as they arrive; once Complete, request() is the request rewritten with a
// plain Content-Length (a chunked body joined, trailers and Expect dropped), ready for a
// parser that trusts its input, and TakeLeftover() gives the bytes that followed it
// (a pipelined request). Work per byte is constant: nothing is scanned twice.
// Not thread-safe; one per connection.
class RequestFramer {
 public:
  enum class State { kNeedMore, kComplete, kFailed };

  struct Failure {
    int status = 0;      // 400, 413, 414, 431, 501
    const char* code;    // "bad_request", "payload_too_large", ...
    const char* reason;  // one sentence for the error body
  };

  explicit RequestFramer(const FramingLimits& limits) : limits_(limits) {}

  // Appends `bytes` and frames as far as they allow. Returns the new state; once
  // kComplete or kFailed, further bytes are kept but not looked at until Reset().
  State Feed(std::string_view bytes);

  State state() const { return state_; }
  bool started() const { return !buffer_.empty(); }
  // The client sent "Expect: 100-continue" and its body is still to come: the caller
  // may answer "100 Continue" once (see TakeContinue()).
  bool TakeContinue();
  // Valid while kComplete, until Reset().
  const std::string& request() const { return request_; }
  // Valid while kFailed.
  const Failure& failure() const { return failure_; }

  // Starts over for the next request on the same connection, with the bytes that came
  // after the completed one, and gives back the memory of a large request. Returns the
  // state after framing those.
  State Reset();

  // Frees every buffer: the connection is being closed and only drains what comes.
  void Release();

 private:
  enum class Phase { kHead, kFixedBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers };

  State Fail(int status, const char* code, const char* reason);
  State Step();
  State ParseHead(size_t head_end);
  State FinishRequest(size_t end, std::string_view body);
  static void ReleaseIfLarge(std::string& s);
  static constexpr size_t kKeepCapacity = 64 * 1024;
  // The end of the line starting at `from` (just past its '\n'), or npos.
  size_t LineEnd(size_t from) const;
  // LineEnd(scan_), remembering how far a partial line has been searched.
  size_t NextLineEnd();

  const FramingLimits limits_;
  std::string buffer_;  // everything received since the request's first byte
  std::string request_;
  State state_ = State::kNeedMore;
  Phase phase_ = Phase::kHead;
  Failure failure_{};
  size_t scan_ = 0;           // buffer_ before this has been looked at
  size_t searched_ = 0;       // no '\n' in [scan_, searched_)
  size_t body_start_ = 0;     // after the head's blank line
  uint64_t body_length_ = 0;  // kFixedBody: Content-Length
  uint64_t chunk_left_ = 0;   // kChunkData: bytes of the current chunk still to come
  std::string body_;          // a chunked body, joined
  size_t trailer_bytes_ = 0;  // kTrailers
  size_t fields_ = 0;         // header lines so far (then trailer lines)
  bool continue_pending_ = false;
};

}  // namespace ismscode::mock
