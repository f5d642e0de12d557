#include "monitoring/csv_frame.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/strings.h"
#include "monitoring/category_label.h"

namespace cairn::monitoring {
namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();
// Chunks are at least this large (texts below four of them are one chunk).
constexpr size_t kMinChunkBytes = 256 << 10;
constexpr int kChunksPerThread = 4;

enum class Kind { kSkip, kInfer, kCategorical };

bool IsLineEnd(char c) { return c == '\n' || c == '\r'; }
bool IsFieldEnd(char c) { return c == ',' || c == '\n' || c == '\r'; }

// pandas' default NA tokens (pandas/_libs/parsers STR_NA_VALUES), matched on the field as
// written (after unquoting), plus the empty field.
bool IsNaToken(std::string_view text) {
  if (text.empty()) return true;
  if (text.size() > 8) return false;
  switch (text[0]) {
    case '#': case '-': case '1': case '<': case 'N': case 'n':
      break;
    default:
      return false;
  }
  static constexpr std::string_view kTokens[] = {
      "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
      "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"};
  for (std::string_view token : kTokens) {
    if (text == token) return true;
  }
  return false;
}

constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// The common case of a numeric field, decimal digits with an optional '-' and fraction
// ("-12.5034", "7"), without std::from_chars: when the digits as an integer w are at most
// 2^53 and there are at most 22 fraction digits, w and 10^fraction are exact doubles and
// one IEEE division rounds their quotient correctly — the same double from_chars gives
// (Clinger's fast path). Returns the end of the field, or nullptr when the field is not of
// this form (exponent, too many digits, text, ...) and from_chars must decide.
const char* ParseSimpleDecimalBytewise(const char* p, const char* end, double* value) {
  const bool negative = p < end && *p == '-';
  if (negative) ++p;
  const char* const digits = p;
  uint64_t w = 0;
  while (p < end && static_cast<unsigned char>(*p - '0') < 10) w = w * 10 + (*p++ - '0');
  const ptrdiff_t whole = p - digits;
  if (whole == 0) return nullptr;
  ptrdiff_t fraction = 0;
  if (p < end && *p == '.') {
    const char* const first = ++p;
    while (p < end && static_cast<unsigned char>(*p - '0') < 10) w = w * 10 + (*p++ - '0');
    fraction = p - first;
    if (fraction == 0) return nullptr;
  }
  // At most 19 digits cannot overflow w.
  if (whole + fraction > 19 || fraction > 22 || w > (uint64_t{1} << 53)) return nullptr;
  if (p < end && !IsFieldEnd(*p)) return nullptr;
  const double magnitude = static_cast<double>(w) / kPow10[fraction];
  *value = negative ? -magnitude : magnitude;
  return p;
}

// Eight bytes from `p` (any alignment), byte 0 lowest.
inline uint64_t Load8(const char* p) {
  uint64_t bytes;
  std::memcpy(&bytes, p, sizeof bytes);
  return bytes;
}

// 0x80 in each byte of `bytes` that is not an ASCII digit, 0 in the others.
inline uint64_t NonDigitBytes(uint64_t bytes) {
  const uint64_t t = bytes ^ 0x3030303030303030;  // '0'..'9' → 0..9
  return (((t & 0x7F7F7F7F7F7F7F7F) + 0x7676767676767676) | t) & 0x8080808080808080;
}

// The first `count` (1…8) bytes of `bytes`, all ASCII digits, as an integer (byte 0 the
// most significant digit): the bytes move up so that leading zeros fill the rest, then
// pairs, quads and the two halves are combined by multiplication.
inline uint64_t DigitsValue(uint64_t bytes, int count) {
  uint64_t v = (bytes & 0x0F0F0F0F0F0F0F0F) << (8 * (8 - count));
  v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FF;
  v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFF;
  return (v * 10000 + (v >> 32)) & 0xFFFFFFFF;
}

// ParseSimpleDecimalBytewise, eight bytes at a time for the most common fields: at most 7
// digits before and 7 after the point, and 17 bytes of text left (the loads stay inside
// it). Those give the same w and fraction count, hence the same double; every other
// field goes through the bytewise loop.
const char* ParseSimpleDecimal(const char* p, const char* end, double* value) {
  static constexpr uint64_t kPow10Int[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
  if (end - p >= 17) {
    const bool negative = *p == '-';
    const char* const q = p + (negative ? 1 : 0);
    const uint64_t head = Load8(q);
    const uint64_t head_stops = NonDigitBytes(head);
    if (head_stops != 0) {
      const int whole = std::countr_zero(head_stops) >> 3;  // digits before the first non-digit
      if (whole > 0) {
        const char after = q[whole];
        if (after == '.') {
          const uint64_t tail = Load8(q + whole + 1);
          const uint64_t tail_stops = NonDigitBytes(tail);
          const int fraction = std::countr_zero(tail_stops) >> 3;  // 8 when none stops
          if (fraction > 0 && fraction < 8 && IsFieldEnd(q[whole + 1 + fraction])) {
            const uint64_t w =
                DigitsValue(head, whole) * kPow10Int[fraction] + DigitsValue(tail, fraction);
            const double magnitude = static_cast<double>(w) / kPow10[fraction];
            *value = negative ? -magnitude : magnitude;
            return q + whole + 1 + fraction;
          }
        } else if (IsFieldEnd(after)) {
          const double magnitude = static_cast<double>(DigitsValue(head, whole));
          *value = negative ? -magnitude : magnitude;
          return q + whole;
        }
      }
    }
  }
  return ParseSimpleDecimalBytewise(p, end, value);
}

// A number as pandas reads one: optional spaces around, an optional leading '+', then what
// std::from_chars accepts in full. Non-finite values (inf, nan) come back as NaN.
std::optional<double> ParseNumber(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  if (begin < end && text[begin] == '+') {
    ++begin;
    if (begin < end && (text[begin] == '-' || text[begin] == '+')) return std::nullopt;
  }
  if (begin == end) return std::nullopt;
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data() + begin, text.data() + end, value);
  if (ec == std::errc::result_out_of_range) {
    // Overflow / underflow: what strtod gives (±inf → missing, tiny → 0).
    value = std::strtod(std::string(text.substr(begin, end - begin)).c_str(), nullptr);
  } else if (ec != std::errc() || ptr != text.data() + end) {
    return std::nullopt;
  }
  return std::isfinite(value) ? value : kMissing;
}

// An integer as pandas reads one into an int64 column: optional spaces, an optional sign,
// digits only.
bool IsIntegerText(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  if (begin < end && (text[begin] == '+' || text[begin] == '-')) ++begin;
  if (begin == end) return false;
  for (size_t i = begin; i < end; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

struct ParseError {
  size_t offset = 0;     // where in the text (for the line number)
  int column = -1;       // the column it concerns, if one
  std::string message;   // without the "FILE:LINE: " prefix
};

// Reads the field at `p` (at most up to `end`). Returns the position just after the field
// (a ',', a line end or `end`), or nullptr when a quoted field is not closed. `*text` is
// the field's content with quotes removed; when unescaping is needed ("" inside quotes,
// text after the closing quote) it is built in `arena`, whose strings keep their address.
const char* ReadField(const char* p, const char* end, std::string_view* text,
                      std::deque<std::string>* arena) {
  if (p == end || *p != '"') {
    const char* start = p;
    while (p < end && !IsFieldEnd(*p)) ++p;
    *text = std::string_view(start, p - start);
    return p;
  }
  const char* content = ++p;
  std::string* built = nullptr;
  while (true) {
    const char* quote = static_cast<const char*>(std::memchr(p, '"', end - p));
    if (quote == nullptr) return nullptr;
    if (quote + 1 < end && quote[1] == '"') {  // an escaped quote
      if (built == nullptr) built = &arena->emplace_back();
      built->append(p == content ? content : p, quote + 1);
      p = quote + 2;
      continue;
    }
    // The closing quote; anything up to the field's end is kept as written (as pandas).
    const char* after = quote + 1;
    const char* field_end = after;
    while (field_end < end && !IsFieldEnd(*field_end)) ++field_end;
    if (built == nullptr && field_end == after) {
      *text = std::string_view(content, quote - content);
    } else {
      if (built == nullptr) built = &arena->emplace_back();
      built->append(p, quote);
      built->append(after, field_end);
      *text = *built;
    }
    return field_end;
  }
}

// One column of one chunk while it is parsed.
struct ChunkColumn {
  bool categorical = false;
  std::vector<double> numbers;
  std::vector<int32_t> codes;
  std::vector<std::string_view> labels;  // code → label (into the text or the arena)
  absl::flat_hash_map<absl::string_view, int32_t> index;

  // Labels of at most 7 bytes (most category labels) are looked up first in a small
  // direct-mapped cache keyed by their bytes and length: no hashing of a string, no
  // compare. It holds codes Intern (or the NA check, -1) already gave, so it changes no
  // code.
  struct ShortLabel {
    uint64_t key = kNoKey;
    int32_t code = 0;
  };
  static constexpr uint64_t kNoKey = 0xFF;  // no key has length 255
  static constexpr int kShortCacheBits = 8;
  std::vector<ShortLabel> short_labels;  // sized on first use

  int32_t Intern(std::string_view label) {
    auto [it, inserted] = index.try_emplace(ToAbsl(label), static_cast<int32_t>(labels.size()));
    if (inserted) labels.push_back(label);
    return it->second;
  }
  int32_t Code(std::string_view text) { return IsNaToken(text) ? -1 : Intern(text); }
  void AddLabel(std::string_view text) {
    if (text.size() > 7) {
      codes.push_back(Code(text));
      return;
    }
    uint64_t key = text.size();
    for (size_t i = 0; i < text.size(); ++i) {
      key |= uint64_t{static_cast<unsigned char>(text[i])} << (8 * (i + 1));
    }
    if (short_labels.empty()) short_labels.resize(size_t{1} << kShortCacheBits);
    ShortLabel& slot = short_labels[(key * 0x9E3779B97F4A7C15) >> (64 - kShortCacheBits)];
    if (slot.key != key) slot = ShortLabel{key, Code(text)};
    codes.push_back(slot.code);
  }
};

struct Chunk {
  const char* begin = nullptr;  // where parsing started (a row start, or so it was guessed)
  const char* stop = nullptr;   // parse rows that start before this
  const char* end = nullptr;    // after parsing: the start of the first row not parsed
  int64_t rows = 0;
  std::vector<ChunkColumn> columns;
  std::deque<std::string> arena;
  std::optional<ParseError> error;
};

class Parser {
 public:
  Parser(std::string_view text, size_t body, std::vector<Kind> kinds)
      : base_(text.data()), end_(text.data() + text.size()), body_(body),
        kinds_(std::move(kinds)) {}

  const char* base() const { return base_; }
  const char* end() const { return end_; }
  const char* body() const { return base_ + body_; }
  size_t width() const { return kinds_.size(); }

  // Parses the rows of `chunk` that start in [chunk->begin, chunk->stop).
  void Parse(Chunk* chunk) const {
    chunk->rows = 0;
    chunk->error.reset();
    chunk->arena.clear();
    chunk->columns.assign(width(), ChunkColumn());
    for (size_t c = 0; c < width(); ++c) {
      chunk->columns[c].categorical = kinds_[c] == Kind::kCategorical;
    }
    const char* p = chunk->begin;
    const char* const end = end_;
    const size_t width = this->width();
    bool reserved = false;
    while (p < chunk->stop) {
      if (IsLineEnd(*p)) {  // a blank line (or the LF of a CRLF)
        ++p;
        continue;
      }
      if (!reserved && chunk->rows == 256) {
        Reserve(chunk, p);
        reserved = true;
      }
      const char* row_start = p;
      size_t c = 0;
      while (true) {
        ChunkColumn& column = chunk->columns[c];
        const Kind kind = kinds_[c];
        if (kind == Kind::kInfer && !column.categorical) {
          double value;
          if (const char* field_end = ParseSimpleDecimal(p, end, &value)) {
            column.numbers.push_back(value);
            p = field_end;
          } else if (auto [next, ec] = std::from_chars(p, end, value);
                     ec == std::errc() && (next == end || IsFieldEnd(*next))) {
            column.numbers.push_back(std::isfinite(value) ? value : kMissing);
            p = next;
          } else if (p == end || IsFieldEnd(*p)) {
            column.numbers.push_back(kMissing);
          } else {
            std::string_view text;
            const char* next_field = ReadField(p, end, &text, &chunk->arena);
            if (next_field == nullptr) return Unclosed(chunk, p, c);
            p = next_field;
            if (IsNaToken(text)) {
              column.numbers.push_back(kMissing);
            } else if (std::optional<double> number = ParseNumber(text)) {
              column.numbers.push_back(*number);
            } else {
              if (!ToCategorical(chunk, c, chunk->rows)) return;
              column.AddLabel(text);
            }
          }
        } else if (kind == Kind::kSkip) {
          std::string_view text;
          const char* next_field = ReadField(p, end, &text, &chunk->arena);
          if (next_field == nullptr) return Unclosed(chunk, p, c);
          p = next_field;
        } else {
          std::string_view text;
          const char* next_field = ReadField(p, end, &text, &chunk->arena);
          if (next_field == nullptr) return Unclosed(chunk, p, c);
          p = next_field;
          column.AddLabel(text);
        }
        if (p < end && *p == ',') {
          ++p;
          if (++c == width) {
            chunk->error = ParseError{
                static_cast<size_t>(row_start - base_), -1,
                absl::StrCat("this row has more fields than the ", width,
                             " columns of the header; quote fields that contain commas")};
            return;
          }
          continue;
        }
        // The line (or the text) ends: the columns not reached are missing.
        for (size_t rest = c + 1; rest < width; ++rest) AddMissing(chunk->columns[rest], kinds_[rest]);
        break;
      }
      if (p < end && *p == '\r') ++p;
      if (p < end && *p == '\n') ++p;
      ++chunk->rows;
    }
    chunk->end = p;
  }

  // Calls `sink(text)` with the field of column `c` (empty when the row is short) for
  // each of the first `rows` rows from `begin`. False when the text is malformed there
  // (cannot happen for text a Parse already accepted).
  bool ScanColumn(const char* begin, size_t c, int64_t rows, std::deque<std::string>* arena,
                  const std::function<void(std::string_view)>& sink) const {
    const char* p = begin;
    for (int64_t row = 0; row < rows; ++row) {
      while (p < end_ && IsLineEnd(*p)) ++p;
      std::string_view found;
      for (size_t field = 0;; ++field) {
        std::string_view text;
        const char* next = ReadField(p, end_, &text, arena);
        if (next == nullptr) return false;
        p = next;
        if (field == c) found = text;
        if (p < end_ && *p == ',') {
          ++p;
          continue;
        }
        break;
      }
      sink(found);
      if (p < end_ && *p == '\r') ++p;
      if (p < end_ && *p == '\n') ++p;
    }
    return true;
  }

 private:
  static void AddMissing(ChunkColumn& column, Kind kind) {
    if (kind == Kind::kSkip) return;
    if (column.categorical) {
      column.codes.push_back(-1);
    } else {
      column.numbers.push_back(kMissing);
    }
  }

  void Unclosed(Chunk* chunk, const char* field, size_t c) const {
    chunk->error = ParseError{static_cast<size_t>(field - base_), static_cast<int>(c),
                              "a quoted field starts here but its closing quote (\") is "
                              "missing"};
  }

  // Sizes the columns' vectors from the first rows' average length.
  void Reserve(Chunk* chunk, const char* p) const {
    const double per_row = static_cast<double>(p - chunk->begin) / chunk->rows;
    const size_t expected =
        static_cast<size_t>(static_cast<double>(chunk->stop - chunk->begin) / per_row * 1.05) +
        16;
    for (size_t c = 0; c < width(); ++c) {
      ChunkColumn& column = chunk->columns[c];
      if (kinds_[c] == Kind::kSkip) continue;
      if (column.categorical) {
        column.codes.reserve(expected);
      } else {
        column.numbers.reserve(expected);
      }
    }
  }

  // Column `c` of `chunk` turns categorical after `rows` numeric rows: its fields so far
  // are read again as labels.
  bool ToCategorical(Chunk* chunk, size_t c, int64_t rows) const {
    ChunkColumn& column = chunk->columns[c];
    column.categorical = true;
    column.codes.reserve(column.numbers.capacity());
    std::vector<double>().swap(column.numbers);
    if (!ScanColumn(chunk->begin, c, rows, &chunk->arena,
                    [&column](std::string_view text) { column.AddLabel(text); })) {
      chunk->error = ParseError{static_cast<size_t>(chunk->begin - base_), static_cast<int>(c),
                                "the file changed while it was read"};
      return false;
    }
    return true;
  }

  const char* base_;
  const char* end_;
  size_t body_;  // offset of the first data row
  std::vector<Kind> kinds_;
};

// Runs fn(0 … n-1) on up to `threads` threads (the calling thread included).
void ParallelFor(int n, int threads, const std::function<void(int)>& fn) {
  threads = std::max(1, std::min(threads, n));
  if (threads == 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int> next{0};
  auto work = [&] {
    for (int i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
}

int64_t LineOf(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + std::count(text.begin(), text.begin() + offset, '\n');
}

absl::Status ErrorAt(std::string_view label, std::string_view text, size_t offset,
                     std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(label), ":", LineOf(text, offset), ": ", ToAbsl(message)));
}

absl::Status ChunkError(std::string_view label, std::string_view text,
                        const std::vector<std::string>& names, const ParseError& error) {
  if (error.column < 0) return ErrorAt(label, text, error.offset, error.message);
  return ErrorAt(label, text, error.offset,
                 absl::StrCat("column '", names[error.column], "': ", error.message));
}

std::string DidYouMean(const std::string& name, const std::vector<std::string>& names) {
  const std::string nearest = NearestColumnName(name, names);
  return nearest.empty() ? std::string() : absl::StrCat(" (did you mean '", nearest, "'?)");
}

// Column `c` of the whole frame from the chunks (in order): numeric, or categorical with
// one dictionary in order of first appearance.
absl::Status JoinColumn(const Parser& parser, std::vector<Chunk>& chunks, size_t c,
                        bool categorical, bool as_text, int64_t rows, FrameColumn* out) {
  out->categorical = categorical;
  if (!categorical) {
    out->numbers.resize(rows);
    double* at = out->numbers.data();
    for (Chunk& chunk : chunks) {
      std::vector<double>& numbers = chunk.columns[c].numbers;
      std::copy(numbers.begin(), numbers.end(), at);
      at += numbers.size();
      std::vector<double>().swap(numbers);
    }
    // pandas' int64: whole numbers, none missing, every field written as an integer ("3",
    // not "3.0") — the text is read again only when the values allow it.
    bool whole = rows > 0;
    for (double v : out->numbers) whole &= std::trunc(v) == v && std::fabs(v) < 0x1p63;
    for (size_t k = 0; whole && k < chunks.size(); ++k) {
      std::deque<std::string> arena;
      if (!parser.ScanColumn(chunks[k].begin, c, chunks[k].rows, &arena,
                             [&whole](std::string_view text) { whole &= IsIntegerText(text); })) {
        return absl::InternalError("the file changed while it was read");
      }
    }
    out->integer = whole;
    return absl::OkStatus();
  }
  out->codes.resize(rows);
  int32_t* at = out->codes.data();
  absl::flat_hash_map<absl::string_view, int32_t> index;
  std::vector<std::string_view> labels;
  std::vector<int32_t> remap;
  std::deque<std::string> arena;  // this column's unescaped labels (columns join in parallel)
  for (Chunk& chunk : chunks) {
    ChunkColumn& column = chunk.columns[c];
    if (!column.categorical) {  // numeric in this chunk only: read its fields as labels
      column.categorical = true;
      std::vector<double>().swap(column.numbers);
      column.codes.reserve(chunk.rows);
      if (!parser.ScanColumn(chunk.begin, c, chunk.rows, &arena,
                             [&column](std::string_view text) { column.AddLabel(text); })) {
        return absl::InternalError("the file changed while it was read");
      }
    }
    remap.resize(column.labels.size());
    for (size_t local = 0; local < column.labels.size(); ++local) {
      auto [it, inserted] =
          index.try_emplace(ToAbsl(column.labels[local]), static_cast<int32_t>(labels.size()));
      if (inserted) labels.push_back(column.labels[local]);
      remap[local] = it->second;
    }
    for (int32_t code : column.codes) *at++ = code < 0 ? -1 : remap[code];
    std::vector<int32_t>().swap(column.codes);
  }
  // A column of numbers only (read as categories because it was forced to be) labels each
  // by its value (category_label.h: "1.50" and "1.5" are one category, "1.5", as pandas
  // reads a numeric column; inf is missing, as Evidently drops it). A column with any
  // other text keeps every label as written, as pandas' object columns do.
  bool numbers_only = !as_text;
  std::vector<std::optional<double>> values(labels.size());
  for (size_t code = 0; code < labels.size() && numbers_only; ++code) {
    values[code] = ParseNumber(labels[code]);
    numbers_only = values[code].has_value();
  }
  if (!numbers_only) {
    out->categories.reserve(labels.size());
    for (std::string_view label : labels) out->categories.emplace_back(label);
    return absl::OkStatus();
  }
  // Labels that meet keep the first one's code: the order of first appearance holds.
  absl::flat_hash_map<std::string, int32_t> merged;
  std::vector<int32_t> renumber(labels.size(), -1);
  bool moved = false;
  for (size_t code = 0; code < labels.size(); ++code) {
    if (std::isfinite(*values[code])) {
      // Integer text within int64 is labelled exactly (large ids stay distinct), the rest
      // by its double.
      int64_t whole = 0;
      const bool integer_text = absl::SimpleAtoi(ToAbsl(labels[code]), &whole) &&
                                labels[code].find_first_of(".eE") == std::string::npos;
      auto [it, inserted] = merged.try_emplace(
          integer_text ? NumberCategoryLabel(whole) : NumberCategoryLabel(*values[code]),
          static_cast<int32_t>(out->categories.size()));
      if (inserted) out->categories.push_back(it->first);
      renumber[code] = it->second;
    }
    moved = moved || renumber[code] != static_cast<int32_t>(code);
  }
  if (moved) {
    for (int32_t& code : out->codes) code = code < 0 ? -1 : renumber[code];
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DataFrame> ParseCsvFrame(std::string_view text, std::string_view label,
                                        const CsvFrameOptions& options) {
  size_t start = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") start = 3;
  // Leading blank lines are skipped (pandas does too).
  while (start < text.size() && IsLineEnd(text[start])) ++start;
  if (start == text.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(label), ": the file is empty; expected a header line with the column names "
                       "and then one line per row"));
  }

  // The header.
  std::vector<std::string> names;
  std::deque<std::string> header_arena;
  const char* p = text.data() + start;
  const char* const end = text.data() + text.size();
  while (true) {
    std::string_view name;
    const char* next = ReadField(p, end, &name, &header_arena);
    if (next == nullptr) {
      return ErrorAt(label, text, p - text.data(),
                     "a quoted column name starts here but its closing quote (\") is missing");
    }
    p = next;
    names.emplace_back(name.empty() ? absl::StrCat("Unnamed: ", names.size()) : std::string(name));
    if (p < end && *p == ',') {
      ++p;
      continue;
    }
    break;
  }
  if (p < end && *p == '\r') ++p;
  if (p < end && *p == '\n') ++p;
  const size_t body = p - text.data();
  {
    absl::flat_hash_map<std::string, size_t> seen;
    for (size_t c = 0; c < names.size(); ++c) {
      auto [it, inserted] = seen.try_emplace(names[c], c);
      if (!inserted) {
        return ErrorAt(label, text, start,
                       absl::StrCat("column '", names[c], "' appears twice in the header (columns ",
                                    it->second + 1, " and ", c + 1,
                                    "); give every column its own name"));
      }
    }
  }

  // Which columns to read, and how.
  std::vector<Kind> kinds(names.size(), options.columns.empty() ? Kind::kInfer : Kind::kSkip);
  auto find = [&](const std::string& name) -> std::optional<size_t> {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) return std::nullopt;
    return static_cast<size_t>(it - names.begin());
  };
  for (const std::string& name : options.columns) {
    std::optional<size_t> c = find(name);
    if (!c) {
      return absl::InvalidArgumentError(absl::StrCat(
          ToAbsl(label), ": no column '", name, "'", DidYouMean(name, names),
          "; its columns: ", absl::StrJoin(names, ", ")));
    }
    kinds[*c] = Kind::kInfer;
  }
  for (const std::string& name : options.categorical) {
    std::optional<size_t> c = find(name);
    if (!c) {
      return absl::InvalidArgumentError(absl::StrCat(
          ToAbsl(label), ": no column '", name, "' to read as categorical",
          DidYouMean(name, names), "; its columns: ", absl::StrJoin(names, ", ")));
    }
    if (kinds[*c] != Kind::kSkip) kinds[*c] = Kind::kCategorical;
  }
  std::vector<bool> as_text(names.size(), false);
  for (const std::string& name : options.as_text) {
    std::optional<size_t> c = find(name);
    if (!c) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(label), ": no column '", name, "' to read as text"));
    }
    if (kinds[*c] != Kind::kSkip) kinds[*c] = Kind::kCategorical;
    as_text[*c] = true;
  }

  Parser parser(text, body, kinds);
  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, threads);
  const size_t body_size = text.size() - body;
  const size_t min_chunk = options.min_chunk_bytes > 0 ? options.min_chunk_bytes : kMinChunkBytes;
  const int chunk_count =
      body_size < 4 * min_chunk || threads == 1
          ? 1
          : static_cast<int>(std::min<size_t>(threads * kChunksPerThread, body_size / min_chunk));

  // Chunk boundaries: just after the first line end at or past each even split. A line
  // end inside a quoted field makes a wrong guess; it is found and fixed below.
  std::vector<Chunk> chunks(chunk_count);
  std::vector<const char*> starts(chunk_count + 1);
  starts[0] = parser.body();
  starts[chunk_count] = end;
  for (int i = 1; i < chunk_count; ++i) {
    const char* guess = parser.body() + body_size * i / chunk_count;
    guess = std::max(guess, starts[i - 1]);
    const char* newline = static_cast<const char*>(std::memchr(guess, '\n', end - guess));
    starts[i] = newline == nullptr ? end : newline + 1;
  }
  for (int i = 0; i < chunk_count; ++i) {
    chunks[i].begin = starts[i];
    chunks[i].stop = starts[i + 1];
  }
  ParallelFor(chunk_count, threads, [&](int i) { parser.Parse(&chunks[i]); });
  // Each chunk must start where the previous one really ended; otherwise parse it again
  // from there (rare: only when a split fell inside a quoted field with a line end).
  for (int i = 0; i < chunk_count; ++i) {
    Chunk& chunk = chunks[i];
    if (chunk.error) {
      // An error in a chunk that started at a wrong guess says nothing: re-parse first.
      if (i > 0 && chunks[i - 1].end != chunk.begin) {
        chunk.begin = chunks[i - 1].end;
        chunk.stop = std::max(chunk.stop, chunk.begin);
        parser.Parse(&chunk);
      }
      if (chunk.error) return ChunkError(label, text, names, *chunk.error);
      continue;
    }
    if (i > 0 && chunks[i - 1].end != chunk.begin) {
      chunk.begin = chunks[i - 1].end;
      chunk.stop = std::max(chunk.stop, chunk.begin);
      parser.Parse(&chunk);
      if (chunk.error) return ChunkError(label, text, names, *chunk.error);
    }
  }

  DataFrame frame;
  for (const Chunk& chunk : chunks) frame.rows += chunk.rows;
  std::vector<size_t> read;
  for (size_t c = 0; c < names.size(); ++c) {
    if (kinds[c] != Kind::kSkip) read.push_back(c);
  }
  frame.columns.resize(read.size());
  std::vector<absl::Status> statuses(read.size());
  ParallelFor(static_cast<int>(read.size()), threads, [&](int i) {
    const size_t c = read[i];
    bool categorical = kinds[c] == Kind::kCategorical;
    for (const Chunk& chunk : chunks) categorical = categorical || chunk.columns[c].categorical;
    frame.columns[i].name = names[c];
    statuses[i] =
        JoinColumn(parser, chunks, c, categorical, as_text[c], frame.rows, &frame.columns[i]);
  });
  for (absl::Status& status : statuses) CAIRN_RETURN_IF_ERROR(status);
  return frame;
}

namespace {

// The end of the row that is open at `cut` (just after its line end, or the end of the
// text), for rows starting at `from`: quotes count only at the start of a field, as
// ReadField reads them, so a line end inside a quoted field does not end a row.
size_t RowEndAfter(std::string_view text, size_t from, size_t cut) {
  bool field_start = true;
  bool quoted = false;
  for (size_t i = from; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          ++i;
        } else {
          quoted = false;
        }
      }
      continue;
    }
    if (field_start && c == '"') {
      quoted = true;
      field_start = false;
      continue;
    }
    if (c == '\n') {
      if (i >= cut) return i + 1;
      field_start = true;
    } else {
      field_start = c == ',' || c == '\r';
    }
  }
  return text.size();
}

// "LABEL:LINE: …" with LINE moved by `shift` (a piece's line → the file's line).
absl::Status ShiftLine(const absl::Status& status, const std::string& label, int64_t shift) {
  std::string_view message = ToStd(status.message());
  const std::string prefix = label + ":";
  if (message.substr(0, prefix.size()) != prefix) return status;
  size_t digits = prefix.size();
  while (digits < message.size() && message[digits] >= '0' && message[digits] <= '9') ++digits;
  if (digits == prefix.size() || digits >= message.size() || message[digits] != ':') return status;
  const int64_t line = std::stoll(std::string(message.substr(prefix.size(), digits - prefix.size())));
  return absl::Status(status.code(), absl::StrCat(prefix, line + shift, ToAbsl(message.substr(digits))));
}

// A file mapped read-only for one read; unmapped when destroyed. An empty file maps
// nothing (text() is empty).
class MappedFile {
 public:
  // NotFound / InvalidArgument naming `path` when it cannot be opened or is not a regular
  // file, Internal when it cannot be mapped. `advice`: the madvise for the whole mapping.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path, int advice) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      const std::string message =
          absl::StrCat(path, ": cannot open the file: ", std::strerror(error));
      return error == ENOENT ? absl::NotFoundError(message) : absl::InvalidArgumentError(message);
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
      ::close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": not a regular file; give the path of a CSV file"));
    }
    const size_t size = static_cast<size_t>(info.st_size);
    if (size == 0) {
      ::close(fd);
      return std::unique_ptr<MappedFile>(new MappedFile(nullptr, 0));
    }
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (mapped == MAP_FAILED) {
      return absl::InternalError(
          absl::StrCat(path, ": cannot map the file: ", std::strerror(errno)));
    }
    ::madvise(mapped, size, advice);
    return std::unique_ptr<MappedFile>(new MappedFile(mapped, size));
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view text() const { return {static_cast<const char*>(data_), size_}; }
  // The first `bytes` are not needed again: their pages go back to the kernel.
  void Release(size_t bytes) const {
    if (bytes > 0) ::madvise(data_, bytes, MADV_DONTNEED);
  }

 private:
  MappedFile(void* data, size_t size) : data_(data), size_(size) {}
  void* data_;
  size_t size_;
};

}  // namespace

absl::Status ReadCsvFrameChunks(const std::string& path, const CsvFrameOptions& options,
                                size_t chunk_bytes,
                                const std::function<absl::Status(DataFrame&)>& fn) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file,
                         MappedFile::Open(path, MADV_SEQUENTIAL));
  const std::string_view text = file->text();
  const size_t size = text.size();
  if (size == 0) return ParseCsvFrame(std::string_view(), path, options).status();
  const long page = ::sysconf(_SC_PAGESIZE);
  chunk_bytes = std::max<size_t>(chunk_bytes, 1);
  // The header: the first row after a byte-order mark and blank lines.
  size_t start = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  while (start < size && IsLineEnd(text[start])) ++start;
  const size_t body = RowEndAfter(text, start, start);
  std::string piece(text.substr(0, body));
  if (piece.empty() || piece.back() != '\n') piece.push_back('\n');
  const size_t header_bytes = piece.size();
  const int64_t header_lines = std::count(piece.begin(), piece.end(), '\n');
  int64_t lines_before = std::count(text.begin(), text.begin() + body, '\n');
  absl::Status status;
  size_t pos = body;
  bool first = true;
  while (status.ok() && (first || pos < size)) {
    first = false;
    const size_t end = RowEndAfter(text, pos, std::min(size, pos + chunk_bytes));
    piece.resize(header_bytes);
    piece.append(text.substr(pos, end - pos));
    absl::StatusOr<DataFrame> frame = ParseCsvFrame(piece, path, options);
    if (!frame.ok()) {
      status = ShiftLine(frame.status(), path, lines_before - header_lines);
      break;
    }
    status = fn(*frame);
    lines_before += std::count(text.begin() + pos, text.begin() + end, '\n');
    // The rows read so far are not needed again: give their pages back.
    file->Release((end / page) * page);
    pos = end;
  }
  return status;
}

absl::StatusOr<DataFrame> ReadCsvFrame(const std::string& path, const CsvFrameOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path, MADV_WILLNEED));
  return ParseCsvFrame(file->text(), path, options);
}

}  // namespace cairn::monitoring
