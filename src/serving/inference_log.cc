#include "serving/inference_log.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include <simdjson.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "storage/migrations.h"

namespace cairn::serving {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

// seq orders rows written at the same time_ms (and makes the page token unique).
constexpr std::string_view kSchemaV1Sqlite = R"sql(
CREATE TABLE serving_inference_log (
  seq INTEGER PRIMARY KEY,
  endpoint TEXT NOT NULL,
  id TEXT NOT NULL,
  variant TEXT NOT NULL,
  model TEXT NOT NULL,
  model_version BIGINT NOT NULL,
  time_ms BIGINT NOT NULL,
  latency_us BIGINT NOT NULL,
  features TEXT NOT NULL,
  prediction DOUBLE PRECISION,
  error INTEGER NOT NULL,
  label DOUBLE PRECISION,
  label_time_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX serving_inference_log_id ON serving_inference_log (endpoint, id, variant);
CREATE INDEX serving_inference_log_time ON serving_inference_log (endpoint, time_ms, seq);
)sql";

constexpr std::string_view kSchemaV1Postgres = R"sql(
CREATE TABLE serving_inference_log (
  seq BIGSERIAL PRIMARY KEY,
  endpoint TEXT NOT NULL,
  id TEXT NOT NULL,
  variant TEXT NOT NULL,
  model TEXT NOT NULL,
  model_version BIGINT NOT NULL,
  time_ms BIGINT NOT NULL,
  latency_us BIGINT NOT NULL,
  features TEXT NOT NULL,
  prediction DOUBLE PRECISION,
  error INTEGER NOT NULL,
  label DOUBLE PRECISION,
  label_time_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX serving_inference_log_id ON serving_inference_log (endpoint, id, variant);
CREATE INDEX serving_inference_log_time ON serving_inference_log (endpoint, time_ms, seq);
)sql";

constexpr storage::Migration kMigrations[] = {
    {.version = 1,
     .name = "serving inference log: logged predictions, labels",
     .sql = kSchemaV1Sqlite,
     .sqlite_sql = kSchemaV1Sqlite,
     .postgres_sql = kSchemaV1Postgres},
};

constexpr int kParamsPerRow = 12;
// Rows per INSERT statement: few round trips (PostgreSQL) and few statements to step
// (SQLite), well under both engines' limit on bound parameters.
constexpr size_t kRowsPerInsert = 64;
constexpr int kMaxResults = 10'000;

std::string InsertSql(size_t rows) {
  std::string sql =
      "INSERT INTO serving_inference_log (endpoint, id, variant, model, model_version, "
      "time_ms, latency_us, features, prediction, error, label, label_time_ms) VALUES ";
  int param = 1;
  for (size_t r = 0; r < rows; ++r) {
    absl::StrAppend(&sql, r == 0 ? "(" : ", (");
    for (int c = 0; c < kParamsPerRow; ++c) {
      absl::StrAppend(&sql, c == 0 ? "$" : ", $", param++);
    }
    absl::StrAppend(&sql, ")");
  }
  absl::StrAppend(&sql, " ON CONFLICT (endpoint, id, variant) DO NOTHING");
  return sql;
}

const std::string& FullInsertSql() {
  static const std::string* sql = new std::string(InsertSql(kRowsPerInsert));
  return *sql;
}

bool KnownVariant(std::string_view variant) {
  return variant == "champion" || variant == "canary" || variant == "shadow";
}

absl::Status CheckVariant(std::string_view variant, std::string_view field) {
  if (variant.empty() || KnownVariant(variant)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), ": '", ToAbsl(variant),
                                                 "' is not a variant; use champion, canary or "
                                                 "shadow (or leave it empty for every variant)"));
}

// 64-bit FNV-1a, then the SplitMix64 finalizer so that ids differing in their last
// characters (sequential ids) spread over the whole range. Stable across processes.
uint64_t StableHash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::string PageToken(int64_t time_ms, int64_t seq) {
  return absl::WebSafeBase64Escape(absl::StrCat("ilog1:", time_ms, ":", seq));
}

absl::Status ParsePageToken(std::string_view token, int64_t* time_ms, int64_t* seq) {
  std::string text;
  std::vector<absl::string_view> parts;
  if (absl::WebSafeBase64Unescape(ToAbsl(token), &text)) {
    parts = absl::StrSplit(text, ':');
  }
  if (parts.size() != 3 || parts[0] != "ilog1" || !absl::SimpleAtoi(parts[1], time_ms) ||
      !absl::SimpleAtoi(parts[2], seq)) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token: '", ToAbsl(token),
                     "' is not a token the inference log returned; pass the next_page_token "
                     "of the previous page, or none for the first page"));
  }
  return absl::OkStatus();
}

// WHERE clause and parameters shared by Read and ReadFrame.
struct Filter {
  std::string sql;
  std::vector<SqlValue> params;
  void Add(std::string_view clause_with_placeholder, SqlValue value) {
    params.push_back(std::move(value));
    absl::StrAppend(&sql, " AND ",
                    absl::StrReplaceAll(ToAbsl(clause_with_placeholder),
                                        {{"$?", absl::StrCat("$", params.size())}}));
  }
};

Filter WindowFilter(std::string_view endpoint, int64_t from_ms, int64_t to_ms) {
  Filter filter;
  filter.params.push_back(std::string(endpoint));
  filter.sql = " WHERE endpoint = $1";
  if (from_ms != 0) filter.Add("time_ms >= $?", from_ms);
  if (to_ms != 0) filter.Add("time_ms < $?", to_ms);
  return filter;
}

absl::Status CheckWindow(std::string_view endpoint, int64_t from_ms, int64_t to_ms) {
  if (endpoint.empty()) return absl::InvalidArgumentError("endpoint: must not be empty");
  if (from_ms != 0 && to_ms != 0 && to_ms <= from_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("to_ms: ", to_ms, " is not after from_ms ", from_ms,
                     "; the window is [from_ms, to_ms)"));
  }
  return absl::OkStatus();
}

// Builds ReadFrame's frame straight from the rows' feature JSON (simdjson, no JSON tree):
// the same frame monitoring::DataFrameFromJson makes of the columns, at a fraction of the
// cost. Numbers make a numeric column; a column with any string or boolean value (or one
// named in `categorical`) becomes categorical, numbers labelled as JSON writes them; null,
// arrays and objects are missing.
class FrameBuilder {
 public:
  explicit FrameBuilder(const std::vector<std::string>& categorical)
      : forced_(categorical.begin(), categorical.end()) {}

  void Reset() {
    columns_.clear();
    index_.clear();
    predictions_.clear();
    labels_.clear();
    any_label_ = false;
    rows_ = 0;
  }

  void AddRow(std::string_view features, double prediction, std::optional<double> label) {
    padded_.assign(features.data(), features.size());
    padded_.append(simdjson::SIMDJSON_PADDING, '\0');
    size_t position = 0;
    simdjson::ondemand::document doc;
    simdjson::ondemand::object object;
    if (!parser_.iterate(padded_.data(), features.size(), padded_.size()).get(doc) &&
        !doc.get_object().get(object)) {
      for (auto field_result : object) {
        simdjson::ondemand::field field;
        std::string_view key;
        if (std::move(field_result).get(field) || field.unescaped_key().get(key)) break;
        Column* column = Find(key, position++);
        if (column == nullptr) continue;
        if (!Read(field.value(), *column)) break;
      }
    }
    ++rows_;
    for (Column& column : columns_) Pad(column);
    predictions_.push_back(std::isfinite(prediction) ? prediction : std::nan(""));
    labels_.push_back(label.has_value() ? *label : std::nan(""));
    any_label_ |= label.has_value();
  }

  absl::StatusOr<monitoring::DataFrame> Finish() {
    monitoring::DataFrame frame;
    frame.rows = rows_;
    std::vector<size_t> order(columns_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return columns_[a].name < columns_[b].name; });
    for (size_t i : order) {
      Column& column = columns_[i];
      monitoring::FrameColumn out;
      out.name = column.name;
      out.categorical = column.any_text || forced_.count(column.name) > 0;
      if (!out.categorical) {
        out.numbers = std::move(column.numbers);
      } else {
        absl::flat_hash_map<std::string, int32_t> codes;
        out.codes.reserve(static_cast<size_t>(rows_));
        for (int64_t r = 0; r < rows_; ++r) {
          const Kind kind = column.kinds[r];
          if (kind == Kind::kMissing) {
            out.codes.push_back(-1);
            continue;
          }
          std::string label;
          if (kind == Kind::kText) {
            label = column.texts[column.text_index[r]];
          } else if (kind == Kind::kInteger) {
            label = absl::StrCat(static_cast<int64_t>(column.numbers[r]));
          } else {
            label = DumpJson(Json(column.numbers[r]));
          }
          auto [entry, inserted] =
              codes.try_emplace(label, static_cast<int32_t>(out.categories.size()));
          if (inserted) out.categories.push_back(std::move(label));
          out.codes.push_back(entry->second);
        }
      }
      frame.columns.push_back(std::move(out));
    }
    monitoring::FrameColumn prediction;
    prediction.name = "prediction";
    prediction.numbers = std::move(predictions_);
    frame.columns.push_back(std::move(prediction));
    if (any_label_) {
      monitoring::FrameColumn label;
      label.name = "label";
      label.numbers = std::move(labels_);
      frame.columns.push_back(std::move(label));
    }
    return frame;
  }

 private:
  enum class Kind : uint8_t { kMissing, kNumber, kInteger, kText };
  struct Column {
    std::string name;
    std::vector<double> numbers;  // NaN unless a number
    std::vector<Kind> kinds;
    bool any_text = false;
    std::vector<int32_t> text_index;  // kText: index into texts (sized with the rows)
    std::vector<std::string> texts;
    absl::flat_hash_map<std::string, int32_t> text_ids;
  };

  // The column of `key`, created with missing values for the earlier rows; nullptr for
  // the log's own column names. Rows usually list the same keys in the same order, so the
  // column at the same position is tried before the hash lookup.
  Column* Find(std::string_view key, size_t position) {
    if (position < columns_.size() && columns_[position].name == key) {
      return &columns_[position];
    }
    auto it = index_.find(ToAbsl(key));
    if (it != index_.end()) return &columns_[it->second];
    if (key == "prediction" || key == "label") return nullptr;
    index_.emplace(std::string(key), columns_.size());
    Column& column = columns_.emplace_back();
    column.name = std::string(key);
    column.numbers.assign(static_cast<size_t>(rows_), std::nan(""));
    column.kinds.assign(static_cast<size_t>(rows_), Kind::kMissing);
    return &column;
  }

  // Fills rows up to the current one with missing values.
  void Pad(Column& column) {
    const size_t rows = static_cast<size_t>(rows_);
    if (column.kinds.size() < rows) {
      column.numbers.resize(rows, std::nan(""));
      column.kinds.resize(rows, Kind::kMissing);
    }
    if (column.any_text && column.text_index.size() < rows) column.text_index.resize(rows, -1);
  }

  // The current row's value of `column`; false when the document is malformed.
  bool Read(simdjson::ondemand::value value, Column& column) {
    Pad(column);  // a key seen twice in one row: the later value wins
    if (column.kinds.size() == static_cast<size_t>(rows_)) {
      column.numbers.push_back(std::nan(""));
      column.kinds.push_back(Kind::kMissing);
    }
    double& number = column.numbers.back();
    Kind& kind = column.kinds.back();
    simdjson::ondemand::json_type type;
    if (value.type().get(type)) return false;
    switch (type) {
      case simdjson::ondemand::json_type::number: {
        simdjson::ondemand::number_type number_type;
        if (value.get_number_type().get(number_type)) return false;
        if (number_type == simdjson::ondemand::number_type::signed_integer) {
          int64_t integer = 0;
          if (value.get_int64().get(integer)) return false;
          number = static_cast<double>(integer);
          kind = Kind::kInteger;
        } else {
          double d = 0;
          if (value.get_double().get(d)) return false;
          number = std::isfinite(d) ? d : std::nan("");
          kind = Kind::kNumber;
        }
        return true;
      }
      case simdjson::ondemand::json_type::string: {
        std::string_view text;
        if (value.get_string().get(text)) return false;
        SetText(column, text);
        return true;
      }
      case simdjson::ondemand::json_type::boolean: {
        bool flag = false;
        if (value.get_bool().get(flag)) return false;
        SetText(column, flag ? "true" : "false");
        return true;
      }
      case simdjson::ondemand::json_type::null:
        return true;
      default:  // an array or object: missing (the parser skips it)
        return true;
    }
  }

  void SetText(Column& column, std::string_view text) {
    if (!column.any_text) {
      column.any_text = true;
      column.text_index.assign(column.kinds.size(), -1);
    }
    column.text_index.resize(column.kinds.size(), -1);
    auto [entry, inserted] =
        column.text_ids.try_emplace(std::string(text), static_cast<int32_t>(column.texts.size()));
    if (inserted) column.texts.emplace_back(text);
    column.text_index.back() = entry->second;
    column.numbers.back() = std::nan("");
    column.kinds.back() = Kind::kText;
  }

  const std::set<std::string> forced_;
  simdjson::ondemand::parser parser_;
  std::string padded_;
  std::vector<Column> columns_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::vector<double> predictions_;
  std::vector<double> labels_;
  bool any_label_ = false;
  int64_t rows_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<InferenceLog>> InferenceLog::Open(storage::Database& db,
                                                                 InferenceLogOptions options) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "serving_inference_log", kMigrations));
  if (options.max_queue == 0) options.max_queue = 1;
  if (options.batch_size == 0) options.batch_size = 1;
  if (options.flush_interval_ms <= 0) options.flush_interval_ms = 100;
  return std::unique_ptr<InferenceLog>(new InferenceLog(db, options));
}

InferenceLog::InferenceLog(storage::Database& db, InferenceLogOptions options)
    : db_(db), options_(options) {
  queue_.reserve(std::min<size_t>(options_.max_queue, options_.batch_size * 2));
  writer_ = std::thread([this] { WriterLoop(); });
}

InferenceLog::~InferenceLog() { Shutdown(); }

void InferenceLog::Shutdown() {
  absl::MutexLock join_lock(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_cv_.Signal();
  }
  if (writer_.joinable()) writer_.join();
}

bool InferenceLog::Append(InferenceRecord record) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= options_.max_queue || record.endpoint.empty() ||
      record.id.empty()) {
    ++stats_.dropped;
    return false;
  }
  queue_.push_back(std::move(record));
  ++stats_.appended;
  // Only the append that fills a batch wakes the writer: the others unlock on the fast path
  // (a waiter's Condition would be evaluated at every unlock).
  if (queue_.size() == options_.batch_size) wake_cv_.Signal();
  return true;
}

void InferenceLog::WriterLoop() {
  // Below the request threads (see the header); failure leaves the default priority.
  setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 5);
  absl::MutexLock lock(&mu_);
  absl::flat_hash_set<std::string> dirty;
  while (true) {
    const absl::Time deadline = absl::Now() + absl::Milliseconds(options_.flush_interval_ms);
    while (!stopping_ && flush_target_ <= cycles_started_ &&
           queue_.size() < options_.batch_size) {
      if (wake_cv_.WaitWithDeadline(&mu_, deadline)) break;  // true: the interval passed
    }
    const bool flush_due = flush_target_ > cycles_started_;
    if (queue_.empty() && retention_dirty_.empty() && !flush_due) {
      if (stopping_) break;
      continue;
    }
    const int64_t cycle = ++cycles_started_;
    batch_.swap(queue_);
    writing_ = static_cast<int64_t>(batch_.size());
    dirty.swap(retention_dirty_);
    mu_.Unlock();
    absl::Status status = WriteBatch(dirty);
    batch_.clear();
    dirty.clear();
    mu_.Lock();
    writing_ = 0;
    ++cycles_done_;
    if (!status.ok()) {
      last_failed_cycle_ = cycle;
      last_failure_ = status;
    }
    done_cv_.SignalAll();
  }
  stopped_ = true;
  done_cv_.SignalAll();
}

absl::Status InferenceLog::WriteBatch(const absl::flat_hash_set<std::string>& retention_dirty) {
  // Rows per endpoint in this batch, and the retention of those with a limit.
  struct Plan {
    std::string endpoint;
    int64_t max_rows = 0;
    int64_t count = -1;    // before this batch; -1: unknown (count in the transaction)
    int64_t incoming = 0;  // rows of this batch (duplicates included: an overestimate only
                           // makes the trim come earlier, and the trim recounts)
    bool dirty = false;
    int64_t final_count = -1;
    int64_t trimmed = 0;
  };
  std::map<std::string, int64_t, std::less<>> incoming;
  for (const InferenceRecord& record : batch_) ++incoming[record.endpoint];
  std::vector<Plan> plans;
  {
    absl::MutexLock lock(&mu_);
    auto consider = [&](const std::string& endpoint, bool dirty) {
      auto it = retention_.find(endpoint);
      if (it == retention_.end() || it->second.max_rows <= 0) return;
      for (Plan& plan : plans) {
        if (plan.endpoint == endpoint) {
          plan.dirty |= dirty;
          return;
        }
      }
      Plan plan;
      plan.endpoint = endpoint;
      plan.max_rows = it->second.max_rows;
      plan.count = it->second.count;
      auto in = incoming.find(endpoint);
      plan.incoming = in == incoming.end() ? 0 : in->second;
      plan.dirty = dirty;
      plans.push_back(std::move(plan));
    };
    for (const auto& [endpoint, rows] : incoming) consider(endpoint, false);
    for (const std::string& endpoint : retention_dirty) consider(endpoint, true);
  }
  if (batch_.empty() && plans.empty()) return absl::OkStatus();

  // Serialized outside the transaction (a retried transaction reuses them).
  std::vector<std::string> features;
  features.reserve(batch_.size());
  for (InferenceRecord& record : batch_) {
    features.push_back(record.features_json.empty() ? DumpJson(record.features)
                                                    : std::move(record.features_json));
  }

  int64_t written = 0;
  absl::Status status = db_.Write([&](SqlSession& session) -> absl::Status {
    written = 0;
    std::string tail_sql;
    for (size_t start = 0; start < batch_.size(); start += kRowsPerInsert) {
      const size_t rows = std::min(kRowsPerInsert, batch_.size() - start);
      params_.clear();
      for (size_t r = start; r < start + rows; ++r) {
        const InferenceRecord& record = batch_[r];
        params_.emplace_back(record.endpoint);
        params_.emplace_back(record.id);
        params_.emplace_back(record.variant);
        params_.emplace_back(record.model);
        params_.emplace_back(record.model_version);
        params_.emplace_back(record.time_ms);
        params_.emplace_back(record.latency_us);
        params_.emplace_back(features[r]);
        params_.emplace_back(record.prediction);
        params_.emplace_back(int64_t{record.error ? 1 : 0});
        if (record.label.has_value()) {
          params_.emplace_back(*record.label);
        } else {
          params_.emplace_back(std::monostate{});
        }
        params_.emplace_back(record.label.has_value() ? record.label_time_ms : int64_t{0});
      }
      if (rows != kRowsPerInsert) tail_sql = InsertSql(rows);
      CAIRN_ASSIGN_OR_RETURN(int64_t changed,
                             session.Execute(rows == kRowsPerInsert ? FullInsertSql() : tail_sql,
                                             params_));
      written += changed;
    }
    for (Plan& plan : plans) {
      plan.trimmed = 0;
      const SqlValue endpoint_param[] = {plan.endpoint};
      auto count_rows = [&]() -> absl::StatusOr<int64_t> {
        CAIRN_ASSIGN_OR_RETURN(
            storage::SqlResult result,
            session.Query("SELECT COUNT(*) FROM serving_inference_log WHERE endpoint = $1",
                          endpoint_param));
        return std::get<int64_t>(result.rows.at(0).at(0));
      };
      int64_t count = 0;
      if (plan.count < 0) {
        CAIRN_ASSIGN_OR_RETURN(count, count_rows());
      } else {
        count = plan.count + plan.incoming;
      }
      // Amortized: let the endpoint grow by a tenth before trimming it back (a changed
      // setting is applied exactly).
      const int64_t allowed = plan.dirty ? plan.max_rows : plan.max_rows + plan.max_rows / 10;
      if (count > allowed) {
        // The newest max_rows rows stay: find the first row past them, delete it and older.
        const SqlValue cutoff_params[] = {plan.endpoint, plan.max_rows};
        CAIRN_ASSIGN_OR_RETURN(
            storage::SqlResult cutoff,
            session.Query("SELECT time_ms, seq FROM serving_inference_log WHERE endpoint = $1 "
                          "ORDER BY time_ms DESC, seq DESC LIMIT 1 OFFSET $2",
                          cutoff_params));
        if (!cutoff.rows.empty()) {
          const SqlValue delete_params[] = {plan.endpoint, cutoff.rows[0][0], cutoff.rows[0][1]};
          CAIRN_ASSIGN_OR_RETURN(
              plan.trimmed,
              session.Execute("DELETE FROM serving_inference_log WHERE endpoint = $1 AND "
                              "(time_ms < $2 OR (time_ms = $2 AND seq <= $3))",
                              delete_params));
        }
        CAIRN_ASSIGN_OR_RETURN(count, count_rows());
      }
      plan.final_count = count;
    }
    return absl::OkStatus();
  });

  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    stats_.failed += static_cast<int64_t>(batch_.size());
    stats_.last_error = std::string(status.message());
    // The counts are unknown now (the transaction may have failed half-way on another
    // process's change); recount at the next write.
    for (const Plan& plan : plans) {
      auto it = retention_.find(plan.endpoint);
      if (it != retention_.end()) it->second.count = -1;
    }
    Log(LogLevel::kWarning, absl::StrCat("inference log: ", batch_.size(),
                                         " records lost, the write failed: ", status.message()));
    return status;
  }
  stats_.written += written;
  stats_.duplicates += static_cast<int64_t>(batch_.size()) - written;
  for (const Plan& plan : plans) {
    stats_.trimmed += plan.trimmed;
    auto it = retention_.find(plan.endpoint);
    // A setting changed meanwhile is marked dirty again and recounted then.
    if (it != retention_.end() && it->second.max_rows == plan.max_rows) {
      it->second.count = plan.final_count;
    }
  }
  return absl::OkStatus();
}

absl::Status InferenceLog::Flush() {
  absl::MutexLock lock(&mu_);
  if (stopped_) return absl::OkStatus();
  // Records appended before this call are either in the batch being written now (a cycle
  // started, not done) or queued: the next cycle to start takes the queue.
  const int64_t first = cycles_done_ + 1;
  const int64_t target = cycles_started_ + 1;
  flush_target_ = std::max(flush_target_, target);
  wake_cv_.Signal();
  while (cycles_done_ < target && !stopped_) done_cv_.Wait(&mu_);
  if (last_failed_cycle_ >= first) return last_failure_;
  return absl::OkStatus();
}

void InferenceLog::SetRetention(std::string_view endpoint, int64_t max_rows) {
  absl::MutexLock lock(&mu_);
  std::string name(endpoint);
  if (max_rows <= 0) {
    retention_.erase(name);
    return;
  }
  Retention& retention = retention_[name];
  if (retention.max_rows != max_rows) {
    retention.max_rows = max_rows;
    retention.count = -1;
    retention_dirty_.insert(std::move(name));
  }
}

bool InferenceLog::ShouldSample(std::string_view id, double rate) {
  if (!(rate > 0)) return false;  // NaN too
  if (rate >= 1) return true;
  // The top 53 bits as a uniform double in [0, 1).
  const double u = static_cast<double>(StableHash(id) >> 11) * 0x1.0p-53;
  return u < rate;
}

InferenceLogStats InferenceLog::Stats() const {
  absl::MutexLock lock(&mu_);
  InferenceLogStats stats = stats_;
  stats.queued = static_cast<int64_t>(queue_.size()) + writing_;
  return stats;
}

absl::StatusOr<InferenceLogPage> InferenceLog::Read(const InferenceLogQuery& query) {
  CAIRN_RETURN_IF_ERROR(CheckWindow(query.endpoint, query.from_ms, query.to_ms));
  CAIRN_RETURN_IF_ERROR(CheckVariant(query.variant, "variant"));
  if (query.max_results < 0 || query.max_results > kMaxResults) {
    return absl::InvalidArgumentError(absl::StrCat("max_results: ", query.max_results,
                                                   " is outside 1..", kMaxResults));
  }
  const int64_t limit = query.max_results == 0 ? 100 : query.max_results;
  Filter filter = WindowFilter(query.endpoint, query.from_ms, query.to_ms);
  if (!query.variant.empty()) filter.Add("variant = $?", query.variant);
  if (!query.page_token.empty()) {
    int64_t time_ms = 0;
    int64_t seq = 0;
    CAIRN_RETURN_IF_ERROR(ParsePageToken(query.page_token, &time_ms, &seq));
    filter.params.push_back(time_ms);
    const size_t t = filter.params.size();
    filter.params.push_back(seq);
    absl::StrAppend(&filter.sql, " AND (time_ms < $", t, " OR (time_ms = $", t, " AND seq < $",
                    t + 1, "))");
  }
  filter.params.push_back(limit + 1);
  const std::string sql = absl::StrCat(
      "SELECT seq, id, variant, model, model_version, time_ms, latency_us, features, "
      "prediction, error, label, label_time_ms FROM serving_inference_log",
      filter.sql, " ORDER BY time_ms DESC, seq DESC LIMIT $", filter.params.size());

  Flush().IgnoreError();  // a lost write is counted in Stats; read what is there
  InferenceLogPage page;
  int64_t last_seq = 0;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    page.records.clear();
    return session.QueryEach(sql, filter.params, [&](const SqlRowView& row) -> absl::Status {
      if (static_cast<int64_t>(page.records.size()) == limit) {
        page.next_page_token = PageToken(page.records.back().time_ms, last_seq);
        return absl::OkStatus();
      }
      InferenceRecord record;
      last_seq = row.Int(0);
      record.id = std::string(row.Text(1));
      record.endpoint = query.endpoint;
      record.variant = std::string(row.Text(2));
      record.model = std::string(row.Text(3));
      record.model_version = row.Int(4);
      record.time_ms = row.Int(5);
      record.latency_us = row.Int(6);
      absl::StatusOr<Json> features = ParseJson(row.Text(7));
      record.features = features.ok() ? std::move(*features) : Json::object();
      record.prediction =
          row.IsNull(8) ? std::numeric_limits<double>::quiet_NaN() : row.Double(8);
      record.error = row.Int(9) != 0;
      if (!row.IsNull(10)) {
        record.label = row.Double(10);
        record.label_time_ms = row.Int(11);
      }
      page.records.push_back(std::move(record));
      return absl::OkStatus();
    });
  }));
  return page;
}

absl::StatusOr<std::vector<LabelResult>> InferenceLog::PostLabels(
    std::string_view endpoint, const std::vector<std::pair<std::string, double>>& labels,
    int64_t time_ms) {
  if (endpoint.empty()) return absl::InvalidArgumentError("endpoint: must not be empty");
  Flush().IgnoreError();  // a lost write is counted in Stats; its ids are then unknown
  std::vector<LabelResult> results;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    results.clear();
    results.reserve(labels.size());
    for (const auto& [id, label] : labels) {
      LabelResult& result = results.emplace_back();
      result.id = id;
      if (id.empty()) {
        result.status = absl::InvalidArgumentError("id: must not be empty");
        continue;
      }
      if (!std::isfinite(label)) {
        result.status = absl::InvalidArgumentError(
            absl::StrCat("label of id '", id, "': ", label, " is not a finite number"));
        continue;
      }
      const SqlValue params[] = {label, time_ms, std::string(endpoint), id};
      CAIRN_ASSIGN_OR_RETURN(
          int64_t changed,
          session.Execute("UPDATE serving_inference_log SET label = $1, label_time_ms = $2 "
                          "WHERE endpoint = $3 AND id = $4",
                          params));
      if (changed == 0) {
        result.status = absl::NotFoundError(absl::StrCat(
            "id '", id, "' is not in the inference log of endpoint '", ToAbsl(endpoint),
            "' (never predicted there, not sampled, or trimmed by retention); use the ids "
            "the predict response returned"));
      }
    }
    return absl::OkStatus();
  }));
  return results;
}

absl::StatusOr<monitoring::DataFrame> InferenceLog::ReadFrame(std::string_view endpoint,
                                                              int64_t from_ms, int64_t to_ms,
                                                              const FrameOptions& options) {
  CAIRN_RETURN_IF_ERROR(CheckWindow(endpoint, from_ms, to_ms));
  CAIRN_RETURN_IF_ERROR(CheckVariant(options.variant, "variant"));
  Filter filter = WindowFilter(endpoint, from_ms, to_ms);
  absl::StrAppend(&filter.sql, " AND error = 0");
  if (options.variant.empty()) {
    absl::StrAppend(&filter.sql, " AND variant IN ('champion', 'canary')");
  } else {
    filter.Add("variant = $?", options.variant);
  }
  // Oldest first (the frame's order); with last_rows, the newest rows, then reordered.
  std::string sql;
  if (options.last_rows > 0) {
    filter.params.push_back(options.last_rows);
    sql = absl::StrCat(
        "SELECT features, prediction, label, time_ms, seq FROM (SELECT features, prediction, "
        "label, time_ms, seq FROM serving_inference_log",
        filter.sql, " ORDER BY time_ms DESC, seq DESC LIMIT $", filter.params.size(),
        ") AS newest ORDER BY time_ms, seq");
  } else {
    sql = absl::StrCat("SELECT features, prediction, label FROM serving_inference_log",
                       filter.sql, " ORDER BY time_ms, seq");
  }

  Flush().IgnoreError();
  FrameBuilder builder(options.categorical);
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    builder.Reset();
    return session.QueryEach(sql, filter.params, [&](const SqlRowView& row) -> absl::Status {
      builder.AddRow(row.Text(0), row.IsNull(1) ? std::nan("") : row.Double(1),
                     row.IsNull(2) ? std::optional<double>() : row.Double(2));
      return absl::OkStatus();
    });
  }));
  return builder.Finish();
}

}  // namespace cairn::serving
