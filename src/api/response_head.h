#pragma once
// The status line and header of a response with an in-memory body, written directly into
// one buffer (the body is then sent with it in one gather write), byte for byte as
// Boost.Beast's serializer writes the message the server used to build for it:
//   "HTTP/1.1 200 OK\r\n"            (Beast's reason phrase for the code)
//   "Server: cairn\r\n"
//   "Content-Type: <type>\r\n"       (only when not empty)
//   "<name>: <value>\r\n" …          (the handler's headers in order; values trimmed of
//                                     spaces and tabs at both ends, as Beast stores them)
//   "Connection: close\r\n"          (HTTP/1.1 without keep-alive; HTTP/1.0 with keep-alive:
//                                     "Connection: keep-alive")
//   "Content-Length: <n>\r\n\r\n"
// Beast is kept for what this does not cover (CanWriteResponseHead false): handler headers
// that Beast merges or rewrites (Connection, Content-Length, Transfer-Encoding), a handler's
// own Server or Content-Type, a header name given twice (Beast groups fields of one name),
// and 1xx/204/304 answers with a body (Beast refuses those).

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::api {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Whether a handler's Content-Type and headers can go on the wire as they are: every name
// a non-empty HTTP token, no CR, LF or NUL in a value or the Content-Type (Beast checks
// neither, so a value with "\r\n" would add header lines of its own). The server answers
// 500 instead of a response that fails this.
bool HeadersAreSafe(std::string_view content_type, const HeaderList& headers);

// Whether AppendResponseHead writes exactly what Beast would for this response.
bool CanWriteResponseHead(int status, const HeaderList& headers, size_t body_size);

// Appends the head to `out`. `version` is Beast's: 10 for HTTP/1.0, 11 for HTTP/1.1;
// `status` 100–999. Requires CanWriteResponseHead.
void AppendResponseHead(unsigned version, int status, bool keep_alive,
                        std::string_view content_type, const HeaderList& headers,
                        size_t body_size, std::string* out);

}  // namespace cairn::api
