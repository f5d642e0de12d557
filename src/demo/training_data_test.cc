#include "demo/training_data.h"

#include <cmath>

#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::demo {
namespace {

using features::FeatureType;
using features::Table;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kDay = 86'400'000;

Table TrainingSet() {
  Table table = EntityRows({{1001, 10 * kDay, true}, {1002, 20 * kDay, false}});
  const int login = table.AddColumn("last_login_at", FeatureType::kTimestamp);
  table.columns[login].AppendInt(7 * kDay);
  table.columns[login].AppendNull();
  const int logins = table.AddColumn("logins_7d", FeatureType::kInt64);
  table.columns[logins].AppendInt(0);
  table.columns[logins].AppendInt(4);
  const int spend = table.AddColumn("spend_30d", FeatureType::kDouble);
  table.columns[spend].AppendNull();
  table.columns[spend].AppendDouble(12.5);
  const int autopay = table.AddColumn("autopay", FeatureType::kBool);
  table.columns[autopay].AppendBool(true);
  table.columns[autopay].AppendBool(false);
  return table;
}

TEST(TrainingDataTest, EntityRowsHoldKeyPredictionTimeAndLabel) {
  const Table entities = EntityRows({{1001, 5, true}, {1002, 6, false}});
  EXPECT_THAT(entities.names, ElementsAre("customer_id", "event_timestamp", "label"));
  EXPECT_EQ(entities.columns[1].type, FeatureType::kTimestamp);
  EXPECT_THAT(entities.columns[2].ints, ElementsAre(1, 0));
}

TEST(TrainingDataTest, FeaturesBecomeFloatsTimestampsDaysAgoNullsNaN) {
  absl::StatusOr<Dataset> data = TrainingSetToDataset(TrainingSet());
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->feature_names,
              ElementsAre("days_since_last_login_at", "logins_7d", "spend_30d", "autopay"));
  EXPECT_THAT(data->labels, ElementsAre(1.0f, 0.0f));
  ASSERT_EQ(data->features.size(), 8u);
  EXPECT_FLOAT_EQ(data->features[0], 3.0f);  // 10 - 7 days
  EXPECT_FLOAT_EQ(data->features[1], 0.0f);
  EXPECT_TRUE(std::isnan(data->features[2]));
  EXPECT_FLOAT_EQ(data->features[3], 1.0f);
  EXPECT_TRUE(std::isnan(data->features[4]));
  EXPECT_FLOAT_EQ(data->features[5], 4.0f);
  EXPECT_FLOAT_EQ(data->features[6], 12.5f);
  EXPECT_FLOAT_EQ(data->features[7], 0.0f);
}

TEST(TrainingDataTest, StringFeaturesMissingColumnsAndBadLabelsAreNamed) {
  Table with_string = TrainingSet();
  const int plan = with_string.AddColumn("plan", FeatureType::kString);
  with_string.columns[plan].AppendString("basic");
  with_string.columns[plan].AppendString("premium");
  absl::StatusOr<Dataset> data = TrainingSetToDataset(with_string);
  ASSERT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(data.status().message()), HasSubstr("feature 'plan' is a string"));

  TrainingColumns columns;
  columns.label = "churned";
  data = TrainingSetToDataset(TrainingSet(), columns);
  ASSERT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(data.status().message()), HasSubstr("no label column 'churned'"));

  Table bad_label = TrainingSet();
  bad_label.columns[2].ints[1] = 2;
  data = TrainingSetToDataset(bad_label);
  ASSERT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(data.status().message()),
              HasSubstr("row 2: column 'label' must be 0 or 1, got 2"));
}

TEST(TrainingDataTest, SnapshotIsLoggedAsAnMlflowDatasetInput) {
  features::TrainingSetRecord snapshot;
  snapshot.id = "0123456789abcdef0123456789abcdef";
  snapshot.content_hash = std::string(64, 'a');
  snapshot.feature_service = "churn";
  snapshot.view_versions = {{"customer_activity", 2}};
  snapshot.rows = 2;
  const tracking::DatasetInput input = TrainingSetInput(snapshot, TrainingSet());
  EXPECT_EQ(input.dataset.name, "churn-training-set");
  EXPECT_EQ(input.dataset.digest, std::string(36, 'a'));
  EXPECT_EQ(input.dataset.source_type, "cairn");
  EXPECT_EQ(input.dataset.source, "cairn://training-sets/0123456789abcdef0123456789abcdef");
  ASSERT_EQ(input.tags.size(), 1u);
  EXPECT_EQ(input.tags[0].key, "mlflow.data.context");
  EXPECT_EQ(input.tags[0].value, "training");
  absl::StatusOr<Json> schema = ParseJson(input.dataset.schema);
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ((*schema)["mlflow_colspec"][3]["name"], "last_login_at");
  EXPECT_EQ((*schema)["mlflow_colspec"][3]["type"], "datetime");
  absl::StatusOr<Json> profile = ParseJson(input.dataset.profile);
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ((*profile)["num_rows"], 2);
  EXPECT_EQ((*profile)["content_hash"], std::string(64, 'a'));
  EXPECT_EQ((*profile)["feature_views"]["customer_activity"], 2);
}

}  // namespace
}  // namespace cairn::demo
