#include "tracking/logged_model_store.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/strings.h"
#include "storage/migrations.h"
#include "tracking/search_filter.h"
#include "tracking/tracking_store.h"
#include "tracking/types.h"

namespace cairn::tracking {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;
using KeyValues = std::vector<std::pair<std::string, std::string>>;

constexpr int64_t kMaxResultsDefault = 100;  // MLflow's SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT
constexpr int64_t kMaxResultsLimit = 50000;

constexpr storage::Migration kMigrations[] = {
    {1, "logged models, their tags and params, run outputs",
     R"sql(
CREATE TABLE logged_models (
  model_id TEXT PRIMARY KEY,
  experiment_id TEXT NOT NULL,
  name TEXT NOT NULL,
  artifact_location TEXT NOT NULL,
  creation_timestamp_ms BIGINT NOT NULL,
  last_updated_timestamp_ms BIGINT NOT NULL,
  status INTEGER NOT NULL,
  status_message TEXT NOT NULL DEFAULT '',
  model_type TEXT NOT NULL DEFAULT '',
  source_run_id TEXT NOT NULL DEFAULT '',
  lifecycle_stage TEXT NOT NULL
);
CREATE INDEX logged_models_by_experiment
  ON logged_models (experiment_id, creation_timestamp_ms);
CREATE TABLE logged_model_tags (
  model_id TEXT NOT NULL,
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (model_id, tag_key)
);
CREATE TABLE logged_model_params (
  model_id TEXT NOT NULL,
  param_key TEXT NOT NULL,
  param_value TEXT NOT NULL,
  PRIMARY KEY (model_id, param_key)
);
CREATE TABLE run_model_outputs (
  run_id TEXT NOT NULL,
  model_id TEXT NOT NULL,
  step BIGINT NOT NULL,
  logged_at_ms BIGINT NOT NULL,
  PRIMARY KEY (run_id, model_id, step)
);
)sql"},
    {2, "metrics linked to logged models",
     R"sql(
CREATE TABLE logged_model_metrics (
  model_id TEXT NOT NULL,
  metric_name TEXT NOT NULL,
  metric_timestamp_ms BIGINT NOT NULL,
  metric_step BIGINT NOT NULL,
  metric_value DOUBLE PRECISION,
  run_id TEXT NOT NULL DEFAULT '',
  dataset_name TEXT NOT NULL DEFAULT '',
  dataset_digest TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (model_id, metric_name, metric_timestamp_ms, metric_step, run_id, dataset_name,
               dataset_digest)
);
)sql"},
};

constexpr char kMetricColumns[] =
    "model_id, metric_name, metric_value, metric_timestamp_ms, metric_step, run_id, "
    "dataset_name, dataset_digest";

LoggedModelMetric MetricFromRow(const SqlRowView& row) {
  LoggedModelMetric metric;
  metric.model_id = std::string(row.Text(0));
  metric.key = std::string(row.Text(1));
  // SQLite stores NaN as NULL.
  metric.value = row.IsNull(2) ? std::numeric_limits<double>::quiet_NaN() : row.Double(2);
  metric.timestamp = row.Int(3);
  metric.step = row.Int(4);
  metric.run_id = std::string(row.Text(5));
  metric.dataset_name = std::string(row.Text(6));
  metric.dataset_digest = std::string(row.Text(7));
  return metric;
}

constexpr char kSelectModel[] =
    "SELECT model_id, experiment_id, name, artifact_location, creation_timestamp_ms, "
    "last_updated_timestamp_ms, status, status_message, model_type, source_run_id, "
    "lifecycle_stage FROM logged_models";

LoggedModel ModelFromRow(const SqlRowView& row) {
  LoggedModel model;
  model.model_id = std::string(row.Text(0));
  model.experiment_id = std::string(row.Text(1));
  model.name = std::string(row.Text(2));
  model.artifact_location = std::string(row.Text(3));
  model.creation_timestamp_ms = row.Int(4);
  model.last_updated_timestamp_ms = row.Int(5);
  model.status = static_cast<LoggedModelStatus>(row.Int(6));
  model.status_message = std::string(row.Text(7));
  model.model_type = std::string(row.Text(8));
  model.source_run_id = std::string(row.Text(9));
  model.lifecycle_stage = std::string(row.Text(10));
  return model;
}

absl::Status NotFound(std::string_view model_id) {
  return absl::NotFoundError(
      absl::StrCat("Logged model with ID '", ToAbsl(model_id), "' not found."));
}

// Reads the model row (any lifecycle stage) plus its tags and params.
absl::StatusOr<LoggedModel> LoadModel(SqlSession& session, std::string_view model_id) {
  std::optional<LoggedModel> model;
  SqlValue id{std::string(model_id)};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(absl::StrCat(kSelectModel, " WHERE model_id = $1"),
                                          {&id, 1}, [&](const SqlRowView& row) {
                                            model = ModelFromRow(row);
                                            return absl::OkStatus();
                                          }));
  if (!model) return NotFound(model_id);
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT tag_key, tag_value FROM logged_model_tags WHERE model_id = $1 ORDER BY tag_key",
      {&id, 1}, [&](const SqlRowView& row) {
        model->tags.emplace_back(std::string(row.Text(0)), std::string(row.Text(1)));
        return absl::OkStatus();
      }));
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT param_key, param_value FROM logged_model_params WHERE model_id = $1 "
      "ORDER BY param_key",
      {&id, 1}, [&](const SqlRowView& row) {
        model->params.emplace_back(std::string(row.Text(0)), std::string(row.Text(1)));
        return absl::OkStatus();
      }));
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT ", kMetricColumns, " FROM logged_model_metrics WHERE model_id = $1 ",
                   "ORDER BY metric_name, metric_timestamp_ms, metric_step, run_id"),
      {&id, 1}, [&](const SqlRowView& row) {
        model->metrics.push_back(MetricFromRow(row));
        return absl::OkStatus();
      }));
  return *std::move(model);
}

// MLflow's rule (utils/validation.py _validate_logged_model_name).
absl::Status ValidateName(std::string_view name) {
  if (name.find_first_of("/:.%\"'") == std::string_view::npos) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "Invalid model name ('", ToAbsl(name),
      "') provided. Model name must be a non-empty string and cannot contain the following "
      "characters: ('/', ':', '.', '%', '\"', \"'\")"));
}

absl::Status ValidateKey(std::string_view what, std::string_view key) {
  if (key.empty())
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), " key must not be empty"));
  if (key.size() > 250) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), " key '", ToAbsl(key),
                                                   "' is longer than 250 characters"));
  }
  return absl::OkStatus();
}

std::string RandomName() {
  static constexpr const char* kAdjectives[] = {
      "amber", "bold",  "brisk", "calm",  "clever", "crisp", "eager", "fuzzy",
      "gentle", "hardy", "jolly", "keen",  "lucky",  "merry", "nimble", "quiet",
      "rapid", "shiny", "steady", "sunny", "tidy",   "vivid", "witty", "zesty"};
  static constexpr const char* kNouns[] = {
      "badger", "cairn", "comet",  "crane", "delta", "falcon", "fern",   "finch",
      "harbor", "heron", "lark",   "maple", "otter", "pebble", "quartz", "ridge",
      "river",  "robin", "spruce", "stone", "tern",  "trail",  "willow", "wren"};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(kAdjectives[rng() % std::size(kAdjectives)], "-",
                      kNouns[rng() % std::size(kNouns)], "-", rng() % 1000);
}

// "<experiment artifact_location>/models/<model_id>/artifacts" (MLflow's
// append_to_uri_path: exactly one '/' between the parts).
std::string ModelArtifactLocation(std::string_view experiment_location,
                                  std::string_view model_id) {
  std::string base(experiment_location);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return absl::StrCat(base, "/models/", ToAbsl(model_id), "/artifacts");
}

// ---- Search filter over logged models ----
//
// MLflow's logged-model filter: AND-ed comparisons over attributes (name, model_id,
// model_type, status, source_run_id, creation_timestamp / creation_time,
// last_updated_timestamp), params.<key>, tags.<key> and metrics.<key>.

enum class Field { kAttribute, kParam, kTag, kMetric };

struct Clause {
  Field field;
  std::string key;  // attribute name (canonical) or param/tag/metric key
  std::string op;   // = != < <= > >= LIKE ILIKE IN NOT IN
  std::variant<std::string, double, std::vector<std::string>> value;
};

bool IsNumericAttribute(std::string_view key) {
  return key == "creation_timestamp" || key == "last_updated_timestamp";
}

std::optional<std::string> CanonicalAttribute(std::string_view key) {
  if (key == "creation_time" || key == "creation_timestamp" || key == "creation_timestamp_ms")
    return std::string("creation_timestamp");
  if (key == "last_updated_timestamp" || key == "last_updated_timestamp_ms")
    return std::string("last_updated_timestamp");
  for (std::string_view name : {"name", "model_id", "model_type", "status", "source_run_id"}) {
    if (key == name) return std::string(name);
  }
  return std::nullopt;
}

class FilterParser {
 public:
  explicit FilterParser(std::string_view text) : text_(text) {}

  absl::StatusOr<std::vector<Clause>> Parse() {
    std::vector<Clause> clauses;
    SkipSpace();
    if (pos_ == text_.size()) return clauses;
    while (true) {
      CAIRN_ASSIGN_OR_RETURN(Clause clause, ParseClause());
      clauses.push_back(std::move(clause));
      SkipSpace();
      if (pos_ == text_.size()) break;
      std::string word = Word();
      if (absl::AsciiStrToUpper(word) != "AND")
        return Error(absl::StrCat("expected AND, found '", word.empty() ? Rest() : word, "'"));
    }
    return clauses;
  }

 private:
  absl::Status Error(std::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat("Invalid filter string '", ToAbsl(text_),
                                                   "': ", ToAbsl(why)));
  }
  std::string Rest() const { return std::string(text_.substr(pos_, 20)); }

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  // A bare word: letters, digits, '_' (and '.' inside identifiers when `dots`).
  std::string Word(bool dots = false) {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (dots && c == '.')) {
        ++pos_;
      } else {
        break;
      }
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  // A quoted run with `quote` as delimiter (no escapes, as MLflow's tokenizer).
  absl::StatusOr<std::string> Quoted() {
    char quote = text_[pos_++];
    size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return Error("unterminated quote");
    std::string value(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return value;
  }

  absl::StatusOr<Clause> ParseClause() {
    Clause clause;
    SkipSpace();
    std::string entity = Word();
    if (entity.empty()) return Error(absl::StrCat("expected an identifier at '", Rest(), "'"));
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      std::string lowered = absl::AsciiStrToLower(entity);
      if (lowered == "params" || lowered == "param") {
        clause.field = Field::kParam;
      } else if (lowered == "tags" || lowered == "tag") {
        clause.field = Field::kTag;
      } else if (lowered == "metrics" || lowered == "metric") {
        clause.field = Field::kMetric;
      } else if (lowered == "attributes" || lowered == "attribute" || lowered == "attr") {
        clause.field = Field::kAttribute;
      } else {
        return Error(absl::StrCat("invalid entity type '", entity,
                                  "'; expected params, tags, metrics or attributes"));
      }
      if (pos_ < text_.size() && (text_[pos_] == '"' || text_[pos_] == '`')) {
        CAIRN_ASSIGN_OR_RETURN(clause.key, Quoted());
      } else {
        clause.key = Word(/*dots=*/true);
      }
      if (clause.key.empty()) return Error(absl::StrCat("missing key after '", entity, ".'"));
    } else {
      clause.field = Field::kAttribute;
      clause.key = entity;
    }
    if (clause.field == Field::kAttribute) {
      std::optional<std::string> canonical = CanonicalAttribute(clause.key);
      if (!canonical) {
        return Error(absl::StrCat(
            "invalid attribute '", clause.key,
            "'; valid attributes are name, model_id, model_type, status, source_run_id, "
            "creation_timestamp, last_updated_timestamp"));
      }
      clause.key = *canonical;
    }

    // Operator.
    SkipSpace();
    static constexpr std::string_view kSymbolOps[] = {"<=", ">=", "!=", "<>", "=", "<", ">"};
    for (std::string_view op : kSymbolOps) {
      if (text_.substr(pos_, op.size()) == op) {
        clause.op = op == "<>" ? "!=" : std::string(op);
        pos_ += op.size();
        break;
      }
    }
    if (clause.op.empty()) {
      std::string word = absl::AsciiStrToUpper(Word());
      if (word == "NOT") {
        if (absl::AsciiStrToUpper(Word()) != "IN") return Error("expected IN after NOT");
        clause.op = "NOT IN";
      } else if (word == "LIKE" || word == "ILIKE" || word == "IN") {
        clause.op = word;
      } else {
        return Error(absl::StrCat("invalid comparator at '", Rest(), "'"));
      }
    }

    // Value.
    SkipSpace();
    if (pos_ == text_.size()) return Error("missing value");
    bool numeric_field = clause.field == Field::kMetric ||
                         (clause.field == Field::kAttribute && IsNumericAttribute(clause.key));
    if (clause.op == "IN" || clause.op == "NOT IN") {
      if (numeric_field || clause.field != Field::kAttribute)
        return Error(absl::StrCat("IN is only supported for string attributes"));
      if (text_[pos_] != '(') return Error("expected '(' after IN");
      ++pos_;
      std::vector<std::string> values;
      while (true) {
        SkipSpace();
        if (pos_ < text_.size() && (text_[pos_] == '\'' || text_[pos_] == '"')) {
          CAIRN_ASSIGN_OR_RETURN(std::string value, Quoted());
          values.push_back(std::move(value));
        } else {
          return Error("IN lists hold quoted strings");
        }
        SkipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ')') {
          ++pos_;
          break;
        }
        return Error("expected ',' or ')' in IN list");
      }
      clause.value = std::move(values);
      return clause;
    }
    if (numeric_field) {
      if (clause.op == "LIKE" || clause.op == "ILIKE")
        return Error(absl::StrCat("LIKE is not supported for numeric field '", clause.key, "'"));
      size_t start = pos_;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                     text_[pos_] == '.' || text_[pos_] == '-' ||
                                     text_[pos_] == '+')) {
        ++pos_;
      }
      double number = 0;
      if (!absl::SimpleAtod(ToAbsl(text_.substr(start, pos_ - start)), &number))
        return Error(absl::StrCat("expected a number for '", clause.key, "'"));
      clause.value = number;
      return clause;
    }
    if (text_[pos_] != '\'' && text_[pos_] != '"')
      return Error(absl::StrCat("expected a quoted string for '", clause.key, "'"));
    if (clause.op != "=" && clause.op != "!=" && clause.op != "LIKE" && clause.op != "ILIKE")
      return Error(absl::StrCat("comparator '", clause.op, "' is not supported for strings"));
    CAIRN_ASSIGN_OR_RETURN(std::string value, Quoted());
    clause.value = std::move(value);
    return clause;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

const std::string* Lookup(const KeyValues& values, const std::string& key) {
  for (const auto& [k, v] : values) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool CompareStrings(const std::string& actual, const std::string& op, const std::string& want) {
  if (op == "=") return actual == want;
  if (op == "!=") return actual != want;
  if (op == "LIKE") return LikeMatch(actual, want, /*case_insensitive=*/false);
  if (op == "ILIKE") return LikeMatch(actual, want, /*case_insensitive=*/true);
  return false;
}

bool CompareNumbers(double actual, const std::string& op, double want) {
  if (op == "=") return actual == want;
  if (op == "!=") return actual != want;
  if (op == "<") return actual < want;
  if (op == "<=") return actual <= want;
  if (op == ">") return actual > want;
  if (op == ">=") return actual >= want;
  return false;
}

std::string AttributeText(const LoggedModel& model, const std::string& key) {
  if (key == "name") return model.name;
  if (key == "model_id") return model.model_id;
  if (key == "model_type") return model.model_type;
  if (key == "status") return std::string(LoggedModelStatusName(model.status));
  if (key == "source_run_id") return model.source_run_id;
  return {};
}

using DatasetFilter = std::vector<std::pair<std::string, std::string>>;  // (name, digest)

bool InDatasets(const LoggedModelMetric& metric, const DatasetFilter& datasets) {
  if (datasets.empty()) return true;
  for (const auto& [name, digest] : datasets) {
    if (metric.dataset_name == name && (digest.empty() || metric.dataset_digest == digest))
      return true;
  }
  return false;
}

// The latest point of `key` (by timestamp, then step) among those of the dataset, if any.
std::optional<double> LatestMetric(const LoggedModel& model, const std::string& key,
                                   const std::string& dataset_name,
                                   const std::string& dataset_digest) {
  const LoggedModelMetric* latest = nullptr;
  for (const LoggedModelMetric& metric : model.metrics) {
    if (metric.key != key) continue;
    if (!dataset_name.empty() && metric.dataset_name != dataset_name) continue;
    if (!dataset_digest.empty() && metric.dataset_digest != dataset_digest) continue;
    if (latest == nullptr || metric.timestamp > latest->timestamp ||
        (metric.timestamp == latest->timestamp && metric.step > latest->step)) {
      latest = &metric;
    }
  }
  if (latest == nullptr) return std::nullopt;
  return latest->value;
}

bool Matches(const LoggedModel& model, const Clause& clause, const DatasetFilter& datasets) {
  switch (clause.field) {
    case Field::kMetric:
      // MLflow: a model matches when any of its points of the metric (in the datasets)
      // satisfies the comparison.
      return std::any_of(model.metrics.begin(), model.metrics.end(),
                         [&](const LoggedModelMetric& metric) {
                           return metric.key == clause.key && InDatasets(metric, datasets) &&
                                  CompareNumbers(metric.value, clause.op,
                                                 std::get<double>(clause.value));
                         });
    case Field::kParam:
    case Field::kTag: {
      const std::string* actual =
          Lookup(clause.field == Field::kParam ? model.params : model.tags, clause.key);
      return actual != nullptr &&
             CompareStrings(*actual, clause.op, std::get<std::string>(clause.value));
    }
    case Field::kAttribute:
      break;
  }
  if (IsNumericAttribute(clause.key)) {
    double actual = static_cast<double>(clause.key == "creation_timestamp"
                                            ? model.creation_timestamp_ms
                                            : model.last_updated_timestamp_ms);
    return CompareNumbers(actual, clause.op, std::get<double>(clause.value));
  }
  std::string actual = AttributeText(model, clause.key);
  if (clause.op == "IN" || clause.op == "NOT IN") {
    const auto& values = std::get<std::vector<std::string>>(clause.value);
    bool found = std::find(values.begin(), values.end(), actual) != values.end();
    return clause.op == "IN" ? found : !found;
  }
  if (clause.key == "status") {
    // Accept both "LOGGED_MODEL_READY" and "READY".
    const std::string& want = std::get<std::string>(clause.value);
    if (CompareStrings(actual, clause.op, want)) return true;
    if (clause.op == "=") return actual == absl::StrCat("LOGGED_MODEL_", want);
    if (clause.op == "!=") return actual != absl::StrCat("LOGGED_MODEL_", want);
    return false;
  }
  return CompareStrings(actual, clause.op, std::get<std::string>(clause.value));
}

// A comparison of two models on one order_by field; 0 when equal.
int CompareOn(const LoggedModel& a, const LoggedModel& b, const std::string& field) {
  if (field == "creation_timestamp" || field == "last_updated_timestamp") {
    int64_t x = field == "creation_timestamp" ? a.creation_timestamp_ms
                                              : a.last_updated_timestamp_ms;
    int64_t y = field == "creation_timestamp" ? b.creation_timestamp_ms
                                              : b.last_updated_timestamp_ms;
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (field == "status") {
    int x = static_cast<int>(a.status), y = static_cast<int>(b.status);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  return AttributeText(a, field).compare(AttributeText(b, field));
}

std::string EncodePageToken(int64_t offset) {
  return absl::Base64Escape(absl::StrCat("{\"offset\": ", offset, "}"));
}

absl::StatusOr<int64_t> DecodePageToken(std::string_view token) {
  std::string decoded;
  int64_t offset = -1;
  if (absl::Base64Unescape(ToAbsl(token), &decoded) && decoded.rfind("{\"offset\": ", 0) == 0 &&
      decoded.back() == '}' &&
      absl::SimpleAtoi(decoded.substr(11, decoded.size() - 12), &offset) && offset >= 0) {
    return offset;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("Invalid page token '", ToAbsl(token), "'; pass next_page_token unchanged"));
}

}  // namespace

std::string_view LoggedModelStatusName(LoggedModelStatus status) {
  switch (status) {
    case LoggedModelStatus::kPending:
      return "LOGGED_MODEL_PENDING";
    case LoggedModelStatus::kReady:
      return "LOGGED_MODEL_READY";
    case LoggedModelStatus::kUploadFailed:
      return "LOGGED_MODEL_UPLOAD_FAILED";
    case LoggedModelStatus::kUnspecified:
      break;
  }
  return "LOGGED_MODEL_STATUS_UNSPECIFIED";
}

absl::StatusOr<LoggedModelStatus> ParseLoggedModelStatus(std::string_view text) {
  for (LoggedModelStatus status :
       {LoggedModelStatus::kUnspecified, LoggedModelStatus::kPending, LoggedModelStatus::kReady,
        LoggedModelStatus::kUploadFailed}) {
    if (text == LoggedModelStatusName(status) ||
        text == std::to_string(static_cast<int>(status))) {
      return status;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "Invalid value '", ToAbsl(text),
      "' for parameter 'status': expected LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or "
      "LOGGED_MODEL_UPLOAD_FAILED"));
}

absl::StatusOr<std::unique_ptr<LoggedModelStore>> LoggedModelStore::Open(storage::Database& db,
                                                                         Clock& clock,
                                                                         TrackingStore& tracking) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "logged_models", kMigrations));
  return std::unique_ptr<LoggedModelStore>(new LoggedModelStore(db, clock, tracking));
}

absl::StatusOr<LoggedModel> LoggedModelStore::Create(const CreateLoggedModelRequest& request) {
  if (request.experiment_id.empty())
    return absl::InvalidArgumentError("Missing value for required parameter 'experiment_id'.");
  if (!request.name.empty()) CAIRN_RETURN_IF_ERROR(ValidateName(request.name));
  std::map<std::string, std::string> params;
  for (const auto& [key, value] : request.params) {
    CAIRN_RETURN_IF_ERROR(ValidateKey("Param", key));
    auto [it, inserted] = params.emplace(key, value);
    if (!inserted && it->second != value) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Param '", key, "' is given twice with different values ('", it->second, "' and '",
          value, "')"));
    }
  }
  std::map<std::string, std::string> tags;
  for (const auto& [key, value] : request.tags) {
    CAIRN_RETURN_IF_ERROR(ValidateKey("Tag", key));
    tags[key] = value;  // last value wins, as a repeated set would
  }
  CAIRN_ASSIGN_OR_RETURN(Experiment experiment, tracking_.GetExperiment(request.experiment_id));
  if (experiment.lifecycle_stage != kLifecycleActive) {
    return absl::InvalidArgumentError(
        absl::StrCat("The experiment ", request.experiment_id,
                     " must be in the 'active' state. Current state is ",
                     experiment.lifecycle_stage, "."));
  }

  LoggedModel model;
  model.model_id = absl::StrCat("m-", NewUuidHex());
  model.experiment_id = request.experiment_id;
  model.name = request.name.empty() ? RandomName() : request.name;
  model.artifact_location = ModelArtifactLocation(experiment.artifact_location, model.model_id);
  model.creation_timestamp_ms = clock_.NowMillis();
  model.last_updated_timestamp_ms = model.creation_timestamp_ms;
  model.status = LoggedModelStatus::kPending;
  model.model_type = request.model_type;
  model.source_run_id = request.source_run_id;
  model.lifecycle_stage = kLifecycleActive;
  model.tags.assign(tags.begin(), tags.end());
  model.params.assign(params.begin(), params.end());

  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue row[] = {model.model_id,
                            model.experiment_id,
                            model.name,
                            model.artifact_location,
                            model.creation_timestamp_ms,
                            model.last_updated_timestamp_ms,
                            int64_t{static_cast<int>(model.status)},
                            model.model_type,
                            model.source_run_id,
                            model.lifecycle_stage};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("INSERT INTO logged_models (model_id, experiment_id, name, "
                     "artifact_location, creation_timestamp_ms, last_updated_timestamp_ms, "
                     "status, model_type, source_run_id, lifecycle_stage) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                     row)
            .status());
    for (const auto& [key, value] : model.tags) {
      const SqlValue tag[] = {model.model_id, key, value};
      CAIRN_RETURN_IF_ERROR(session
                                .Execute("INSERT INTO logged_model_tags (model_id, tag_key, "
                                         "tag_value) VALUES ($1, $2, $3)",
                                         tag)
                                .status());
    }
    for (const auto& [key, value] : model.params) {
      const SqlValue param[] = {model.model_id, key, value};
      CAIRN_RETURN_IF_ERROR(session
                                .Execute("INSERT INTO logged_model_params (model_id, "
                                         "param_key, param_value) VALUES ($1, $2, $3)",
                                         param)
                                .status());
    }
    return absl::OkStatus();
  }));
  return model;
}

absl::StatusOr<LoggedModel> LoggedModelStore::Get(std::string_view model_id,
                                                  bool allow_deleted) const {
  std::optional<LoggedModel> model;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(model, LoadModel(session, model_id));
    return absl::OkStatus();
  }));
  if (!allow_deleted && model->lifecycle_stage == kLifecycleDeleted) return NotFound(model_id);
  return *std::move(model);
}

absl::StatusOr<LoggedModel> LoggedModelStore::Finalize(std::string_view model_id,
                                                       LoggedModelStatus status) {
  if (status != LoggedModelStatus::kReady && status != LoggedModelStatus::kUploadFailed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid value '", ToAbsl(LoggedModelStatusName(status)),
        "' for parameter 'status': a model is finalized as LOGGED_MODEL_READY or "
        "LOGGED_MODEL_UPLOAD_FAILED"));
  }
  std::optional<LoggedModel> model;
  int64_t now = clock_.NowMillis();
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue args[] = {int64_t{static_cast<int>(status)}, now, std::string(model_id)};
    CAIRN_ASSIGN_OR_RETURN(int64_t changed,
                           session.Execute("UPDATE logged_models SET status = $1, "
                                           "last_updated_timestamp_ms = $2 WHERE model_id = $3",
                                           args));
    if (changed == 0) return NotFound(model_id);
    CAIRN_ASSIGN_OR_RETURN(model, LoadModel(session, model_id));
    return absl::OkStatus();
  }));
  return *std::move(model);
}

absl::Status LoggedModelStore::Delete(std::string_view model_id) {
  int64_t now = clock_.NowMillis();
  return db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue args[] = {std::string(kLifecycleDeleted), now, std::string(model_id)};
    CAIRN_ASSIGN_OR_RETURN(int64_t changed,
                           session.Execute("UPDATE logged_models SET lifecycle_stage = $1, "
                                           "last_updated_timestamp_ms = $2 WHERE model_id = $3",
                                           args));
    if (changed == 0) return NotFound(model_id);
    return absl::OkStatus();
  });
}

absl::Status LoggedModelStore::SetTags(std::string_view model_id, const KeyValues& tags) {
  std::map<std::string, std::string> deduped;
  for (const auto& [key, value] : tags) {
    CAIRN_RETURN_IF_ERROR(ValidateKey("Tag", key));
    deduped[key] = value;
  }
  return db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue id[] = {std::string(model_id)};
    CAIRN_ASSIGN_OR_RETURN(storage::SqlResult exists,
                           session.Query("SELECT 1 FROM logged_models WHERE model_id = $1", id));
    if (exists.rows.empty()) return NotFound(model_id);
    for (const auto& [key, value] : deduped) {
      const SqlValue tag[] = {std::string(model_id), key, value};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("INSERT INTO logged_model_tags (model_id, tag_key, tag_value) "
                       "VALUES ($1, $2, $3) ON CONFLICT (model_id, tag_key) "
                       "DO UPDATE SET tag_value = excluded.tag_value",
                       tag)
              .status());
    }
    return absl::OkStatus();
  });
}

absl::Status LoggedModelStore::DeleteTag(std::string_view model_id, std::string_view key) {
  return db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue id[] = {std::string(model_id)};
    CAIRN_ASSIGN_OR_RETURN(storage::SqlResult exists,
                           session.Query("SELECT 1 FROM logged_models WHERE model_id = $1", id));
    if (exists.rows.empty()) return NotFound(model_id);
    const SqlValue args[] = {std::string(model_id), std::string(key)};
    CAIRN_ASSIGN_OR_RETURN(
        int64_t changed,
        session.Execute("DELETE FROM logged_model_tags WHERE model_id = $1 AND tag_key = $2",
                        args));
    if (changed == 0) {
      return absl::NotFoundError(absl::StrCat("No tag with key '", ToAbsl(key),
                                              "' found for model with ID '", ToAbsl(model_id),
                                              "'."));
    }
    return absl::OkStatus();
  });
}

absl::Status LoggedModelStore::LogParams(std::string_view model_id, const KeyValues& params) {
  for (const auto& [key, value] : params) CAIRN_RETURN_IF_ERROR(ValidateKey("Param", key));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue id[] = {std::string(model_id)};
    CAIRN_ASSIGN_OR_RETURN(storage::SqlResult exists,
                           session.Query("SELECT 1 FROM logged_models WHERE model_id = $1", id));
    if (exists.rows.empty()) return NotFound(model_id);
    for (const auto& [key, value] : params) {
      const SqlValue lookup[] = {std::string(model_id), key};
      CAIRN_ASSIGN_OR_RETURN(storage::SqlResult existing,
                             session.Query("SELECT param_value FROM logged_model_params "
                                           "WHERE model_id = $1 AND param_key = $2",
                                           lookup));
      if (!existing.rows.empty()) {
        const std::string& old_value = std::get<std::string>(existing.rows[0][0]);
        if (old_value == value) continue;
        return absl::InvalidArgumentError(absl::StrCat(
            "Changing param values is not allowed. Param with key='", key,
            "' was already logged with value='", old_value, "' for model ID='",
            ToAbsl(model_id), "'. Attempted logging new value '", value, "'."));
      }
      const SqlValue row[] = {std::string(model_id), key, value};
      CAIRN_RETURN_IF_ERROR(session
                                .Execute("INSERT INTO logged_model_params (model_id, "
                                         "param_key, param_value) VALUES ($1, $2, $3)",
                                         row)
                                .status());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<LoggedModelPage> LoggedModelStore::Search(
    const SearchLoggedModelsRequest& request) const {
  if (request.experiment_ids.empty())
    return absl::InvalidArgumentError("Missing value for required parameter 'experiment_ids'.");
  int64_t max_results = request.max_results == 0 ? kMaxResultsDefault : request.max_results;
  if (max_results < 1 || max_results > kMaxResultsLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid value ", max_results, " for parameter 'max_results' supplied. ",
                     "It must be between 1 and ", kMaxResultsLimit, "."));
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<Clause> clauses, FilterParser(request.filter).Parse());
  struct SortKey {
    std::string field;
    bool ascending;
    bool is_metric = false;
    std::string dataset_name;
    std::string dataset_digest;
  };
  std::vector<SortKey> sort_keys;
  bool has_creation = false, has_model_id = false;
  for (const LoggedModelOrderBy& order : request.order_by) {
    if (order.field_name.rfind("metrics.", 0) == 0 && order.field_name.size() > 8) {
      sort_keys.push_back({order.field_name.substr(8), order.ascending, /*is_metric=*/true,
                           order.dataset_name, order.dataset_digest});
      continue;
    }
    std::optional<std::string> field = CanonicalAttribute(order.field_name);
    if (!field) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid order by field name: ", order.field_name,
          ". Valid fields are name, model_id, model_type, status, source_run_id, "
          "creation_timestamp, last_updated_timestamp, metrics.<key>."));
    }
    has_creation |= *field == "creation_timestamp";
    has_model_id |= *field == "model_id";
    sort_keys.push_back({*field, order.ascending});
  }
  if (!has_creation) sort_keys.push_back({"creation_timestamp", false});
  if (!has_model_id) sort_keys.push_back({"model_id", true});
  int64_t offset = 0;
  if (!request.page_token.empty()) {
    CAIRN_ASSIGN_OR_RETURN(offset, DecodePageToken(request.page_token));
  }

  // Candidates: the active models of the experiments, with tags and params. Filtering and
  // ordering run in memory; an experiment holds few logged models compared with runs.
  std::vector<LoggedModel> models;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    std::map<std::string, size_t> index_of;
    std::vector<SqlValue> args;
    std::vector<std::string> placeholders;
    for (const std::string& id : request.experiment_ids) {
      args.emplace_back(id);
      placeholders.push_back(absl::StrCat("$", args.size()));
    }
    std::string in_list = absl::StrJoin(placeholders, ", ");
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat(kSelectModel, " WHERE lifecycle_stage = 'active' AND experiment_id IN (",
                     in_list, ")"),
        args, [&](const SqlRowView& row) {
          models.push_back(ModelFromRow(row));
          index_of[models.back().model_id] = models.size() - 1;
          return absl::OkStatus();
        }));
    if (models.empty()) return absl::OkStatus();
    std::string join_condition = absl::StrCat(
        "m.lifecycle_stage = 'active' AND m.experiment_id IN (", in_list, ")");
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat("SELECT t.model_id, t.tag_key, t.tag_value FROM logged_model_tags t "
                     "JOIN logged_models m ON m.model_id = t.model_id WHERE ",
                     join_condition, " ORDER BY t.model_id, t.tag_key"),
        args, [&](const SqlRowView& row) {
          auto it = index_of.find(std::string(row.Text(0)));
          if (it != index_of.end()) {
            models[it->second].tags.emplace_back(std::string(row.Text(1)),
                                                 std::string(row.Text(2)));
          }
          return absl::OkStatus();
        }));
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat("SELECT p.model_id, p.param_key, p.param_value FROM logged_model_params p "
                     "JOIN logged_models m ON m.model_id = p.model_id WHERE ",
                     join_condition, " ORDER BY p.model_id, p.param_key"),
        args, [&](const SqlRowView& row) {
          auto it = index_of.find(std::string(row.Text(0)));
          if (it != index_of.end()) {
            models[it->second].params.emplace_back(std::string(row.Text(1)),
                                                   std::string(row.Text(2)));
          }
          return absl::OkStatus();
        }));
    return session.QueryEach(
        absl::StrCat("SELECT x.model_id, x.metric_name, x.metric_value, x.metric_timestamp_ms, "
                     "x.metric_step, x.run_id, x.dataset_name, x.dataset_digest "
                     "FROM logged_model_metrics x JOIN logged_models m ON m.model_id = "
                     "x.model_id WHERE ",
                     join_condition,
                     " ORDER BY x.model_id, x.metric_name, x.metric_timestamp_ms, x.metric_step, "
                     "x.run_id"),
        args, [&](const SqlRowView& row) {
          auto it = index_of.find(std::string(row.Text(0)));
          if (it != index_of.end()) models[it->second].metrics.push_back(MetricFromRow(row));
          return absl::OkStatus();
        });
  }));

  std::vector<LoggedModel> matching;
  for (LoggedModel& model : models) {
    bool keep = std::all_of(clauses.begin(), clauses.end(),
                            [&](const Clause& clause) {
                              return Matches(model, clause, request.datasets);
                            });
    if (keep) matching.push_back(std::move(model));
  }
  std::sort(matching.begin(), matching.end(), [&](const LoggedModel& a, const LoggedModel& b) {
    for (const SortKey& key : sort_keys) {
      if (key.is_metric) {
        std::optional<double> x = LatestMetric(a, key.field, key.dataset_name, key.dataset_digest);
        std::optional<double> y = LatestMetric(b, key.field, key.dataset_name, key.dataset_digest);
        if (x.has_value() != y.has_value()) return x.has_value();  // missing values last
        if (!x.has_value() || *x == *y || (std::isnan(*x) && std::isnan(*y))) continue;
        if (std::isnan(*x) != std::isnan(*y)) return !std::isnan(*x);
        return key.ascending ? *x < *y : *x > *y;
      }
      int order = CompareOn(a, b, key.field);
      if (order != 0) return key.ascending ? order < 0 : order > 0;
    }
    return false;
  });

  LoggedModelPage page;
  int64_t total = static_cast<int64_t>(matching.size());
  for (int64_t row_idx = offset; row_idx < total && row_idx < offset + max_results; ++row_idx)
    page.models.push_back(std::move(matching[row_idx]));
  if (offset + max_results < total) page.next_page_token = EncodePageToken(offset + max_results);
  return page;
}

absl::Status LoggedModelStore::LogMetrics(const std::vector<LoggedModelMetric>& metrics) {
  for (const LoggedModelMetric& metric : metrics) {
    CAIRN_RETURN_IF_ERROR(ValidateKey("Metric", metric.key));
    if (metric.model_id.empty())
      return absl::InvalidArgumentError("Metric: model_id must not be empty");
  }
  return db_.Write([&](SqlSession& session) -> absl::Status {
    std::set<std::string> known;
    for (const LoggedModelMetric& metric : metrics) {
      if (known.insert(metric.model_id).second) {
        const SqlValue id[] = {metric.model_id};
        CAIRN_ASSIGN_OR_RETURN(
            storage::SqlResult exists,
            session.Query("SELECT 1 FROM logged_models WHERE model_id = $1", id));
        if (exists.rows.empty()) return NotFound(metric.model_id);
      }
      SqlValue value = std::isnan(metric.value) ? SqlValue{} : SqlValue{metric.value};
      const SqlValue row[] = {metric.model_id,   metric.key,         value,
                              metric.timestamp,  metric.step,        metric.run_id,
                              metric.dataset_name, metric.dataset_digest};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute(absl::StrCat("INSERT INTO logged_model_metrics (model_id, metric_name, "
                                    "metric_value, metric_timestamp_ms, metric_step, run_id, "
                                    "dataset_name, dataset_digest) VALUES ($1, $2, $3, $4, $5, "
                                    "$6, $7, $8) ON CONFLICT DO NOTHING"),
                       row)
              .status());
    }
    return absl::OkStatus();
  });
}

absl::Status LoggedModelStore::LogOutputs(std::string_view run_id,
                                          const std::vector<ModelOutput>& models) {
  CAIRN_ASSIGN_OR_RETURN(RunInfo run, tracking_.GetRunInfo(run_id));
  if (run.lifecycle_stage != kLifecycleActive) {
    return absl::InvalidArgumentError(absl::StrCat("The run ", ToAbsl(run_id),
                                                   " must be in the 'active' state. Current "
                                                   "state is ",
                                                   run.lifecycle_stage, "."));
  }
  int64_t now = clock_.NowMillis();
  return db_.Write([&](SqlSession& session) -> absl::Status {
    for (const ModelOutput& output : models) {
      const SqlValue id[] = {output.model_id};
      CAIRN_ASSIGN_OR_RETURN(storage::SqlResult exists,
                             session.Query("SELECT 1 FROM logged_models WHERE model_id = $1", id));
      if (exists.rows.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Logged model with ID '", output.model_id, "' not found; cannot log it as an output "
            "of run ", ToAbsl(run_id)));
      }
      const SqlValue row[] = {std::string(run_id), output.model_id, output.step, now};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("INSERT INTO run_model_outputs (run_id, model_id, step, logged_at_ms) "
                       "VALUES ($1, $2, $3, $4) ON CONFLICT (run_id, model_id, step) DO NOTHING",
                       row)
              .status());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ModelOutput>> LoggedModelStore::RunOutputs(
    std::string_view run_id) const {
  std::vector<ModelOutput> outputs;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    outputs.clear();
    const SqlValue id[] = {std::string(run_id)};
    return session.QueryEach(
        "SELECT model_id, step FROM run_model_outputs WHERE run_id = $1 "
        "ORDER BY logged_at_ms, model_id, step",
        id, [&](const SqlRowView& row) {
          outputs.push_back({std::string(row.Text(0)), row.Int(1)});
          return absl::OkStatus();
        });
  }));
  return outputs;
}

}  // namespace cairn::tracking
