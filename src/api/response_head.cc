#include "api/response_head.h"

#include <algorithm>
#include <boost/beast/http/status.hpp>
#include <cctype>
#include <ostream>  // boost/beast/http/status.hpp needs it

namespace cairn::api {
namespace {

namespace http = boost::beast::http;

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t char_idx = 0; char_idx < a.size(); ++char_idx) {
    if (std::tolower(static_cast<unsigned char>(a[char_idx])) !=
        std::tolower(static_cast<unsigned char>(b[char_idx]))) {
      return false;
    }
  }
  return true;
}

// Beast's detail::trim: spaces and horizontal tabs at both ends.
std::string_view Trim(std::string_view value) {
  size_t begin = 0;
  size_t end = value.size();
  while (begin < end && (value[begin] == ' ' || value[begin] == '\t')) ++begin;
  while (end > begin && (value[end - 1] == ' ' || value[end - 1] == '\t')) --end;
  return value.substr(begin, end - begin);
}

void AppendField(std::string_view name, std::string_view value, std::string* out) {
  out->append(name);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

// RFC 9110's tchar.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsSafeValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

bool HeadersAreSafe(std::string_view content_type, const HeaderList& headers) {
  if (!IsSafeValue(content_type)) return false;
  for (const auto& [name, value] : headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) return false;
    if (!IsSafeValue(value)) return false;
  }
  return true;
}

bool CanWriteResponseHead(int status, const HeaderList& headers, size_t body_size) {
  if (status < 100 || status > 999) return false;
  if (body_size > 0 && (status < 200 || status == 204 || status == 304)) return false;
  for (size_t header_idx = 0; header_idx < headers.size(); ++header_idx) {
    const std::string& name = headers[header_idx].first;
    // Beast rewrites these, and writes fields of one name next to each other (a second
    // Server or Content-Type, or a repeated name, would move).
    if (IEquals(name, "connection") || IEquals(name, "content-length") ||
        IEquals(name, "transfer-encoding") || IEquals(name, "server") ||
        IEquals(name, "content-type")) {
      return false;
    }
    for (size_t other_idx = 0; other_idx < header_idx; ++other_idx) {
      if (IEquals(name, headers[other_idx].first)) return false;
    }
  }
  return true;
}

void AppendResponseHead(unsigned version, int status, bool keep_alive,
                        std::string_view content_type, const HeaderList& headers,
                        size_t body_size, std::string* out) {
  const char line[] = {'H', 'T', 'T', 'P', '/',
                       static_cast<char>('0' + version / 10), '.',
                       static_cast<char>('0' + version % 10), ' ',
                       static_cast<char>('0' + status / 100),
                       static_cast<char>('0' + (status / 10) % 10),
                       static_cast<char>('0' + status % 10), ' '};
  out->append(line, sizeof(line));
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  out->append(reason.data(), reason.size());
  out->append("\r\nServer: cairn\r\n");
  if (!content_type.empty()) AppendField("Content-Type", Trim(content_type), out);
  for (const auto& [name, value] : headers) AppendField(name, Trim(value), out);
  if (version < 11 && keep_alive) out->append("Connection: keep-alive\r\n");
  if (version >= 11 && !keep_alive) out->append("Connection: close\r\n");
  char digits[24];
  size_t digit_idx = sizeof(digits);
  size_t n = body_size;
  do {
    digits[--digit_idx] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out->append("Content-Length: ");
  out->append(digits + digit_idx, sizeof(digits) - digit_idx);
  out->append("\r\n\r\n");
}

}  // namespace cairn::api
