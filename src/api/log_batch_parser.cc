#include "api/log_batch_parser.h"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace cairn::api {
namespace {

// A cursor over the body; every method returns false on input it does not handle.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    SkipSpace();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }

  bool String(std::string& out) {
    out.clear();
    if (!Consume('"')) return false;
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '"') {
        out.append(text_.data() + start, pos_ - start);
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        out.append(text_.data() + start, pos_ - start);
        if (pos_ + 1 >= text_.size()) return false;
        switch (text_[pos_ + 1]) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          default: return false;  // \uXXXX: left to the general parser
        }
        pos_ += 2;
        start = pos_;
        continue;
      }
      ++pos_;
    }
    return false;
  }

  // A JSON number token (no surrounding quotes).
  bool NumberToken(std::string_view& token) {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        ++pos_;
      } else {
        break;
      }
    }
    token = text_.substr(start, pos_ - start);
    return !token.empty();
  }

  bool Double(double& out) {
    if (Peek('"')) {
      std::string text;
      if (!String(text)) return false;
      if (text == "NaN") out = std::nan("");
      else if (text == "Infinity") out = INFINITY;
      else if (text == "-Infinity") out = -INFINITY;
      else return false;
      return true;
    }
    std::string_view token;
    if (!NumberToken(token)) return false;
    auto result = std::from_chars(token.data(), token.data() + token.size(), out);
    return result.ec == std::errc() && result.ptr == token.data() + token.size();
  }

  bool Int64(int64_t& out) {
    std::string_view token;
    if (Peek('"')) return false;
    if (!NumberToken(token)) return false;
    auto result = std::from_chars(token.data(), token.data() + token.size(), out);
    return result.ec == std::errc() && result.ptr == token.data() + token.size();
  }

  // Skips any value without interpreting it (unknown fields).
  bool SkipValue(int depth = 0) {
    if (depth > 64) return false;
    SkipSpace();
    if (pos_ >= text_.size()) return false;
    char c = text_[pos_];
    if (c == '"') {
      std::string ignored;
      return String(ignored);
    }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++pos_;
      if (Consume(close)) return true;
      do {
        if (c == '{') {
          std::string ignored;
          if (!String(ignored) || !Consume(':')) return false;
        }
        if (!SkipValue(depth + 1)) return false;
      } while (Consume(','));
      return Consume(close);
    }
    for (std::string_view literal : {"true", "false", "null"}) {
      if (text_.substr(pos_, literal.size()) == literal) {
        pos_ += literal.size();
        return true;
      }
    }
    std::string_view token;
    return NumberToken(token);
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

bool ParseMetric(Scanner& scanner, tracking::Metric& metric) {
  if (!scanner.Consume('{')) return false;
  bool has_key = false, has_value = false, has_timestamp = false;
  metric.step = 0;
  if (!scanner.Consume('}')) {
    std::string field;
    do {
      if (!scanner.String(field) || !scanner.Consume(':')) return false;
      if (field == "key") {
        if (!scanner.String(metric.key)) return false;
        has_key = !metric.key.empty();
      } else if (field == "value") {
        if (!scanner.Double(metric.value)) return false;
        has_value = true;
      } else if (field == "timestamp") {
        if (!scanner.Int64(metric.timestamp)) return false;
        has_timestamp = true;
      } else if (field == "step") {
        if (!scanner.Int64(metric.step)) return false;
      } else if (!scanner.SkipValue()) {
        return false;
      }
    } while (scanner.Consume(','));
    if (!scanner.Consume('}')) return false;
  }
  return has_key && has_value && has_timestamp;
}

template <typename T>
bool ParseKeyValue(Scanner& scanner, T& entry) {
  if (!scanner.Consume('{')) return false;
  bool has_key = false;
  if (!scanner.Consume('}')) {
    std::string field;
    do {
      if (!scanner.String(field) || !scanner.Consume(':')) return false;
      if (field == "key") {
        if (!scanner.String(entry.key)) return false;
        has_key = !entry.key.empty();
      } else if (field == "value") {
        if (!scanner.String(entry.value)) return false;
      } else if (!scanner.SkipValue()) {
        return false;
      }
    } while (scanner.Consume(','));
    if (!scanner.Consume('}')) return false;
  }
  return has_key;
}

template <typename T, typename Fn>
bool ParseArray(Scanner& scanner, std::vector<T>& out, Fn parse_one) {
  if (!scanner.Consume('[')) return false;
  if (scanner.Consume(']')) return true;
  do {
    if (!parse_one(scanner, out.emplace_back())) return false;
  } while (scanner.Consume(','));
  return scanner.Consume(']');
}

}  // namespace

std::optional<LogBatchBody> FastParseLogBatch(std::string_view body) {
  Scanner scanner(body);
  LogBatchBody out;
  std::string run_uuid;
  if (!scanner.Consume('{')) return std::nullopt;
  if (!scanner.Consume('}')) {
    std::string field;
    do {
      if (!scanner.String(field) || !scanner.Consume(':')) return std::nullopt;
      bool ok;
      if (field == "run_id") {
        ok = scanner.String(out.run_id);
      } else if (field == "run_uuid") {
        ok = scanner.String(run_uuid);
      } else if (field == "metrics") {
        out.metrics.reserve(body.size() / 64);
        ok = ParseArray(scanner, out.metrics, ParseMetric);
      } else if (field == "params") {
        ok = ParseArray(scanner, out.params, ParseKeyValue<tracking::Param>);
      } else if (field == "tags") {
        ok = ParseArray(scanner, out.tags, ParseKeyValue<tracking::RunTag>);
      } else {
        ok = scanner.SkipValue();
      }
      if (!ok) return std::nullopt;
    } while (scanner.Consume(','));
    if (!scanner.Consume('}')) return std::nullopt;
  }
  if (!scanner.AtEnd()) return std::nullopt;
  if (out.run_id.empty()) out.run_id = std::move(run_uuid);
  return out;
}

}  // namespace cairn::api
